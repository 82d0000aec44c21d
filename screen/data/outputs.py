"""The output contract of every command that writes files.

Before any work, :meth:`OutputPlan.check` checks every output path of the command and reports
all problems at once (:class:`OutputError`, naming the path as given and its option):

- its suffix is one the output's format accepts (``ranked.xlsx`` is refused with the list of
  accepted suffixes, instead of a traceback after the whole ranking);
- it is not one of the command's inputs, not inside an input directory, and not the path of
  another output (``--out a.csv --report a.csv``);
- its directory exists and a file can be created in it (tried, not guessed from permission
  bits);
- an existing file there is of the kind the command writes (a CSV over a CSV, Parquet over
  Parquet ...); replacing a file of another kind (an HTML report, a Parquet library) needs
  ``--force``; a directory is never replaced by a file.

At the end :meth:`OutputPlan.staged` commits the outputs *together*: each is written to a
hidden temporary file beside its target (same suffix, so writers that go by the suffix work),
and only when all are written are they renamed into place, one after the other with SIGINT and
SIGTERM held back, undoing the renames if one fails or a signal arrived meanwhile. Ctrl-C, an
error or a crash before the commit leaves no output and no temporary file; an existing output
is replaced only by a complete new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: Suffix → the kind of file written with it.
SUFFIX_KINDS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet", ".html": "HTML",
                ".htm": "HTML", ".png": "PNG", ".toml": "TOML", ".json": "JSON"}
#: Kinds stored as plain text: they may replace an existing text file (a CSV over a CSV
#: written by hand is normal), but not a Parquet, PNG, HTML or other binary file.
TEXT_KINDS = ("CSV", "TOML", "JSON")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


class OutputError(ValueError):
    """Output paths that cannot be used; ``problems`` lists one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Output:
    """One file a command writes: ``path`` as the user gave it, the ``option`` that named it
    (``--out``, ``--report`` ...), the accepted ``suffixes`` (their kinds are what is written),
    and whether an existing directory of that name may be replaced by the writer itself
    (``directory_ok``: a partitioned candidate library)."""

    path: Path
    option: str
    suffixes: tuple[str, ...]
    directory_ok: bool = False

    @property
    def kind(self) -> str:
        """The kind of file written (by the path's suffix)."""
        return SUFFIX_KINDS.get(self.path.suffix.lower(), "?")

    def where(self) -> str:
        return f"{self.path} ({self.option})"


class OutputPlan:
    """The outputs of one command; see the module docstring. ``inputs``: files or
    directories the command reads (an output may not be one of them or inside one)."""

    def __init__(self, outputs: Sequence[Output], inputs: Sequence[str | Path | None] = (),
                 force: bool = False):
        self.outputs = [o for o in outputs if o is not None]
        self.inputs = [Path(p) for p in inputs if p is not None and str(p) != ""]
        self.force = force

    def __getitem__(self, option: str) -> Path:
        return self._output(option).path

    def _output(self, option: str) -> Output:
        for output in self.outputs:
            if output.option == option:
                return output
        raise KeyError(option)

    # ---------------------------------------------------------------- before the work
    def check(self) -> OutputPlan:
        """Raise :class:`OutputError` listing every problem of the output paths."""
        problems: list[str] = []
        seen: dict[Path, Output] = {}
        for output in self.outputs:
            problems += _suffix_problems(output)
            resolved = _resolved(output.path)
            if resolved in seen:
                other = seen[resolved]
                problems.append(f"{output.path}: given for both {other.option} and "
                                f"{output.option}; each output needs its own file")
                continue
            seen[resolved] = output
            problems += self._input_problems(output, resolved)
            problems += _place_problems(output, self.force)
        if problems:
            raise OutputError(problems)
        return self

    def _input_problems(self, output: Output, resolved: Path) -> list[str]:
        for given in self.inputs:
            source = _resolved(given)
            if resolved == source or _same_file(output.path, given):
                return [f"{output.where()}: is the input file {given}; choose another name "
                        "(mgscreen never writes over its input)"]
            if given.is_dir() and source in resolved.parents:
                return [f"{output.where()}: is inside the input directory {given}; write it "
                        "elsewhere (a file there would become part of the input)"]
        return []

    # ---------------------------------------------------------------- at the end
    @contextlib.contextmanager
    def staged(self) -> Iterator[dict[str, Path]]:
        """Yield {option: temporary path} for every output; on normal exit commit the ones
        that were written (see the module docstring); on any exception remove them all.
        An output whose temporary file was not written is left alone."""
        temps: dict[str, Path] = {}
        try:
            for output in self.outputs:
                temps[output.option] = _temporary(output.path)
            try:
                yield dict(temps)
                commit({o: temps[o.option] for o in self.outputs if temps[o.option].exists()})
            except OSError as exc:  # name the user's path, not a hidden temporary file
                raise self._user_error(exc, temps) from None
        finally:
            for temp in temps.values():
                _remove(temp)

    def _user_error(self, exc: OSError, temps: dict[str, Path]) -> OSError:
        names = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
        for output in self.outputs:
            temp = temps.get(output.option)
            if temp is not None and any(temp.name in n or temp.stem in n for n in names):
                return OSError(exc.errno, exc.strerror or str(exc), str(output.path))
        return exc


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path)))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _suffix_problems(output: Output) -> list[str]:
    suffix = output.path.suffix.lower()
    if suffix in output.suffixes:
        return []
    accepted = ", ".join(output.suffixes)
    kinds = " or ".join(dict.fromkeys(SUFFIX_KINDS[s] for s in output.suffixes))
    if not suffix:
        return [f"{output.where()}: no suffix; accepted: {accepted} ({kinds}), e.g. "
                f"{output.path.name}{output.suffixes[0]}"]
    return [f"{output.where()}: suffix {suffix!r} is not a format {output.option} writes; "
            f"accepted: {accepted} ({kinds})"]


