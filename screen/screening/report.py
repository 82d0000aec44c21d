"""Self-contained HTML report of a ranking (``mgscreen rank ... --report report.html``).

:func:`render_report` returns the page as text; :func:`write_report` writes it atomically.
The page reads offline: inline CSS only, no script, figures embedded as base64 PNG
(matplotlib, Agg canvas), and a Content-Security-Policy that forbids any network fetch. Every
value taken from the data or ``meta`` is HTML-escaped and shown as text, never as markup or
link. Sections: header (what was ranked, how, which models), how to read it, the ranked table,
the predicted Pareto front, the predictions beside the measured data, caveats.

Which predictions are shown, and how, comes from the objectives of the target registry
(:mod:`screen.learn.registry`): every objective whose prediction column is in the ranked
table gets a table column, a place in the Pareto plot and a measured-vs-predicted figure.
Units are the objectives' own (overpotential V, cycle life h, probabilities in [0, 1]);
concentrations in mol L⁻¹ (M), coating thickness in µm, current density in mA cm⁻², capacity in
mAh cm⁻², temperature in °C.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from screen.data.formulation import composition_lines, condition_text, formulation_lines
from screen.learn import plots
from screen.learn.registry import Objective, get_target, objectives

CONDITION_COLUMNS = ("cell_type", "current_density_mA_cm2", "areal_capacity_mAh_cm2",
                     "temperature_C")
#: At most this many ranks are labelled in the front plot / drawn in the context figures.
MAX_LABELLED = 30
MAX_CONTEXT_ROWS = 50
DPI = 110
DASH = "—"
_OOD_COLOR = "#d95f02"
_BLUE = "#1f77b4"
_GREY = "0.45"
_ORDER_TEXT = {"pareto": "Pareto layer, then desirability", "desirability": "desirability"}
_BOUND_TEXT = {"point": "point predictions",
               "optimistic": "each objective at the favourable end of its interval",
               "pessimistic": "each objective at the unfavourable end of its interval"}
_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 margin:24px auto;max-width:1500px;padding:0 16px;color:#1b1b1b;line-height:1.4;font-size:14px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dl.meta dt{font-weight:600;color:#444}dl.meta dd{margin:0}
.howto{background:#f4f7fb;border-left:4px solid #1f77b4;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f0f0f0;position:sticky;top:0}
table.ranked td.num{text-align:right;white-space:nowrap}
table.ranked tr.ood{background:#fff1e0}
.badge-ood{display:inline-block;background:#d95f02;color:#fff;border-radius:3px;
 padding:0 5px;font-weight:600;white-space:nowrap}
.badge-in{color:#1a7f37;white-space:nowrap}
.sub{color:#666;font-size:12px}.small{font-size:12px}
.iv{color:#666;white-space:nowrap}
td.why ul{margin:0;padding-left:16px}
td.why{min-width:200px;max-width:320px;font-size:12px}
td.why summary{cursor:pointer;color:#1f5fa8}
td.formulation{min-width:220px}
figure{margin:12px 0}figcaption{color:#444;font-size:13px;max-width:1000px}
img{max-width:100%;height:auto}
.note{color:#666;font-style:italic}
footer{margin-top:32px;border-top:1px solid #ddd;padding-top:8px;color:#444;font-size:13px}
@media print{th{position:static}}
"""


# ---------------------------------------------------------------------------- public API
def write_report(path: str | Path, ranked: pd.DataFrame, front: pd.DataFrame,
                 measured: pd.DataFrame, meta: Mapping[str, Any],
                 specs: list[Objective] | None = None) -> Path:
    """Render the report and write it as UTF-8 HTML at ``path`` atomically: a failure leaves
    no file and an existing report untouched."""
    from screen.data.io import atomic_path

    text = render_report(ranked, front, measured, meta, specs)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def shown_objectives(ranked: pd.DataFrame, specs: list[Objective] | None = None
                     ) -> list[Objective]:
    """The objectives the report shows: ``specs`` (the ranking's own) or every registered one,
    restricted to those whose point prediction is a column of ``ranked``."""
    candidates = specs if specs is not None else list(objectives().values())
    return [o for o in candidates if o.column() in ranked.columns]


def render_report(ranked: pd.DataFrame, front: pd.DataFrame, measured: pd.DataFrame,
                  meta: Mapping[str, Any], specs: list[Objective] | None = None) -> str:
    """The self-contained HTML page of a ranking (see the module docstring). ``specs``: the
    ranking's objectives (default: the registered ones whose columns are present)."""
    meta = dict(meta or {})
    ranked = _in_rank_order(ranked if ranked is not None else pd.DataFrame())
    front = front if front is not None else pd.DataFrame()
    measured = measured if measured is not None else pd.DataFrame()
    shown = shown_objectives(ranked if not ranked.empty or front.empty else front, specs)
    title = str(meta.get("title") or "mgscreen ranking report")
    body = "\n".join([
        _header(title, meta, ranked, shown),
        _how_to_read(meta, ranked, shown),
        _ranked_section(ranked, meta, shown),
        _pareto_section(front, ranked, meta, shown),
        _context_section(ranked, measured, shown),
        _footer(meta, shown),
    ])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n"
            f"</body>\n</html>\n")


