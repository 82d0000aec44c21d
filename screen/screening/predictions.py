"""``mgscreen predict`` as a library call: a table of systems in, a table of predictions out.

:func:`predict_file` checks the file with the one check of mgscreen (including whether every
component outside the library can be featurized), loads the models, and returns the input's
cells as written (``extra_`` columns included) followed by the resolved component names, the
inputs the models had to fill in (``imputed_conditions``) and every target's prediction
columns, rounded to :data:`~screen.data.prediction_inputs.SIGNIFICANT_DIGITS` significant
digits. Warnings of the check and a note on the filled-in inputs come with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from screen.data.problems import Problem


@dataclass
class Predictions:
    """The output table, the check's warnings and a note on the inputs the models filled in
    (None when every input was given)."""

    table: pd.DataFrame
    warnings: list[Problem]
    imputed_note: str | None


def predict_file(path: str | Path, store, model_uris: dict[str, str] | None = None,
                 library=None, model_set: str | None = None) -> Predictions:
    """Predictions for every row of a CSV in the system schema (see the module docstring).
    Raises :class:`~screen.data.problems.DataValidationError` for rows that cannot be
    predicted and :class:`~screen.learn.tracking.ModelStoreError` for models that cannot be
    loaded."""
    from featurizers.base import FeaturizationError
    from featurizers.system import SystemFeaturizer
    from screen.data.components import ComponentLibrary
    from screen.data.dataset import check_file
    from screen.data.prediction_inputs import (
        imputed_inputs,
        imputed_summary,
        resolved_names,
        round_significant,
    )
    from screen.data.problems import DataValidationError, errors_of, warnings_of
    from screen.data.validation import to_typed_frame
    from screen.learn.predict import load_models, predict_systems

    library = library or ComponentLibrary.load()
    featurizer = SystemFeaturizer(library=library).fit()
    raw, problems = check_file(path, library, mode="systems",
                               component_check=featurizer.component_problem)
    if errors_of(problems):
        raise DataValidationError(errors_of(problems))
    frame = to_typed_frame(raw)
    models = load_models(store, model_uris, model_set=model_set)
    try:
        predictions = predict_systems(frame, models, featurizer=featurizer)
    except FeaturizationError as exc:  # not expected: the check featurized every component
        raise DataValidationError([Problem(str(path), None, None, None, str(exc))]) from None
    imputed = imputed_inputs(frame)
    table = raw.set_axis(list(raw.attrs.get("source_columns", raw.columns)), axis=1)
    given = frame[[c for c in frame.columns if c in raw.columns]]
    table = table.join(resolved_names(given, library)).join(imputed)
    table = table.join(round_significant(predictions))
    table.insert(0, "row", frame.index.to_numpy())
    return Predictions(table.reset_index(drop=True), warnings_of(problems),
                       imputed_summary(imputed))
