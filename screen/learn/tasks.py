"""What every target's CV task shares: config access, the candidates compared in CV (the model
and two baselines) and their inputs.

Candidates: ``model`` (from the config), ``dummy`` (the target's trivial predictor: mean,
Kaplan–Meier, class prior ...) and ``names_rf`` (a random forest on one-hot component names:
metal, anion, solvent, additive, coating). A target's module subclasses :class:`BaseTask` with
``make`` (a fresh estimator per candidate), ``fit_predict`` and ``metrics`` (the
:class:`~screen.learn.cv.Task` protocol).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from screen.learn.modeling_data import TargetData

CANDIDATES = ("model", "dummy", "names_rf")


def names_baseline(estimator):
    """The ``names_rf`` baseline: one-hot component names (unknown names ignored) → estimator."""
    return make_pipeline(OneHotEncoder(handle_unknown="ignore"), estimator)


class BaseTask:
    """Shared parts: config access and candidate inputs."""

    candidates: tuple[str, ...] = CANDIDATES

    def __init__(self, config: dict):
        from screen.learn.registry import get_target

        self.config = config
        self.seed = int(config["seed"])
        self.spec = get_target(config["target"])
        self.target = self.spec.name
        self.primary_metric = self.spec.primary_metric
        self.higher_is_better = self.spec.higher_is_better

    def names(self, td: TargetData) -> pd.DataFrame:
        """Input of the ``names_rf`` baseline."""
        return td.names

    def inputs(self, candidate: str, td: TargetData, idx: np.ndarray) -> pd.DataFrame:
        """Rows ``idx`` of the candidate's input table."""
        table = self.names(td) if candidate == "names_rf" else td.X
        return table.iloc[idx]

    def make(self, candidate: str):
        """A fresh, unfitted estimator for the candidate."""
        raise NotImplementedError


def make_task(config: dict) -> BaseTask:
    """The task object of ``config['target']`` (from the target registry)."""
    from screen.learn.registry import get_target

    return get_target(config["target"]).task(config)
