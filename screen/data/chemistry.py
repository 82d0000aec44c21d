"""Which structures outside the component library mgscreen accepts.

A component written as a SMILES (anions, solvents/additives) or a formula (coatings) that is not
a library entry is accepted only when the featurizers can describe it and it belongs to the
chemistry the library covers. :func:`structure_problem` says why not, in words a chemist can
act on. The rules, in the order they are checked:

- no dummy atom (``*``, atomic number 0): a placeholder is not an element;
- every element has Z <= 86: GFN2-xTB (the orbital and charge features) is parametrized up
  to radon;
- at most :data:`MAX_SMILES_HEAVY_ATOMS` heavy atoms (3D embedding and GFN2-xTB grow steeply
  with size);
- not a single atom without hydrogens (``[F-]``, ``[H-]``, ``[Ar]``): a bare atom has no bonds
  to describe and GFN2-xTB finds no HOMO/LUMO pair for a closed valence shell; the library's
  halides (Cl, Br, I) are listed entries;
- no unpaired electron: the features are computed for closed-shell molecules and ions
  (``[CH3]`` is a methyl radical; write the molecule, ``C``);
- no bond between two atoms with formal charges of the same sign (``[O-][O-]``, peroxide: a
  reactive species, not a salt anion or solvent);
- no transition metal, lanthanide or actinide (``Cl[Fe-](Cl)(Cl)Cl``, ``C[Hg]C``): complexes
  and organometallics of these metals are outside the chemistry of the library and of the
  models trained on it. A library entry (e.g. the additive CrCl3) is accepted as listed.

Charge rules (an anion is negative, a solvent or additive neutral) are applied when a SMILES
is resolved (:meth:`screen.data.components.ComponentLibrary.resolve`). Library entries are
curated and tested to featurize, so these rules apply only to structures outside it.
"""

from __future__ import annotations

from screen.data.components import Component

#: Most heavy atoms in a molecule given as a SMILES (not from the library). The library's
#: largest has 59; 3D embedding and GFN2-xTB grow steeply with size (~40 s at 120, minutes
#: beyond), so larger structures are refused instead of stalling a run.
MAX_SMILES_HEAVY_ATOMS = 100
#: Highest atomic number GFN2-xTB is parametrized for (radon).
MAX_XTB_ATOMIC_NUMBER = 86


def structure_problem(component: Component) -> str | None:
    """Why a resolved component outside the library is not accepted (see the module
    docstring), or None. Library entries and coatings pass (coating formulas are checked by
    the coating featurizer, whose message names the element without data)."""
    if component.in_library or not component.smiles:
        return None
    from rdkit import Chem

    mol = Chem.MolFromSmiles(component.smiles)
    if mol is None:  # resolve() only returns SMILES RDKit parses; kept for safety
        return f"the {component.kind} SMILES {component.smiles!r} does not parse in RDKit"
    return _molecule_problem(component.kind, mol)


def _molecule_problem(kind: str, mol) -> str | None:
    atoms = list(mol.GetAtoms())
    if any(a.GetAtomicNum() == 0 for a in atoms):
        return (f"the {kind} SMILES contains a dummy atom '*' (a placeholder, not an "
                "element); write the full structure")
    heavy = sorted({a.GetSymbol() for a in atoms
                    if a.GetAtomicNum() > MAX_XTB_ATOMIC_NUMBER})
    if heavy:
        return (f"the {kind} SMILES contains {', '.join(heavy)} (Z > "
                f"{MAX_XTB_ATOMIC_NUMBER}); GFN2-xTB, which computes the orbital and charge "
                f"features, covers elements up to Rn (Z = {MAX_XTB_ATOMIC_NUMBER})")
    n_heavy = mol.GetNumHeavyAtoms()
    if n_heavy > MAX_SMILES_HEAVY_ATOMS:
        return (f"the {kind} SMILES has {n_heavy} heavy atoms; a SMILES is accepted up to "
                f"{MAX_SMILES_HEAVY_ATOMS} (3D embedding and GFN2-xTB would take minutes to "
                "hours): use a smaller model molecule or a repeat unit")
    if len(atoms) == 1 and atoms[0].GetTotalNumHs() == 0:
        return (f"the {kind} is a single atom ({atoms[0].GetSymbol()}); single atoms and "
                "monatomic ions have no structure to describe (GFN2-xTB finds no HOMO/LUMO "
                "pair for a closed shell) and are accepted only as library entries (the "
                "halides Cl, Br, I)")
    unpaired = sum(a.GetNumRadicalElectrons() for a in atoms)
    if unpaired:
        return (f"the {kind} SMILES has {unpaired} unpaired electron(s) (a radical); mgscreen "
                "describes closed-shell molecules and ions: add the missing hydrogens or "
                "charges (e.g. C, not [CH3])")
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtom().GetFormalCharge(), bond.GetEndAtom().GetFormalCharge()
        if a * b > 0:
            pair = f"{bond.GetBeginAtom().GetSymbol()}–{bond.GetEndAtom().GetSymbol()}"
            return (f"the {kind} SMILES bonds two atoms that both carry a "
                    f"{'negative' if a < 0 else 'positive'} formal charge ({pair}, as in "
                    "peroxide [O-][O-]): a reactive species outside the chemistry of the "
                    "component library, not a salt anion or solvent")
    metals = sorted({a.GetSymbol() for a in atoms if _d_or_f_block(a.GetSymbol())})
    if metals:
        return (f"the {kind} SMILES contains {', '.join(metals)}: transition-metal, lanthanide "
                "and actinide compounds are outside the chemistry of the component library "
                f"(and of the models trained on it) unless listed there; add the {kind} to "
                "the library with a citation to use it")
    return None


def _d_or_f_block(symbol: str) -> bool:
    from pymatgen.core import Element

    element = Element(symbol)
    return element.is_transition_metal or element.is_lanthanoid or element.is_actinoid
