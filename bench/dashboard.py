"""`just bench dashboard`: the dashboard's query layer and cold start on a paper-scale synthetic warehouse.

Workload: 424k documents, an SAE with n = 9216 and k = 64 (27M activation rows) plus one with n = 3072,
labels, families, neighbours, co-occurrence and splits (see ``synthetic.py``), built once into
``artifacts/bench/paper_scale.duckdb`` and reused. Each timing opens its own read-only connection,
as the app does, and misses the result cache (distinct latents; cache cleared) unless it says "cached".

The browser cold start is split into phases (server healthy, HTML, title, first chart of either library,
script done); ``--cold-only --warehouse artifacts/astro.duckdb`` times just those on a real warehouse. Each run
alternates with a cold start of ``floor_app.py`` (a bare Streamlit page with one Vega chart): the dashboard's
overhead over that floor is what this code costs, whatever the machine's load at the time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.synthetic import SyntheticSpec, build_synthetic
from dashboard import queries
from dashboard.settings import APP, headless_command
from data.machine import describe_machine
from data.settings import REPO_ROOT, artifacts_dir
from data.warehouse import open_reader

FLOOR_APP = Path(__file__).resolve().parent / "floor_app.py"
TARGETS_MS = {"feature page": 50.0, "features table": 300.0, "first page, cold start": 3000.0}


def _times_ms(function, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each call (CPU time leaves out waiting for a core on a shared machine)."""
    wall, cpu = [], []
    for i in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function(i)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


def _cold_start_apptest(path: Path) -> tuple[float, float]:
    """A fresh Python process runs the app's first page on ``path``: (wall ms, of which importing the app's modules)."""
    script = (
        "import time; start = time.perf_counter()\n"
        "import dashboard.common, dashboard.charts, streamlit.testing.v1\n"
        "imported = time.perf_counter() - start\n"
        f"at = streamlit.testing.v1.AppTest.from_file({str(APP)!r}, default_timeout=60).run()\n"
        "assert not at.exception and at.title[0].value == 'Runs', at.exception\n"
        "print(imported * 1000)\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SAE_ATLAS_WAREHOUSE": str(path), "PYTHONPATH": str(REPO_ROOT)},
    )
    return (time.perf_counter() - start) * 1000, float(done.stdout.strip().splitlines()[-1])


FIRST_CHART = '.js-plotly-plot .main-svg, [data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
"""A drawn chart of either library the pages use (plotly figures; Vega for st.bar_chart and the like)."""


