"""``mgscreen quickstart``: the main job on the embedded data set."""

from __future__ import annotations


def quickstart() -> None:
    """Load and validate the embedded data set and component library; print their summary."""
    from rich.console import Console

    from screen.cli.errors import reported_errors
    from screen.cli.render import print_summary
    from screen.components import ComponentLibrary
    from screen.dataset import load_interfaces, summarize
    from screen.paths import dataset_dir

    console = Console()
    with reported_errors(console):
        library = ComponentLibrary.load()
        console.print(f"Component library ({dataset_dir()}): "
                      + ", ".join(f"{len(v)} {k}s" for k, v in library.entries.items()))
        frame = load_interfaces(library=library)
        print_summary(console, summarize(frame, library), "interfaces.csv")
    console.print("[green]Data set and component library are valid.[/green]")
