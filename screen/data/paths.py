"""Where the embedded data set and component library live.

The repository's ``datasets/`` folder is installed as the package-data directory
``screen/datasets`` (see ``pyproject.toml``). From a source checkout that has not been installed,
the repository folder is used instead.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

INTERFACES_FILE = "interfaces.csv"
ANIONS_FILE = "anions.csv"
SOLVENTS_FILE = "solvents.csv"
COATINGS_FILE = "coatings.csv"
CONTRASTS_FILE = "contrasts.csv"


def dataset_dir() -> Path:
    """Directory holding ``interfaces.csv``, the component CSVs and ``structures/``."""
    # `screen` is a regular package, so this is a real directory (the data folder itself has
    # no __init__.py: importlib.resources would hand back a namespace MultiplexedPath).
    installed = Path(str(resources.files("screen"))) / "datasets"
    if (installed / INTERFACES_FILE).is_file():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    if (checkout / INTERFACES_FILE).is_file():
        return checkout
    raise FileNotFoundError(
        "mgscreen's embedded data set was not found: neither the installed package data "
        "(screen/datasets) nor a source checkout's datasets/ folder holds interfaces.csv. "
        "Reinstall with `pip install .` from the repository root."
    )


def dataset_file(name: str) -> Path:
    """Path of one file inside the embedded data directory."""
    return dataset_dir() / name
