"""What a checked table reports: one :class:`Problem` per bad cell, row or header, and the
error that carries all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a table. ``row`` is the 1-based data row (file line = row + 1);
    ``None`` for problems with the file or header.

    ``severity``: an ``error`` stops the command (the value cannot be right); a ``warning`` is
    printed and the row is kept (the value is unusual, e.g. a Coulombic efficiency of 0.995 %).
    ``rule``: which check found it (``component`` for a component that cannot be resolved or
    featurized, ``number``, ``salt`` ...; see :mod:`screen.data.rules`).
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    severity: Severity = "error"
    rule: str = ""

    @property
    def is_error(self) -> bool:
        """True for an error (False for a warning)."""
        return self.severity == "error"

    def __str__(self) -> str:
        where = ["warning: " + self.file if self.severity == "warning" else self.file]
        if self.row is not None:
            where.append(f"row {self.row} (line {self.row + 1})")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            where.append(_shown_value(self.value))
        return f"{', '.join(where)}: {self.message}"


def _shown_value(value: str, limit: int = 120) -> str:
    """``value 'text'`` for messages; a long cell is cut (its length is given instead)."""
    if len(value) <= limit:
        return f"value {value!r}"
    return f"value {value[:limit] + '…'!r} ({len(value)} characters)"


def errors_of(problems: list[Problem]) -> list[Problem]:
    """The errors among ``problems`` (warnings left out)."""
    return [p for p in problems if p.is_error]


def warnings_of(problems: list[Problem]) -> list[Problem]:
    """The warnings among ``problems``."""
    return [p for p in problems if not p.is_error]


class DataValidationError(ValueError):
    """Raised by loaders when a table has problems; ``problems`` holds all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s):\n  {shown}{more}")
