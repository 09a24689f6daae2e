"""Fixtures of the dashboard tests: a warehouse with real astro documents and synthetic SAE content."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from bench.synthetic import SyntheticSpec, build_synthetic
from dashboard.settings import APP as DASHBOARD_APP
from dashboard.settings import headless_command

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
APP = str(DASHBOARD_APP)

# Small enough to build in about a second on top of the 12,623 real astro documents.
SMALL_SPEC = SyntheticSpec(
    sizes=(256, 768),
    k=16,
    grid_k=(16, 32, 64),
    grid_n=(768, 1536, 3072),
    d_model=384,
    n_topics=40,
    n_families=25,
    embed_model="all-MiniLM-L6-v2",
)


@pytest.fixture(scope="session")
def dashboard_warehouse(astro_warehouse_template, tmp_path_factory) -> tuple[Path, list[int]]:
    """The real astro documents plus two populated synthetic SAEs (n 256 and 768) and a k x n sweep; read-only."""
    path = tmp_path_factory.mktemp("dashboard") / "astro.duckdb"
    shutil.copy(astro_warehouse_template, path)
    return path, build_synthetic(path, SMALL_SPEC)


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    """st.cache_data / st.cache_resource survive between AppTest instances in one process."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def sql(path, query, params=()) -> list[tuple]:
    """Ask the warehouse directly, to compare with what a page shows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def open_app(monkeypatch, path, page: str | None = None, timeout: float = 60, **state) -> AppTest:
    """Run the app on ``path`` (optionally switching to ``page``) and fail on any exception element."""
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(warehouse: Path, log_path: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on ``warehouse`` (headless, a free port); yields its URL once healthy."""
    port = _free_port()
    env = {**os.environ, "SAE_ATLAS_WAREHOUSE": str(warehouse), "PYTHONPATH": REPO_ROOT}
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            headless_command(DASHBOARD_APP, port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
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
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "streamlit did not become healthy in 60 s"
                time.sleep(0.3)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=20)


@contextmanager
def chromium_page() -> Iterator:
    """A headless Chromium page (Playwright), 1440 x 2000."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser.new_page(viewport={"width": 1440, "height": 2000})
        finally:
            browser.close()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where browser tests save screenshots: ``SAE_ATLAS_SCREENSHOTS`` (kept as artifacts), else the tmp folder."""
    shots = Path(os.environ.get("SAE_ATLAS_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def wait_until_idle(page) -> None:
    """Wait until the app's script has finished its run (Streamlit marks the app ``notRunning``)."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)


def check_page(page, url: str, heading: str, charts: int, screenshot: Path) -> None:
    """Open ``url``, wait until the script ran and ``charts`` plotly charts are drawn; no exception may show."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
    wait_until_idle(page)
    if charts:
        page.locator(".js-plotly-plot .main-svg").nth(charts - 1).wait_for(timeout=30_000)
    page.screenshot(path=str(screenshot), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {url}"
    assert page.get_by_test_id("stPlotlyChart").count() == charts, url
