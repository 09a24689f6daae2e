"""The dashboard on real trained SAEs (the trainer's ``trained_astro`` fixture): runs, a feature, live steering."""

from __future__ import annotations

import json

from tests.dashboard_support import fresh_streamlit_caches, open_app, sql  # noqa: F401 (fixture)


def test_runs_page_plots_the_trained_saes_metrics(monkeypatch, trained_astro):
    at = open_app(monkeypatch, trained_astro.path, timeout=120, runs_tab="All runs")
    table = at.dataframe[0].value
    assert sorted(table["sae_id"]) == sorted(trained_astro.sae_ids)
    stored = {row[0]: json.loads(row[1]) for row in sql(trained_astro.path, "SELECT sae_id, metrics FROM saes")}
    for row in table.itertuples():
        assert row.val_fvu == stored[row.sae_id]["val_fvu"] and row.val_l0 == stored[row.sae_id]["val_l0"]
        assert row.dead_fraction == stored[row.sae_id]["dead_fraction"]
    scaling = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in scaling["data"]][0] == "k = 32"
    assert any("fit" in t["name"] for t in scaling["data"])  # three n values of k = 32


def test_feature_page_on_a_trained_sae(monkeypatch, trained_astro):
    sae_id = trained_astro.sae_ids[0]
    latent, n_active = sql(
        trained_astro.path,
        "SELECT latent, count(*) FROM activations WHERE sae_id = ? GROUP BY latent ORDER BY count(*) DESC LIMIT 1",
        [sae_id],
    )[0]
    at = open_app(monkeypatch, trained_astro.path, "views/feature.py", sae_id=sae_id, latent=latent, timeout=120)
    assert at.title[0].value.startswith(f"Feature {latent}")
    top_title = sql(
        trained_astro.path,
        "SELECT d.title FROM activations a JOIN docs d USING (doc_id) "
        "WHERE a.sae_id = ? AND a.latent = ? ORDER BY a.value DESC LIMIT 1",
        [sae_id, latent],
    )[0][0]
    assert at.dataframe[0].value["title"].iloc[0] == top_title
    nearest = [f.value for f in at.dataframe if "cosine" in f.value.columns][0]
    assert len(nearest) > 0 and nearest["cosine"].is_monotonic_decreasing
    assert any("computed from activations" in tab.label for tab in at.tabs)  # no families run on this warehouse


def test_search_and_steer_with_a_trained_sae(monkeypatch, trained_astro):
    sae_id = trained_astro.sae_ids[-1]
    at = open_app(monkeypatch, trained_astro.path, "views/steer.py", sae_id=sae_id, timeout=120)
    at.text_input(key="steer_query").set_value("dark matter halo density profiles in galaxy clusters").run()
    assert not at.exception and not at.warning
    before = at.dataframe[0].value
    assert len(before) == 10 and before["cosine"].is_monotonic_decreasing
    assert at.metric[0].label == "cos(q, q′)" and at.metric[0].value == "1.0000"
    sliders = [s for s in at.slider if s.key.startswith(f"steer_{sae_id}_")]
    assert 1 <= len(sliders) <= 32 and all(s.value > 0 for s in sliders)  # every active feature (k = 32)
    sliders[0].set_value(0.0)  # switch off the strongest feature of the query
    sliders[1].set_value(float(sliders[1].max))
    at.run()
    assert not at.exception
    cosine = float(at.metric[0].value)
    assert 0 < cosine < 0.9999 and at.metric[1].value == "2"
    before, after = at.dataframe[0].value, at.dataframe[1].value
    assert len(after) == 10 and list(after["title"]) != list(before["title"])
    moved_in = set(after["title"]) - set(before["title"])
    assert int(after["new"].astype(bool).sum()) == len(moved_in)  # "★" marks a result the steering brought in


def test_pages_show_the_labels_and_families_the_pipelines_store(monkeypatch, trained_astro_copy):
    """interp (offline path) and families run for real on a trained SAE; the pages show their rows."""
    from evals.families.config import FamiliesConfig
    from evals.families.labels import FamilyLabeller
    from evals.families.pipeline import run_families
    from evals.interp.config import load_interp_config
    from evals.interp.pipeline import run_interpretation
    from evals.splits import run_splits

    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    run_interpretation(path, "astro", sae_id=sae_id, use_llm=False, max_features=24)
    run_families(path, sae_id, FamiliesConfig(), FamilyLabeller(load_interp_config(), "max"))
    run_splits(path, "astro")
    labelled = sql(path, "SELECT count(*) FROM interpretations WHERE sae_id = ? AND label IS NOT NULL", [sae_id])[0][0]
    n_families = sql(path, "SELECT count(*) FROM families WHERE sae_id = ?", [sae_id])[0][0]
    assert labelled > 0

    at = open_app(monkeypatch, path, "views/features.py", sae_id=sae_id, timeout=120)
    table = at.dataframe[0].value
    assert int(table["label"].notna().sum()) == labelled
    explainer = sql(path, "SELECT any_value(explainer) FROM interpretations WHERE sae_id = ?", [sae_id])[0][0]
    assert at.selectbox(key="features_explainer").value == explainer

    at.switch_page("views/families.py").run()
    assert not at.exception
    if n_families:
        assert next(m.value for m in at.metric if m.label == "Families") == str(n_families)
    else:
        assert "just families astro" in at.code[0].value

    # Feature splitting: a latent of the middle SAE has a parent in the smallest and children in the largest.
    small, middle, large = trained_astro_copy.sae_ids
    latent, children = sql(
        path,
        "SELECT small_latent, count(*) FROM splits WHERE small_sae_id = ? AND large_sae_id = ? "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
        [middle, large],
    )[0]
    parent = sql(
        path,
        "SELECT small_latent FROM splits WHERE large_sae_id = ? AND small_sae_id = ? AND large_latent = ?",
        [middle, small, latent],
    )[0][0]
    at = open_app(monkeypatch, path, "views/feature.py", sae_id=middle, latent=latent, timeout=120)
    split_tables = [f.value for f in at.dataframe if "n_latents" in f.value.columns]
    parents, kids = split_tables
    assert int(parents[parents["sae_id"] == small]["latent"].iloc[0]) == parent
    assert len(kids[kids["sae_id"] == large]) == children

    # Search & steer: add a labelled feature the query does not activate, by label search, and steer up with it.
    at = open_app(monkeypatch, path, "views/steer.py", sae_id=small, timeout=120)
    at.text_input(key="steer_query").set_value("exoplanet atmospheres observed in transmission").run()
    active = {int(s.key.rsplit("_", 1)[1]) for s in at.slider if s.key.startswith(f"steer_{small}_")}
    candidates = sql(
        path,
        "SELECT latent, label FROM interpretations WHERE sae_id = ? AND label IS NOT NULL ORDER BY latent",
        [small],
    )
    latent, label = next((candidate, lab) for candidate, lab in candidates if candidate not in active)
    # the add box's widgets are keyed per query, so a new query starts them empty
    next(w for w in at.text_input if w.key.startswith("steer_label_search_")).set_value(label.split()[0]).run()
    next(w for w in at.multiselect if w.key.startswith("steer_add_pick_")).select(latent).run()
    at.button(key="steer_add").click().run()
    added = [s for s in at.slider if s.key.endswith(f"_{latent}")]
    assert len(added) == 1 and added[0].value == 0 and label in added[0].label
    added[0].set_value(float(added[0].max)).run()
    assert not at.exception and 0 < float(at.metric[0].value) < 1 and at.metric[1].value == "1"
