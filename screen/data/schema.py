"""The interfaces table: column names, units, allowed values and ranges.

This module only *describes* the schema; :mod:`screen.data.validation` checks a table against it.
One row of the table is one (system, test condition): a metal anode (optionally coated) in an
electrolyte, measured in one cell type at one current density / capacity / temperature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["number", "category", "text", "boolean", "component", "ratio"]
ComponentKind = Literal["anion", "solvent", "coating"]

METALS = ("Mg", "Ca")
CELL_TYPES = ("symmetric", "asymmetric_Cu", "asymmetric_SS", "three_electrode", "full_cell")
OVERPOTENTIAL_KINDS = ("polarization", "hysteresis", "plating", "stripping", "nucleation")
PASSIVATION_LABELS = ("passivating", "partial", "non_passivating")
#: How direct the evidence for a passivation label is: the source describes the film or the
#: (absence of) deposition (``observed``); the label is inferred from reversible cycling with a
#: Coulombic efficiency >= 95 % only (``ce_only``, weaker); the source states it for the
#: electrolyte family (``family``).
PASSIVATION_BASES = ("observed", "ce_only", "family")
NONE_VALUE = "none"  # "no additive" / "bare metal": a real value, not a missing one
MAX_EVIDENCE_WORDS = 20


@dataclass(frozen=True)
class Column:
    """One column of the interfaces table.

    ``low``/``high`` bound numeric values; ``low_open`` means the lower bound is excluded
    (a current density must be > 0, not >= 0).
    """

    name: str
    kind: ColumnKind
    group: Literal["system", "condition", "target", "provenance"]
    description: str
    unit: str = ""
    allowed: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = True
    integer: bool = False
    component: ComponentKind | None = None
    multi: bool = False  # several values joined with ':' (solvent mixtures, several additives)
    none_allowed: bool = False  # the literal 'none' is a valid value
    screened: bool = False  # part of a formulation that enumerate/rank/design vary or fix
    extra: dict = field(default_factory=dict)

    def bounds_text(self) -> str:
        """Human-readable accepted range, e.g. '> 0 and <= 100 mA cm^-2'."""
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        text = " and ".join(parts) if parts else "any number"
        return f"{text} {self.unit}".strip()


def _num(name, group, description, unit, low=0.0, high=None, low_open=True, integer=False,
         screened=False):
    return Column(name, "number", group, description, unit=unit, low=low, high=high,
                  low_open=low_open, integer=integer, screened=screened)


COLUMNS: tuple[Column, ...] = (
    # --- system --------------------------------------------------------------------------
    Column("metal", "category", "system", "Metal of the anode", allowed=METALS,
           screened=True),
    Column("salt", "text", "system", "Salt as written in the source"),
    Column("anion", "component", "system", "Salt anion (library name, alias or SMILES)",
           component="anion", screened=True),
    _num("salt_conc_M", "system", "Salt concentration", "mol L^-1", high=20, screened=True),
    Column("solvent", "component", "system",
           "Solvent, or several joined with ':' (library names, aliases or SMILES)",
           component="solvent", multi=True, screened=True),
    Column("solvent_ratio", "ratio", "system",
           "Ratio of the solvents joined with ':' (e.g. 1:1), blank if unknown", screened=True),
    Column("additive", "component", "system",
           "Molecular or salt additive(s) joined with ':', or 'none'",
           component="solvent", multi=True, none_allowed=True, screened=True),
    _num("additive_conc_M", "system", "Additive concentration (single additive only)",
         "mol L^-1", high=20, screened=True),
    Column("coating", "component", "system",
           "Artificial layer on the anode (library name, formula or ':'-mixture), or 'none'",
           component="coating", none_allowed=True, screened=True),
    _num("coating_thickness_um", "system", "Coating thickness", "um", high=5000,
         screened=True),
    # --- test conditions -------------------------------------------------------------------
    Column("cell_type", "category", "condition", "Cell used for the measurement",
           allowed=CELL_TYPES, screened=True),
    Column("cathode", "text", "condition", "Cathode of a full cell"),
    _num("current_density_mA_cm2", "condition", "Current density", "mA cm^-2", high=200,
         screened=True),
    _num("areal_capacity_mAh_cm2", "condition", "Areal capacity per half cycle", "mAh cm^-2",
         high=200, screened=True),
    _num("temperature_C", "condition", "Temperature", "degC", low=-100, high=300,
         low_open=False, screened=True),
    _num("rest_time_h", "condition", "Rest (open-circuit) time before the measurement", "h",
         high=1e5, low_open=False),
    _num("cycle_number", "condition", "Cycle at which the value was read", "cycles",
         high=1e7, integer=True),
    _num("c_rate", "condition", "Rate of a full cell", "C", high=1000),
    # --- targets ---------------------------------------------------------------------------
    _num("overpotential_V", "target", "Overpotential magnitude", "V", high=5),
    Column("overpotential_kind", "category", "target", "What the overpotential is",
           allowed=OVERPOTENTIAL_KINDS),
    _num("cycle_life_h", "target", "Cycling time reached", "h", high=1e6),
    _num("cycle_life_cycles", "target", "Cycles reached", "cycles", high=1e7, integer=True),
    Column("cycle_life_censored", "boolean", "target",
           "true if the cell had not failed at the reported cycle life (a lower bound)"),
    _num("coulombic_efficiency_pct", "target", "Coulombic efficiency", "%", high=100),
    Column("passivation", "category", "target", "Passivation tendency",
           allowed=PASSIVATION_LABELS),
    Column("passivation_evidence", "text", "target",
           f"Why the passivation label was given (<= {MAX_EVIDENCE_WORDS} words)"),
    Column("passivation_basis", "category", "target",
           "How direct the passivation evidence is", allowed=PASSIVATION_BASES),
    _num("conductivity_mS_cm", "target", "Ionic conductivity", "mS cm^-1", high=2000),
    _num("anodic_stability_V", "target", "Anodic stability limit vs the metal", "V", high=10),
    _num("capacity_retention_pct", "target", "Capacity retention", "%", high=200),
    _num("charge_transfer_resistance_ohm", "target", "Charge-transfer resistance", "ohm",
         high=1e9),
    _num("charge_transfer_resistance_ohm_cm2", "target",
         "Area-specific charge-transfer resistance", "ohm cm^2", high=1e9),
    _num("exchange_current_density_mA_cm2", "target", "Exchange current density",
         "mA cm^-2", high=1e4),
    # --- provenance ------------------------------------------------------------------------
    Column("source", "text", "provenance",
           "Source of the values: seed file, or first author, year, journal"),
    _num("year", "provenance", "Year the cited work was published", "", low=1900, high=2100,
         low_open=False, integer=True),
    Column("doi", "text", "provenance", "DOI of the cited work, when known"),
    Column("url", "text", "provenance", "Stored page the values were read from"),
    Column("location", "text", "provenance", "Table/row, section or caption in the source"),
    Column("ref", "text", "provenance", "The source's own reference number when quoted"),
    Column("notes", "text", "provenance", "Ranges, bounds, rates and other context"),
)

COLUMN_BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "number")

#: The formulation of a candidate: every screened column in schema order. enumerate, rank,
#: design and the candidate check share this vocabulary.
FORMULATION_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.screened)
#: What identifies a *system* (electrolyte + anode): every system column. Passivation is a
#: property of the system, so it gets one label per system key (see screen.data.systems).
SYSTEM_KEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.group == "system")
#: Columns that describe *what* is measured: a prediction input needs these.
SYSTEM_REQUIRED: tuple[str, ...] = ("metal", "anion", "solvent", "coating")
#: Every row of a curated data set must say where its values come from.
PROVENANCE_REQUIRED: tuple[str, ...] = ("source", "location")
#: A curated row must carry at least one of these measured values.
MEASURED_COLUMNS: tuple[str, ...] = (
    "overpotential_V", "cycle_life_h", "cycle_life_cycles", "coulombic_efficiency_pct",
    "passivation", "conductivity_mS_cm", "anodic_stability_V", "capacity_retention_pct",
    "charge_transfer_resistance_ohm", "charge_transfer_resistance_ohm_cm2",
    "exchange_current_density_mA_cm2",
)
#: Extra columns a user may add to carry their own information are prefixed with this.
USER_COLUMN_PREFIX = "extra_"
