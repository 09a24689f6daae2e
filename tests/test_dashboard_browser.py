"""The real thing: `streamlit run` and headless Chromium visit every page; no exception may show.

Screenshots of each page land in ``SAE_ATLAS_SCREENSHOTS`` (default: the test's tmp folder).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard_support import APP, REPO_ROOT, dashboard_warehouse  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# (url path, heading that proves the page rendered, plotly charts it must draw)
PAGES = [("", "Runs", 3), ("features", "Features", 5), ("feature", "Feature ", 1), ("families", "Families", 3),
         ("steer", "Search & steer", 0), ("sql", "SQL", 0)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dashboard_server(dashboard_warehouse, tmp_path):
    port = _free_port()
    env = {**os.environ, "SAE_ATLAS_WAREHOUSE": str(dashboard_warehouse[0]), "PYTHONPATH": REPO_ROOT}
    log = open(tmp_path / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "streamlit did not become healthy in 60 s"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_every_page_renders_in_chromium_without_an_exception(dashboard_server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("SAE_ATLAS_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2000})
            for path, heading, charts in PAGES:
                page.goto(f"{dashboard_server}/{path}", wait_until="domcontentloaded")
                page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
                page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
                if charts:
                    page.locator(".js-plotly-plot .main-svg").nth(charts - 1).wait_for(timeout=30_000)
                page.screenshot(path=str(shots / f"{path or 'runs'}.png"), full_page=True)
                assert page.locator('[data-testid="stException"]').count() == 0, f"exception on page /{path}"
                assert page.get_by_test_id("stPlotlyChart").count() == charts, f"page /{path}"
        finally:
            browser.close()
    assert len(list(shots.glob("*.png"))) == len(PAGES)
