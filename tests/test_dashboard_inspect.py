"""Inspect: a typed sentence or a stored paper's arXiv id -> every feature that fires, and the nearest papers."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_support import (  # noqa: F401 (fixtures)
    APP,
    chromium_page,
    fresh_streamlit_caches,
    screenshot_dir,
    sql,
    streamlit_server,
)

SENTENCE = "transiting exoplanet atmospheres observed with JWST"


def inspect_page(monkeypatch, path, sae_id: int, text: str) -> AppTest:
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.query_params["sae"] = str(sae_id)
    at.switch_page("views/inspect.py").run()
    at.text_area(key="inspect_text").set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fired(at: AppTest) -> int:
    match = re.match(r"(\d+) features fire", next(h.value for h in at.subheader if "fire" in h.value))
    assert match is not None
    return int(match[1])


def test_a_typed_sentence_lists_every_feature_that_fires_and_its_nearest_papers(monkeypatch, trained_astro):
    sae_id = trained_astro.sae_ids[0]
    at = inspect_page(monkeypatch, trained_astro.path, sae_id, SENTENCE)
    features = at.dataframe[0].value
    assert len(features) == fired(at) > 0  # every feature, not a top few
    assert list(features["value"]) == sorted(features["value"], reverse=True) and (features["value"] > 0).all()
    assert all(
        link == f"feature?sae={sae_id}&latent={latent}"
        for link, latent in zip(features["open"], features["latent"], strict=True)
    )
    max_act = dict(sql(trained_astro.path, "SELECT latent, max_act FROM latents WHERE sae_id = ?", [sae_id]))
    of_max = [value / max_act[latent] for latent, value in zip(features["latent"], features["value"], strict=True)]
    assert list(features["of max"]) == pytest.approx(of_max)
    nearest = at.dataframe[1].value
    assert len(nearest) == 10 and list(nearest["cosine"]) == sorted(nearest["cosine"], reverse=True)
    assert at.query_params["text"] in (SENTENCE, [SENTENCE])  # shareable


def test_a_stored_papers_arxiv_id_shows_its_stored_features_and_neighbours(monkeypatch, trained_astro):
    sae_id = trained_astro.sae_ids[0]
    [(doc_id, arxiv_id, title)] = sql(
        trained_astro.path, "SELECT doc_id, arxiv_id, title FROM docs ORDER BY doc_id LIMIT 1"
    )
    at = inspect_page(monkeypatch, trained_astro.path, sae_id, f"arXiv:{arxiv_id}v2")
    assert any(title in m.value for m in at.markdown)
    stored = sql(
        trained_astro.path,
        "SELECT latent, value FROM activations WHERE sae_id = ? AND doc_id = ? ORDER BY value DESC",
        [sae_id, doc_id],
    )
    features = at.dataframe[0].value
    assert [(int(r.latent), pytest.approx(r.value)) for r in features.itertuples()] == stored and fired(at) == len(
        stored
    )
    nearest = at.dataframe[1].value
    assert len(nearest) == 10 and f"https://arxiv.org/abs/{arxiv_id}" not in set(nearest["link"])  # not itself


def test_an_arxiv_id_not_in_the_warehouse_says_so(monkeypatch, trained_astro):
    at = inspect_page(monkeypatch, trained_astro.path, trained_astro.sae_ids[0], "2999.99999")
    assert any("2999.99999 is not in this warehouse" in w.value for w in at.warning)
    assert not at.dataframe


@pytest.mark.browser
def test_the_inspector_in_chromium_on_a_typed_sentence(trained_astro, tmp_path):
    sae_id = trained_astro.sae_ids[0]
    with streamlit_server(trained_astro.path, tmp_path / "streamlit.log") as url, chromium_page() as page:
        page.goto(f"{url}/inspect?sae={sae_id}", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Inspect text or a paper").wait_for(timeout=60_000)
        box = page.get_by_label("Text or arXiv id")
        box.fill(SENTENCE)
        box.press("Control+Enter")
        heading = page.get_by_role("heading", name=re.compile(r"\d+ features fire"))
        heading.wait_for(timeout=90_000)
        page.get_by_role("heading", name="Nearest papers").wait_for(timeout=30_000)
        page.get_by_test_id("stDataFrame").nth(1).wait_for(timeout=30_000)  # a lazily loaded component
        page.screenshot(path=str(screenshot_dir(tmp_path) / "inspect.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert int(heading.inner_text().split()[0]) > 0
        assert page.get_by_test_id("stDataFrame").count() == 2  # the features and the nearest papers
        assert "text=transiting" in page.url  # the sentence is in the shareable URL
        assert page.get_by_text("arXiv id, with an optional version").count() == 0  # no stray magic text
