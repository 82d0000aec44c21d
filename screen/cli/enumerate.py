"""``mgscreen enumerate``: build a candidate library (Parquet) for ranking."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from screen.cli.options import ForceOption

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Enumeration config (default: experiments/enumerate.toml).")]
OutOption = Annotated[Path, typer.Option(
    "--out", help="Parquet file to write (a directory of part-*.parquet when the library "
                  "exceeds --rows-per-file); written atomically.", show_default=False)]
MetalOption = Annotated[list[str] | None, typer.Option(
    "--metal", help="Mg or Ca (repeatable; overrides the config).")]
ChlorideOption = Annotated[bool | None, typer.Option(
    "--chloride-free/--allow-chloride",
    help="Drop anions and additives containing Cl (overrides the config).", show_default=False)]
CoatingClassOption = Annotated[list[str] | None, typer.Option(
    "--coating-class", help="Keep only coatings of this class, e.g. alloy, fluoride, none "
                            "(repeatable; overrides the config).")]
IncludeOption = Annotated[list[str] | None, typer.Option(
    "--include", help="KIND=NAME: keep only these names of KIND (anion, solvent, cosolvent, "
                      "additive, coating); repeatable; replaces the config's list of KIND.")]
ExcludeOption = Annotated[list[str] | None, typer.Option(
    "--exclude", help="KIND=NAME: leave NAME out (repeatable; replaces the config's list of "
                      "KIND).")]
MaxOption = Annotated[int, typer.Option(
    "--max-candidates", min=1, help="Refuse to write a library larger than this.")]
ChunkOption = Annotated[int, typer.Option(
    "--chunk-rows", min=1, help="Candidates generated and written per step (= Parquet row "
                                "group); bounds memory.")]
RowsPerFileOption = Annotated[int, typer.Option(
    "--rows-per-file", min=1, help="Largest Parquet file; a bigger library is partitioned.")]


def enumerate_candidates(out: OutOption, config: ConfigOption = None,
                         metal: MetalOption = None, chloride_free: ChlorideOption = None,
                         coating_class: CoatingClassOption = None,
                         include: IncludeOption = None, exclude: ExcludeOption = None,
                         max_candidates: MaxOption = 20_000_000,
                         chunk_rows: ChunkOption = 100_000,
                         rows_per_file: RowsPerFileOption = 2_000_000,
                         force: ForceOption = False) -> None:
    """Enumerate every distinct candidate (metal, anion, salt concentration, solvent or
    binary mixture with ratio, additive, coating, test condition) of the config and write
    them as Parquet for `mgscreen rank`."""
    from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn
    from rich.table import Table
    from rich.text import Text

    from featurizers.check import featurization_check
    from screen.cli.errors import reported_errors
    from screen.cli.render import make_console
    from screen.data.components import ComponentLibrary
    from screen.data.outputs import Output, OutputPlan
    from screen.screening.enumeration import (
        build_candidate_space,
        check_enumeration_config,
        check_space,
        load_enumeration_config,
        sidecar_path,
        write_candidates,
    )

    console = make_console()
    includes = _kind_names(include, "--include")
    excludes = _kind_names(exclude, "--exclude")
    with reported_errors(console), _enumeration_errors(console):
        flags = {"metals": tuple(metal) if metal else None, "chloride_free": chloride_free,
                 "coating_classes": tuple(coating_class) if coating_class else None,
                 "include": includes or None, "exclude": excludes or None}
        cfg = load_enumeration_config(config)
        if any(v is not None for v in flags.values()):
            cfg = cfg.with_overrides(**flags, source=f"{cfg.source} + command-line flags")
        check_enumeration_config(cfg, cfg.source)
        library = ComponentLibrary.load()
        space = build_candidate_space(cfg, library)
        total = space.count()
        table = Table(title=f"candidate axes ({cfg.source})")
        for column in ("axis", "size", "values"):
            table.add_column(column, justify="right" if column == "size" else "left")
        for name, values in space.axes.items():
            table.add_row(name, f"{len(values):,}", Text(_preview(values)))
        console.print(table)
        console.print(f"{total:,} candidates", markup=False)
        _check_size(total, max_candidates)
        OutputPlan([Output(out, "--out", (".parquet",), directory_ok=True),
                    Output(out.with_name(out.name + ".json"), "sidecar of --out",
                           (".json",))], inputs=[config], force=force).check()
        for line in check_space(space, library, featurization_check(library)):
            console.print(f"warning: {line}", markup=False, soft_wrap=True, style="yellow")
        columns = (*Progress.get_default_columns()[:-1], MofNCompleteColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("writing candidates", total=total)
            path = write_candidates(space, out, chunk_rows=chunk_rows,
                                    rows_per_file=rows_per_file,
                                    progress=lambda done, _: bar.update(task, completed=done))
    kind = "directory of Parquet parts" if path.is_dir() else "Parquet file"
    console.print(Text(f"{path}: {total:,} candidates ({kind}); {sidecar_path(path)}: axes "
                       "and checksums", style="green"))


def _kind_names(items: list[str] | None, flag: str) -> dict[str, tuple[str, ...]]:
    """``KIND=NAME`` items as {kind: names}; a malformed item is a usage error."""
    from screen.screening.enumeration import FILTER_KINDS

    out: dict[str, tuple[str, ...]] = {}
    for item in items or []:
        kind, _, name = item.partition("=")
        kind, name = kind.strip(), name.strip()
        if kind not in FILTER_KINDS or not name:
            raise typer.BadParameter(f"{item!r}; expected KIND=NAME with KIND one of "
                                     f"{', '.join(FILTER_KINDS)}", param_hint=flag)
        out[kind] = (*out.get(kind, ()), name)
    return out


def _check_size(total: int, limit: int) -> None:
    from screen.screening.enumeration import EnumerationError

    if total > limit:
        raise EnumerationError(
            f"{total:,} candidates exceed --max-candidates {limit:,}; narrow the config "
            "(fewer anions/solvents/ratios/concentrations/conditions, --include, --exclude, "
            "--chloride-free, --coating-class) or raise --max-candidates")


@contextlib.contextmanager
def _enumeration_errors(console: Console) -> Iterator[None]:
    """Print enumeration/output errors without a traceback and exit with status 1."""
    from screen.screening.candidates import CandidateFileError
    from screen.screening.enumeration import EnumerationError

    try:
        yield
    except (EnumerationError, CandidateFileError) as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(1) from None


def _preview(values: tuple, n: int = 6) -> str:
    def text(v) -> str:
        if isinstance(v, tuple):
            return " ".join(text(x) for x in v if x not in ("", None))
        return f"{v:g}" if isinstance(v, float) else str(v)

    shown = ", ".join(text(v) for v in values[:n])
    return shown + (f", ... (+{len(values) - n})" if len(values) > n else "")
