"""The Trends and Contrast pages and the feature page's prevalence chart: AppTest against SQL, then Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from evals.contrast.pipeline import ContrastConfig, run_contrast
from evals.trends.pipeline import run_trends
from tests.dashboard_support import check_page, chromium_page, dashboard_warehouse, open_app, sql, streamlit_server  # noqa: F401
from tests.test_dashboard_pages import array, figures, metric

GA = "category=astro-ph.GA"


@pytest.fixture(scope="session")
def instruments_warehouse(dashboard_warehouse, tmp_path_factory) -> tuple[Path, int]:
    """The dashboard warehouse plus a trends run and an astro-ph.GA contrast of its larger SAE; read-only."""
    path = tmp_path_factory.mktemp("instruments") / "astro.duckdb"
    shutil.copy(dashboard_warehouse[0], path)
    sae_id = dashboard_warehouse[1][-1]
    run_trends(path, "astro", sae_id)
    run_contrast(path, "astro", GA, sae_id, ContrastConfig(n_features=20))
    return path, sae_id


def test_trends_page_ranks_features_and_charts_them_with_bands(monkeypatch, instruments_warehouse):
    path, sae_id = instruments_warehouse
    at = open_app(monkeypatch, path, "views/trends.py", sae_id=sae_id)
    assert at.title[0].value == "Trends"
    rising = sql(path, "SELECT count(*) FROM trends WHERE sae_id = ? AND direction = 'rising'", [sae_id])[0][0]
    assert metric(at, "Rising") == str(rising)
    left_out = sql(
        path, "SELECT strftime(month, '%Y-%m'), excluded FROM trend_months WHERE sae_id = ? AND NOT eligible", [sae_id]
    )
    assert all(f"{month}" in at.info[0].value and reason in at.info[0].value for month, reason in left_out)
    expected = [
        row[0]
        for row in sql(
            path,
            "SELECT latent FROM trends WHERE sae_id = ? AND direction <> 'too_rare' AND z > 0 "
            "ORDER BY p_value, latent LIMIT 50",
            [sae_id],
        )
    ]
    table = at.dataframe[0].value
    assert table["latent"].tolist() == expected
    charts = figures(at)
    assert len(charts) == 4
    first = expected[0]
    shares = array(charts[0]["data"][2]["y"]).astype(float)
    months = sql(
        path,
        "SELECT strftime(m.month, '%Y-%m'), m.n_docs, m.eligible, count(a.doc_id) FROM trend_months m "
        "LEFT JOIN (SELECT a.doc_id, d.published FROM activations a JOIN docs d USING (doc_id) "
        "WHERE a.sae_id = ? AND a.latent = ?) a ON date_trunc('month', a.published) = m.month "
        "WHERE m.sae_id = ? GROUP BY ALL ORDER BY 1",
        [sae_id, first, sae_id],
    )
    assert len(shares) == len(months)
    for share, (_, n_docs, eligible, active) in zip(shares, months, strict=False):
        assert np.isnan(share) if not eligible else share == pytest.approx(100 * active / n_docs)
    low, high = array(charts[0]["data"][1]["y"]).astype(float), array(charts[0]["data"][0]["y"]).astype(float)
    ok = ~np.isnan(shares)
    assert (low[ok] <= shares[ok]).all() and (shares[ok] <= high[ok]).all() and (high[ok] > low[ok]).all()
    at.radio(key="trends_direction").set_value("falling").run()
    assert not at.exception
    falling = [
        row[0]
        for row in sql(
            path,
            "SELECT latent FROM trends WHERE sae_id = ? AND direction <> 'too_rare' AND z < 0 "
            "ORDER BY p_value, latent LIMIT 50",
            [sae_id],
        )
    ]
    assert at.dataframe[0].value["latent"].tolist() == falling


def test_contrast_page_shows_the_stored_scores_and_features(monkeypatch, instruments_warehouse):
    path, sae_id = instruments_warehouse
    at = open_app(monkeypatch, path, "views/contrast.py", sae_id=sae_id)
    features_auc, embedding_auc = sql(
        path, "SELECT features_score, embedding_score FROM contrasts WHERE sae_id = ?", [sae_id]
    )[0]
    assert metric(at, "AUC, 20 features") == f"{features_auc:.3f}"
    assert metric(at, "AUC, raw embeddings") == f"{embedding_auc:.3f}"
    table = at.dataframe[0].value
    assert table["latent"].tolist() == [
        r[0] for r in sql(path, "SELECT latent FROM contrast_features WHERE sae_id = ? ORDER BY rank", [sae_id])
    ]
    (effects,) = figures(at)
    assert len(array(effects["data"][1]["x"])) == 20


def test_feature_page_prevalence_uses_the_stored_months(monkeypatch, instruments_warehouse):
    path, sae_id = instruments_warehouse
    latent = sql(path, "SELECT latent FROM trends WHERE sae_id = ? ORDER BY active_docs DESC LIMIT 1", [sae_id])[0][0]
    at = open_app(monkeypatch, path, "views/feature.py", sae_id=sae_id, latent=latent)
    prevalence = figures(at)[1]
    assert prevalence["layout"]["title"]["text"] == f"Prevalence over time: feature {latent}"
    notes = [shape.get("text") for shape in prevalence["layout"].get("annotations", [])]
    assert "category mix differs" in notes and any(n and n.startswith("too few docs") for n in notes)


def test_new_pages_say_which_command_fills_them(monkeypatch, dashboard_warehouse):
    path, _ = dashboard_warehouse
    assert "just trends astro" in open_app(monkeypatch, path, "views/trends.py").code[0].value
    assert "just contrast astro --target" in open_app(monkeypatch, path, "views/contrast.py").code[0].value


@pytest.mark.browser
def test_trends_contrast_and_feature_pages_in_chromium(instruments_warehouse, tmp_path):
    path, sae_id = instruments_warehouse
    shots = Path(os.environ.get("SAE_ATLAS_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with streamlit_server(path, tmp_path / "streamlit.log") as url, chromium_page() as page:
        check_page(page, f"{url}/trends?sae={sae_id}", "Trends", 4, shots / "trends.png")
        check_page(page, f"{url}/contrast?sae={sae_id}", "Contrast", 1, shots / "contrast.png")
        check_page(page, f"{url}/feature?sae={sae_id}", "Feature ", 2, shots / "feature_prevalence.png")
