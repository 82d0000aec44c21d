"""screen.screening.report: the self-contained HTML report of ``mgscreen rank --report``."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from screen.data.formulation import formulation_lines
from screen.data.io import new_file_mode
from screen.data.schema import FORMULATION_COLUMNS
from screen.screening import report

PNG = b"\x89PNG\r\n\x1a\n"
SCRIPT = "<script>alert(1)</script>"
FORMULA = "=cmd|' /C calc'!A0"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "source", "area", "base"}
META = {
    "title": "Mg screen <test> & co", "candidates_path": "candidates.csv", "n_candidates": 5000,
    "n_ranked": 8, "n_rejected": 3, "order": "pareto", "bound": "optimistic",
    "weights": {"overpotential": 1.0, "cycle_life": 1.0, "passivation": 0.5}, "layers": 3,
    "models": {"overpotential": "models:/mgscreen-overpotential@champion (v3)",
               "cycle_life": "models:/mgscreen-cycle_life@champion (v2)"},
    "generated": "2025-01-01T12:00:00+00:00", "mgscreen_version": "0.1.0",
    "desirability_doc": "Weighted geometric mean of per-objective scores in [0, 1].",
}


def _specs():
    """The objectives of the synthetic tables: overpotential, a survival-mode cycle life in
    hours (medians with lower bounds) and passivation, as loaded models would define them."""
    from types import SimpleNamespace

    from screen.learn.registry import resolve_objectives

    models = {"cycle_life": SimpleNamespace(settings={"unit": "h", "mode": "survival"})}
    specs = resolve_objectives(models)
    return [specs[name] for name in ("overpotential", "cycle_life", "passivation")]


SPECS = _specs()


def synthetic_candidates(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` candidates with formulation columns and every prediction column."""
    rng = np.random.default_rng(seed)
    anions = ["TFSI", "B(hfip)4", "CB11H12", "Ph2AlCl2", "FPB"]
    solvents = ["DME", "G2", "THF", "DME:G2", "DME:TTE"]
    coatings = ["none", "MgF2", "Mg3Bi2", "Mg-Bi alloy"]
    solvent = rng.choice(solvents, n)
    additive = rng.choice(["none", "I2", "MgCl2"], n)
    coating = rng.choice(coatings, n)
    eta = rng.uniform(0.04, 0.8, n)
    life = np.exp(rng.uniform(np.log(30), np.log(3000), n))
    frame = pd.DataFrame({
        "candidate_id": [f"c{i:05d}" for i in range(n)],
        "metal": "Mg", "anion": rng.choice(anions, n),
        "salt_conc_M": rng.choice([0.25, 0.5, 1.0], n), "solvent": solvent,
        "solvent_ratio": np.where(np.char.find(solvent.astype(str), ":") > 0, "1:1", ""),
        "additive": additive,
        "additive_conc_M": np.where(additive == "none", np.nan, 0.05),
        "coating": coating, "coating_thickness_um": np.where(coating == "none", np.nan, 1.0),
        "cell_type": "symmetric", "current_density_mA_cm2": 1.0,
        "areal_capacity_mAh_cm2": 1.0, "temperature_C": 25.0,
        "overpotential_V_pred": eta, "overpotential_V_low": eta * 0.7,
        "overpotential_V_high": eta * 1.45, "cycle_life_h_pred": np.minimum(life, 2500.0),
        "cycle_life_h_pred_is_lower_bound": life >= 2500.0,
        "p_life_gt_500": 1 / (1 + np.exp(-(np.log(life) - np.log(500)) * 2)),
        "p_passivating": rng.uniform(0, 1, n), "domain_distance": rng.uniform(0.1, 2.0, n),
    })
    frame["in_domain"] = frame["domain_distance"] < 1.2
    return frame


def synthetic_ranked(k: int = 8, seed: int = 0) -> pd.DataFrame:
    """A top-``k`` table as the ranking produces it (rank order, all columns)."""
    frame = synthetic_candidates(k, seed)
    frame.insert(0, "rank", np.arange(1, k + 1))
    frame["pareto_layer"] = np.arange(k) // 3 + 1
    frame.loc[k - 1, "pareto_layer"] = 4  # beyond META['layers'] = 3
    frame["desirability"] = np.linspace(0.9, 0.3, k)
    frame["reasons"] = "overpotential: coating −0.08 V, anion +0.02 V; passivation: anion −0.21"
    frame["nearest_measured"] = ("interfaces.csv row 12 (Mg(TFSI)2 in DME, bare; η 0.42 V; "
                                 "seed 001 Table 2); row 40 (APC in THF; η 0.1 V)")
    frame.loc[0, "in_domain"] = True
    if k >= 4:
        frame.loc[1, "in_domain"] = False
        frame.loc[2, ["cycle_life_h_pred", "cycle_life_h_pred_is_lower_bound"]] = [2500.0, True]
        frame.loc[3, "cycle_life_h_pred_is_lower_bound"] = False
    return frame


