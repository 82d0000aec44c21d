"""mgscreen: machine-learning screening of Mg/Ca metal anode / electrolyte interfaces."""

from screen.data.components import Component, ComponentLibrary, UnknownComponent
from screen.data.dataset import check_file, load_interfaces, load_table, summarize
from screen.data.problems import DataValidationError, Problem
from screen.data.validation import validate

__version__ = "0.1.0"
__all__ = [
    "Component", "ComponentLibrary", "DataValidationError", "Problem", "UnknownComponent",
    "check_file", "load_interfaces", "load_table", "summarize", "validate", "__version__",
]
