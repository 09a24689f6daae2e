"""Search & steer on a really trained SAE: per-feature slider ranges, suggestions, and the query + clamps in the URL."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_support import APP, dashboard_warehouse, fresh_streamlit_caches, sql  # noqa: F401 (fixtures)

QUERY = "transiting exoplanet atmospheres observed with JWST"


def steer_page(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page("views/steer.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sliders_span_each_features_range_and_the_url_carries_query_and_clamps(monkeypatch, trained_astro):
    sae_id = trained_astro.sae_ids[0]
    at = steer_page(monkeypatch, trained_astro.path, sae=str(sae_id), q=QUERY)
    assert at.text_input(key="steer_query").value == QUERY
    sliders = at.slider
    caption = next(c.value for c in at.caption if "activates" in c.value)
    n_active = int(caption.split("activates ")[1].split(" of")[0])
    assert len(sliders) == n_active > 0  # every active feature, not the strongest 12
    max_act = dict(sql(trained_astro.path, "SELECT latent, max_act FROM latents WHERE sae_id = ?", [sae_id]))
    for slider in sliders:
        latent = int(slider.label.split(":")[0])
        assert any(m.value == f"[{slider.label}](feature?sae={sae_id}&latent={latent})" for m in at.markdown)  # a link
        assert slider.min < 0 < slider.max and abs(slider.max + slider.min) < 1e-9
        assert abs(slider.max - round(3 * max(max_act[latent], slider.value, 1e-3), 3)) < 1e-6, (latent, slider.max)
    assert at.query_params["q"] == [QUERY] or at.query_params["q"] == QUERY
    # Move one slider below zero: the clamp lands in the URL.
    first = sliders[0]
    latent = int(first.label.split(":")[0])
    first.set_value(round(first.min / 2, 3)).run()
    assert not at.exception
    clamp = at.query_params["clamp"]
    clamp = clamp[0] if isinstance(clamp, list) else clamp
    assert clamp.startswith(f"{latent}:-"), clamp
    assert "1" in at.metric[1].value  # one feature changed


def test_a_shared_steered_link_reopens_with_its_clamp_and_a_new_query_resets_it(monkeypatch, trained_astro):
    sae_id = trained_astro.sae_ids[0]
    first = steer_page(monkeypatch, trained_astro.path, sae=str(sae_id), q=QUERY)
    latent = int(first.slider[0].label.split(":")[0])
    at = steer_page(monkeypatch, trained_astro.path, sae=str(sae_id), q=QUERY, clamp=f"{latent}:-0.05,abc:zz")
    slider = next(s for s in at.slider if s.label.startswith(f"{latent}:"))
    assert abs(slider.value - -0.05) < 1e-6
    assert at.metric[1].value == "1"
    at.text_input(key="steer_query").set_value("galaxy cluster weak lensing mass").run()
    assert not at.exception
    assert "clamp" not in at.query_params and at.metric[1].value == "0"


def feature_page(monkeypatch, path, **params) -> AppTest:
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page("views/feature.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("bad", ["99999", "abc", "-3"])
def test_a_bad_latent_in_the_url_is_named_and_no_other_feature_is_shown(monkeypatch, dashboard_warehouse, bad):
    path, (small, _) = dashboard_warehouse
    at = feature_page(monkeypatch, path, sae=str(small), latent=bad)
    assert f"latent={bad}" in at.error[0].value and "0 to 255" in at.error[0].value
    assert not [t for t in at.title if t.value.startswith("Feature ")]


def test_the_feature_page_links_to_search_and_steer_with_its_clamp(monkeypatch, dashboard_warehouse):
    path, (small, _) = dashboard_warehouse
    at = feature_page(monkeypatch, path, sae=str(small), latent="7")
    max_act = sql(path, "SELECT max_act FROM latents WHERE sae_id = ? AND latent = 7", [small])[0][0]
    url = at.get("link_button")[0].proto.url
    assert url.startswith("steer?") and f"sae={small}" in url and f"clamp=7%3A{max_act:.4g}" in url, url
