"""Links a researcher shares, in real Chromium: a steered search reopened from its URL, one slider step, bad URLs.

One `streamlit run` on the trained SAEs serves every test here; screenshots go to ``screenshot_dir``.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from tests.dashboard_support import chromium_page, screenshot_dir, streamlit_server, wait_until_idle

pytestmark = pytest.mark.browser

QUERY = "dark matter halo density profiles in galaxy clusters"


@pytest.fixture(scope="module")
def server(trained_astro, tmp_path_factory):
    with streamlit_server(trained_astro.path, tmp_path_factory.mktemp("links") / "streamlit.log") as url:
        yield url


def metric(page, label: str) -> str:
    """The value of the ``st.metric`` called ``label``."""
    box = page.get_by_test_id("stMetric").filter(has_text=label)
    return box.get_by_test_id("stMetricValue").inner_text().strip()


def result_cells(page) -> tuple[list[str], list[str]]:
    """The cells of the before and after tables, once they show this run's results.

    The grids draw lazily and can lag the script's last run: wait until each marks as new (★) exactly the
    results the "Results in common" metric says are not shared.
    """
    common = int(metric(page, "Results in common").split("/")[0])
    deadline = time.monotonic() + 60
    while True:
        tables = []
        for i in range(2):
            grid = page.get_by_test_id("stDataFrame").nth(i)
            grid.locator('[role="gridcell"]').nth(59).wait_for(state="attached", timeout=60_000)  # 10 rows x 6 cols
            tables.append(grid.locator('[role="gridcell"]').all_inner_texts())
        if all(cells[1::6].count("★") == 10 - common for cells in tables):
            return tables[0], tables[1]
        assert time.monotonic() < deadline, f"the result tables never matched {common} of 10 in common: {tables}"
        page.wait_for_timeout(250)


def wait_for_results(page) -> None:
    """Wait until the query was embedded and searched (its metrics show) and the script has finished."""
    page.get_by_test_id("stMetric").first.wait_for(timeout=120_000)
    wait_until_idle(page)


def open_steer(page, url: str) -> None:
    """Open a steer URL that carries a query; wait for its results."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Search & steer").wait_for(timeout=60_000)
    wait_for_results(page)


def move_first_slider(page, key: str) -> None:
    """Focus the strongest feature's slider thumb and press ``key`` once (ArrowRight is one step)."""
    thumb = page.get_by_role("slider").first
    thumb.focus()
    thumb.press(key)
    page.wait_for_function("() => new URL(location.href).searchParams.has('clamp')", timeout=60_000)
    wait_until_idle(page)


def test_a_steered_search_is_a_link_that_reopens_the_same_results(server, trained_astro, tmp_path):
    sae_id = trained_astro.sae_ids[-1]
    shots = screenshot_dir(tmp_path)
    with chromium_page() as page:
        page.goto(f"{server}/steer?sae={sae_id}", wait_until="domcontentloaded")
        box = page.get_by_label("Query")
        box.fill(QUERY)
        box.press("Enter")
        wait_for_results(page)
        move_first_slider(page, "Home")  # the strongest feature switched right down: a real steer
        assert metric(page, "Features changed") == "1"
        shared = page.url
        before, after = result_cells(page)
        page.screenshot(path=str(shots / "steer_shared.png"), full_page=True)
    params = parse_qs(urlparse(shared).query)
    assert params["q"] == [QUERY] and params["sae"] == [str(sae_id)] and len(params["clamp"]) == 1

    with chromium_page() as fresh:  # a colleague opening the link: a new browser, no session state
        open_steer(fresh, shared)
        assert fresh.get_by_label("Query").input_value() == QUERY
        assert metric(fresh, "Features changed") == "1"
        assert result_cells(fresh) == (before, after)
        assert parse_qs(urlparse(fresh.url).query)["clamp"] == params["clamp"]
        assert fresh.locator('[data-testid="stException"]').count() == 0
        fresh.screenshot(path=str(shots / "steer_reopened.png"), full_page=True)


def test_one_slider_step_changes_the_results_by_less_than_a_full_swap(server, trained_astro, tmp_path):
    sae_id = trained_astro.sae_ids[-1]
    with chromium_page() as page:
        open_steer(page, f"{server}/steer?sae={sae_id}&q={QUERY.replace(' ', '+')}")
        before_value = float(page.get_by_role("slider").first.input_value())
        move_first_slider(page, "ArrowRight")
        after_value = float(page.get_by_role("slider").first.input_value())
        common = int(metric(page, "Results in common").split("/")[0])
        page.screenshot(path=str(screenshot_dir(tmp_path) / "steer_one_step.png"), full_page=True)
        changed = metric(page, "Features changed")
    assert after_value > before_value and changed == "1"
    assert common >= 5, f"one step ({before_value} -> {after_value}) kept only {common} of 10 results"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("feature?sae={sae}&latent=abc", r"latent=abc is not a feature of SAE #\d+"),
        ("feature?sae={sae}&latent=99999", r"latent=99999 is not a feature of SAE #\d+"),
        ("features?sae=zzz", r"sae=zzz names no SAE with stored features here"),
        ("?page=nowhere", r"There is no page called nowhere"),
    ],
)
def test_bad_url_parameters_say_so_in_the_browser(server, trained_astro, tmp_path, path, expected):
    url = f"{server}/{path.format(sae=trained_astro.sae_ids[0])}"
    with chromium_page() as page:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text(re.compile(expected)).first.wait_for(timeout=60_000)
        wait_until_idle(page)
        name = re.sub(r"\W+", "_", path.replace("{sae}", "")).strip("_")
        page.screenshot(path=str(screenshot_dir(tmp_path) / f"bad_{name}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
