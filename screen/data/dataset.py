"""Loading the curated data set (or a user's table) and summarizing it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from screen.data.components import ComponentLibrary, is_none
from screen.data.io import read_table
from screen.data.paths import INTERFACES_FILE, dataset_file
from screen.data.problems import DataValidationError, Problem, errors_of
from screen.data.rules import ComponentCheck
from screen.data.validation import Mode, to_typed_frame, validate


def check_file(path: str | Path, library: ComponentLibrary | None = None,
               mode: Mode = "dataset", component_check: ComponentCheck | None = None
               ) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read and validate a CSV; return (raw string table or None, problems — errors and
    warnings). ``component_check``: see :func:`~screen.data.validation.validate`."""
    library = library or ComponentLibrary.load()
    try:
        raw = read_table(path)
    except DataValidationError as exc:
        return None, exc.problems
    return raw, validate(raw, library, file=str(path), mode=mode,
                         component_check=component_check)


def load_table(path: str | Path, library: ComponentLibrary | None = None,
               mode: Mode = "dataset") -> pd.DataFrame:
    """Read, validate and type a table; raise :class:`DataValidationError` on any error
    (warnings do not stop it; :func:`check_file` returns them)."""
    raw, problems = check_file(path, library, mode)
    if errors_of(problems):
        raise DataValidationError(errors_of(problems))
    return to_typed_frame(raw)


def load_interfaces(path: str | Path | None = None,
                    library: ComponentLibrary | None = None) -> pd.DataFrame:
    """The curated Mg/Ca interface data set as a typed DataFrame (one row per system and test
    condition; units in the column names). ``path`` defaults to the embedded
    ``interfaces.csv``."""
    return load_table(path or dataset_file(INTERFACES_FILE), library, mode="dataset")


@dataclass(frozen=True)
class DataInput:
    """One table a model learns from: the file, the sha256 of its bytes, its typed rows."""

    name: str  # the file name (the MLflow dataset name)
    path: str
    sha256: str
    rows: pd.DataFrame
    embedded: bool = False

    @property
    def n_rows(self) -> int:
        """Data rows of the file."""
        return len(self.rows)


