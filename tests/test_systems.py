"""One passivation label per system: the key, the decision rule, the validator's report, and
cross-validation that counts a system once however many rows it has."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screen.data.systems import label_conflicts, system_key, system_labels


def rows(*labels_and_bases, conc=0.5):
    return pd.DataFrame({
        "metal": "Mg", "salt": "Mg(TFSI)2", "anion": "TFSI", "salt_conc_M": conc,
        "solvent": "DME", "solvent_ratio": pd.NA, "additive": "none", "additive_conc_M": pd.NA,
        "coating": "none", "coating_thickness_um": pd.NA,
        "current_density_mA_cm2": np.arange(len(labels_and_bases)) + 0.1,
        "passivation": [label for label, _ in labels_and_bases],
        "passivation_basis": [basis for _, basis in labels_and_bases]})


def test_the_key_ignores_conditions_spelling_case_and_number_format():
    a = rows(("partial", "observed"), ("partial", "observed"))
    b = a.assign(salt="mg(tfsi)2 ", salt_conc_M="0.50")
    assert system_key(a).nunique() == 1
    assert set(system_key(a)) == set(system_key(b))
    assert system_key(rows(("partial", "observed"), conc=1.0)).iloc[0] != system_key(a).iloc[0]


@pytest.mark.parametrize(("labels", "expected"), [
    ([("passivating", "family"), ("partial", "observed")], "partial"),  # strongest basis wins
    ([("non_passivating", "ce_only"), ("passivating", "family")], "non_passivating"),
    ([("partial", "observed"), ("partial", "observed"), ("passivating", "observed")],
     "partial"),  # majority among the strongest
    ([("passivating", "observed"), ("partial", "observed")], "partial"),  # tie
])
def test_one_label_per_system_follows_the_documented_rule(labels, expected):
    table = system_labels(rows(*labels))
    assert len(table) == 1 and table["passivation"].iloc[0] == expected
    assert table["n_rows"].iloc[0] == len(labels)


def test_contradictions_are_reported_by_data_validate(write_copy):
    from screen.cli import app

    def contradict(header, data):
        first = next(i for i, r in enumerate(data) if r["passivation"] == "non_passivating")
        twin = dict(data[first], passivation="passivating", passivation_basis="observed",
                    location="made-up contradiction", current_density_mA_cm2="7")
        data.append(twin)

    from typer.testing import CliRunner

    path = write_copy(contradict)
    result = CliRunner().invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "column 'passivation'" in text and "labelled passivating (rows" in text
    assert "one label per system" in text


def test_the_embedded_data_has_no_contradiction(interfaces_features):
    frame, _ = interfaces_features
    assert label_conflicts(frame).empty
    table = system_labels(frame)
    assert len(table) >= 100
    counts = table["passivation"].value_counts()
    assert counts.get("non_passivating", 0) >= 30
    assert counts.get("passivating", 0) + counts.get("partial", 0) >= 30


def test_repeating_one_system_ten_times_leaves_the_grouped_cv_metric_unchanged(library):
    from screen.learn.config import default_config_path, load_config
    from screen.learn.cv import cross_validate
    from screen.learn.modeling_data import build_target_data
    from screen.learn.tasks import make_task
    from screen.learn.train import featurize_dataset

    features = featurize_dataset(library=library)
    frame = features.frame
    config = load_config(default_config_path("passivation"))
    labelled = frame.index[frame["passivation"].notna()]
    key = system_key(frame.loc[labelled])
    busiest = key.value_counts().index[0]
    copies = frame.loc[key.index[key == busiest]]
    extra = pd.concat([copies] * 10, ignore_index=True)
    extra.index = range(frame.index.max() + 1, frame.index.max() + 1 + len(extra))
    bigger = pd.concat([frame, extra])
    matrix = np.vstack([features.matrix,
                        np.tile(features.matrix[frame.index.get_indexer(copies.index)], (10, 1))])
    results = []
    for table, X in ((frame, features.matrix), (bigger, matrix)):
        td = build_target_data(table, X, features.names, config, library)
        task = make_task(config)
        results.append(cross_validate(task, td, "model", "anion_family", 5, 0).pooled)
    assert len(bigger) == len(frame) + 10 * len(copies)
    assert results[0]["brier"] == pytest.approx(results[1]["brier"], abs=0)
    assert results[0]["roc_auc"] == pytest.approx(results[1]["roc_auc"], abs=0)
