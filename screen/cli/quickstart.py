"""``mgscreen quickstart``: the main job on the embedded data set."""

from __future__ import annotations

from screen.cli.options import TrackingUriOption


def quickstart(tracking_uri: TrackingUriOption = None) -> None:
    """Validate the embedded data set, print its summary, then train, cross-validate and log
    the three models (overpotential, cycle life, passivation) in MLflow."""
    from rich.console import Console

    from screen import tracking
    from screen.cli.errors import reported_errors
    from screen.cli.render import print_summary, print_train_result
    from screen.components import ComponentLibrary
    from screen.config import TARGETS, default_config_path, load_config
    from screen.dataset import load_interfaces, summarize
    from screen.paths import dataset_dir
    from screen.train import featurize_dataset, train_target

    console = Console()
    with reported_errors(console):
        library = ComponentLibrary.load()
        console.print(f"Component library ({dataset_dir()}): "
                      + ", ".join(f"{len(v)} {k}s" for k, v in library.entries.items()))
        frame = load_interfaces(library=library)
        print_summary(console, summarize(frame, library), "interfaces.csv")
        console.print("[green]Data set and component library are valid.[/green]")
        with console.status("featurizing the data set (first run: GFN2-xTB per molecule)"):
            features = featurize_dataset(frame, library)
        for target in TARGETS:
            config = load_config(default_config_path(target))
            with console.status(f"training {target}") as status:
                result = train_target(config, features, tracking_uri,
                                      progress=lambda m, s=status: s.update(m))
            print_train_result(console, result)
    uri = tracking.resolve_tracking_uri(tracking_uri)
    console.print(f"[green]Models trained and logged in {uri}.[/green] Browse them with "
                  "`mgscreen ui`; predict new systems with `mgscreen predict FILE --out OUT`.")
