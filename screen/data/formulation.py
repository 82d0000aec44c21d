"""One way to write a formulation (a row of system + test-condition columns) as text.

Used by the terminal tables, the HTML report and the explanations (nearest measured systems),
so a system reads the same everywhere. An unknown value is written as such — a blank salt
concentration is ``c = ?``, never ``nan M``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from screen.data.components import is_none

UNKNOWN = "?"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value) or str(value).strip() in ("", "<NA>", "nan", "None")
    except (TypeError, ValueError):  # pandas.NA compares ambiguously
        return True


def _number(value: Any) -> float:
    if _missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _g(value: float) -> str:
    return f"{value:g}"


def electrolyte_text(row: Mapping[str, Any]) -> str:
    """``'TFSI 0.5 M in DME:G2 (1:1) + I2 0.05 M'``; unknown parts as ``?``."""
    anion = UNKNOWN if _missing(row.get("anion")) else str(row["anion"])
    conc = _number(row.get("salt_conc_M"))
    text = f"{anion} {_g(conc)} M" if math.isfinite(conc) else f"{anion} (c = {UNKNOWN})"
    solvent = row.get("solvent")
    text += f" in {UNKNOWN if _missing(solvent) else solvent}"
    ratio = row.get("solvent_ratio")
    if not _missing(ratio):
        text += f" ({ratio})"
    additive = row.get("additive")
    if _missing(additive):
        text += f" + additive {UNKNOWN}"
    elif not is_none(str(additive)):
        amount = _number(row.get("additive_conc_M"))
        text += f" + {additive}" + (f" {_g(amount)} M" if math.isfinite(amount) else "")
    return text


def anode_text(row: Mapping[str, Any]) -> str:
    """``'bare Mg'`` or ``'Mg, coating MgF2 (1 µm)'``."""
    metal = "" if _missing(row.get("metal")) else str(row["metal"])
    coating = row.get("coating")
    if _missing(coating):
        return f"{metal}, coating {UNKNOWN}".strip(", ")
    if is_none(str(coating)):
        return f"bare {metal}".strip()
    thick = _number(row.get("coating_thickness_um"))
    size = f" ({_g(thick)} µm)" if math.isfinite(thick) else ""
    return f"{metal}, coating {coating}{size}".strip(", ")


def condition_text(row: Mapping[str, Any]) -> str:
    """``'symmetric cell, 1 mA cm⁻², 1 mAh cm⁻², 25 °C'`` (known parts only)."""
    bits = []
    if not _missing(row.get("cell_type")):
        bits.append(f"{row['cell_type']} cell")
    for column, unit in (("current_density_mA_cm2", "mA cm⁻²"),
                         ("areal_capacity_mAh_cm2", "mAh cm⁻²"), ("temperature_C", "°C")):
        value = _number(row.get(column))
        if math.isfinite(value):
            bits.append(f"{_g(value)} {unit}")
    return ", ".join(bits)


def formulation_lines(row: Mapping[str, Any], with_condition: bool = False) -> list[str]:
    """[electrolyte, anode] (+ the test condition when asked and known)."""
    lines = [electrolyte_text(row), anode_text(row)]
    if with_condition and (condition := condition_text(row)):
        lines.append(condition)
    return lines


def formulation_text(row: Mapping[str, Any], with_condition: bool = False) -> str:
    """The lines of :func:`formulation_lines` joined with `` | ``."""
    return " | ".join(formulation_lines(row, with_condition))


#: The parts of a formulation that :func:`composition_lines` counts, in print order.
COMPOSITION_PARTS = ("anion", "solvent", "additive", "coating")


def composition_lines(rows: pd.DataFrame, most: int = 3) -> list[str]:
    """What a set of systems (e.g. a ranked top 100) is made of, one line per part present:
    ``'anion: Al(tftb)4 87, FCB11H11 9, 2 others 4'`` — the ``most`` commonest names with their
    counts (blank names as ``?``), the rest folded into one count."""
    lines = []
    for part in COMPOSITION_PARTS:
        if part not in rows or rows.empty:
            continue
        names = rows[part].astype("string").fillna(UNKNOWN).str.strip().replace("", UNKNOWN)
        counts = names.value_counts(sort=True)
        counts = counts.iloc[np.lexsort((counts.index.to_numpy(str), -counts.to_numpy()))]
        shown = [f"{name} {count}" for name, count in counts.head(most).items()]
        rest = counts.iloc[most:]
        if len(rest):
            shown.append(f"{len(rest)} other{'s' * (len(rest) > 1)} {int(rest.sum())}")
        lines.append(f"{part}: {', '.join(shown)}")
    return lines
