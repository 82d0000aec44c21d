"""Coating-layer featurizer: composition features of the (mixture of) phases on the anode.

A coating is a pymatgen formula or a ``:``-joined mixture of phases (``Bi:Mg3Bi2:MgCl2``), or
``none`` (bare metal). :class:`CoatingFeaturizer` turns one resolved coating into 122 numbers,
in this order (labels as returned by ``feature_labels()``; ``get_feature_names_out()`` prefixes
them with ``coating__``):

1. **Magpie element-property statistics** (90) — matminer ``ElementProperty`` with the
   ``magpie`` preset's data and statistics, restricted to 15 of its 22 properties.
   Label ``magpie_<stat>_<property>``; ``<stat>`` is one of ``minimum``, ``maximum``,
   ``range``, ``mean`` (atomic-fraction weighted), ``avg_dev`` (fraction-weighted mean absolute
   deviation) and ``mode`` (value of the most abundant element; ties → the smallest value).
   Every statistic has the unit of its property:

   ===================  ==================================================  ================
   property             meaning                                             unit
   ===================  ==================================================  ================
   Number               atomic number                                       ''
   MendeleevNumber      Mendeleev (Pettifor-type) number                    ''
   AtomicWeight         atomic weight                                       g mol^-1
   MeltingT             melting temperature of the element                  K
   Column               periodic-table group                                ''
   Row                  periodic-table period                               ''
   CovalentRadius       covalent radius                                     pm
   Electronegativity    Pauling electronegativity                           '' (Pauling)
   NsValence            filled s valence electrons                          '' (count)
   NpValence            filled p valence electrons                          '' (count)
   NdValence            filled d valence electrons                          '' (count)
   NValence             valence electrons                                   '' (count)
   NUnfilled            unfilled valence orbitals (electron vacancies)      '' (count)
   GSvolume_pa          DFT (OQMD) T = 0 K ground-state volume per atom     angstrom^3 atom^-1
   GSbandgap            DFT (OQMD) band gap of the element's ground state   eV
   ===================  ==================================================  ================

   Left out of the preset (documented choice): ``NfValence`` (non-zero only from period 6 on,
   where it is 14 — a copy of ``Row``), ``NsUnfilled``/``NpUnfilled``/``NdUnfilled``/
   ``NfUnfilled`` (per-shell split of ``NUnfilled``; ``NfUnfilled`` and the minimum/mode of
   ``NdUnfilled`` are constant over the whole coating library), ``GSmagmom`` (zero for every
   element in the library: no magnetic coatings) and ``SpaceGroupNumber`` (a categorical label
   whose mean or range has no meaning).
2. **Stoichiometry** (6) — matminer ``Stoichiometry`` p-norms of the atomic fractions,
   ``stoich_<p>norm`` for p = 0, 2, 3, 5, 7, 10 (p = 0: number of elements). Unit ''.
3. **Atomic fractions** (9), unit '' (atoms per atom of the phase):
   ``frac_Mg``, ``frac_Ca`` (the anode metals); ``frac_metal`` (pymatgen ``Element.is_metal``:
   alkali, alkaline-earth, transition, post-transition (Al, Sn, Bi, ...) and rare-earth
   metals); ``frac_metalloid`` (``Element.is_metalloid``: B, Si, Ge, As, Sb, Te, Po);
   ``frac_halide`` (F, Cl, Br, I); ``frac_fluoride`` (F); ``frac_chalcogen`` (O, S, Se, Te);
   ``frac_nitrogen`` (N); ``frac_organic`` (C + H).
4. **Layer descriptors** (2): ``has_coating`` (1 coated / 0 bare metal, flag) and ``n_phases``
   (number of phases listed, count; 0 for bare metal).
5. **Coating class** (15): one-hot ``class_<c>`` over
   :data:`screen.data.components.COATING_CLASSES` from ``component.category`` (library
   ``coating_class``, or :func:`~screen.data.components.infer_coating_class` for ad-hoc formulas).

Mixtures: groups 1–3 are computed on each phase's own composition and averaged with **equal
weight per listed phase** (the data set gives no phase amounts, so no other weighting is
supported by the data). Hence ``magpie_minimum_*`` of a mixture is the mean of the phases'
minima, not the minimum over all its elements, and ``frac_Mg`` is the mean Mg fraction of the
phases. A phase listed twice counts twice.

Bare metal (``none``, class ``none``) is a real value, never NaN: ``has_coating = 0``,
``class_none = 1`` and every other feature 0 (groups 1–3 and ``n_phases``). The zeros of
groups 1–2 are a *convention*, not element data — the anode metal is not known to this
featurizer (the system featurizer adds it) — so models must read them together with
``has_coating``. Coating thickness is not a feature here (it is a per-row number).

Missing element data: matminer 0.10 imputes a NaN element property with the average over all
elements when ``impute_nan=True`` (its default). That would give an invented number silently,
so Magpie data are loaded with ``impute_nan=False`` and a composition containing an element
without a value for a used property (e.g. He/Ne/Ar electronegativity, He/Fr melting point,
heavy actinides' covalent radius) raises :class:`~featurizers.base.FeaturizationError` naming
the coating, the element and the property. Non-finite outputs are refused the same way.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from featurizers.base import ComponentFeaturizer, FeaturizationError
from featurizers.blocks import BlockSpec, register_block
from screen.data.components import COATING_CLASSES, Component
from screen.data.structures import phases

if TYPE_CHECKING:
    from pymatgen.core import Composition

#: Magpie properties used (a subset of ``ElementProperty.from_preset("magpie").features``).
MAGPIE_PROPERTIES: tuple[str, ...] = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NValence", "NUnfilled",
    "GSvolume_pa", "GSbandgap",
)
#: Statistics of the magpie preset, in its order.
MAGPIE_STATS: tuple[str, ...] = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
MAGPIE_UNITS: dict[str, str] = {
    "Number": "", "MendeleevNumber": "", "AtomicWeight": "g mol^-1", "MeltingT": "K",
    "Column": "", "Row": "", "CovalentRadius": "pm", "Electronegativity": "",
    "NsValence": "", "NpValence": "", "NdValence": "", "NValence": "", "NUnfilled": "",
    "GSvolume_pa": "angstrom^3 atom^-1", "GSbandgap": "eV",
}
#: Stoichiometry p-norms (matminer's default list).
P_NORMS: tuple[int, ...] = (0, 2, 3, 5, 7, 10)
HALOGENS = frozenset({"F", "Cl", "Br", "I"})
CHALCOGENS = frozenset({"O", "S", "Se", "Te"})
ORGANIC = frozenset({"C", "H"})
FRACTIONS: tuple[str, ...] = ("Mg", "Ca", "metal", "metalloid", "halide", "fluoride",
                              "chalcogen", "nitrogen", "organic")

MAGPIE_LABELS = [f"magpie_{stat}_{prop}" for prop in MAGPIE_PROPERTIES for stat in MAGPIE_STATS]
STOICH_LABELS = [f"stoich_{p}norm" for p in P_NORMS]
FRACTION_LABELS = [f"frac_{f}" for f in FRACTIONS]
LAYER_LABELS = ["has_coating", "n_phases"]
CLASS_LABELS = [f"class_{c}" for c in COATING_CLASSES]
N_COMPOSITION = len(MAGPIE_LABELS) + len(STOICH_LABELS) + len(FRACTION_LABELS)

MATMINER_BIB = """@article{ward2018matminer,
  author = {Ward, Logan and Dunn, Alexander and Faghaninia, Alireza and Zimmermann, Nils E. R.
            and Bajaj, Saurabh and Wang, Qi and Montoya, Joseph and Chen, Jiming and Bystrom,
            Kyle and Dylla, Maxwell and Chard, Kyle and Asta, Mark and Persson, Kristin A.
            and Snyder, G. Jeffrey and Foster, Ian and Jain, Anubhav},
  title = {Matminer: An open source toolkit for materials data mining},
  journal = {Computational Materials Science},
  volume = {152},
  pages = {60--69},
  year = {2018},
  doi = {10.1016/j.commatsci.2018.05.018}
}"""
MAGPIE_BIB = """@article{ward2016magpie,
  author = {Ward, Logan and Agrawal, Ankit and Choudhary, Alok and Wolverton, Christopher},
  title = {A general-purpose machine learning framework for predicting properties of
           inorganic materials},
  journal = {npj Computational Materials},
  volume = {2},
  pages = {16028},
  year = {2016},
  doi = {10.1038/npjcompumats.2016.28}
}"""
PYMATGEN_BIB = """@article{ong2013pymatgen,
  author = {Ong, Shyue Ping and Richards, William Davidson and Jain, Anubhav and Hautier,
            Geoffroy and Kocher, Michael and Cholia, Shreyas and Gunter, Dan and Chevrier,
            Vincent L. and Persson, Kristin A. and Ceder, Gerbrand},
  title = {Python Materials Genomics (pymatgen): A robust, open-source python library for
           materials analysis},
  journal = {Computational Materials Science},
  volume = {68},
  pages = {314--319},
  year = {2013},
  doi = {10.1016/j.commatsci.2012.10.028}
}"""


@lru_cache(maxsize=1)
def _matminer() -> tuple[Any, Any]:
    """matminer ``ElementProperty`` (magpie data, no imputation) and ``Stoichiometry``."""
    from matminer.featurizers.composition import ElementProperty, Stoichiometry

    preset = ElementProperty.from_preset("magpie", impute_nan=False)
    unknown = set(MAGPIE_PROPERTIES) - set(preset.features)
    if unknown or tuple(preset.stats) != MAGPIE_STATS:  # guards against a matminer change
        raise RuntimeError(f"matminer magpie preset changed: properties {sorted(unknown)} "
                           f"missing or stats {preset.stats} != {MAGPIE_STATS}")
    element_property = ElementProperty(preset.data_source, list(MAGPIE_PROPERTIES),
                                       list(MAGPIE_STATS), impute_nan=False)
    return element_property, Stoichiometry(p_list=P_NORMS, num_atoms=False)


def composition_features(composition: Composition, coating: str = "?") -> np.ndarray:
    """Magpie statistics, stoichiometry p-norms and atomic fractions of ONE phase.

    ``composition`` is a pymatgen ``Composition``; ``coating`` names the coating in errors.
    Raises :class:`FeaturizationError` for non-elements, an empty composition or an element
    without Magpie data (never imputed).
    """
    from pymatgen.core import Element

    phase = composition.reduced_formula if composition.num_atoms > 0 else str(composition)
    where = f"coating {coating!r} (phase {phase!r})"
    if composition.num_atoms <= 0 or any(amt < 0 for amt in composition.values()):
        raise FeaturizationError(f"{where}: a phase needs a positive number of atoms")
    if not all(isinstance(el, Element) for el in composition.elements):
        raise FeaturizationError(f"{where}: only plain elements are accepted, got "
                                 f"{', '.join(map(str, composition.elements))}")
    element_property, stoichiometry = _matminer()
    data = element_property.data_source
    missing = []
    for el in composition.elements:
        props = [p for p in MAGPIE_PROPERTIES
                 if not np.isfinite(data.get_elemental_property(el, p))]
        if props:
            missing.append(f"element {el.symbol} ({', '.join(props)})")
    if missing:
        raise FeaturizationError(f"{where}: Magpie has no data for {'; '.join(missing)}; "
                                 "missing element data are not imputed")
    magpie = np.asarray(element_property.featurize(composition), dtype=np.float64)
    stoich = np.asarray(stoichiometry.featurize(composition), dtype=np.float64)
    frac = {el.symbol: composition.get_atomic_fraction(el) for el in composition.elements}

    def total(symbols: set[str] | frozenset[str]) -> float:
        return float(sum(x for s, x in frac.items() if s in symbols))

    metals = {s for s in frac if Element(s).is_metal}
    metalloids = {s for s in frac if Element(s).is_metalloid}
    fractions = np.array([total({"Mg"}), total({"Ca"}), total(metals), total(metalloids),
                          total(HALOGENS), total({"F"}), total(CHALCOGENS), total({"N"}),
                          total(ORGANIC)], dtype=np.float64)
    out = np.concatenate([magpie, stoich, fractions])
    if not np.all(np.isfinite(out)):
        bad = [lab for lab, v in zip(MAGPIE_LABELS + STOICH_LABELS + FRACTION_LABELS, out,
                                     strict=True) if not np.isfinite(v)]
        raise FeaturizationError(f"{where}: non-finite feature(s) {', '.join(bad)}")
    return out


class CoatingFeaturizer(ComponentFeaturizer):
    """Composition, layer and class features of a coating; see the module docstring.

    Input: one column of coating names, aliases, formulas or ``:``-mixtures (``none`` = bare
    metal). Output: float64 matrix of :meth:`feature_labels` (122 columns).
    """

    kind = "coating"
    name = "coating"
    version = "1"

    def featurize(self, component: Component) -> np.ndarray:
        """Feature vector of one resolved coating (bare metal included; never NaN)."""
        if component.kind != "coating":
            raise FeaturizationError(f"{component.kind} {component.name!r} is not a coating")
        if component.category not in COATING_CLASSES:
            raise FeaturizationError(f"coating {component.name!r}: class "
                                     f"{component.category!r} is not one of "
                                     f"{', '.join(COATING_CLASSES)}")
        one_hot = np.array([c == component.category for c in COATING_CLASSES], dtype=np.float64)
        comps = phases(component)
        bare = component.category == "none"
        if bare != (not comps):
            raise FeaturizationError(
                f"coating {component.name!r}: class {component.category!r} with composition "
                f"{component.composition!r}; only class 'none' (bare metal) has no composition")
        if bare:
            return np.concatenate([np.zeros(N_COMPOSITION), [0.0, 0.0], one_hot])
        per_phase = np.array([composition_features(c, component.name) for c in comps])
        return np.concatenate([per_phase.mean(axis=0), [1.0, float(len(comps))], one_hot])

    def feature_labels(self) -> list[str]:
        """Feature names in output order (see the module docstring)."""
        return MAGPIE_LABELS + STOICH_LABELS + FRACTION_LABELS + LAYER_LABELS + CLASS_LABELS

    def feature_units(self) -> dict[str, str]:
        """Unit of each feature ('' for dimensionless numbers, fractions, counts and flags)."""
        units = {f"magpie_{stat}_{prop}": MAGPIE_UNITS[prop]
                 for prop in MAGPIE_PROPERTIES for stat in MAGPIE_STATS}
        units.update(dict.fromkeys(STOICH_LABELS + FRACTION_LABELS + LAYER_LABELS + CLASS_LABELS,
                                   ""))
        return units

    def citations(self) -> list[str]:
        """BibTeX of matminer, the Magpie descriptors and pymatgen."""
        return [MATMINER_BIB, MAGPIE_BIB, PYMATGEN_BIB]


register_block(BlockSpec("coating", "coating", CoatingFeaturizer, combine="single", order=40))
