"""Self-contained HTML report of a ranking (``mgscreen rank ... --report report.html``).

:func:`render_report` returns the page as text; :func:`write_report` writes it atomically.
The page reads offline: inline CSS only, no script, figures embedded as base64 PNG
(matplotlib, Agg canvas), and a Content-Security-Policy that forbids any network fetch. Every
value taken from the data or ``meta`` is HTML-escaped and shown as text, never as markup or
link. Sections: header (what was ranked, how, which models), how to read it, the ranked table,
the predicted Pareto front, the predictions beside the measured data, caveats.

Units: overpotential in V, cycle life in h, probabilities in [0, 1], concentrations in
mol L⁻¹ (M), coating thickness in µm, current density in mA cm⁻², capacity in mAh cm⁻²,
temperature in °C.
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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ETA, ETA_LOW, ETA_HIGH = "overpotential_V_pred", "overpotential_V_low", "overpotential_V_high"
LIFE, LIFE_LB = "cycle_life_h_pred", "cycle_life_h_pred_is_lower_bound"
LIFE_LOW, LIFE_HIGH = "cycle_life_h_low", "cycle_life_h_high"
P_PASS = "p_passivating"
P_LIFE_PREFIX = "p_life_gt_"
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
_AXIS_LABELS = {ETA: "Predicted overpotential (V)", LIFE: "Predicted median cycle life (h)",
                P_PASS: "Predicted P(passivating)"}
_OBJECTIVE_NAMES = {"overpotential": "overpotential", "cycle_life": "cycle life",
                    "passivation": "passivation", ETA: "overpotential", LIFE: "cycle life",
                    P_PASS: "passivation"}
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
td.why ul,td.near ul{margin:0;padding-left:16px}
td.why,td.near{min-width:200px;max-width:320px;font-size:12px}
td.formulation{min-width:220px}
figure{margin:12px 0}figcaption{color:#444;font-size:13px;max-width:1000px}
img{max-width:100%;height:auto}
.note{color:#666;font-style:italic}
footer{margin-top:32px;border-top:1px solid #ddd;padding-top:8px;color:#444;font-size:13px}
@media print{th{position:static}}
"""


