"""The wheel ships the data set inside the package, and no top-level `datasets` module."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import screen
from screen.data.paths import dataset_dir

ROOT = Path(__file__).resolve().parents[1]


def test_data_found_through_the_package():
    directory = dataset_dir()
    package = Path(screen.__file__).resolve().parent
    if package.parent != ROOT:  # an installed (non-editable) package must use its own copy
        assert directory == package / "datasets"
    for name in ("interfaces.csv", "anions.csv", "solvents.csv", "coatings.csv", "contrasts.csv",
                 "seed_sources.csv",
                 "README.md"):
        assert (directory / name).is_file(), name
    assert list((directory / "structures").glob("*.xyz"))


def test_project_does_not_provide_a_top_level_datasets_module():
    spec = importlib.util.find_spec("datasets")
    if spec is not None and spec.origin is not None:
        assert Path(spec.origin).resolve().parent != ROOT / "datasets"
    assert not (ROOT / "datasets" / "__init__.py").exists()


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs a source checkout")
def test_wheel_contains_the_data(tmp_path):
    # built from a copy of what a clean clone has: an in-tree build/ left by an earlier
    # install would otherwise put stale modules into the wheel and hide a missing package
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    for folder in ("screen", "featurizers", "datasets", "experiments"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(tmp_path), str(source)], check=True, timeout=600)
    (wheel,) = tmp_path.glob("mgscreen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("screen/datasets/interfaces.csv", "screen/datasets/anions.csv",
                 "screen/datasets/solvents.csv", "screen/datasets/coatings.csv",
                 "screen/datasets/contrasts.csv", "screen/datasets/structures/CB11H12.xyz",
                 "screen/cli/__init__.py", "screen/data/structures.py"):
        assert name in names, name
    # every module of the source tree (a sub-package missing from pyproject's list is only
    # noticed on a non-editable install) and every shipped config and example table
    sources = [p.relative_to(ROOT).as_posix() for folder in ("screen", "featurizers")
               for p in (ROOT / folder).rglob("*.py")]
    shipped = ["screen/experiments/" + p.name for p in (ROOT / "experiments").iterdir()
               if p.suffix in (".toml", ".csv")]
    missing = sorted(set(sources + shipped) - names)
    assert not missing, f"not in the wheel: {missing}"
    assert not any(n.startswith("datasets/") for n in names)
    assert screen.__version__ in wheel.name