def _place_problems(output: Output, force: bool) -> list[str]:
    path = output.path
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        return [f"{output.where()}: directory {parent} does not exist; create it first "
                f"(mkdir -p {parent}) or choose another path"]
    if not parent.is_dir():
        return [f"{output.where()}: {parent} is not a directory"]
    if path.is_dir():
        if output.directory_ok:
            return []
        return [f"{output.where()}: is a directory; give a file name"]
    if path.exists():
        existing = file_kind(path)
        if existing is not None and not _replaceable(existing, output.kind) and not force:
            return [f"{output.where()}: the existing file is {_a(existing)} file and "
                    f"{output.option} writes {output.kind}; refusing to replace a file of "
                    "another kind (choose another name, or pass --force to replace it)"]
    try:  # really create a file: permission bits say nothing of read-only mounts or root
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        return [f"{output.where()}: cannot write in directory {parent} "
                f"({exc.strerror or exc})"]
    os.close(fd)
    os.unlink(probe)
    return []


def _a(kind: str) -> str:
    return f"an {kind}" if kind in ("HTML", "empty") else f"a {kind}"


def _replaceable(existing: str, new: str) -> bool:
    if existing == "empty" or existing == new:
        return True
    return existing == "text" and new in TEXT_KINDS


def file_kind(path: str | Path) -> str | None:
    """What an existing file holds, from its first bytes: ``Parquet``, ``PNG``, ``HTML``,
    ``empty``, ``text`` (any other UTF-8 text: CSV, TOML, JSON ...), ``binary``; None if it
    cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if not head:
        return "empty"
    if head.startswith(b"PAR1"):
        return "Parquet"
    if head.startswith(b"\x89PNG"):
        return "PNG"
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
        with contextlib.suppress(UnicodeDecodeError):  # a multi-byte character cut at 4096
            text = head[:-3].decode("utf-8-sig")
    if text is None or "\x00" in text:
        return "binary"
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")):
        return "HTML"
    return "text"


def _temporary(path: Path) -> Path:
    """A new hidden file name beside ``path`` with the same suffix (nothing is created)."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}",
                                dir=parent)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def commit(staged: dict[Output, Path]) -> None:
    """Rename every temporary file onto its output, all or none (see the module docstring).
    An existing output is kept as a hard link (or copy) until every rename succeeded."""
    backups: dict[Path, Path | None] = {}
    done: list[Path] = []
    with _held_signals() as received:
        try:
            for output, temp in staged.items():
                target = output.path
                backups[target] = _backup(target)
                if temp.is_dir() and target.is_dir():
                    _swap_directory(temp, target, backups)
                else:
                    os.replace(temp, target)
                done.append(target)
            if received:
                raise _Interrupted
        except BaseException:
            for target in reversed(done):  # put back what was there before
                _restore(target, backups.get(target))
            raise
        finally:
            for backup in backups.values():
                if backup is not None:
                    _remove(backup)


def _backup(target: Path) -> Path | None:
    if not target.exists() or target.is_dir():
        return None  # directories are swapped aside instead (see _swap_directory)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".previous",
                                dir=target.parent)
    os.close(fd)
    os.unlink(name)
    backup = Path(name)
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
    return backup


def _swap_directory(temp: Path, target: Path, backups: dict) -> None:
    aside = target.with_name(f".{target.name}.previous-{os.getpid()}")
    os.replace(target, aside)
    backups[target] = aside
    os.replace(temp, target)


def _restore(target: Path, backup: Path | None) -> None:
    if backup is None:
        _remove(target)
    else:
        if target.is_dir() or backup.is_dir():
            _remove(target)
        os.replace(backup, target)


class _Interrupted(Exception):
    """A signal arrived during the commit (re-delivered after the roll-back)."""


@contextlib.contextmanager
def _held_signals() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM back inside the block (main thread only); a signal received
    meanwhile is recorded in the yielded list and delivered to its handler afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in previous.items():
        if handler not in (signal.SIG_IGN, None):
            signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield received
    except _Interrupted:
        pass
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
    for sig in received[:1]:
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)
        raise KeyboardInterrupt


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table by the path's suffix: CSV (UTF-8, formula-like text neutralized) or
    Parquet, atomically."""
    from screen.data.io import atomic_path, atomic_write_csv

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return atomic_write_csv(frame, path)
    if suffix in (".parquet", ".pq"):
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
        return path
    raise ValueError(f"{path}: unknown table format {suffix or '(no suffix)'!r}; accepted: "
                     f"{', '.join(TABLE_SUFFIXES)}")