# ---------------------------------------------------------------------------- public API
def write_report(path: str | Path, ranked: pd.DataFrame, front: pd.DataFrame,
                 measured: pd.DataFrame, meta: Mapping[str, Any]) -> Path:
    """Render the report and write it as UTF-8 HTML at ``path`` atomically: a failure leaves
    no file and an existing report untouched."""
    from screen.io import atomic_path

    text = render_report(ranked, front, measured, meta)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def render_report(ranked: pd.DataFrame, front: pd.DataFrame, measured: pd.DataFrame,
                  meta: Mapping[str, Any]) -> str:
    """The self-contained HTML page of a ranking (see the module docstring)."""
    meta = dict(meta or {})
    ranked = _in_rank_order(ranked if ranked is not None else pd.DataFrame())
    front = front if front is not None else pd.DataFrame()
    measured = measured if measured is not None else pd.DataFrame()
    title = str(meta.get("title") or "mgscreen ranking report")
    body = "\n".join([
        _header(title, meta, ranked),
        _how_to_read(meta, ranked),
        _ranked_section(ranked, meta),
        _pareto_section(front, ranked, meta),
        _context_section(ranked, measured),
        _footer(meta),
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


def life_probability_columns(frame: pd.DataFrame) -> list[str]:
    """The ``p_life_gt_<horizon>`` columns of ``frame``."""
    return [c for c in frame.columns if str(c).startswith(P_LIFE_PREFIX)]


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


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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


def _how_text(meta: Mapping[str, Any]) -> str:
    parts = []
    if "order" in meta:
        parts.append(f"order: {_ORDER_TEXT.get(str(meta['order']), meta['order'])}")
    if "bound" in meta:
        bound = str(meta["bound"])
        parts.append(f"bound: {bound} ({_BOUND_TEXT[bound]})" if bound in _BOUND_TEXT
                     else f"bound: {bound}")
    if "weights" in meta:
        parts.append(f"weights: {_mapping_text(meta['weights'], _OBJECTIVE_NAMES)}")
    if "layers" in meta:
        parts.append(f"Pareto layers computed: {meta['layers']}")
    return "; ".join(parts)


def _condition_text(row: Mapping[str, Any]) -> str:
    bits = []
    if not _missing(row.get("cell_type")):
        bits.append(f"{row['cell_type']} cell")
    for col, unit in (("current_density_mA_cm2", "mA cm⁻²"), ("areal_capacity_mAh_cm2",
                                                              "mAh cm⁻²"),
                      ("temperature_C", "°C")):
        if math.isfinite(_float(row.get(col))):
            bits.append(f"{_g(row[col])} {unit}")
    return ", ".join(bits)


def shared_condition(ranked: pd.DataFrame) -> str | None:
    """The test condition text if every ranked row has the same one, else None."""
    cols = [c for c in CONDITION_COLUMNS if c in ranked]
    if ranked.empty or not cols:
        return None
    distinct = ranked[cols].astype(str).drop_duplicates()
    return _condition_text(ranked.iloc[0].to_dict()) if len(distinct) == 1 else None


def _header(title: str, meta: Mapping[str, Any], ranked: pd.DataFrame) -> str:
    rows = [("Ranked", _ranked_what(meta, ranked))]
    how = _how_text(meta)
    if how:
        rows.append(("How", how))
    condition = shared_condition(ranked)
    if condition:
        rows.append(("Test condition", f"{condition} (all ranked candidates)"))
    if "models" in meta:
        rows.append(("Models", _mapping_text(meta["models"])))
    for key, label in (("generated", "Generated"), ("mgscreen_version", "mgscreen version")):
        if key in meta:
            rows.append((label, str(meta[key])))
    known = {"title", "candidates_path", "n_candidates", "n_ranked", "n_rejected", "order",
             "bound", "weights", "layers", "models", "generated", "mgscreen_version",
             "desirability_doc"}
    rows += [(str(k), _mapping_text(v)) for k, v in meta.items() if k not in known]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<header>\n<h1>{_e(title)}</h1>\n<dl class="meta">{items}</dl>\n</header>'


def _how_to_read(meta: Mapping[str, Any], ranked: pd.DataFrame) -> str:
    layers = meta.get("layers")
    beyond = f"“&gt; {_e(layers)}” means deeper than the {_e(layers)} computed layers. " \
        if layers is not None else ""
    horizon = ", ".join(f"{c[len(P_LIFE_PREFIX):]} h" for c in life_probability_columns(ranked))
    doc = meta.get("desirability_doc")
    doc_html = f" {_e(str(doc).replace('``', ''))}" if doc else ""  # drop RST literal marks
    return (
        '<section class="howto"><strong>How to read this.</strong> '
        "<em>Pareto layer</em> 1 holds the candidates that no other candidate beats on every "
        "predicted objective (lower overpotential, longer cycle life, lower probability of "
        f"passivation); layer 2 those beaten only by layer 1, and so on. {beyond}"
        "<em>Desirability</em> (0–1, higher is better) folds the objectives into one score "
        f"with the weights above.{doc_html} "
        "The overpotential is shown as prediction [90 % interval] in V. "
        "<em>Cycle life</em> is the predicted median time to failure in h; “&gt; x h” means "
        "the median lies beyond the follow-up of the training data, so x is only a lower "
        f"bound. P(life &gt; t) is the predicted probability of lasting longer than t"
        f"{' = ' + _e(horizon) if horizon else ''}. "
        '<span class="badge-ood">⚠ out of domain</span> marks candidates far from every '
        "measured system (k-nearest-neighbour distance above the threshold): their "
        "predictions are extrapolations. <em>Why</em> lists the largest contributions to each "
        "prediction; <em>nearest measured</em> the closest systems of the data set.</section>")


# ---------------------------------------------------------------------------- ranked table
def formulation_text(row: Mapping[str, Any], with_condition: bool = False) -> list[str]:
    """Compact lines describing one formulation: electrolyte, anode, (test condition).

    e.g. ``['TFSI 0.5 M in DME:G2 (1:1) + I2 0.05 M', 'Mg, coating MgF2 (1 µm)']``.
    """
    anion = "" if _missing(row.get("anion")) else str(row["anion"])
    conc = _float(row.get("salt_conc_M"))
    electrolyte = f"{anion} {_g(conc)} M" if math.isfinite(conc) else anion
    if not _missing(row.get("solvent")) and str(row["solvent"]):
        electrolyte += f" in {row['solvent']}"
        ratio = row.get("solvent_ratio")
        if not _missing(ratio) and str(ratio).strip():
            electrolyte += f" ({ratio})"
    additive = row.get("additive")
    if not _missing(additive) and str(additive).strip().lower() not in ("", "none"):
        add_conc = _float(row.get("additive_conc_M"))
        electrolyte += f" + {additive}" + (f" {_g(add_conc)} M" if math.isfinite(add_conc)
                                          else "")
    lines = [electrolyte.strip() or DASH, _anode_text(row)]
    if with_condition:
        condition = _condition_text(row)
        if condition:
            lines.append(condition)
    return lines


def _anode_text(row: Mapping[str, Any]) -> str:
    metal = "" if _missing(row.get("metal")) else str(row["metal"])
    coating = row.get("coating")
    if _missing(coating):
        return f"{metal}, coating unknown".strip(", ")
    if str(coating).strip().lower() == "none":
        return f"bare {metal}".strip()
    thick = _float(row.get("coating_thickness_um"))
    size = f" ({_g(thick)} µm)" if math.isfinite(thick) else ""
    return f"{metal}, coating {coating}{size}".strip(", ")


def _columns(ranked: pd.DataFrame) -> list[tuple[str, str, Any]]:
    """(header HTML, td class, cell function) for the columns that ``ranked`` supports."""
    cols: list[tuple[str, str, Any]] = [("Rank", "num", lambda r, m: _e(_count(r["rank"]))),
                                        ("Formulation", "formulation", None)]
    if ETA in ranked:
        cols.append(("η (V) [90 % interval]", "num", _eta_cell))
    if LIFE in ranked:
        cols.append(("Cycle life (h)", "num", _life_cell))
    for c in life_probability_columns(ranked):
        cols.append((f"P(life &gt; {_e(c[len(P_LIFE_PREFIX):])} h)", "num",
                     lambda r, m, c=c: _e(_prob(_float(r[c])))))
    if P_PASS in ranked:
        cols.append(("P(passi&shy;vating)", "num", lambda r, m: _e(_prob(_float(r[P_PASS])))))
    if "pareto_layer" in ranked:
        cols.append(("Layer", "num", _layer_cell))
    if "desirability" in ranked:
        cols.append(("Desir&shy;ability", "num", _desirability_cell))
    if "in_domain" in ranked or "domain_distance" in ranked:
        cols.append(("Domain", "domain", _domain_cell))
    if "reasons" in ranked:
        cols.append(("Why", "why", lambda r, m: _text_list(r["reasons"])))
    if "nearest_measured" in ranked:
        cols.append(("Nearest measured", "near", lambda r, m: _text_list(r["nearest_measured"])))
    return cols


def _eta_cell(row: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    value = _float(row[ETA])
    if not math.isfinite(value):
        return DASH
    low, high = _float(row.get(ETA_LOW)), _float(row.get(ETA_HIGH))
    interval = (f' <span class="iv">[{_volts(low)}, {_volts(high)}]</span>'
                if math.isfinite(low) and math.isfinite(high) else "")
    return f"{_volts(value)} V{interval}"


def _life_cell(row: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    value = _float(row[LIFE])
    if not math.isfinite(value):
        return DASH
    prefix = "&gt; " if _truthy(row.get(LIFE_LB)) else ""
    low, high = _float(row.get(LIFE_LOW)), _float(row.get(LIFE_HIGH))
    quartiles = (f'<br><span class="iv">IQR [{_hours(low)}, {_hours(high)}]</span>'
                 if math.isfinite(low) and math.isfinite(high) else "")
    return f"{prefix}{_hours(value)} h{quartiles}"


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
    return (f'<span style="display:block;background:linear-gradient(to right,#cfe3f5 '
            f'{pct:.0f}%,transparent {pct:.0f}%)">{d:.2f}</span>')


def _domain_cell(row: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    distance = _float(row.get("domain_distance"))
    dist = f'<br><span class="sub">d = {distance:.2g}</span>' if math.isfinite(distance) else ""
    if "in_domain" not in row or _missing(row.get("in_domain")):
        return f"{DASH}{dist}"
    if _truthy(row["in_domain"]):
        return f'<span class="badge-in">✓ in domain</span>{dist}'
    return f'<span class="badge-ood">⚠ out of domain</span>{dist}'


def _text_list(value: Any) -> str:
    return DASH if _missing(value) or not str(value).strip() else _ul(split_top_level(value))


def _formulation_cell(row: Mapping[str, Any], with_condition: bool) -> str:
    lines = formulation_text(row, with_condition)
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


def _ranked_section(ranked: pd.DataFrame, meta: Mapping[str, Any]) -> str:
    if ranked.empty:
        return '<section><h2>Ranked candidates</h2><p class="note">No candidate was ranked.' \
               '</p></section>'
    cols = _columns(ranked)
    with_condition = shared_condition(ranked) is None
    head = "".join(f"<th>{h}</th>" for h, _, _ in cols)
    rows = "\n".join(_row_html(r, cols, meta, with_condition)
                     for r in ranked.to_dict(orient="records"))
    n_ood = int((~ranked["in_domain"].map(_truthy)).sum()) if "in_domain" in ranked else 0
    note = (f'<p class="small">{n_ood} of {len(ranked)} ranked candidates are '
            '<span class="badge-ood">⚠ out of domain</span> (shaded rows).</p>' if n_ood else "")
    return (f'<section><h2>Ranked candidates ({len(ranked)})</h2>{note}\n'
            f'<table class="ranked" id="ranked"><thead><tr>{head}</tr></thead>\n<tbody>\n'
            f"{rows}\n</tbody></table></section>")


# ---------------------------------------------------------------------------- Pareto front
def _front_axes(frame: pd.DataFrame) -> tuple[str, str, str | None] | None:
    """(x column, y column, colour column or None) among the available objectives."""
    present = [c for c in (ETA, LIFE, P_PASS) if c in frame]
    if len(present) < 2:
        return None
    color = P_PASS if P_PASS in frame and P_PASS not in present[:2] else None
    return present[0], present[1], color


def _finite_xy(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    xs, ys = pd.to_numeric(frame[x], errors="coerce"), pd.to_numeric(frame[y], errors="coerce")
    return frame[np.isfinite(xs) & np.isfinite(ys)]


def pareto_front_figure(front: pd.DataFrame, ranked: pd.DataFrame) -> Figure | None:
    """Predicted overpotential (V) vs predicted cycle life (h, log if all > 0): candidates
    coloured by p_passivating, layer 1 ringed, ranked points labelled by rank. Falls back to
    the two objectives present; None if fewer than two."""
    axes = _front_axes(front if not front.empty else ranked)
    if axes is None:
        return None
    x, y, color = axes
    fig = _new_figure(7.5, 5.6)
    ax = fig.add_subplot()
    points = _finite_xy(front, x, y) if {x, y} <= set(front.columns) else front.iloc[0:0]
    if "pareto_layer" in points:
        points = points.sort_values("pareto_layer", ascending=False, kind="stable")
    _draw_candidates(fig, ax, points, x, y, color if color in points else None)
    _draw_ranked(ax, _finite_xy(ranked, x, y) if {x, y} <= set(ranked.columns)
                 else ranked.iloc[0:0], x, y)
    ax.set_xlabel(_AXIS_LABELS[x])
    ax.set_ylabel(_AXIS_LABELS[y])
    values = np.concatenate([_numeric(points, y), _numeric(ranked, y)])
    values = values[np.isfinite(values)]
    if y == LIFE and values.size and np.all(values > 0):
        ax.set_yscale("log")
    _outside_legend(fig, [ax], "outside lower center", ncols=2)
    ax.set_title("Predicted Pareto front")
    return fig


def _draw_candidates(fig: Figure, ax: Any, points: pd.DataFrame, x: str, y: str,
                     color: str | None) -> None:
    if points.empty:
        ax.text(0.5, 0.5, "no candidates with predictions", ha="center", va="center",
                transform=ax.transAxes, color=_GREY)
        return
    size = 14 if len(points) < 2000 else 5
    sc = ax.scatter(points[x].astype(float), points[y].astype(float),
                    c=points[color].astype(float) if color else _BLUE,
                    cmap="viridis_r" if color else None, vmin=0 if color else None,
                    vmax=1 if color else None, s=size, alpha=0.75, linewidths=0,
                    label=f"candidates ({len(points):,})")
    if color:
        fig.colorbar(sc, ax=ax, label="Predicted P(passivating)")
    if "pareto_layer" in points:
        first = points[pd.to_numeric(points["pareto_layer"], errors="coerce") == 1]
        if not first.empty:
            ax.scatter(first[x].astype(float), first[y].astype(float), s=60,
                       facecolors="none", edgecolors="black", linewidths=1.0,
                       label=f"Pareto layer 1 ({len(first):,})")


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


def _pareto_section(front: pd.DataFrame, ranked: pd.DataFrame, meta: Mapping[str, Any]) -> str:
    fig = pareto_front_figure(front, ranked)
    if fig is None:
        return ('<section><h2>Predicted Pareto front</h2><p class="note">Needs at least two '
                "predicted objectives; this ranking has fewer.</p></section>")
    x, y, _ = _front_axes(front if not front.empty else ranked)
    shown = len(_finite_xy(front, x, y)) if {x, y} <= set(front.columns) else 0
    better = "higher (longer life)" if y == LIFE else "lower (less passivation)"
    extra = (f" Only the first {MAX_LABELLED} ranks are labelled." if len(ranked) > MAX_LABELLED
             else "")
    caption = (f"Each dot is a candidate ({shown:,} with predictions), coloured by its "
               "predicted probability of passivation when available; black rings mark Pareto "
               "layer 1 (not beaten on every objective by any other candidate); diamonds are "
               "the ranked candidates, labelled with their rank (orange: out of domain). "
               f"Better candidates lie to the left (lower overpotential) and {better}.{extra}")
    return (f"<section><h2>Predicted Pareto front</h2>"
            f"{_figure_html(fig, 'Pareto front of the predictions', caption)}</section>\n")


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
    fig = _new_figure(7.5, 1.6 + 0.2 * max(n_ranked, 3) + 0.8)
    top, bottom = fig.subplots(2, 1, sharex=True,
                               height_ratios=[1.6, 0.2 * max(n_ranked, 3) + 0.4])
    return fig, top, bottom


def overpotential_context_figure(measured: pd.DataFrame, ranked: pd.DataFrame) -> Figure:
    """Measured overpotentials (V, coloured by kind) above the ranked predictions with their
    intervals, on a shared axis."""
    top_k = ranked.head(MAX_CONTEXT_ROWS)
    fig, top, bottom = _context_layout(len(top_k))
    values = _numeric(measured, "overpotential_V")
    ok = np.isfinite(values)
    kinds = (measured["overpotential_kind"].astype(str).to_numpy()[ok]
             if "overpotential_kind" in measured else None)
    _measured_strip(top, values[ok], kinds)
    pred = _numeric(top_k, ETA)
    low, high = _numeric(top_k, ETA_LOW), _numeric(top_k, ETA_HIGH)
    pos = np.arange(len(top_k))
    if low.size and high.size:
        err = np.vstack([np.clip(pred - low, 0, None), np.clip(high - pred, 0, None)])
        bottom.errorbar(pred, pos, xerr=np.nan_to_num(err), fmt="none", ecolor="0.6",
                        elinewidth=1.2, capsize=2, label="90 % interval")
    _ranked_points(bottom, pred, pos, _ood_mask(top_k), marker="o")
    _rank_axis(bottom, top_k["rank"].to_numpy())
    every = np.concatenate([values[ok], pred[np.isfinite(pred)]])
    if every.size and np.all(every > 0) and every.max() / every.min() > 20:
        bottom.set_xscale("log")  # decades apart: a linear axis would crush the small ones
    bottom.set_xlabel("Overpotential (V)")
    fig.suptitle("Overpotential: measured vs predicted for the ranked candidates", fontsize=11)
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
              (~ood & lower, ">", "black", "lower bound (> x h)"),
              (ood & lower, ">", _OOD_COLOR, "lower bound, out of domain"))
    for mask, mk, color, label in styles:
        if mask.any():
            ax.scatter(values[mask], pos[mask], marker=mk, s=30, color=color, zorder=3,
                       label=label)


def cycle_life_context_figure(measured: pd.DataFrame, ranked: pd.DataFrame) -> Figure:
    """Measured cycle lives (h; censored ones as open '>') above the ranked predicted medians
    (lower bounds as '>', quartiles as bars when given); log axis when all values > 0."""
    top_k = ranked.head(MAX_CONTEXT_ROWS)
    fig, top, bottom = _context_layout(len(top_k))
    values = _numeric(measured, "cycle_life_h")
    ok = np.isfinite(values)
    censored = (measured["cycle_life_censored"].map(_truthy).to_numpy(bool)[ok]
                if "cycle_life_censored" in measured else np.zeros(ok.sum(), bool))
    _measured_strip(top, values[ok], None, censored)
    pred = _numeric(top_k, LIFE)
    pos = np.arange(len(top_k))
    lower = (top_k[LIFE_LB].map(_truthy).to_numpy(bool) if LIFE_LB in top_k
             else np.zeros(len(top_k), bool))
    low, high = _numeric(top_k, LIFE_LOW), _numeric(top_k, LIFE_HIGH)
    if low.size and high.size:
        err = np.vstack([np.clip(pred - low, 0, None), np.clip(high - pred, 0, None)])
        bottom.errorbar(pred, pos, xerr=np.nan_to_num(err), fmt="none", ecolor="0.6",
                        elinewidth=1.2, capsize=2, label="quartiles (Q25–Q75)")
    _ranked_points(bottom, pred, pos, _ood_mask(top_k), marker="o", lower=lower)
    _rank_axis(bottom, top_k["rank"].to_numpy())
    every = np.concatenate([values[ok], pred[np.isfinite(pred)]])
    if every.size and np.all(every > 0):
        bottom.set_xscale("log")
    bottom.set_xlabel("Cycle life (h)")
    fig.suptitle("Cycle life: measured vs predicted median for the ranked candidates", fontsize=11)
    _outside_legend(fig, [top, bottom], "outside lower center", ncols=3)
    return fig


def passivation_context_figure(measured: pd.DataFrame, ranked: pd.DataFrame) -> Figure:
    """Counts of the measured passivation labels beside the ranked P(passivating)."""
    from screen.schema import PASSIVATION_LABELS

    top_k = ranked.head(MAX_CONTEXT_ROWS)
    fig = _new_figure(7.5, 1.2 + 0.2 * max(len(top_k), 5))
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.6])
    labels = (measured["passivation"].dropna().astype(str) if "passivation" in measured
              else pd.Series(dtype=str))
    counts = [int((labels == name).sum()) for name in PASSIVATION_LABELS]
    left.bar(range(len(counts)), counts, color=["#c0392b", "#e6a23c", "#2e8b57"])
    left.set_xticks(range(len(counts)), [n.replace("_", "-") for n in PASSIVATION_LABELS],
                    rotation=20, fontsize=8)
    left.set_ylabel("Measured systems (count)")
    left.set_title("Measured labels", fontsize=10)
    p = _numeric(top_k, P_PASS)
    pos = np.arange(len(top_k))
    ood = _ood_mask(top_k)
    right.barh(pos, np.nan_to_num(p), color=np.where(ood, _OOD_COLOR, "0.35"), height=0.7)
    for y, value in zip(pos, p, strict=True):
        right.text(np.nan_to_num(value) + 0.01, y, _prob(value) if math.isfinite(value)
                   else "n/a", va="center", fontsize=7)
    right.set_xlim(0, 1.08)
    right.axvline(0.5, color=_GREY, lw=0.8, ls=":")
    _rank_axis(right, top_k["rank"].to_numpy())
    right.set_xlabel("Predicted P(passivating)")
    right.set_title("Ranked candidates, predicted (orange: out of domain)", fontsize=10)
    return fig


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


def _context_table(measured: pd.DataFrame, ranked: pd.DataFrame) -> str:
    rows = []
    for col, pcol, name, fmt in (("overpotential_V", ETA, "Overpotential (V)", _volts),
                                 ("cycle_life_h", LIFE, "Cycle life (h)", _hours)):
        if pcol in ranked:
            m, p = _numeric(measured, col), _numeric(ranked, pcol)
            rows.append((name, int(np.isfinite(m).sum()), _range_text(m, fmt),
                         _range_text(p, fmt), _outside(p, m)))
    if P_PASS in ranked and "passivation" in measured:
        labels = measured["passivation"].dropna().astype(str)
        counts = ", ".join(f"{k} {v}" for k, v in labels.value_counts().items())
        rows.append(("Passivation (label counts; P)", len(labels), counts or DASH,
                     _range_text(_numeric(ranked, P_PASS), _prob), DASH))
    head = ("<tr><th>Target</th><th>Measured n</th><th>Measured min – median – max</th>"
            "<th>Ranked predictions min – median – max</th><th>Predictions outside the "
            "measured range</th></tr>")
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="context">{head}{body}</table>' if rows else ""


def _context_section(ranked: pd.DataFrame, measured: pd.DataFrame) -> str:
    subset, where = _same_metal(measured, ranked)
    parts = [f"<section><h2>Predictions beside the measured data</h2>"
             f"<p>Measured: {_e(where)} ({len(subset)} rows). The measured values come from "
             "different test conditions (current density, capacity, cell); the predictions "
             "are at the candidates' own condition. Use this to see whether a prediction lies "
             "inside the range the models were trained on.</p>"]
    if ranked.empty or subset.empty:
        parts.append('<p class="note">Nothing to compare.</p></section>')
        return "\n".join(parts)
    parts.append(_context_table(subset, ranked))
    more = (f" Only the first {MAX_CONTEXT_ROWS} ranks are drawn."
            if len(ranked) > MAX_CONTEXT_ROWS else "")
    if ETA in ranked:
        parts.append(_figure_html(
            overpotential_context_figure(subset, ranked), "Overpotential: measured vs predicted",
            "Top: measured overpotentials (V), coloured by kind (polarization, hysteresis, "
            "plating, stripping, nucleation). Bottom: predicted overpotential of each ranked "
            f"candidate with its 90 % interval (orange: out of domain).{more}"))
    if LIFE in ranked:
        parts.append(_figure_html(
            cycle_life_context_figure(subset, ranked), "Cycle life: measured vs predicted",
            "Top: measured cycle lives (h); open triangles are censored cells (still running "
            "when reported, so lower bounds). Bottom: predicted median cycle life of each "
            "ranked candidate; triangles are lower bounds (“&gt; x h”), orange is out of "
            f"domain.{more}"))
    if P_PASS in ranked:
        parts.append(_figure_html(
            passivation_context_figure(subset, ranked), "Passivation: measured vs predicted",
            "Left: measured passivation labels. Right: predicted probability that each ranked "
            f"candidate passivates (dotted line at 0.5).{more}"))
    parts.append("</section>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------- footer
def _footer(meta: Mapping[str, Any]) -> str:
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
        "<li>Cycle-life medians at the follow-up limit of the data are lower bounds "
        "(shown “&gt; x h”): the true median may be much longer, and such candidates cannot "
        "be ordered among themselves by life.</li>"
        "<li>Intervals cover the measured value about 90 % of the time for systems like the "
        "training data; they say nothing about systems outside it.</li>"
        "<li>Rankings follow the models; a candidate is worth building only after checking "
        "its reasons and its nearest measured systems.</li></ul>"
        f"{stamp_html}</footer>")