# ---------------------------------------------------------------------------- small helpers
def _e(value: Any) -> str:
    """HTML-escaped text of any value (quotes too)."""
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _float(value: Any) -> float:
    """``value`` as float, NaN when missing or not a number."""
    if _missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _truthy(value: Any) -> bool:
    """Booleans as written in frames or CSVs ('true', 1, True); missing → False."""
    if _missing(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _volts(v: float) -> str:
    """Overpotential text (V): 2 decimals, 3 below 0.1 V."""
    return DASH if not math.isfinite(v) else (f"{v:.2f}" if abs(v) >= 0.095 else f"{v:.3f}")


def _hours(v: float) -> str:
    """Cycle-life text (h): whole hours with thousands separators, 2 digits below 10 h."""
    return DASH if not math.isfinite(v) else (f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2g}")


def _prob(v: float) -> str:
    return DASH if not math.isfinite(v) else f"{v:.2f}"


def _value(spec: Objective, v: float) -> str:
    """An objective's value as the report writes it (V, h or a probability)."""
    if spec.unit == "V":
        return _volts(v)
    if spec.unit in ("h", "cycles"):
        return _hours(v)
    if not spec.unit:
        return _prob(v)
    return DASH if not math.isfinite(v) else f"{v:.{spec.decimals}f}"


def _interval_name(spec: Objective, short: bool = False) -> str:
    """What an objective's optimistic/pessimistic pair is: its quartiles (coverage 0.5), an
    ``N %`` interval, or an interval of unstated coverage."""
    level = spec.interval_level
    if level is not None and abs(level - 0.5) < 1e-9:
        return "IQR" if short else "inter-quartile range (IQR)"
    if level is not None:
        return f"{level:.0%} interval".replace("%", " %")
    return "interval"


def _g(v: Any) -> str:
    x = _float(v)
    return DASH if not math.isfinite(x) else f"{x:g}"


def _mpl_text(text: Any) -> str:
    """Text safe for a matplotlib label (``$`` would start mathtext)."""
    return str(text).replace("$", r"\$")


def split_top_level(text: str, sep: str = ";") -> list[str]:
    """Split ``text`` at ``sep`` outside parentheses/brackets, parts stripped, empty dropped:
    ``'row 12 (a; b); row 40 (c)'`` → ``['row 12 (a; b)', 'row 40 (c)']``."""
    parts, depth, current = [], 0, []
    for ch in str(text):
        depth += ch in "([{"
        depth -= ch in ")]}" and depth > 0
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _in_rank_order(ranked: pd.DataFrame) -> pd.DataFrame:
    out = ranked.reset_index(drop=True)
    if "rank" not in out:
        out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.sort_values("rank", kind="stable").reset_index(drop=True)


def _png_uri(fig: Figure) -> str:
    """``data:image/png;base64,...`` of a figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_html(fig: Figure, alt: str, caption: str) -> str:
    return (f'<figure><img src="{_png_uri(fig)}" alt="{_e(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _ul(items: Iterable[str]) -> str:
    items = list(items)
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>" if items else DASH


# ---------------------------------------------------------------------------- header
def _value_text(value: Any) -> str:
    """Numbers as ``%g``, anything else as ``str``."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return _g(value)
    return str(value)


def _mapping_text(value: Any, names: Mapping[str, str] | None = None) -> str:
    """``{'a': 1, 'b': 'x'}`` → ``'a 1, b x'`` (keys renamed by ``names``); other values as
    text."""
    if isinstance(value, Mapping):
        names = names or {}
        return ", ".join(f"{names.get(str(k), k)} {_value_text(v)}" for k, v in value.items())
    return _value_text(value)


def _ranked_what(meta: Mapping[str, Any], ranked: pd.DataFrame) -> str:
    parts = []
    if "n_candidates" in meta:
        parts.append(f"{_count(meta['n_candidates'])} candidates")
    if "candidates_path" in meta:
        parts.append(f"from {meta['candidates_path']}")
    text = " ".join(parts) or "candidates"
    if "n_rejected" in meta:
        text += f"; {_count(meta['n_rejected'])} rejected (invalid or not featurizable)"
    shown = meta.get("n_ranked", len(ranked))
    return f"{text}; top {_count(shown)} shown below."


def _rank_label(value: Any) -> str:
    """A rank as text for a figure: the integer, or '?'."""
    x = _float(value)
    return str(int(x)) if math.isfinite(x) else "?"


def _count(value: Any) -> str:
    x = _float(value)
    return f"{int(x):,}" if math.isfinite(x) and x == int(x) else str(value)


def _how_text(meta: Mapping[str, Any], shown: list[Objective]) -> str:
    parts = []
    if "order" in meta:
        parts.append(f"order: {_ORDER_TEXT.get(str(meta['order']), meta['order'])}")
    if "bound" in meta:
        bound = str(meta["bound"])
        parts.append(f"bound: {bound} ({_BOUND_TEXT[bound]})" if bound in _BOUND_TEXT
                     else f"bound: {bound}")
    if "weights" in meta:
        names = {**{name: o.label for name, o in objectives().items()},
                 **{o.name: o.label for o in shown}}
        parts.append(f"weights: {_mapping_text(meta['weights'], names)}")
    if "layers" in meta:
        parts.append(f"Pareto layers computed: {meta['layers']}")
    return "; ".join(parts)


def shared_condition(ranked: pd.DataFrame) -> str | None:
    """The test condition text if every ranked row has the same one, else None."""
    cols = [c for c in CONDITION_COLUMNS if c in ranked]
    if ranked.empty or not cols:
        return None
    distinct = ranked[cols].astype(str).drop_duplicates()
    return condition_text(ranked.iloc[0].to_dict()) if len(distinct) == 1 else None


def _header(title: str, meta: Mapping[str, Any], ranked: pd.DataFrame,
            shown: list[Objective]) -> str:
    rows = [("Ranked", _ranked_what(meta, ranked))]
    how = _how_text(meta, shown)
    if how:
        rows.append(("How", how))
    condition = shared_condition(ranked)
    if condition:
        rows.append(("Test condition", f"{condition} (all ranked candidates)"))
    if not ranked.empty:
        rows.append(("Made of", f"the {len(ranked):,} below — "
                     + "; ".join(composition_lines(ranked))))
    if "models" in meta:
        rows.append(("Models", _mapping_text(meta["models"])))
    for key, label in (("generated", "Generated"), ("mgscreen_version", "mgscreen version")):
        if key in meta:
            rows.append((label, str(meta[key])))
    known = {"title", "candidates_path", "n_candidates", "n_ranked", "n_rejected", "order",
             "bound", "weights", "layers", "models", "generated", "mgscreen_version",
             "desirability_doc", "how_to_read", "table_title"}
    rows += [(str(k), _mapping_text(v)) for k, v in meta.items() if k not in known]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<header>\n<h1>{_e(title)}</h1>\n<dl class="meta">{items}</dl>\n</header>'


def _how_to_read(meta: Mapping[str, Any], ranked: pd.DataFrame,
                 shown: list[Objective]) -> str:
    if meta.get("how_to_read"):  # a page that is not a ranking (e.g. suggest) says its own
        return (f'<section class="howto"><strong>How to read this.</strong> '
                f'{_e(meta["how_to_read"])}</section>')
    layers = meta.get("layers")
    beyond = f"“&gt; {_e(layers)}” means deeper than the {_e(layers)} computed layers. " \
        if layers is not None else ""
    goals = ", ".join(f"{'higher' if o.maximize else 'lower'} {o.label}" for o in shown)
    doc = meta.get("desirability_doc")
    doc_html = f" {_e(str(doc).replace('``', ''))}" if doc else ""  # drop RST literal marks
    per_objective = []
    for o in shown:
        unit = f" in {o.unit}" if o.unit else " (a probability)"
        what = f"<em>{_e(o.label.capitalize())}</em>{_e(unit)}"
        if o.has_interval:
            what += f" with its {_e(_interval_name(o))} [low, high]"
        if "lower_bound" in o.columns:
            what += ("; “&gt; x” means the prediction lies beyond the follow-up of the "
                     "training data, so x is only a lower bound")
        per_objective.append(what + ".")
    extras = [header for spec in shown if spec.target is not None
              for header, _ in get_target(spec.target).report_extras(ranked)]
    extra_html = (f" Also shown: {_e(', '.join(extras))}." if extras else "")
    return (
        '<section class="howto"><strong>How to read this.</strong> '
        "<em>Pareto layer</em> 1 holds the candidates that no other candidate beats on every "
        f"predicted objective ({_e(goals) or 'none'}); layer 2 those beaten only by layer 1, "
        f"and so on. {beyond}"
        "<em>Desirability</em> (0–1, higher is better) folds the objectives into one score "
        f"with the weights above.{doc_html} Under it, [low, high]: D with every objective at "
        "the unfavourable / favourable end of its interval; <em>≈ top</em> marks a candidate "
        "whose range reaches the lower end of rank 1 — the models cannot tell the two apart. "
        f"{' '.join(per_objective)}{extra_html} "
        '<span class="badge-ood">⚠ out of domain</span> marks candidates far from every '
        "measured system (k-nearest-neighbour distance above the threshold): their "
        "predictions are extrapolations. <em>Why</em> shows the largest contribution to the "
        "predictions; a click on the line below it opens the others and the <em>nearest "
        "measured</em> systems of the data set.</section>")


# ---------------------------------------------------------------------------- ranked table
def _columns(ranked: pd.DataFrame, shown: list[Objective]) -> list[tuple[str, str, Any]]:
    """(header HTML, td class, cell function) for the columns that ``ranked`` supports."""
    cols: list[tuple[str, str, Any]] = [("Rank", "num", lambda r, m: _e(_count(r["rank"]))),
                                        ("Formulation", "formulation", None)]
    for spec in shown:
        unit = f" ({spec.unit})" if spec.unit else ""
        interval = " [interval]" if spec.has_interval and not spec.maximize else ""
        cols.append((_e(f"{spec.label.capitalize()}{unit}{interval}"), "num",
                     lambda r, m, spec=spec: _objective_cell(spec, r)))
        if spec.target is not None:
            for header, column in get_target(spec.target).report_extras(ranked):
                cols.append((_e(header), "num", lambda r, m, c=column: _e(_prob(_float(r[c])))))
    if "pareto_layer" in ranked:
        cols.append(("Layer", "num", _layer_cell))
    if "desirability" in ranked:
        cols.append(("Desir&shy;ability", "num", _desirability_cell))
    if "in_domain" in ranked or "domain_distance" in ranked:
        cols.append(("Domain", "domain", _domain_cell))
    if "reasons" in ranked or "nearest_measured" in ranked:
        cols.append(("Why · nearest measured", "why", _why_cell))
    return cols


def _objective_cell(spec: Objective, row: Mapping[str, Any]) -> str:
    value = _float(row.get(spec.column()))
    if not math.isfinite(value):
        return DASH
    lower = spec.columns.get("lower_bound")
    prefix = "&gt; " if lower is not None and _truthy(row.get(lower)) else ""
    unit = f" {_e(spec.unit)}" if spec.unit else ""
    text = f"{prefix}{_value(spec, value)}{unit}"
    if spec.has_interval:
        a, b = _float(row.get(spec.column("optimistic"))), _float(row.get(spec.column(
            "pessimistic")))
        if math.isfinite(a) and math.isfinite(b):
            low, high = min(a, b), max(a, b)
            name = _interval_name(spec, short=True)
            label = "" if name == "interval" else f"{_e(name.replace(' interval', ''))} "
            text += (f'<br><span class="iv">{label}[{_value(spec, low)}, '
                     f'{_value(spec, high)}]</span>')
    return text


def _layer_cell(row: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    layer = _float(row["pareto_layer"])
    limit = _float(meta.get("layers"))
    if not math.isfinite(layer):
        return DASH
    if math.isfinite(limit) and layer > limit:
        return f"&gt; {int(limit)}"
    return str(int(layer))


def _desirability_cell(row: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    d = _float(row["desirability"])
    if not math.isfinite(d):
        return DASH
    pct = max(0.0, min(1.0, d)) * 100
    low, high = _float(row.get("desirability_low")), _float(row.get("desirability_high"))
    span = (f'<span class="iv">[{low:.2f}, {high:.2f}]</span>'  # under the bar (a block)
            if math.isfinite(low) and math.isfinite(high) else "")
    rank = _float(row.get("rank"))
    tied = ("<br>" * bool(span) + '<span class="sub" title="its desirability range reaches '
            'the lower end of rank 1: the two cannot be told apart">≈ top</span>'
            if _truthy(row.get("tied_with_top")) and math.isfinite(rank) and rank > 1 else "")
    return (f'<span style="display:block;background:linear-gradient(to right,#cfe3f5 '
            f'{pct:.0f}%,transparent {pct:.0f}%)">{d:.2f}</span>{span}{tied}')


def _domain_cell(row: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    distance = _float(row.get("domain_distance"))
    dist = f'<br><span class="sub">d = {distance:.2g}</span>' if math.isfinite(distance) else ""
    if "in_domain" not in row or _missing(row.get("in_domain")):
        return f"{DASH}{dist}"
    if _truthy(row["in_domain"]):
        return f'<span class="badge-in">✓ in domain</span>{dist}'
    new = row.get("unexplored")
    what = (f'<br><span class="sub">new: {_e(new)}</span>'
            if not _missing(new) and str(new).strip() else "")
    return f'<span class="badge-ood">⚠ out of domain</span>{what}{dist}'


def _items(value: Any) -> list[str]:
    return [] if _missing(value) or not str(value).strip() else split_top_level(value)


def _why_cell(row: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The largest contribution in view; the other reasons and the nearest measured systems
    folded under it (a click opens them), so the table stays narrow."""
    reasons, nearest = _items(row.get("reasons")), _items(row.get("nearest_measured"))
    if not reasons and not nearest:
        return DASH
    shown = _e(reasons[0]) if reasons else ""
    more = []
    if len(reasons) > 1:
        more.append(f"{len(reasons) - 1} more reason{'s' * (len(reasons) > 2)}")
    if nearest:
        more.append(f"{len(nearest)} nearest measured")
    body = (_ul(reasons[1:]) if len(reasons) > 1 else "") + (
        f'<span class="sub">nearest measured</span>{_ul(nearest)}' if nearest else "")
    return (f"{shown}<details><summary>{_e(', '.join(more))}</summary>{body}</details>"
            if more else shown)


def _formulation_cell(row: Mapping[str, Any], with_condition: bool) -> str:
    lines = formulation_lines(row, with_condition)
    first = _e(lines[0])
    rest = "".join(f'<br><span class="sub">{_e(line)}</span>' for line in lines[1:])
    cid = row.get("candidate_id")
    ident = "" if _missing(cid) else f'<br><span class="sub">id {_e(cid)}</span>'
    return f"{first}{rest}{ident}"


def _row_html(row: Mapping[str, Any], cols: list, meta: Mapping[str, Any],
              with_condition: bool) -> str:
    ood = "in_domain" in row and not _missing(row["in_domain"]) and not _truthy(row["in_domain"])
    cells = []
    for _, cls, fn in cols:
        content = _formulation_cell(row, with_condition) if fn is None else fn(row, meta)
        cells.append(f'<td class="{cls}">{content}</td>')
    attr = ' class="ood"' if ood else ""
    return f"<tr{attr}>{''.join(cells)}</tr>"


def _ranked_section(ranked: pd.DataFrame, meta: Mapping[str, Any],
                    shown: list[Objective]) -> str:
    if ranked.empty:
        return '<section><h2>Ranked candidates</h2><p class="note">No candidate was ranked.' \
               '</p></section>'
    cols = _columns(ranked, shown)
    with_condition = shared_condition(ranked) is None
    head = "".join(f"<th>{h}</th>" for h, _, _ in cols)
    rows = "\n".join(_row_html(r, cols, meta, with_condition)
                     for r in ranked.to_dict(orient="records"))
    n_ood = int((~ranked["in_domain"].map(_truthy)).sum()) if "in_domain" in ranked else 0
    note = (f'<p class="small">{n_ood} of {len(ranked)} ranked candidates are '
            '<span class="badge-ood">⚠ out of domain</span> (shaded rows).</p>' if n_ood else "")
    title = _e(meta.get("table_title", "Ranked candidates"))
    return (f'<section><h2>{title} ({len(ranked)})</h2>{note}\n'
            f'<table class="ranked" id="ranked"><thead><tr>{head}</tr></thead>\n<tbody>\n'
            f"{rows}\n</tbody></table></section>")


# ---------------------------------------------------------------------------- Pareto front
def front_objectives(frame: pd.DataFrame, shown: list[Objective]) -> list[Objective]:
    """The objectives of the front plot, those that vary across ``frame`` first (an objective
    that takes one value makes a flat, uninformative axis); up to three (x, y, colour)."""
    def varies(spec: Objective) -> bool:
        values = pd.to_numeric(frame[spec.column()], errors="coerce").to_numpy(float)
        values = values[np.isfinite(values)]
        return values.size > 1 and float(np.ptp(values)) > 1e-9 * max(1.0, np.abs(values).max())

    present = [o for o in shown if o.column() in frame]
    return ([o for o in present if varies(o)] + [o for o in present if not varies(o)])[:3]


def pareto_front_figure(front: pd.DataFrame, ranked: pd.DataFrame,
                        shown: list[Objective] | None = None) -> Figure | None:
    """Two predicted objectives against each other (the ones that vary most, a third as the
    colour): candidates as dots, Pareto layer 1 ringed, the ranked candidates as diamonds
    labelled by rank. None if fewer than two objectives are present."""
    base = front if not front.empty else ranked
    specs = front_objectives(base, shown if shown is not None else shown_objectives(base))
    if len(specs) < 2:
        return None
    x, y = specs[0].column(), specs[1].column()
    points = front if {x, y} <= set(front.columns) else front.iloc[0:0]
    if "pareto_layer" in points:
        points = points.sort_values("pareto_layer", ascending=False, kind="stable")
    first = points[pd.to_numeric(points["pareto_layer"], errors="coerce") == 1] \
        if "pareto_layer" in points else None
    fig, ax = plots.objective_scatter(
        points, specs, title="Predicted Pareto front", label=f"candidates ({len(points):,})",
        ring=first, ring_label=f"Pareto layer 1 ({0 if first is None else len(first):,})",
        width=7.5, height=5.6)
    _draw_ranked(ax, ranked[np.isfinite(_numeric(ranked, x)) & np.isfinite(_numeric(ranked, y))]
                 if {x, y} <= set(ranked.columns) else ranked.iloc[0:0], x, y)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    _outside_legend(fig, [ax], "outside lower center", ncols=2)
    return fig


def _draw_ranked(ax: Any, ranked: pd.DataFrame, x: str, y: str) -> None:
    if ranked.empty:
        return
    ood = (~ranked["in_domain"].map(_truthy)).to_numpy() if "in_domain" in ranked \
        else np.zeros(len(ranked), bool)
    for mask, edge, label in ((~ood, "black", f"ranked top {len(ranked)} (label = rank)"),
                              (ood, _OOD_COLOR, "ranked, out of domain")):
        if mask.any():
            ax.scatter(ranked[x][mask].astype(float), ranked[y][mask].astype(float), s=34,
                       marker="D", facecolors="white", edgecolors=edge, linewidths=1.3,
                       zorder=4, label=label)
    labelled = ranked.head(MAX_LABELLED)
    for (_, row), bad in zip(labelled.iterrows(), ood[:len(labelled)], strict=True):
        ax.annotate(_rank_label(row["rank"]), (float(row[x]), float(row[y])), xytext=(4, 4),
                    textcoords="offset points", fontsize=7, zorder=5,
                    color=_OOD_COLOR if bad else "black", fontweight="bold")


def _pareto_section(front: pd.DataFrame, ranked: pd.DataFrame, meta: Mapping[str, Any],
                    shown: list[Objective]) -> str:
    fig = pareto_front_figure(front, ranked, shown)
    if fig is None:
        return ('<section><h2>Predicted Pareto front</h2><p class="note">Needs at least two '
                "predicted objectives; this ranking has fewer.</p></section>")
    specs = front_objectives(front if not front.empty else ranked, shown)
    x, y = specs[0].column(), specs[1].column()
    shown_n = int((np.isfinite(_numeric(front, x)) & np.isfinite(_numeric(front, y))).sum()) \
        if {x, y} <= set(front.columns) else 0
    direction = (f"{'higher' if specs[1].maximize else 'lower'} {specs[1].label} is better "
                 "on the vertical axis")
    colour = (f", coloured by the predicted {specs[2].label}" if len(specs) > 2 else "")
    flat = [o.label for o in shown if o not in specs[:2]]
    extra = (f" Only the first {MAX_LABELLED} ranks are labelled." if len(ranked) > MAX_LABELLED
             else "")
    caption = (f"Each dot is a candidate ({shown_n:,} with predictions){colour}; black rings "
               "mark Pareto layer 1 (not beaten on every objective by any other candidate); "
               "diamonds are the ranked candidates, labelled with their rank (orange: out of "
               f"domain). Axes: the predicted {specs[0].label} "
               f"({'higher' if specs[0].maximize else 'lower'} is better) and the predicted "
               f"{specs[1].label} ({direction})."
               + (f" Not on an axis: {', '.join(flat)}." if flat else "") + extra)
    return (f"<section><h2>Predicted Pareto front</h2>"
            f"{_figure_html(fig, 'Pareto front of the predictions', _e(caption))}</section>\n")


# ---------------------------------------------------------------------------- measured context
def _same_metal(measured: pd.DataFrame, ranked: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Measured rows of the ranked metal(s) if there are any, and a description."""
    if "metal" in measured and "metal" in ranked and not ranked.empty:
        metals = sorted({str(m) for m in ranked["metal"].dropna()})
        subset = measured[measured["metal"].astype(str).isin(metals)]
        if not subset.empty:
            return subset, f"{'/'.join(metals)} rows of the data set"
    return measured, "all rows of the data set"


def _numeric(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.empty(0)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(float)


def _rank_axis(ax: Any, ranks: np.ndarray) -> None:
    ax.set_yticks(np.arange(len(ranks)), [f"#{_rank_label(r)}" for r in ranks],
                  fontsize=7 if len(ranks) > 25 else 8)
    ax.set_ylim(len(ranks) - 0.5, -0.5)
    ax.set_ylabel("Rank")


def _measured_strip(ax: Any, values: np.ndarray, groups: np.ndarray | None,
                    censored: np.ndarray | None = None) -> None:
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.3, 0.3, values.size)
    if censored is not None:
        for mask, marker, face, label in ((~censored, "o", _BLUE, "failed (observed)"),
                                          (censored, ">", "none", "censored (lower bound)")):
            if mask.any():
                ax.scatter(values[mask], jitter[mask], marker=marker, s=24, facecolors=face,
                           edgecolors=_BLUE, alpha=0.8, label=f"{label} ({mask.sum()})")
    elif groups is not None:
        for name in sorted(set(groups)):
            mask = groups == name
            ax.scatter(values[mask], jitter[mask], s=20, alpha=0.8,
                       label=f"{_mpl_text(name)} ({mask.sum()})")
    else:
        ax.scatter(values, jitter, s=20, color=_BLUE, alpha=0.8)
    ax.set_yticks([])
    ax.set_ylim(-0.6, 0.6)
    ax.set_ylabel("Measured")


def _context_layout(n_ranked: int) -> tuple[Figure, Any, Any]:
    fig = plots.figure(7.5, 1.6 + 0.2 * max(n_ranked, 3) + 0.8)
    top, bottom = fig.subplots(2, 1, sharex=True,
                               height_ratios=[1.6, 0.2 * max(n_ranked, 3) + 0.4])
    return fig, top, bottom


def context_figure(spec: Objective, measured: pd.DataFrame, ranked: pd.DataFrame) -> Figure:
    """Measured values of the objective's target (top; censored ones as open '>', coloured by
    group when the target gives one) above the ranked predictions with their uncertainty
    (bottom; lower bounds as '>'), on a shared axis."""
    top_k = ranked.head(MAX_CONTEXT_ROWS)
    fig, top, bottom = _context_layout(len(top_k))
    target = get_target(spec.target)
    found = target.measured(measured, {"unit": spec.unit})
    ok = np.isfinite(found.values)
    groups = found.groups[ok] if found.groups is not None else None
    censored = found.lower_bound[ok] if found.lower_bound[ok].any() else None
    _measured_strip(top, found.values[ok], groups if censored is None else None, censored)
    pred = _numeric(top_k, spec.column())
    pos = np.arange(len(top_k))
    lower_col = spec.columns.get("lower_bound")
    lower = (top_k[lower_col].map(_truthy).to_numpy(bool) if lower_col in top_k
             else np.zeros(len(top_k), bool))
    if spec.has_interval:
        a, b = _numeric(top_k, spec.column("optimistic")), _numeric(top_k,
                                                                  spec.column("pessimistic"))
        if a.size and b.size:
            low, high = np.fmin(a, b), np.fmax(a, b)
            err = np.vstack([np.clip(pred - low, 0, None), np.clip(high - pred, 0, None)])
            bottom.errorbar(pred, pos, xerr=np.nan_to_num(err), fmt="none", ecolor="0.6",
                            elinewidth=1.2, capsize=2,
                            label=_interval_name(spec))
    _ranked_points(bottom, pred, pos, _ood_mask(top_k), marker="o", lower=lower)
    _rank_axis(bottom, top_k["rank"].to_numpy())
    every = np.concatenate([found.values[ok], pred[np.isfinite(pred)]])
    if every.size and np.all(every > 0) and (spec.scale == "log"
                                             or every.max() / every.min() > 20):
        bottom.set_xscale("log")  # decades apart: a linear axis would crush the small ones
    unit = f" ({spec.unit})" if spec.unit else ""
    bottom.set_xlabel(f"{spec.label.capitalize()}{unit}")
    fig.suptitle(f"{spec.label.capitalize()}: measured vs predicted for the ranked candidates",
                 fontsize=11)
    _outside_legend(fig, [top, bottom], "outside lower center", ncols=3)
    return fig


def _outside_legend(fig: Figure, axes: list, loc: str, ncols: int = 1) -> None:
    """One figure legend outside the axes (constrained layout makes room) so that no data
    point is hidden; nothing if no artist is labelled."""
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        fig.legend(handles, labels, loc=loc, fontsize=7, ncols=ncols)


def _ood_mask(frame: pd.DataFrame) -> np.ndarray:
    if "in_domain" not in frame:
        return np.zeros(len(frame), bool)
    return (~frame["in_domain"].map(_truthy)).to_numpy(bool)


def _ranked_points(ax: Any, values: np.ndarray, pos: np.ndarray, ood: np.ndarray,
                   marker: str, lower: np.ndarray | None = None) -> None:
    lower = np.zeros(len(values), bool) if lower is None else lower
    styles = ((~ood & ~lower, marker, "black", "prediction"),
              (ood & ~lower, marker, _OOD_COLOR, "prediction, out of domain"),
              (~ood & lower, ">", "black", "lower bound (> x)"),
              (ood & lower, ">", _OOD_COLOR, "lower bound, out of domain"))
    for mask, mk, color, label in styles:
        if mask.any():
            ax.scatter(values[mask], pos[mask], marker=mk, s=30, color=color, zorder=3,
                       label=label)


def _range_text(values: np.ndarray, fmt: Any) -> str:
    values = values[np.isfinite(values)]
    if not values.size:
        return DASH
    return f"{fmt(values.min())} – {fmt(np.median(values))} – {fmt(values.max())}"


def _outside(pred: np.ndarray, measured: np.ndarray) -> str:
    pred, measured = pred[np.isfinite(pred)], measured[np.isfinite(measured)]
    if not pred.size or not measured.size:
        return DASH
    n = int(((pred < measured.min()) | (pred > measured.max())).sum())
    return f"{n} of {pred.size}"


def _context_table(measured: pd.DataFrame, ranked: pd.DataFrame,
                   shown: list[Objective]) -> str:
    rows = []
    for spec in shown:
        if spec.target is None:
            continue
        found = get_target(spec.target).measured(measured, {"unit": spec.unit})
        pred = _numeric(ranked, spec.column())
        unit = f" ({spec.unit})" if spec.unit else ""
        def fmt(v, spec=spec):
            return _value(spec, v)
        if found.categorical and found.groups is not None:
            labels = pd.Series(found.groups[np.isfinite(found.values)])
            counts = ", ".join(f"{k} {v}" for k, v in labels.value_counts().items())
            rows.append((f"{spec.label.capitalize()}{unit} (label counts)", len(labels),
                         counts or DASH, _range_text(pred, fmt), DASH))
        else:
            rows.append((f"{spec.label.capitalize()}{unit}", int(np.isfinite(found.values).sum()),
                         _range_text(found.values, fmt), _range_text(pred, fmt),
                         _outside(pred, found.values)))
    head = ("<tr><th>Target</th><th>Measured n</th><th>Measured min – median – max</th>"
            "<th>Ranked predictions min – median – max</th><th>Predictions outside the "
            "measured range</th></tr>")
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="context">{head}{body}</table>' if rows else ""


def _context_section(ranked: pd.DataFrame, measured: pd.DataFrame,
                     shown: list[Objective]) -> str:
    subset, where = _same_metal(measured, ranked)
    parts = [f"<section><h2>Predictions beside the measured data</h2>"
             f"<p>Measured: {_e(where)} ({len(subset)} rows). The measured values come from "
             "different test conditions (current density, capacity, cell); the predictions "
             "are at the candidates' own condition. Use this to see whether a prediction lies "
             "inside the range the models were trained on.</p>"]
    if ranked.empty or subset.empty:
        parts.append('<p class="note">Nothing to compare.</p></section>')
        return "\n".join(parts)
    parts.append(_context_table(subset, ranked, shown))
    more = (f" Only the first {MAX_CONTEXT_ROWS} ranks are drawn."
            if len(ranked) > MAX_CONTEXT_ROWS else "")
    for spec in shown:
        if spec.target is None:
            continue
        caption = (f"Top: measured {spec.label} of the data set (open triangles: lower bounds, "
                   "e.g. cells still running when reported; colours: the kind or label of the "
                   f"measurement). Bottom: predicted {spec.label} of each ranked candidate "
                   "with its uncertainty; triangles are lower bounds, orange is out of "
                   f"domain.{more}")
        parts.append(_figure_html(context_figure(spec, subset, ranked),
                                  f"{spec.label}: measured vs predicted", _e(caption)))
    parts.append("</section>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------- footer
def _footer(meta: Mapping[str, Any], shown: list[Objective]) -> str:
    stamp = []
    if "mgscreen_version" in meta:
        stamp.append(f"mgscreen {meta['mgscreen_version']}")
    if "generated" in meta:
        stamp.append(f"generated {meta['generated']}")
    stamp_html = f"<p>{_e(', '.join(stamp))}</p>" if stamp else ""
    return (
        "<footer><strong>Caveats.</strong><ul>"
        "<li>Predictions for out-of-domain candidates are extrapolations from systems unlike "
        "them; treat their values and ranks as hypotheses, not estimates.</li>"
        + ("<li>Predictions at the follow-up limit of the data are lower bounds "
           "(shown “&gt; x”): the true value may be much larger, and such candidates cannot "
           "be ordered among themselves on that objective.</li>"
           if any("lower_bound" in o.columns for o in shown) else "") +
        "<li>Intervals cover the measured value about 90 % of the time for systems like the "
        "training data; they say nothing about systems outside it.</li>"
        "<li>Rankings follow the models; a candidate is worth building only after checking "
        "its reasons and its nearest measured systems.</li></ul>"
        f"{stamp_html}</footer>")
