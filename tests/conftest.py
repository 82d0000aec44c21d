"""Shared fixtures: the embedded library and data set, and corrupted copies of it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from screen.data.components import ComponentLibrary
from screen.data.paths import INTERFACES_FILE, dataset_file


@pytest.fixture(autouse=True, scope="session")
def _private_feature_cache(tmp_path_factory):
    """Tests never write the user's feature cache: they get a private one. It starts as a copy
    of the user's cache when there is one (e.g. the one `mgscreen quickstart` just filled in
    CI), so a test session does not recompute GFN2-xTB for every molecule; cached vectors are
    keyed by structure and featurizer version and checksummed, so a copy is as good as
    recomputing. Tests that need a cold cache make their own directory."""
    import shutil

    from featurizers.cache import CACHE_FILE, default_cache_dir

    private = tmp_path_factory.mktemp("feature-cache")
    user_cache = default_cache_dir() / CACHE_FILE
    if user_cache.is_file():
        shutil.copy2(user_cache, private / CACHE_FILE)
    mp = pytest.MonkeyPatch()
    mp.setenv("MGSCREEN_CACHE_DIR", str(private))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def library() -> ComponentLibrary:
    return ComponentLibrary.load()


@pytest.fixture(scope="session")
def interfaces_features(library):
    """(typed data set, its system-feature DataFrame) — featurized once per session."""
    import pandas as pd

    from featurizers.system import SystemFeaturizer
    from screen import load_interfaces

    frame = load_interfaces(library=library)
    featurizer = SystemFeaturizer(library=library).fit()
    X = pd.DataFrame(featurizer.transform(frame), columns=featurizer.get_feature_names_out(),
                     index=frame.index)
    return frame, X


@pytest.fixture(scope="session")
def interfaces_path() -> Path:
    return dataset_file(INTERFACES_FILE)


@pytest.fixture(scope="session")
def interfaces_rows(interfaces_path) -> tuple[list[str], list[dict[str, str]]]:
    with interfaces_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


@pytest.fixture
def write_copy(tmp_path, interfaces_rows):
    """Write a copy of the data set after ``edit(header, rows)`` and return its path.

    ``edit`` receives a fresh header list and row dicts and may change them in place or return
    a new (header, rows) pair.
    """

    def _write(edit=None, name="copy.csv") -> Path:
        header = list(interfaces_rows[0])
        rows = [dict(r) for r in interfaces_rows[1]]
        if edit is not None:
            result = edit(header, rows)
            if result is not None:
                header, rows = result
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow([row.get(h, "") for h in header])
        return path

    return _write


@pytest.fixture(scope="session")
def fast_model_store(tmp_path_factory) -> str:
    """Tracking URI of a store with fast champion models for the three targets (trained
    once per session; used by the design and rank tests)."""
    from test_train_predict import fast_config

    from screen.learn.registry import target_names
    from screen.learn.train import featurize_dataset, train_target

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow-fast') / 'mlflow.db'}"
    features = featurize_dataset()
    for target in target_names():
        train_target(fast_config(target), features, uri)
    return uri
