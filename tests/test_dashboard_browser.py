"""The real thing: `streamlit run` and headless Chromium visit every page; no exception may show.

Screenshots of each page land in ``SAE_ATLAS_SCREENSHOTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import re

import pytest

from tests.dashboard_support import (  # noqa: F401 (fixture)
    check_page,
    chromium_page,
    dashboard_warehouse,
    screenshot_dir,
    streamlit_server,
)

pytestmark = pytest.mark.browser

# (url path, heading that proves the page rendered, plotly charts it must draw)
PAGES = [
    ("", "Runs", 0),  # the default SAE's tab: its density chart is Vega
    ("?runs_tab=All+runs", "Runs", 3),
    ("features", "Features", 5),
    ("feature", "Feature ", 2),
    ("families", "Families", 2),
    ("trends", "Trends", 0),
    ("contrast", "Contrast", 0),
    ("steer", "Search & steer", 0),
    ("sql", "SQL", 0),
]


@pytest.fixture
def dashboard_server(dashboard_warehouse, tmp_path):
    with streamlit_server(dashboard_warehouse[0], tmp_path / "streamlit.log") as url:
        yield url


def test_every_page_renders_in_chromium_without_an_exception(dashboard_server, tmp_path):
    shots = screenshot_dir(tmp_path)
    with chromium_page() as page:
        for path, heading, charts in PAGES:
            shot = re.sub(r"\W+", "-", path).strip("-") or "runs"
            check_page(page, f"{dashboard_server}/{path}", heading, charts, shots / f"{shot}.png")
    assert len(list(shots.glob("*.png"))) == len(PAGES)
