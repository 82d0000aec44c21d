"""How a row's ``source`` is cited to a reader.

Rows of the seed section name a seed text file (``000_<hash>.txt``); ``seed_sources.csv`` of
the embedded data set gives each one's short citation, year and DOI. Literature rows name the
publication already; a lab's rows name their file. A review row's ``ref`` is the review's own
reference number of the work it quotes.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import pandas as pd

from screen.data.paths import dataset_file

SEED_SOURCES_FILE = "seed_sources.csv"
_SEED = re.compile(r"(\d{3})_[0-9a-f]+\.txt")


@lru_cache(maxsize=1)
def seed_sources() -> pd.DataFrame:
    """The seed papers, indexed by their source file name (columns citation, year, doi,
    kind)."""
    return pd.read_csv(dataset_file(SEED_SOURCES_FILE), dtype={"year": "Int64"}) \
        .set_index("source")


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def cite(source: object, ref: object = None) -> str:
    """``source`` as a reader cites it: a seed file as "<authors, journal> <year>
    (seed NNN)" (plus ", ref. N" for a review's quoted work), an unknown seed file as
    "seed NNN", anything else unchanged; '' for a blank source."""
    text, ref_text = _text(source), _text(ref)
    found = _SEED.fullmatch(text)
    if not found:
        return text
    number = f"seed {found.group(1)}"
    table = seed_sources()
    if text not in table.index:
        return number
    entry = table.loc[text]
    year = "" if pd.isna(entry["year"]) else f" {int(entry['year'])}"
    quoted = f", ref. {ref_text}" if ref_text else ""
    return f"{entry['citation']}{year}{quoted} ({number})"
