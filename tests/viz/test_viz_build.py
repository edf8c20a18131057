"""``kedro viz build`` renders the project's registered pipelines in a real (headless) browser.

Builds the static Kedro-Viz site of the project, serves ``build/`` on 127.0.0.1 with
``http.server`` in a thread, opens it in Debian's Chromium through Playwright and checks that the
flowchart draws the nodes named in the build's own ``api/main`` (the registered pipelines).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``); skipped otherwise. Set
``DISCOVERY_VIZ_PROJECT`` to build another Kedro project folder instead of this repository.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"{CHROMIUM} is absent: install Debian's browser with `apt-get install -y chromium`",
    ),
]


def _pretty(name: str) -> str:
    """Kedro-Viz's default label (``_``/``-`` -> space, capitalised), compared lower-case."""
    return re.sub(r"[_\-\s]+", " ", name.removeprefix("params:")).strip().lower()


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``kedro viz build`` in the project root; return the ``build/`` folder."""
    project = Path(os.environ.get("DISCOVERY_VIZ_PROJECT", REPO_ROOT))
    venv_kedro = Path(sys.executable).parent / "kedro"  # the kedro of the interpreter running pytest
    kedro = str(venv_kedro) if venv_kedro.exists() else shutil.which("kedro") or "kedro"
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "MLFLOW_TRACKING_URI": os.environ.get(
            "MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"
        ),
    }
    proc = subprocess.run(
        [kedro, "viz", "build"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"kedro viz build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    build = project / "build"
    assert (build / "index.html").is_file() and (build / "api" / "main").is_file()
    return build


@pytest.fixture(scope="module")
def served(viz_build: Path) -> Iterator[str]:
    """Serve the build folder on an ephemeral 127.0.0.1 port; yield its base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(viz_build)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_viz_build_draws_registered_pipeline_nodes(viz_build: Path, served: str) -> None:
    from playwright.sync_api import sync_playwright

    main = json.loads((viz_build / "api" / "main").read_text())
    tasks = [n for n in main["nodes"] if n["type"] == "task"]
    task_names = sorted(n.get("full_name") or n["name"] for n in tasks)
    data_nodes = [n for n in main["nodes"] if n["type"] == "data"]
    data_names = sorted(n["name"] for n in data_nodes)
    assert task_names, "the build has no pipeline nodes: no registered pipeline?"
    assert {p["id"] for p in main["pipelines"]} >= {"__default__"}
    if not os.environ.get("DISCOVERY_VIZ_PROJECT"):
        # this project: every stage is a namespace (collapsible group) and every dataset carries its layer
        assert set(main["modular_pipelines"]) >= {
            "ingest", "log_mining", "evaluate", "failure_analysis", "synthetic",
            "finetune", "finetune.pairs", "finetune.train", "finetune.release"}
        assert all(n["modular_pipelines"] for n in tasks), [n["name"] for n in tasks if not n["modular_pipelines"]]
        assert all(n.get("full_name", "").endswith(n["name"]) for n in tasks)
        no_layer = [n["name"] for n in data_nodes if not n.get("layer")]
        assert not no_layer, f"datasets without a kedro-viz layer: {no_layer}"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served, wait_until="networkidle")
            page.wait_for_selector("svg .pipeline-node", timeout=60_000)
            labels = page.eval_on_selector_all(
                "svg .pipeline-node", "els => els.map(e => (e.textContent || '').trim())"
            )
            screenshot = viz_build / "test_screenshot.png"
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()

    drawn = {_pretty(label) for label in labels if label}
    # Nodes inside a namespace (modular pipeline) are drawn collapsed under the namespace's name.
    expected = {n: _pretty(n.split(".")[0]) for n in task_names}
    missing_tasks = [n for n, label in expected.items() if label not in drawn]
    assert not missing_tasks, f"task nodes not drawn: {missing_tasks}; drawn: {sorted(drawn)}"
    assert any(_pretty(n) in drawn for n in data_names), f"no dataset node drawn; drawn: {sorted(drawn)}"
    assert len(labels) >= len(task_names)
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert screenshot.stat().st_size > 10_000
