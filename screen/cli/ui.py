"""``mgscreen ui``: the MLflow UI on the tracking store that ``mgscreen train`` writes to."""

from __future__ import annotations

from typing import Annotated

import typer

HostOption = Annotated[str, typer.Option(
    "--host", help="Interface to bind. Default 127.0.0.1 (this machine only); anything else "
                   "makes the UI, and the runs and models in it, reachable from the network.")]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")]
TrackingUriOption = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, else "
                           "sqlite:///<current directory>/mlflow.db).")]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ui_url(host: str, port: int) -> str:
    """The URL to open (a wildcard bind is reached through 127.0.0.1)."""
    shown = DEFAULT_HOST if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def ui_command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
               uri: str | None = None) -> list[str]:
    """The ``mlflow server`` command line for the store ``uri`` (resolved like ``train``).

    ``mlflow server`` (``mlflow ui`` is the same command in MLflow 3) serves the UI, the REST
    API and the model registry of a SQL store. One worker is plenty for a local UI. For a
    SQLite store, artifacts of experiments created from the UI go beside the database, where
    ``screen.learn.tracking`` puts those of ``train``.
    """
    import sys

    from screen.learn.dburl import with_driver
    from screen.learn.tracking import artifact_root, resolve_tracking_uri

    store = with_driver(resolve_tracking_uri(uri))
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
               "--host", host, "--port", str(port), "--workers", "1"]
    root = artifact_root(store)
    if root is not None:
        command += ["--artifacts-destination", root.as_uri()]
    return command


def ui_environment() -> dict[str, str]:
    """Environment of the server: MLflow's background job runner (GenAI jobs, a pool of huey
    workers that outlives the server when it is terminated) is not needed for browsing runs."""
    import os

    env = dict(os.environ)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return env


def _port_free(host: str, port: int) -> bool:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return False
    return True


def ui(host: HostOption = DEFAULT_HOST, port: PortOption = DEFAULT_PORT,
       tracking_uri: TrackingUriOption = None) -> None:
    """Start the MLflow UI on the tracking store and print its URL (Ctrl-C stops it)."""
    import signal
    import subprocess
    from pathlib import Path

    from screen.cli.render import make_console
    from screen.learn.tracking import resolve_tracking_uri

    console = make_console()
    store = resolve_tracking_uri(tracking_uri)
    if store.startswith(("http://", "https://")):
        console.print(f"The tracking URI is already an MLflow server: open {store}",
                      markup=False, soft_wrap=True)
        raise typer.Exit(1)
    if store.startswith("sqlite:///"):
        database = Path(store[len("sqlite:///"):].split("?", 1)[0])
        if not database.exists():
            console.print(f"note: {database} does not exist yet; MLflow creates an empty store "
                          "(run `mgscreen train` to fill it)", markup=False)
        database.parent.mkdir(parents=True, exist_ok=True)
    if not _port_free(host, port):
        console.print(f"Port {port} on {host} is in use; choose another with --port.",
                      markup=False)
        raise typer.Exit(1)
    console.print(f"MLflow UI: {ui_url(host, port)} (store: {store})", markup=False,
                  soft_wrap=True)
    if is_loopback(host):
        console.print(f"Bound to {host} only: reachable from this machine, not from the "
                      "network (--host changes that).", markup=False, soft_wrap=True)
    else:
        console.print(f"[yellow]warning: bound to {host}: the UI, its runs, artifacts and "
                      "registered models are reachable from the network, without "
                      "authentication.[/yellow]", soft_wrap=True)
    console.print("Press Ctrl-C to stop.")
    server = subprocess.Popen(ui_command(host, port, store), env=ui_environment())

    def _stop(signum, _frame):  # SIGTERM to `mgscreen ui` stops the server too
        if server.poll() is None:
            server.terminate()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        code = server.wait()
    except KeyboardInterrupt:  # the server got the same SIGINT; give it time to shut down
        try:
            code = server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.terminate()
            try:
                code = server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                code = server.wait()
        code = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise typer.Exit(code if code > 0 else 1)
