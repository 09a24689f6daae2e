"""A URL naming no page shows the list of pages instead of silently landing on Runs."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.dashboard_support import APP, dashboard_warehouse, fresh_streamlit_caches  # noqa: F401 (fixtures)


def app_with_page(monkeypatch, path, page: str) -> AppTest:
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = page
    return at.run()


def test_an_unknown_page_lists_every_page(monkeypatch, dashboard_warehouse):
    at = app_with_page(monkeypatch, dashboard_warehouse[0], "xyz")
    assert not at.exception
    assert at.title[0].value == "Page not found" and "`xyz`" in at.error[0].value
    assert all(title.value != "Runs" for title in at.title)  # it did not land on Runs
    links = [link.proto.label for link in at.get("page_link")]
    views = sorted(path.stem for path in (Path(APP).parent / "views").glob("*.py"))
    assert len(links) == len(views) and any("SQL" in label for label in links), (links, views)


def test_a_known_page_parameter_opens_that_page(monkeypatch, dashboard_warehouse):
    at = app_with_page(monkeypatch, dashboard_warehouse[0], "sql")
    assert not at.exception and at.title[0].value == "SQL"


def test_a_bad_sae_parameter_is_named_and_corrected(monkeypatch, dashboard_warehouse):
    path, sae_ids = dashboard_warehouse
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.query_params["sae"] = "abc"
    at.switch_page("views/features.py").run()
    assert not at.exception
    [warning] = [w.value for w in at.warning if "sae=abc" in w.value]
    shown = int(warning.rsplit("#", 1)[1].rstrip("."))
    assert shown in sae_ids and at.query_params["sae"] in (str(shown), [str(shown)])