@dataclass(frozen=True)
class TrainingTable:
    """The measured rows a model learns from (every input, in order; a fresh 1-based row
    index) and the inputs they came from."""

    frame: pd.DataFrame
    inputs: tuple[DataInput, ...]


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes (what ``sha256sum FILE`` prints)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_training_table(files: Sequence[str | Path] = (), *, embedded: bool = True,
                        library: ComponentLibrary | None = None) -> TrainingTable:
    """The embedded data set (unless ``embedded`` is False) followed by the user ``files``.

    Each file is checked as ``mgscreen data validate FILE --mode lab`` checks it (the data-set
    rules; ``source`` and ``location`` may be blank); if any file has a problem,
    :class:`DataValidationError` lists the problems of every file and nothing is loaded. A
    blank ``source`` becomes the file name, so a lab file is its own group in
    leave-one-source-out cross-validation unless its rows name their own sources.
    """
    library = library or ComponentLibrary.load()
    if not embedded and not files:
        raise ValueError("no training data: give --data FILE (or leave out --no-embedded)")
    inputs: list[DataInput] = []
    if embedded:
        path = dataset_file(INTERFACES_FILE)
        inputs.append(DataInput(path.name, str(path), file_sha256(path),
                                load_interfaces(path, library), embedded=True))
    problems: list[Problem] = []
    for file in files:
        raw, found = check_file(file, library, mode="lab")
        problems.extend(found)
        if raw is None or found:
            continue
        rows = to_typed_frame(raw)
        rows["source"] = rows["source"].fillna(Path(file).name)
        inputs.append(DataInput(Path(file).name, str(file), file_sha256(file), rows))
    if problems:
        raise DataValidationError(problems)
    frame = pd.concat([i.rows for i in inputs], ignore_index=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return TrainingTable(frame, tuple(inputs))


@dataclass
class Summary:
    """Counts describing a data set; each table is a two-column DataFrame."""

    n_rows: int
    by_metal: pd.DataFrame
    by_anion_family: pd.DataFrame
    by_coating_class: pd.DataFrame
    by_source: pd.DataFrame
    targets: pd.DataFrame
    censored_fraction: float | None
    by_source_kind: pd.DataFrame | None = None  # kind, rows, systems
    by_year: pd.DataFrame | None = None  # year, rows, systems
    system_labels: pd.DataFrame | None = None  # label, systems (one label per system)
    n_systems: int = 0


#: Seed files are named like ``000_45ffde97a404c2da.txt``.
_SEED_FILE = r"^\d{3}_[0-9a-f]{16}\.txt$"


def source_kind(frame: pd.DataFrame) -> pd.Series:
    """``seed`` (one of the seed papers), ``literature`` (a publication read in a stored page:
    a DOI or URL) or ``other`` (e.g. a lab's own table), per row."""
    seed = frame["source"].astype("string").str.match(_SEED_FILE).fillna(False)
    cited = pd.Series(False, index=frame.index)
    for column in ("doi", "url"):
        if column in frame:
            cited |= frame[column].notna() & frame[column].astype("string").str.strip().ne("")
    kind = pd.Series("other", index=frame.index)
    kind[cited.to_numpy(bool)] = "literature"
    kind[seed.to_numpy(bool)] = "seed"
    return kind


def _rows_and_systems(groups: pd.Series, keys: pd.Series, label: str) -> pd.DataFrame:
    table = pd.DataFrame({label: groups.fillna("(blank)").astype(str), "key": keys})
    out = table.groupby(label, sort=True).agg(rows=("key", "size"), systems=("key", "nunique"))
    return out.reset_index()


def _counts(series: pd.Series, label: str) -> pd.DataFrame:
    counts = series.fillna("(blank)").value_counts()
    return pd.DataFrame({label: counts.index.astype(str), "rows": counts.to_numpy()})


def summarize(frame: pd.DataFrame, library: ComponentLibrary | None = None) -> Summary:
    """Rows per metal, anion family, coating class and source; rows with each target;
    fraction of cycle-life rows that are right-censored."""
    from screen.data.schema import MEASURED_COLUMNS
    from screen.data.systems import system_key, system_labels

    library = library or ComponentLibrary.load()

    def family(name) -> str:
        return "(blank)" if pd.isna(name) else library.resolve("anion", str(name)).category

    def coating_class(name) -> str:
        if pd.isna(name):
            return "(blank)"
        return "none" if is_none(str(name)) else library.resolve("coating", str(name)).category

    targets = pd.DataFrame({
        "target": list(MEASURED_COLUMNS),
        "rows": [int(frame[c].notna().sum()) for c in MEASURED_COLUMNS],
    })
    life = frame["cycle_life_h"].notna() | frame["cycle_life_cycles"].notna()
    censored = frame.loc[life, "cycle_life_censored"]
    keys = system_key(frame)
    year = frame["year"].map(lambda y: "(blank)" if pd.isna(y) else str(int(y))) \
        if "year" in frame else pd.Series("(blank)", index=frame.index)
    labels = system_labels(frame) if "passivation" in frame else pd.DataFrame(
        columns=["passivation"])
    label_counts = labels["passivation"].value_counts()
    return Summary(
        n_rows=len(frame),
        by_metal=_counts(frame["metal"], "metal"),
        by_anion_family=_counts(frame["anion"].map(family), "anion family"),
        by_coating_class=_counts(frame["coating"].map(coating_class), "coating class"),
        by_source=_counts(frame["source"], "source"),
        targets=targets,
        censored_fraction=float(censored.mean()) if len(censored) else None,
        by_source_kind=_rows_and_systems(source_kind(frame), keys, "source kind"),
        by_year=_rows_and_systems(year, keys, "year"),
        system_labels=pd.DataFrame({"label": label_counts.index.astype(str),
                                    "systems": label_counts.to_numpy()}),
        n_systems=int(keys.nunique()),
    )
