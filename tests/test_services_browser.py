"""`mgscreen ui` in a real browser: headless Chromium (Playwright) browses the MLflow 3 UI of
a store holding trained runs, and finds the experiment, the run, its grouped-CV primary
metric and the diagnostic plot of each target; the UI binds loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_utils import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CLI,
    free_port,
    listening_hosts,
    require,
    server_env,
    sqlite_store,
    start_logged,
    stop,
    wait_http,
)

from screen.learn import tracking
from screen.learn.config import default_config_path, load_config
from screen.learn.train import featurize_dataset, train_target

FAST = {  # one grouped scheme and small models: the UI, not the model, is under test here
    "overpotential": ["uncertainty.cv=3"],
    "passivation": [],
}
PLOT = {"overpotential": "parity.png", "passivation": "calibration.png"}
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "playwright (Python package) is not installed")
    require(Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (Debian `chromium`)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return sqlite_store(tmp_path_factory.mktemp("ui-store"))


@pytest.fixture(scope="module")
def trained(store) -> dict:
    """One fast training run per target in the store."""
    features = featurize_dataset()
    results = {}
    for target, extra in FAST.items():
        config = load_config(default_config_path(target),
                             ['cv.schemes=["source"]', 'cv.primary="source"', "cv.n_splits=3",
                              *extra])
        results[target] = train_target(config, features, store)
    return results


@pytest.fixture(scope="module")
def ui(store, tmp_path_factory, request):
    """`mgscreen ui` (the real CLI) on a free port with the default host, started while the
    runs are trained: (url, port, process, output file)."""
    port, cwd = free_port(), tmp_path_factory.mktemp("ui-cwd")
    log = cwd / "ui.log"
    proc = start_logged([*CLI, "ui", "--port", str(port), "--tracking-uri", store], log,
                        cwd=cwd, env=server_env(PYTHONUNBUFFERED="1"))
    url = f"http://127.0.0.1:{port}"
    try:
        request.getfixturevalue("trained")
        wait_http(f"{url}/health", proc, timeout=90, log=log)
        yield url, port, proc, log
    finally:
        stop(proc)
    assert proc.returncode in (0, -15), log.read_text()[-3000:]


def test_ui_binds_loopback_by_default_and_says_so(ui, store):
    url, port, proc, log = ui
    assert proc.poll() is None
    assert listening_hosts(port) == {"127.0.0.1"}
    output = log.read_text()
    assert f"MLflow UI: {url} (store: {store})" in output
    assert "Bound to 127.0.0.1 only: reachable from this machine" in output
    assert "reachable from the network" not in output


def _metric_after(text: str, name: str) -> float:
    """The value the UI shows in the line after a metric's name."""
    lines = [line.strip() for line in text.splitlines()]
    return float(lines[lines.index(name) + 1])


@pytest.mark.parametrize("target", list(FAST))
def test_browser_finds_experiment_run_metric_and_plot(browser, store, trained, ui, target,
                                                     tmp_path):
    url = ui[0]
    result = trained[target]
    run = tracking.run_info(result.run_id, store)
    experiment = tracking.experiment_name(target)
    metric = f"primary.{result.primary_metric}"
    outside: list[str] = []

    def loopback_only(route):  # the UI must not need the internet (nor leak to it)
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.route("**/*", loopback_only)
    try:
        page.goto(f"{url}/#/experiments")
        for name in (tracking.experiment_name(t) for t in FAST):
            page.get_by_text(name, exact=True).first.wait_for()

        page.goto(f"{url}/#/experiments/{run['experiment_id']}/runs")
        page.get_by_text(f"{target}-", exact=False).first.wait_for()
        assert experiment in page.inner_text("body")

        page.goto(f"{url}/#/experiments/{run['experiment_id']}/runs/{result.run_id}")
        page.get_by_text(metric, exact=True).first.wait_for()
        shown = _metric_after(page.inner_text("body"), metric)
        assert shown == pytest.approx(result.primary_value, rel=1e-9)
        assert shown == pytest.approx(run["metrics"][metric], rel=1e-9)

        page.get_by_text("Artifacts", exact=True).first.click()
        page.get_by_text(PLOT[target], exact=True).first.click()
        image = page.locator(f'img[alt="{PLOT[target]}"]').first
        image.wait_for(state="visible")
        page.wait_for_function("img => img.complete && img.naturalWidth > 100",
                               arg=image.element_handle())
        shot = tmp_path / f"mlflow-ui-{target}.png"
        page.screenshot(path=str(shot))
    finally:
        page.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page with a plot, not a blank image
    assert outside == []
