"""``mgscreen quickstart``: the main job on the embedded data set."""

from __future__ import annotations

from screen.cli.options import TrackingUriOption

QUICKSTART_DIR = "mgscreen-quickstart"


def quickstart(tracking_uri: TrackingUriOption = None) -> None:
    """Validate the embedded data set, print its summary, train, cross-validate and log the
    models of every registered target (overpotential, cycle life, passivation ...) in MLflow, then
    enumerate the default
    candidate library (experiments/enumerate.toml), rank it and write an HTML report."""
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console, print_summary, print_train_result
    from screen.data.components import ComponentLibrary
    from screen.data.dataset import load_interfaces, summarize
    from screen.data.paths import dataset_dir
    from screen.learn import tracking
    from screen.learn.config import default_config_path, load_config
    from screen.learn.registry import target_names
    from screen.learn.train import featurize_dataset, train_target

    console = make_console()
    store = tracking.Store(tracking_uri)  # the one tracking store of this command
    with reported_errors(console):
        library = ComponentLibrary.load()
        console.print(f"Component library ({dataset_dir()}): "
                      + ", ".join(f"{len(v)} {k}s" for k, v in library.entries.items()))
        frame = load_interfaces(library=library)
        print_summary(console, summarize(frame, library), "interfaces.csv")
        console.print("[green]Data set and component library are valid.[/green]")
        with console.status("featurizing the data set (first run: GFN2-xTB per molecule)"):
            features = featurize_dataset(frame, library)
        for target in target_names():
            config = load_config(default_config_path(target))
            with console.status(f"training {target}") as status:
                result = train_target(config, features, store,
                                      progress=lambda m, s=status: s.update(m))
            print_train_result(console, result)
        uri = store.uri
        console.print(f"[green]Models trained and logged in {uri}.[/green] Browse them with "
                      "`mgscreen ui`; predict new systems with `mgscreen predict FILE --out "
                      "OUT`.")
        rank_default_library(console, library, store)


def rank_default_library(console, library, store) -> None:
    """Enumerate experiments/enumerate.toml, rank it with the champions, print the top 20 and
    write ranked.csv and report.html under ./mgscreen-quickstart/."""
    from pathlib import Path

    from screen.cli.render import print_ranked
    from screen.learn.predict import load_models
    from screen.screening.enumeration import (
        build_candidate_space,
        load_enumeration_config,
        write_candidates,
    )
    from screen.screening.rank import default_workers, rank_candidates, write_outputs
    from screen.screening.rank_config import load_rank_config

    out = Path(QUICKSTART_DIR)
    space = build_candidate_space(load_enumeration_config(), library)
    with console.status(f"enumerating {space.count():,} candidates"):
        candidates = write_candidates(space, out / "candidates.parquet")
    config = load_rank_config()
    with console.status(f"ranking {space.count():,} candidates") as status:
        result = rank_candidates(
            candidates, load_models(store), config.settings.with_overrides(top=100),
            library=library, partition_rows=config.partition_rows, threads=default_workers(),
            progress=lambda done, total: status.update(f"ranking: {done:,}/{total:,}"))
        written = write_outputs(result, out / "ranked.csv", report=out / "report.html",
                                candidates=candidates)
    print_ranked(console, result.ranked,
                 [result.settings.spec(n) for n in result.settings.names], limit=20)
    console.print(f"[green]{result.n_candidates:,} candidates ranked.[/green] Top 100: "
                  f"{written['ranked']}")
    console.print(f"HTML report: {written['report'].resolve()}")