def synthetic_front(n: int = 300, seed: int = 1) -> pd.DataFrame:
    frame = synthetic_candidates(n, seed)
    frame["pareto_layer"] = np.random.default_rng(seed).integers(1, 5, n)
    return frame


@pytest.fixture(scope="module")
def measured():
    from screen import load_interfaces

    return load_interfaces()


@pytest.fixture(scope="module")
def page(measured) -> str:
    return report.render_report(synthetic_ranked(), synthetic_front(), measured, META, SPECS)


class _Checker(HTMLParser):
    """Collects tag-balance errors, attributes, and the rows of the ranked table."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.rows: list[list[str]] = []
        self.row_classes: list[str] = []
        self._in_ranked_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table" and ("id", "ranked") in attrs:
            self._in_ranked_body = True
        if self._in_ranked_body and tag == "tr" and "tbody" in self.stack:
            self.rows.append([])
            self.row_classes.append(dict(attrs).get("class") or "")
        if self._in_ranked_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "table":
            self._in_ranked_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    return checker


def test_page_parses_balanced_with_ranked_rows_in_order(page):
    checker = _parse(page)
    assert checker.errors == [] and checker.stack == []
    assert page.startswith("<!DOCTYPE html>")
    assert [row[0] for row in checker.rows] == [str(i) for i in range(1, 9)]
    for name in ("Ranked candidates", "Predicted Pareto front", "beside the measured data",
                 "How to read this", "Caveats"):
        assert name in page
    assert "Mg screen &lt;test&gt; &amp; co" in page and "<test>" not in page
    assert "candidates.csv" in page and "5,000 candidates" in page and "3 rejected" in page
    assert "models:/mgscreen-overpotential@champion (v3)" in page
    assert "overpotential 1, cycle life 1, passivation 0.5" in page
    assert "symmetric cell, 1 mA cm⁻², 1 mAh cm⁻², 25 °C" in page


def test_cells_are_formatted(page):
    rows = _parse(page).rows
    first = synthetic_ranked().iloc[0]
    eta = rows[0][2]
    assert re.fullmatch(r"\d\.\d{2,3} V\s*90 % \[\d\.\d{2,3}, \d\.\d{2,3}\]", eta), eta
    assert "in " in rows[0][1] and first["candidate_id"] in rows[0][1]
    assert rows[2][3] == "> 2,500 h"  # a lower bound
    assert not rows[3][3].startswith(">") and rows[3][3].endswith(" h")
    layer_col = [r[6] for r in rows]
    assert layer_col[-1] == "> 3" and layer_col[0] == "1"  # layer 4 > meta['layers']
    assert "row 40 (APC in THF; η 0.1 V)" in rows[0][-1]


def test_desirability_cell_shows_its_range_and_ties_with_the_top():
    row = {"rank": 3, "desirability": 0.8, "desirability_low": 0.4, "desirability_high": 0.95,
           "tied_with_top": True}
    cell = report._desirability_cell(row, META)
    assert ">0.80</span>" in cell and "[0.40, 0.95]" in cell and "≈ top" in cell
    assert "≈ top" not in report._desirability_cell({**row, "tied_with_top": False}, META)
    assert "≈ top" not in report._desirability_cell({**row, "rank": 1}, META)  # the top itself
    bare = report._desirability_cell({"rank": 2, "desirability": 0.8}, META)
    assert "[" not in bare and "≈" not in bare  # no intervals: the point alone


def test_why_cell_shows_the_largest_reason_and_folds_the_rest():
    row = {"reasons": "η: coating −0.08 V; CE: anion +1.2 %; passivation: anion −0.21",
           "nearest_measured": "row 12 (Mg(TFSI)2 in DME; η 0.42 V); row 40 (APC in THF)"}
    cell = report._why_cell(row, META)
    shown, folded = cell.split("<details>")
    assert shown == "η: coating −0.08 V"  # in view without a click
    assert "2 more reasons, 2 nearest measured" in folded
    assert "CE: anion +1.2 %" in folded and "row 40 (APC in THF)" in folded
    assert "row 12 (Mg(TFSI)2 in DME; η 0.42 V)" in folded  # not split inside parentheses
    assert "<details>" not in report._why_cell({"reasons": "η: coating −0.08 V"}, META)
    assert report._why_cell({"reasons": float("nan"), "nearest_measured": " "}, META) \
        == report.DASH
    only_near = report._why_cell({"nearest_measured": "row 12 (x)"}, META)
    assert only_near.startswith("<details><summary>1 nearest measured</summary>")


def test_self_contained_no_network(page):
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "url(" not in page
    checker = _parse(page)
    csp = [v for t, n, v in checker.attrs if t == "meta" and n == "content" and "src" in v]
    assert csp and "default-src 'none'" in csp[0] and "img-src data:" in csp[0]
    for tag, name, value in checker.attrs:
        if name in ("src", "href"):
            assert value.startswith("data:image/png;base64,"), (tag, name, value[:40])
    sources = [v for t, n, v in checker.attrs if t == "img" and n == "src"]
    assert len(sources) == 4  # front + three context figures
    for src in sources:
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == PNG and len(png) > 2000


def test_untrusted_text_is_escaped(measured):
    ranked = synthetic_ranked(4)
    ranked.loc[0, "candidate_id"] = SCRIPT
    ranked.loc[1, "anion"] = FORMULA
    ranked.loc[2, "reasons"] = f'coating "{SCRIPT}"'
    meta = {**META, "candidates_path": FORMULA, "title": SCRIPT,
            "models": {"overpotential": "http://evil.example/<img src=x>"}}
    text = report.render_report(ranked, synthetic_front(50), measured, meta, SPECS)
    assert SCRIPT not in text and FORMULA not in text and "<img src=x>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "=cmd|&#x27; /C calc&#x27;!A0" in text
    checker = _parse(text)
    assert checker.errors == [] and checker.stack == []
    assert not any(n in ("src", "href") and "evil" in v for _, n, v in checker.attrs)
    assert any(SCRIPT in cell for row in checker.rows for cell in row)  # shown as text


def test_out_of_domain_rows_are_marked(page):
    checker = _parse(page)
    ranked = synthetic_ranked()
    for row, cls, in_domain in zip(checker.rows, checker.row_classes, ranked["in_domain"],
                                   strict=True):
        domain = row[8]
        assert ("ood" in cls) == (not in_domain)
        assert ("out of domain" in domain) == (not in_domain)
        assert domain.startswith("✓ in domain") == bool(in_domain)


def test_missing_prediction_columns_still_render(measured):
    drop = ["cycle_life_h_pred", "cycle_life_h_pred_is_lower_bound", "p_life_gt_500"]
    ranked, front = synthetic_ranked(5).drop(columns=drop), synthetic_front(40).drop(columns=drop)
    text = report.render_report(ranked, front, measured, {}, SPECS)
    checker = _parse(text)
    assert checker.errors == [] and len(checker.rows) == 5
    assert "Cycle life (h)" not in text and "P(life" not in text.split("<table")[1]
    images = [v for t, n, v in checker.attrs if t == "img" and n == "src"]
    assert len(images) == 3  # front (η vs p_passivating), η and passivation context
    minimal = synthetic_ranked(3)[["rank", "candidate_id", *FORMULATION_COLUMNS]]
    text = report.render_report(minimal, pd.DataFrame(), measured, {}, SPECS)
    assert len(_parse(text).rows) == 3 and "Needs at least two" in text


def test_empty_ranking_and_missing_meta(measured):
    empty = synthetic_ranked(1).iloc[0:0]
    text = report.render_report(empty, synthetic_front(0), measured, {}, SPECS)
    assert "No candidate was ranked" in text and _parse(text).errors == []


def test_write_report_is_atomic(tmp_path, measured, monkeypatch):
    path = tmp_path / "out" / "report.html"
    ranked, front = synthetic_ranked(3), synthetic_front(30)
    assert report.write_report(path, ranked, front, measured, META, SPECS) == path
    first = path.read_text(encoding="utf-8")
    assert path.stat().st_mode & 0o777 == new_file_mode()  # not mkstemp's 0600
    assert "<table" in first

    def boom(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report, "pareto_front_figure", boom)
    with pytest.raises(RuntimeError):
        report.write_report(path, ranked, front, measured, META, SPECS)
    with pytest.raises(RuntimeError):
        report.write_report(tmp_path / "new.html", ranked, front, measured, META, SPECS)
    assert path.read_text(encoding="utf-8") == first
    assert not (tmp_path / "new.html").exists()
    monkeypatch.undo()
    second = "<!DOCTYPE html><title>second</title>"
    monkeypatch.setattr(report, "render_report", lambda *args: second)  # rendering is tested
    monkeypatch.setattr(type(path), "write_text", boom)  # failure while writing
    with pytest.raises(RuntimeError):
        report.write_report(path, ranked, front, measured, META, SPECS)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temp left
    monkeypatch.setattr(report, "render_report", lambda *args: second)
    report.write_report(path, ranked, front, measured, META, SPECS)
    assert path.read_text(encoding="utf-8") == second


def test_split_top_level_and_formulation_text():
    assert report.split_top_level("row 12 (a; b); row 40 (c)") == ["row 12 (a; b)",
                                                                    "row 40 (c)"]
    row = {"metal": "Mg", "anion": "TFSI", "salt_conc_M": 0.5, "solvent": "DME:G2",
           "solvent_ratio": "1:1", "additive": "none", "additive_conc_M": np.nan,
           "coating": "MgF2", "coating_thickness_um": 1.0}
    assert formulation_lines(row) == ["TFSI 0.5 M in DME:G2 (1:1)",
                                            "Mg, coating MgF2 (1 µm)"]
    row.update(additive="I2", additive_conc_M=0.05, coating="none")
    assert formulation_lines(row) == ["TFSI 0.5 M in DME:G2 (1:1) + I2 0.05 M", "bare Mg"]


@pytest.mark.parametrize("width", [100, 80])
def test_terminal_table_fits_and_shows_the_formulation(width):
    """The console's top-20 table never exceeds the console (at most 100 columns) and keeps
    every part of the formulation and the desirability visible."""
    import io

    from rich.console import Console

    from screen.cli.render import TABLE_WIDTH, print_ranked

    ranked = synthetic_ranked(8)
    out = io.StringIO()
    print_ranked(Console(file=out, width=width), ranked, SPECS, limit=8)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= min(width, TABLE_WIDTH)
    text = " ".join(" ".join(lines).split())
    first = ranked.iloc[0]
    for part in (str(first["anion"]), str(first["solvent"]).split(":")[0], "symmetric"):
        assert part in text, part
    assert f"{first['desirability']:.2f}" in text
    assert "Top 8 — anion: " in text  # what the whole ranked table is made of


def test_composition_counts_the_commonest_names_and_folds_the_rest():
    from screen.data.formulation import composition_lines

    rows = pd.DataFrame({"anion": ["TFSI"] * 3 + ["BH4"] * 3 + ["PF6", "Cl", None],
                         "coating": ["none"] * 9})
    assert composition_lines(rows, most=2) == [
        "anion: BH4 3, TFSI 3, 3 others 3",  # ties in name order; blank counts as '?'
        "coating: none 9"]
    assert composition_lines(rows.iloc[:0]) == []
    assert composition_lines(rows[["coating"]].head(2), most=1) == ["coating: none 2"]


def test_verbs_print_100_columns_outside_a_terminal(monkeypatch):
    from screen.cli.render import TABLE_WIDTH, make_console

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    assert make_console().width == TABLE_WIDTH
    monkeypatch.setenv("COLUMNS", "132")
    assert make_console().width == 132


def test_percent_objective_cell_names_its_interval():
    """Coulombic efficiency reads as a percentage with its decimals and its 90 % interval,
    never in exponent notation; a 0.5-coverage pair is called the IQR."""
    from dataclasses import replace

    from screen.learn.registry import get_objective

    ce = get_objective("coulombic_efficiency")
    row = {ce.column(): 99.43, ce.column("optimistic"): 99.91, ce.column("pessimistic"): 96.2}
    cell = re.sub(r"<[^>]+>", " ", report._objective_cell(ce, row))
    assert " ".join(cell.split()) == "99.4 % 90 % [96.2, 99.9]"
    quartiles = report._objective_cell(replace(ce, interval_level=0.5), row)
    assert "IQR [96.2, 99.9]" in quartiles and "e+" not in quartiles
