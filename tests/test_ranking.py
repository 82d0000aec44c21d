"""The ranking logic itself: dominance, layers, desirability weights, exact streaming top-K."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from screen.screening.ranking import (
    RankSettings,
    dominates,
    merge_partials,
    pareto_layers,
    parse_weights,
    reduce_partition,
    score_frame,
    sort_ranked,
    with_layers,
)


def _frame(n: int, seed: int = 0, out_of_domain: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    eta = rng.uniform(0.05, 1.0, n)
    life = np.exp(rng.uniform(np.log(10), np.log(2000), n))
    p = rng.uniform(0, 1, n)
    ce = rng.uniform(80.0, 99.9, n)
    return pd.DataFrame({
        "candidate_id": np.arange(n),
        "overpotential_V_pred": eta, "overpotential_V_low": eta * 0.7,
        "overpotential_V_high": eta * 1.5 + rng.uniform(0, 0.3, n),
        "stable_duration_h_pred": life, "stable_duration_h_low": life * 0.5,
        "stable_duration_h_high": life * 1.8, "p_passivating": p,
        "coulombic_efficiency_pct_pred": ce, "coulombic_efficiency_pct_low": ce - 2.0,
        "coulombic_efficiency_pct_high": np.minimum(ce + 1.0, 100.0),
        "in_domain": rng.uniform(size=n) >= out_of_domain,
    })


#: The objectives of the small hand-made frames below (no Coulombic-efficiency column).
THREE = ("overpotential", "cycle_life", "passivation")


def _brute_layers(F: np.ndarray) -> np.ndarray:
    """Non-dominated sorting by definition (O(n^2) per layer)."""
    layers = np.zeros(len(F), dtype=int)
    left = set(range(len(F)))
    layer = 0
    while left:
        layer += 1
        front = {i for i in left if not any(dominates(F[j], F[i]) for j in left if j != i)}
        for i in front:
            layers[i] = layer
        left -= front
    return layers


@pytest.mark.parametrize("seed", range(4))
def test_pareto_layers_match_the_definition(seed):
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 6, size=(120, 3)).astype(float)  # many ties and duplicates
    expected = _brute_layers(F)
    got = pareto_layers(F, max_layer=4)
    assert np.array_equal(got, np.minimum(expected, 5))


def test_dominated_candidate_never_ranks_above_its_dominator():
    base = _frame(300, seed=1)
    settings = RankSettings(top=300)
    for order in ("pareto", "desirability"):
        for bound in ("point", "optimistic", "pessimistic"):
            s = settings.with_overrides(order=order, bound=bound, domain_last=False)
            ranked, _ = merge_partials([reduce_partition(base, s)], s)
            assert len(ranked) == 300
            F = ranked[[f"obj_{o}" for o in s.names]].to_numpy()
            for i in range(len(F)):
                # nothing ranked below position i may dominate the candidate at i
                below = F[i + 1:]
                beats = np.all(below <= F[i], axis=1) & np.any(below < F[i], axis=1)
                assert not beats.any(), (order, bound, i)


def test_a_dominating_candidate_added_moves_to_the_top_of_its_dominated():
    frame = _frame(50, seed=2)
    s = RankSettings(top=60, domain_last=False)
    worst = frame.iloc[[0]].copy()
    worst["candidate_id"] = 999
    for column in ("overpotential_V_pred", "p_passivating"):
        worst[column] = frame[column].max() + 0.01
    worst["stable_duration_h_pred"] = frame["stable_duration_h_pred"].min() / 2
    worst["coulombic_efficiency_pct_pred"] = frame["coulombic_efficiency_pct_pred"].min() - 1
    ranked, _ = merge_partials([reduce_partition(pd.concat([frame, worst]), s)], s)
    assert ranked["candidate_id"].iloc[-1] == 999  # dominated by everybody
    assert ranked["pareto_layer"].iloc[-1] > ranked["pareto_layer"].iloc[0]


def test_weights_change_the_order_as_documented():
    frame = pd.DataFrame({
        "candidate_id": [0, 1],
        "overpotential_V_pred": [0.10, 0.60],      # 0 is better on overpotential
        "stable_duration_h_pred": [50.0, 1500.0],        # 1 is better on cycle life
        "p_passivating": [0.5, 0.5],
        "in_domain": [True, True],
    })
    eta_heavy = RankSettings(order="desirability", objectives=THREE, weights=parse_weights(
        "overpotential=5,cycle_life=1,passivation=1"))
    life_heavy = eta_heavy.with_overrides(weights=parse_weights(
        "overpotential=1,cycle_life=5,passivation=1"))
    first = [merge_partials([reduce_partition(frame, s)], s)[0]["candidate_id"].iloc[0]
             for s in (eta_heavy, life_heavy)]
    assert first == [0, 1]
    # both are layer 1 (neither dominates), so the pareto order also follows the weights
    ranked, _ = merge_partials([reduce_partition(frame, life_heavy.with_overrides(
        order="pareto"))], life_heavy.with_overrides(order="pareto"))
    assert list(ranked["pareto_layer"]) == [1, 1] and ranked["candidate_id"].iloc[0] == 1
    # zero weight: that objective no longer moves D
    no_life = RankSettings(objectives=THREE, weights=parse_weights("overpotential=1"))
    scored = score_frame(frame, no_life)
    assert scored["desirability"].iloc[0] > scored["desirability"].iloc[1]


def test_desirability_follows_the_anchors():
    frame = pd.DataFrame({"candidate_id": [0, 1, 2],
                          "overpotential_V_pred": [0.05, 0.525, 1.0],
                          "stable_duration_h_pred": [2000.0, 2000.0, 2000.0],
                          "p_passivating": [0.0, 0.0, 0.0]})
    s = RankSettings(objectives=THREE, weights=parse_weights("overpotential=1"))
    d = score_frame(frame, s)["desirability"].to_numpy()
    assert d[0] == pytest.approx(1.0) and d[1] == pytest.approx(0.5)
    assert d[2] == pytest.approx(1e-6)


def test_bound_selects_the_interval_end():
    frame = pd.DataFrame({"candidate_id": [0, 1],
                          "overpotential_V_pred": [0.20, 0.25],
                          "overpotential_V_low": [0.15, 0.05],   # 1: wide interval
                          "overpotential_V_high": [0.25, 0.60],
                          "stable_duration_h_pred": [100.0, 100.0],
                          "stable_duration_h_low": [80.0, 80.0],
                          "stable_duration_h_high": [150.0, 150.0],
                          "p_passivating": [0.2, 0.2], "in_domain": [True, True]})
    firsts = {}
    for bound in ("point", "optimistic", "pessimistic"):
        s = RankSettings(order="desirability", bound=bound, objectives=THREE)
        firsts[bound] = merge_partials([reduce_partition(frame, s)], s)[0]["candidate_id"][0]
    assert firsts == {"point": 0, "optimistic": 1, "pessimistic": 0}


def test_out_of_domain_and_unpredicted_rank_last():
    frame = _frame(40, seed=3, out_of_domain=0.5)
    frame.loc[3, "p_passivating"] = np.nan
    s = RankSettings(top=40)
    ranked, _ = merge_partials([reduce_partition(frame, s)], s)
    groups = ranked["domain_group"].to_numpy()
    assert np.all(np.diff(groups) >= 0)
    assert ranked["candidate_id"].iloc[-1] == 3 and groups[-1] == 2
    assert set(groups[:-1]) == {0, 1}


@pytest.mark.parametrize("order", ["pareto", "desirability"])
def test_streaming_reduction_is_exact(order):
    """Top-K and layers from partition-wise reduction equal ranking everything at once."""
    frame = _frame(3000, seed=4, out_of_domain=0.2)
    s = RankSettings(top=60, layers=3, order=order)
    whole = sort_ranked(with_layers(score_frame(frame, s), s), s).head(60)
    parts = [reduce_partition(frame.iloc[i:i + 250], s) for i in range(0, 3000, 250)]
    ranked, kept = merge_partials(parts, s)
    assert list(ranked["candidate_id"]) == list(whole["candidate_id"])
    assert list(ranked["pareto_layer"]) == list(whole["pareto_layer"])
    assert len(kept) < len(frame)


@pytest.mark.parametrize("text,message", [
    ("overpotential=x", "not a number"), ("speed=1", "NAME=NUMBER"), ("", "no NAME")])
def test_bad_weights_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_weights(text)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="bound"):
        RankSettings(bound="best")
    with pytest.raises(ValueError, match="weight > 0"):
        RankSettings(weights={"overpotential": 0.0, "cycle_life": 0.0, "passivation": 0.0,
                              "coulombic_efficiency": 0.0})
    with pytest.raises(ValueError, match=">= 0"):
        RankSettings(weights={"overpotential": -1.0})


def test_rank_config_file_is_read_strictly(tmp_path):
    from screen.learn.config import ConfigError
    from screen.screening.rank_config import load_rank_config

    default = load_rank_config()
    assert default.settings.top == 100 and default.settings.order == "pareto"
    path = tmp_path / "rank.toml"
    path.write_text('[ranking]\ntop = 7\nbound = "pessimistic"\n[weights]\noverpotential = 3\n'
                    '[anchors]\ncycle_life = [1000.0, 5.0]\n', encoding="utf-8")
    loaded = load_rank_config(path)
    assert loaded.settings.top == 7 and loaded.settings.bound == "pessimistic"
    assert dict(loaded.settings.weights) == {"overpotential": 3.0, "cycle_life": 0.0,
                                              "passivation": 0.0, "coulombic_efficiency": 0.0}
    assert loaded.settings.anchors["cycle_life"] == (1000.0, 5.0)
    for text, message in (("[ranking]\ntopp = 3\n", "ranking.topp"),
                          ('[ranking]\norder = "best"\n', "order 'best'"),
                          ("[weights]\noverpotential = -1\n", ">= 0"),
                          ("[run]\npartition_rows = 5\n", "partition_rows")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_rank_config(path)


def test_the_desirability_doc_maps_every_default_objective():
    """The report quotes this docstring; an objective of the default ranking missing from it
    would be ranked without its map being explained."""
    from screen.screening import ranking
    from screen.screening.rank_config import load_rank_config

    doc = ranking.__doc__.split("**Desirability**", 1)[1].split("**Pareto layer**", 1)[0]
    settings = load_rank_config().settings
    for name in settings.names:
        label = settings.spec(name).label
        words = {"demonstrated stable cycling": "cycle life"}.get(label, label)
        assert f"- {words.lower()}" in doc.lower(), label
