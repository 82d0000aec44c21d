"""``mgscreen train``: fit, cross-validate and log one target (or all three) in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screen.cli.options import (
    DataOption,
    EmbeddedOption,
    TrackingUriOption,
    parse_model_set,
    training_table,
)

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Experiment config (TOML), e.g. experiments/overpotential.toml.")]
AllOption = Annotated[bool, typer.Option("--all", help="Train the three targets with their "
                                                       "default configs.")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a config key, e.g. --set model.params.n_estimators=500 "
                  "(repeatable).")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Override the config's seed.")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Override model.family.")]
RegisterOption = Annotated[bool, typer.Option(
    "--register/--no-register", help="Register the model and compete for the 'champion' alias.")]
NameOption = Annotated[str | None, typer.Option(
    "--name", help="Register the models as NAME-<target>, competing for their own 'champion' "
                   "(use them with --models NAME); the default champions are never touched.")]


def train(config: ConfigOption = None, all_targets: AllOption = False,
          overrides: SetOption = None, seed: SeedOption = None, model: ModelOption = None,
          tracking_uri: TrackingUriOption = None, register: RegisterOption = True,
          data: DataOption = None, embedded: EmbeddedOption = True,
          name: NameOption = None) -> None:
    """Cross-validate the model against baselines, fit it on all rows and log it in MLflow
    (with --data: on the embedded data set plus your own measurements)."""
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_train_result
    from screen.learn.config import default_config_path, load_config
    from screen.learn.registry import target_names
    from screen.learn.tracking import Store, TrackingUnreachable
    from screen.learn.train import featurize_dataset, train_target

    if (config is None) == (not all_targets):
        raise typer.BadParameter("give either --config FILE or --all", param_hint="--config")
    model_set = parse_model_set(name, "--name")
    extra = list(overrides or [])
    if seed is not None:
        extra.append(f"seed={seed}")
    if model is not None:
        extra.append(f'model.family="{model}"')
    console = make_console()
    store = Store(tracking_uri)  # the one tracking store of this command
    with reported_errors(console):
        paths = [config] if config else [default_config_path(t) for t in target_names()]
        configs = [load_config(p, extra) for p in paths]
        features = featurize_dataset(training_table(data, embedded))
        for cfg in configs:
            try:
                with console.status(f"training {cfg['target']}") as status:
                    result = train_target(cfg, features, store, register,
                                          progress=lambda m, s=status: s.update(m),
                                          model_set=model_set)
            except TrackingUnreachable as exc:  # the results were saved locally, if any
                console.print(f"error: {exc}", markup=False, soft_wrap=True)
                raise typer.Exit(1) from None
            print_train_result(console, result)
