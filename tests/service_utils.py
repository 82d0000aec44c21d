"""Real services for the service tests: a throwaway PostgreSQL server, an MLflow tracking
server, headless Chromium; ports, waiting, stopping.

A missing service skips its tests on a workstation but fails them when ``$CI`` is set, so CI
cannot pass by skipping them (``.ci/run`` installs Chromium and PostgreSQL).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MGSCREEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
#: A child process of the tests runs the real CLI, as the console script does.
CLI = [sys.executable, "-c", "from screen.cli import app; app()"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(ok: bool, what: str) -> None:
    """Skip (workstation) or fail (``$CI`` set) when a service is missing."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{what} (required in CI: .ci/run installs it)")
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def tail(path: Path, limit: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-limit:]
    return ""


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 90.0,
              log: Path | None = None) -> None:
    """Wait until ``url`` answers 200; fail early if ``proc`` exits (showing ``log``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_ok(url):
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{url}: server exited with {proc.returncode} before answering:\n"
                        f"{tail(log) if log else ''}")
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s\n{tail(log) if log else ''}")


def start_logged(command: list[str], log: Path, **kwargs) -> subprocess.Popen:
    """Start ``command`` in its own process group, output to the file ``log`` (a server's
    request log would fill a pipe nobody reads and block it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        return subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, **kwargs)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> str:
    """Stop a process started with ``start_new_session=True`` and its children (its process
    group); returns its remaining output."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    with contextlib.suppress(ProcessLookupError):  # children that outlived the leader
        os.killpg(proc.pid, signal.SIGKILL)
    return out or ""


def server_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.update(extra)
    return env


def start_mlflow_server(backend: str, artifacts: Path, port: int | None = None
                        ) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` on 127.0.0.1 (serving artifacts from ``artifacts``, log beside it);
    returns the process (own process group) and its URL once /health answers."""
    port = port or free_port()
    artifacts.mkdir(parents=True, exist_ok=True)
    log = artifacts.parent / f"mlflow-server-{port}.log"
    proc = start_logged(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
         "--artifacts-destination", artifacts.as_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"], log, env=server_env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc, timeout=120, log=log)
    except BaseException:
        stop(proc)
        raise
    return proc, url


def listening_hosts(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp{,6})."""
    hosts = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A = LISTEN
                    continue
                raw = bytes.fromhex(address)
                if v6:
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    hosts.add(socket.inet_ntop(socket.AF_INET6, words))
                else:
                    hosts.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
    return hosts


_TEMPLATE: list[Path] = []


def sqlite_store(directory: Path) -> str:
    """A new, empty MLflow SQLite store ``<directory>/mlflow.db``; its URI. Creating the
    schema takes seconds (dozens of migrations), so it is done once per process and the empty
    database file copied."""
    if not _TEMPLATE:
        import atexit

        from mlflow import MlflowClient

        folder = Path(tempfile.mkdtemp(prefix="mgscreen-store-template-"))
        atexit.register(shutil.rmtree, folder, True)
        MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
        _TEMPLATE.append(folder / "mlflow.db")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_TEMPLATE[0], directory / "mlflow.db")
    return f"sqlite:///{directory / 'mlflow.db'}"


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path | None:
    if os.environ.get("MGSCREEN_PG_BINDIR"):
        return Path(os.environ["MGSCREEN_PG_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}): {done.stdout[-2000:]}"
                    f"{done.stderr[-2000:]}")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server URL (``postgresql://user@host:port/db``): ``$MGSCREEN_PG_URL`` if
    set, else a throwaway server on 127.0.0.1 (initdb in a temporary folder, no fsync, run as
    the ``postgres`` user when we are root), stopped and deleted afterwards."""
    given = os.environ.get("MGSCREEN_PG_URL", "").strip()
    if given:
        yield given
        return
    bindir = _pg_bindir()
    require(bindir is not None and (bindir / "pg_ctl").exists(),
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian "
            "`postgresql` or set MGSCREEN_PG_URL / MGSCREEN_PG_BINDIR")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="mgscreen-pg-"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        require(shutil.which("runuser") is not None, "runuser not found (util-linux)")
        try:
            shutil.chown(root, "postgres", "postgres")
        except (LookupError, OSError):
            shutil.rmtree(root, ignore_errors=True)
            require(False, "no `postgres` OS user to run the PostgreSQL server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    started = False
    try:
        _run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
              "--no-instructions"], "initdb")
        options = (f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=100")
        _run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
              "-o", options, "-w", "-t", "60", "start"], "pg_ctl start")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60,
                           check=False)
        shutil.rmtree(root, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server (dropping a leftover one); returns its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)
