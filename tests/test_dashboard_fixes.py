"""Issue 11's fixes on the Runs, Features, Feature and Families pages (AppTest on the real synthetic warehouse)."""

from __future__ import annotations

import io
import json
import shutil
import statistics

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.views.features import csv_bytes
from data.warehouse import open_writer
from tests.dashboard_support import dashboard_warehouse, fresh_streamlit_caches, open_app, sql  # noqa: F401 (fixtures)


def figures(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_runs_page_draws_no_log_axes_for_fewer_than_three_saes(monkeypatch, dashboard_warehouse, tmp_path):
    path = tmp_path / "one.duckdb"
    shutil.copy(dashboard_warehouse[0], path)
    large = dashboard_warehouse[1][1]
    with open_writer(path) as con:
        con.execute("UPDATE saes SET status = 'running' WHERE sae_id <> ?", [large])
    at = open_app(monkeypatch, path, runs_tab="All runs")
    assert not figures(at)  # one SAE: no single dot on log axes, no fit
    assert any("at least 3 SAEs" in note.value and "has 1" in note.value for note in at.caption)


def test_runs_page_dead_fraction_axis_is_zero_to_one_and_fvu_is_explained(monkeypatch, dashboard_warehouse):
    at = open_app(monkeypatch, dashboard_warehouse[0])
    assert not figures(at) and not at.dataframe  # the default SAE's tab: no grid, no plotly until All runs opens
    at.session_state["runs_tab"] = "All runs"
    at = at.run()
    scaling, dead, _ = figures(at)
    assert dead["layout"]["yaxis"]["range"] == [0, 1]
    assert "nMSE" not in scaling["layout"]["title"]["text"] and "FVU" in scaling["layout"]["title"]["text"]
    assert not at.json  # a run's config and metrics are drawn only once one is picked
    sae_id = dashboard_warehouse[1][0]
    at = at.selectbox(key="run_pick").select(sae_id).run()
    assert any("relative_mse" in c.value and "FVU" in c.value for c in at.caption)
    [(config,)] = sql(dashboard_warehouse[0], "SELECT config FROM saes WHERE sae_id = ?", [sae_id])
    assert json.loads(at.json[0].value) == json.loads(config)


def test_runs_page_marks_the_default_sae_and_an_atlas_sae_becomes_it(monkeypatch, dashboard_warehouse, tmp_path):
    path = tmp_path / "atlas.duckdb"
    shutil.copy(dashboard_warehouse[0], path)
    small, large = dashboard_warehouse[1]
    table = open_app(monkeypatch, path, runs_tab="All runs").dataframe[0].value
    assert table.loc[table["default"], "sae_id"].tolist() == [large]  # no atlas yet: the most latents
    assert set(table["purpose"]) == {"reconstruction"}
    with open_writer(path) as con:
        con.execute(
            "UPDATE saes SET config = json_merge_patch(config, ?) WHERE sae_id = ?", ['{"purpose": "atlas"}', small]
        )
    st.cache_data.clear()  # the cached overview of the first visit
    table = open_app(monkeypatch, path, runs_tab="All runs").dataframe[0].value
    assert table.loc[table["default"], "sae_id"].tolist() == [small]
    assert table.set_index("sae_id").loc[small, "purpose"] == "atlas"
    at = open_app(monkeypatch, path)  # the first tab: the default SAE's card
    assert any(f"opens SAE #{small}" in c.value and "atlas" in c.value for c in at.caption)
    assert open_app(monkeypatch, path, "views/features.py").selectbox(key="sae_select").value == small


def test_features_table_links_each_row_and_its_tiles_follow_the_filters(monkeypatch, dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/features.py", sae_id=large)
    table = at.dataframe[0].value
    assert (table["open"] == [f"feature?sae={large}&latent={latent}" for latent in table["latent"]]).all()
    everything = metric(at, "Median Pearson")

    at.text_input(key="features_search").set_value("jet%morphology").run()
    shown = at.dataframe[0].value
    expected = sql(
        path,
        "SELECT i.latent, i.pearson FROM interpretations i WHERE sae_id = ? AND regexp_matches(label, ?, 'i')",
        [large, "jet.*morphology"],
    )
    assert sorted(shown["latent"]) == sorted(row[0] for row in expected) and 0 < len(shown) < len(table)
    filtered = metric(at, "Median Pearson")
    assert filtered == f"{statistics.median(row[1] for row in expected):.3f}" and filtered != everything
    assert metric(at, "Features shown") == f"{len(expected):,}"


def test_percent_means_the_same_in_the_features_table_and_the_feature_search(monkeypatch, dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/features.py", sae_id=large)
    at.text_input(key="features_search").set_value("JET%morph").run()
    in_table = sorted(int(x) for x in at.dataframe[0].value["latent"])
    version = queries.warehouse_version(path)
    in_search = sorted(int(x) for x in queries.label_search(str(path), version, large, "JET%morph", 1000)["latent"])
    assert in_table == in_search and in_table
    assert queries.label_search(str(path), version, large, "spectra.", 10).empty  # all but '%' is literal


def test_features_csv_writes_family_ids_as_a_list(dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    table = queries.feature_table(str(path), queries.warehouse_version(path), large, None)
    rows = pd.read_csv(io.BytesIO(csv_bytes(table)))
    member = sql(
        path,
        "SELECT latent, list(family_id ORDER BY family_id) FROM family_members WHERE sae_id = ? "
        "GROUP BY latent ORDER BY latent LIMIT 1",
        [large],
    )[0]
    assert json.loads(rows.set_index("latent").loc[member[0], "family_ids"]) == member[1]
    assert set(rows["family_ids"].map(lambda text: type(json.loads(text)).__name__)) == {"list"}


def test_feature_page_links_neighbours_and_families_and_has_readable_ticks(monkeypatch, dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    latent, family = sql(path, "SELECT latent, family_id FROM family_members WHERE sae_id = ? LIMIT 1", [large])[0]
    at = open_app(monkeypatch, path, "views/feature.py", sae_id=large, latent=latent)
    frames = [frame.value for frame in at.dataframe]
    nearest = next(f for f in frames if "cosine" in f.columns)
    assert list(nearest.columns) == ["open", "latent", "cosine", "label"]
    assert (nearest["open"] == [f"feature?sae={large}&latent={x}" for x in nearest["latent"]]).all()
    families = next(f for f in frames if "family_id" in f.columns)
    assert f"families?sae={large}&family={family}" in set(families["open"])
    assert [tab.label for tab in at.tabs][:2] == ["Nearest by decoder cosine", "Farthest by decoder cosine"]
    histogram = figures(at)[0]
    assert histogram["layout"]["yaxis"]["type"] == "log" and histogram["layout"]["yaxis"]["dtick"] == 1


def test_families_page_opens_the_family_a_link_names(monkeypatch, dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    family = sql(path, "SELECT max(family_id) FROM families WHERE sae_id = ?", [large])[0][0]
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = open_app(monkeypatch, path, "views/families.py", sae_id=large)
    at.query_params["family"] = str(family)
    at.run()
    assert at.selectbox(key="family_pick").value == family
    tree = next(frame.value for frame in at.dataframe if "member" in frame.value.columns)
    size = sql(path, "SELECT count(*) FROM family_members WHERE sae_id = ? AND family_id = ?", [large, family])[0][0]
    assert len(tree) == size


def test_families_page_opens_on_a_named_family_not_the_largest_unnamed_one(monkeypatch, dashboard_warehouse, tmp_path):
    path = tmp_path / "named.duckdb"
    shutil.copy(dashboard_warehouse[0], path)
    large = dashboard_warehouse[1][1]
    by_size = sql(
        path,
        "SELECT family_id FROM families f WHERE sae_id = ? ORDER BY (SELECT count(*) FROM "
        "family_members m WHERE m.sae_id = f.sae_id AND m.family_id = f.family_id) DESC, family_id",
        [large],
    )
    largest, runner_up = by_size[0][0], by_size[1][0]
    with open_writer(path) as con:
        con.execute(
            "UPDATE families SET label = ? WHERE sae_id = ? AND family_id = ?", [queries.NO_CONCEPT, large, largest]
        )
        con.execute("UPDATE families SET label = 'weak lensing' WHERE sae_id = ? AND family_id = ?", [large, runner_up])
    at = open_app(monkeypatch, path, "views/families.py", sae_id=large)
    opened = at.selectbox(key="family_pick").value
    frame = queries.families(str(path), queries.warehouse_version(str(path)), large)
    shown = dict(zip(frame["family_id"], frame["label"], strict=True))
    assert opened != largest and shown[opened] != queries.NO_CONCEPT
    assert shown[largest] == queries.NO_CONCEPT and list(frame["family_id"]).index(largest) > 0  # listed after
    root = frame.set_index("family_id").loc[largest, "root_label"]
    option = next(o for o in at.selectbox(key="family_pick").options if o.startswith(f"#{largest} "))
    assert root != queries.NO_CONCEPT and option.endswith(f"· root: {root}"), option  # names its root instead
