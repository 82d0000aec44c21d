"""Atomic writes and spreadsheet-formula neutralization."""

from __future__ import annotations

import pandas as pd
import pytest

from screen.data.io import atomic_path, atomic_write_csv, neutralize_formulas


def test_interrupted_write_leaves_original_untouched(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half-writ", encoding="utf-8")
        raise KeyboardInterrupt
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_atomic_write_replaces_file(tmp_path):
    target = tmp_path / "sub" / "out.csv"
    atomic_write_csv(pd.DataFrame({"a": [1, 2]}), target)
    assert target.read_text(encoding="utf-8").splitlines() == ["a", "1", "2"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]


def test_formula_injection_is_neutralized_but_numbers_are_not():
    frame = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "+SUM(A1)", "@x", "DME", "-0.5"],
                          "value": [-1.0, 2.0, 3.0, 4.0, 5.0]})
    out = neutralize_formulas(frame)
    assert out["name"].tolist() == ["'=cmd|' /C calc'!A0", "'+SUM(A1)", "'@x", "DME", "-0.5"]
    assert out["value"].tolist() == [-1.0, 2.0, 3.0, 4.0, 5.0]


def test_atomic_files_get_the_normal_permissions(tmp_path):
    """Not mkstemp's owner-only 0600: the umask decides, as for any new file."""
    import os

    import pandas as pd

    from screen.data.io import atomic_write_csv

    old = os.umask(0o022)
    try:
        path = atomic_write_csv(pd.DataFrame({"a": [1]}), tmp_path / "out.csv")
        assert path.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        path = atomic_write_csv(pd.DataFrame({"a": [1]}), tmp_path / "private.csv")
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
