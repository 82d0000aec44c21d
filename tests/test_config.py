"""Experiment configs: every shipped config loads; bad keys and values are named."""

from __future__ import annotations

import pytest

from screen.learn.config import (
    ConfigError,
    apply_override,
    default_config_path,
    load_config,
)
from screen.learn.registry import target_names


@pytest.mark.parametrize("target", target_names())
def test_shipped_configs_load(target):
    config = load_config(default_config_path(target))
    assert config["target"] == target
    assert config["cv"]["primary"] in config["cv"]["schemes"]


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_is_named(tmp_path):
    text = default_config_path("passivation").read_text().replace("[cv]", "[cv]\nfolds = 3")
    with pytest.raises(ConfigError, match=r"c.toml: unknown key 'cv.folds'; accepted here: "
                                          r"cv.schemes, cv.primary, cv.n_splits"):
        load_config(write(tmp_path, text))


def test_key_of_another_target_is_refused(tmp_path):
    text = default_config_path("passivation").read_text().replace(
        "[data]", '[data]\nunit = "h"')
    with pytest.raises(ConfigError, match="unknown key 'data.unit'"):
        load_config(write(tmp_path, text))


def test_wrong_type_and_bad_values(tmp_path):
    base = default_config_path("overpotential").read_text()
    with pytest.raises(ConfigError, match="'seed' = 'zero' must be int"):
        load_config(write(tmp_path, base.replace("seed = 0", 'seed = "zero"')))
    with pytest.raises(ConfigError, match="cv.primary 'leave_one_out'"):
        load_config(write(tmp_path, base.replace('primary = "anion_family"',
                                                 'primary = "leave_one_out"')))
    ce = default_config_path("coulombic_efficiency").read_text()
    with pytest.raises(ConfigError, match=r"uncertainty.conformity 'spread'; accepted: "
                                          r"absolute, gamma, log, normalized"):
        load_config(write(tmp_path, ce.replace('conformity = "normalized"',
                                               'conformity = "spread"')))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, base + "\n[[[broken"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


def test_overrides_take_precedence():
    config = load_config(default_config_path("overpotential"),
                         ["model.params.n_estimators=17", "seed=3", 'model.family="kernel_ridge"'])
    assert config["model"]["params"]["n_estimators"] == 17 and config["seed"] == 3
    assert config["model"]["family"] == "kernel_ridge"
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        apply_override({}, "seed")
    with pytest.raises(ConfigError, match="unknown key 'cv.nsplits'"):
        load_config(default_config_path("overpotential"), ["cv.nsplits=3"])