def _cold_start_browser(path: Path, app: Path = APP) -> dict[str, float] | None:
    """A fresh `streamlit run app` until Chromium draws the first page's first chart, in phases (ms from the start):
    server healthy, page HTML loaded, title shown, first chart drawn, script done. None without a browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path("/usr/bin/chromium").exists():
        return None
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1440, "height": 1400})
        start = time.perf_counter()
        server = subprocess.Popen(
            headless_command(app, port),
            env={**os.environ, "SAE_ATLAS_WAREHOUSE": str(path), "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO_ROOT,
        )
        phases: dict[str, float] = {}

        def mark(name: str) -> None:
            phases[name] = (time.perf_counter() - start) * 1000

        try:
            while True:
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:  # the server is not listening yet
                    time.sleep(0.02)
            mark("server healthy")
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded", timeout=60_000)
            mark("page HTML loaded")
            page.locator("h1").first.wait_for(timeout=60_000)
            mark("page title shown")
            page.locator(FIRST_CHART).first.wait_for(timeout=60_000)
            mark("first chart drawn")
            page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
            mark("script done")
            return phases
        finally:
            server.terminate()
            server.wait(timeout=20)
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=artifacts_dir() / "bench" / "paper_scale.duckdb",
        help="the synthetic warehouse (built if missing)",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the warehouse again")
    parser.add_argument("--repeats", type=int, default=50, help="latents timed on the feature page")
    parser.add_argument("--browser-runs", type=int, default=3, help="fresh `streamlit run` + Chromium cold starts")
    parser.add_argument("--cold-only", action="store_true", help="only the cold starts (any warehouse)")
    args = parser.parse_args()
    console = Console(width=170)
    path = args.warehouse
    if args.rebuild and path.exists():
        path.unlink()
    if not path.exists() and not args.cold_only:
        with console.status(f"building the paper-scale synthetic warehouse at {path} (a few minutes, once)"):
            start = time.perf_counter()
            build_synthetic(path, SyntheticSpec())
            console.print(f"built in {time.perf_counter() - start:.0f} s")
    key = str(path)
    version = queries.warehouse_version(path)
    with open_reader(path) as con:
        sae_id, n_latents, n_docs, n_rows = con.execute(
            "SELECT s.sae_id, s.n_latents, (SELECT count(*) FROM docs), "
            "(SELECT count(*) FROM activations a WHERE a.sae_id = s.sae_id) "
            "FROM saes s WHERE s.sae_id IN (SELECT sae_id FROM latents) ORDER BY s.n_latents DESC LIMIT 1"
        ).fetchall()[0]
    rows: list = []
    if not args.cold_only:  # the query layer and the AppTest cold start
        latents = np.random.default_rng(0).choice(n_latents, size=args.repeats, replace=False)

        def floor(_):
            with open_reader(path) as con:
                con.execute("SELECT 1").fetchall()

        def feature_page(i):
            queries.feature_detail(key, version, sae_id, int(latents[i]))

        def features_table(_):
            queries.feature_table.clear()
            queries.feature_table(key, version, sae_id, "keywords-v1")

        def sae_tables(_):
            queries.sae_tables.clear()
            queries.sae_tables(key, version, sae_id)

        rows += [
            ("read-only connection open + SELECT 1 (floor)", _times_ms(floor, 20), None),
            ("SAE feature tables, loaded once per SAE and file version", _times_ms(sae_tables, 5), None),
            ("feature page (all queries, one connection)", _times_ms(feature_page, args.repeats), "feature page"),
            (
                "feature page, cached",
                _times_ms(lambda _: queries.feature_detail(key, version, sae_id, int(latents[0])), 20),
                None,
            ),
            ("features table (9216 rows, labels, families)", _times_ms(features_table, 7), "features table"),
            (
                "first page queries (counts + runs, one connection)",
                _times_ms(lambda _: (queries.overview.clear(), queries.overview(key, version)), 7),
                None,
            ),
        ]
        cold = [_cold_start_apptest(path) for _ in range(3)]
        rows.append(
            (
                "first page, cold start (fresh python + AppTest)",
                ([wall for wall, _ in cold], None),
                "first page, cold start",
            )
        )
        rows.append(
            (
                "  of which importing streamlit, pandas, plotly, duckdb, pyarrow",
                ([imports for _, imports in cold], None),
                None,
            )
        )
    browser: list[dict[str, float]] = []
    floor_charts: list[float] = []
    for _ in range(args.browser_runs):  # alternated, so both see the same machine
        ours, bare = _cold_start_browser(path), _cold_start_browser(path, FLOOR_APP)
        if ours and bare:
            browser.append(ours)
            floor_charts.append(bare["first chart drawn"])
    for phase in browser[0] if browser else ():
        target = "first page, cold start" if phase == "first chart drawn" else None
        times = [phases[phase] for phases in browser]
        rows.append((f"first page, cold start (fresh `streamlit run` -> Chromium): {phase}", (times, None), target))
    if floor_charts:
        overhead = [phases["first chart drawn"] - bare for phases, bare in zip(browser, floor_charts, strict=True)]
        rows.append(("floor: a bare Streamlit page with one Vega chart, first chart drawn", (floor_charts, None), None))
        rows.append(("  the dashboard's first chart over the floor's (same round)", (overhead, None), None))

    table = Table(
        title=f"Dashboard on {path.name}: {n_docs:,} docs, largest SAE n = {n_latents:,} ({n_rows:,} activation rows)",
        caption=f"{describe_machine()}; load average {os.getloadavg()[0]:.1f} at the end",
    )
    for column in ("what", "runs", "median ms", "p90 ms", "median CPU ms", "target ms", "median / target"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name, (times, cpu), target in rows:
        median = statistics.median(times)
        p90 = float(np.percentile(times, 90))
        goal = TARGETS_MS.get(target) if target else None
        table.add_row(
            name,
            str(len(times)),
            f"{median:.1f}",
            f"{p90:.1f}",
            f"{statistics.median(cpu):.1f}" if cpu else "",
            f"{goal:.0f}" if goal else "",
            f"{median / goal:.2f}" if goal else "",
        )
    console.print(table)


if __name__ == "__main__":
    main()
