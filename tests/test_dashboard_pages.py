"""Every dashboard page under streamlit's AppTest, on real astro documents with synthetic SAE content.

Each test compares what the page shows with the same number computed straight from the warehouse.

Over 300 lines as one file on purpose: every page's AppTest shares the module-scoped synthetic warehouse.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_support import APP, dashboard_warehouse, fresh_streamlit_caches, open_app, sql  # noqa: F401 (fixtures)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def array(value):
    """Plotly 7 writes numpy data as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return flat.reshape([int(x) for x in str(shape).split(",")]) if shape else flat
    return np.asarray(value)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_runs_page_shows_counts_scaling_fit_dead_fraction_and_l0(monkeypatch, dashboard_warehouse):
    path, _ = dashboard_warehouse
    at = open_app(monkeypatch, path, runs_tab="All runs")
    assert at.title[0].value == "Runs"
    assert metric(at, "Documents") == "12,623"  # the real astro corpus
    n_saes = sql(path, "SELECT count(*) FROM saes WHERE status = 'complete'")[0][0]
    assert metric(at, "Complete SAEs") == str(n_saes) and n_saes == 3 * 3 + 2
    scaling, dead, l0 = figures(at)
    traces = scaling["data"]
    assert {t["name"] for t in traces if t["mode"] == "markers"} == {"k = 16", "k = 32", "k = 64"}
    fits = [t for t in traces if "fit" in t["name"]]
    assert len(fits) == 3 and all("n^-0.1" in t["name"] for t in fits)  # the synthetic law has exponent -0.18
    assert scaling["layout"]["xaxis"]["type"] == "log" and scaling["layout"]["yaxis"]["type"] == "log"
    assert "Dead" in dead["layout"]["title"]["text"] and "L0" in l0["layout"]["title"]["text"]
    table = at.dataframe[0].value
    assert len(table) == n_saes and table["has_latents"].sum() == 2


def test_features_page_table_filters_and_score_charts(monkeypatch, dashboard_warehouse):
    path, (small, large) = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/features.py")
    assert at.selectbox(key="sae_select").value == large  # the largest populated SAE by default
    table = at.dataframe[0].value
    assert len(table) == 768
    clean = sql(
        path,
        "SELECT count(*) FROM interpretations JOIN latents USING (sae_id, latent) "
        "WHERE sae_id = ? AND f1 >= 0.8 AND pearson >= 0.8 AND density < 0.2",
        [large],
    )[0][0]  # conf/interp.yaml
    assert metric(at, "Clean labels") == f"{clean:,}"
    assert int(table["clean"].sum()) == clean
    kinds = [trace["type"] for figure in figures(at) for trace in figure["data"]]
    assert kinds.count("scattergl") == 2 and kinds.count("histogram") == 8  # label + baseline, 4 scores x 2

    word = "pulsar"
    expected = sql(
        path, "SELECT count(*) FROM interpretations WHERE sae_id = ? AND label ILIKE ?", [large, f"%{word}%"]
    )[0][0]
    at.text_input(key="features_search").set_value(word).run()
    filtered = at.dataframe[0].value
    assert 0 < len(filtered) == expected
    assert filtered["label"].str.contains(word).all()
    at.checkbox(key="features_clean").check().run()
    assert at.dataframe[0].value["clean"].all()

    at.checkbox(key="features_clean").uncheck()
    at.text_input(key="features_search").set_value("")
    at.selectbox(key="sae_select").set_value(small).run()
    assert not at.exception and len(at.dataframe[0].value) == 256


def test_feature_page_shows_every_part_of_one_latent(monkeypatch, dashboard_warehouse):
    path, (small, large) = dashboard_warehouse
    latent = sql(path, "SELECT latent FROM latents WHERE sae_id = ? ORDER BY density DESC LIMIT 1", [large])[0][0]
    at = open_app(monkeypatch, path, "views/feature.py", sae_id=large, latent=latent)
    label = sql(path, "SELECT label FROM interpretations WHERE sae_id = ? AND latent = ?", [large, latent])[0][0]
    assert at.title[0].value == f"Feature {latent}: {label}"
    density, n_active, top_value = sql(
        path,
        "SELECT l.density, count(*), max(a.value) FROM latents l JOIN activations a USING (sae_id, latent) "
        "WHERE sae_id = ? AND latent = ? GROUP BY l.density",
        [large, latent],
    )[0]
    assert metric(at, "Density") == f"{density:.3%}"
    frames = {frame.proto.id: frame.value for frame in at.dataframe}
    top = at.dataframe[0].value
    assert len(top) == 10 and top["activation"].iloc[0] == pytest.approx(top_value)
    assert top["link"].str.startswith("https://arxiv.org/abs/").all()
    histogram, prevalence = figures(at)
    assert histogram["data"][0]["type"] == "histogram" and len(array(histogram["data"][0]["x"])) == n_active
    assert prevalence["layout"]["title"]["text"] == f"Prevalence over time: feature {latent}"
    assert histogram["layout"]["yaxis"]["type"] == "log"
    nearest = sql(
        path,
        "SELECT neighbor FROM latent_neighbors WHERE sae_id = ? AND latent = ? AND kind = 'nearest' ORDER BY rank",
        [large, latent],
    )
    ranged = [frame.value for frame in at.dataframe if "band" in frame.value.columns]
    assert len(ranged) == 1 and len(ranged[0]) >= 3  # abstracts across the activation range
    tables = [frame.value for frame in at.dataframe if not {"band", "rating"} & set(frame.value.columns)]
    assert [int(x) for x in tables[1]["latent"]] == [row[0] for row in nearest]
    assert tables[2]["cosine"].is_monotonic_increasing  # farthest: most negative first
    assert len(tables[3]) == 10 and tables[3]["weight"].is_monotonic_decreasing  # co-occurring
    in_families = sql(path, "SELECT count(*) FROM family_members WHERE sae_id = ? AND latent = ?", [large, latent])[0][
        0
    ]
    parent = sql(path, "SELECT small_latent FROM splits WHERE large_sae_id = ? AND large_latent = ?", [large, latent])[
        0
    ][0]
    family_table = [t for t in tables if "family_id" in t.columns]
    assert (len(family_table[0]) if family_table else 0) == in_families
    parents = [t for t in tables if "n_latents" in t.columns][0]
    assert int(parents["latent"].iloc[0]) == parent and int(parents["sae_id"].iloc[0]) == small
    assert frames  # every table rendered without error


def test_labels_at_or_below_their_baseline_are_red_and_never_the_opening_feature(monkeypatch, dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    weak = [
        row[0]
        for row in sql(
            path,
            "SELECT latent FROM interpretations WHERE sae_id = ? AND "
            "(auroc_random + auroc_hard) / 2 <= (random_auroc_random + random_auroc_hard) / 2 "
            "ORDER BY latent",
            [large],
        )
    ]
    assert weak  # the synthetic SAE has some
    at = open_app(monkeypatch, path, "views/features.py")
    assert f"{len(weak):,} labels score at or below their other-label baseline" in at.caption[0].value
    at = open_app(monkeypatch, path, "views/feature.py", sae_id=large)  # no latent named: the page picks one
    opened = int(at.title[0].value.split(":")[0].removeprefix("Feature "))
    assert opened not in weak and not at.error
    at = open_app(monkeypatch, path, "views/feature.py", sae_id=large, latent=weak[0])
    assert "at or below its other-label baseline" in at.error[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert {"AUROC vs random", "AUROC vs hard"} <= set(metrics)
    ranged = next(frame.value for frame in at.dataframe if "band" in frame.value.columns)
    assert ranged["band"].iloc[0] == "top" and "random activating" in set(ranged["band"])
    assert ranged["activation"].is_monotonic_decreasing and any(b.startswith("quantile") for b in ranged["band"])


def test_feature_page_deep_link_and_children_on_the_smaller_sae(monkeypatch, dashboard_warehouse):
    path, (small, large) = dashboard_warehouse
    latent, children = sql(path, "SELECT small_latent, count(*) FROM splits GROUP BY 1 ORDER BY 2 DESC LIMIT 1")[0]
    monkeypatch.setenv("SAE_ATLAS_WAREHOUSE", str(path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["sae"] = str(small)
    at.query_params["latent"] = str(latent)
    at.run().switch_page("views/feature.py").run()
    assert not at.exception
    assert at.title[0].value.startswith(f"Feature {latent}:")
    child_table = [f.value for f in at.dataframe if "n_latents" in f.value.columns][-1]
    assert len(child_table) == children and set(child_table["sae_id"]) == {large}


def test_families_page_tree_heatmap_and_scores(monkeypatch, dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/families.py")
    n_families, n_members = sql(
        path, "SELECT count(DISTINCT family_id), count(DISTINCT latent) FROM family_members WHERE sae_id = ?", [large]
    )[0]
    assert metric(at, "Families") == str(n_families)
    assert metric(at, "Features in a family") == str(n_members)
    heatmap, scores = figures(at)
    assert heatmap["data"][0]["type"] == "heatmap"
    family_id = at.selectbox(key="family_pick").value
    size = sql(path, "SELECT count(*) FROM family_members WHERE sae_id = ? AND family_id = ?", [large, family_id])[0][0]
    z = array(heatmap["data"][0]["z"])
    assert z.shape == (min(size, 30), min(size, 30)) and np.allclose(np.diag(z), 1.0)  # P(i | i) = 1, capped at 30
    tree = next(frame.value for frame in at.dataframe if "member" in frame.value.columns)
    densities = sql(
        path,
        "SELECT m.latent, m.depth, l.density FROM family_members m JOIN latents l USING (sae_id, latent) "
        "WHERE m.sae_id = ? AND m.family_id = ?",
        [large, family_id],
    )
    assert len(tree) == size and sorted(tree["latent"]) == sorted(row[0] for row in densities)
    depth = {row[0]: row[1] for row in densities}
    assert all(
        member.startswith("\u2003" * depth[latent])
        for latent, member in zip(tree["latent"], tree["member"], strict=False)
    )
    assert scores["data"][0]["type"] == "scatter" and len(array(scores["data"][0]["x"])) == n_families


def test_sql_page_runs_selects_with_a_row_limit_and_refuses_writes(monkeypatch, dashboard_warehouse):
    path, _ = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/sql.py")
    at.text_area(key="sql_text").set_value("SELECT doc_id FROM docs ORDER BY doc_id")
    at.number_input(key="sql_limit").set_value(25)
    at.button(key="sql_run").click().run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 25 and "more exist" in at.success[0].value

    for statement, reason in [
        ("DELETE FROM docs", "only SELECT"),
        ("SELECT 1; DROP TABLE docs", "exactly one statement"),
        ("COPY docs TO '/tmp/x.csv'", "only SELECT"),
        ("SELECT * FROM read_csv('/etc/passwd')", "failed"),
    ]:
        at.text_area(key="sql_text").set_value(statement)
        at.button(key="sql_run").click().run()
        assert not at.exception and reason in at.error[0].value, (statement, at.error[0].value)
    assert sql(path, "SELECT count(*) FROM docs")[0][0] == 12_623  # nothing was written


def test_steer_page_explains_when_the_sae_has_no_checkpoint(monkeypatch, dashboard_warehouse):
    path, (_, large) = dashboard_warehouse
    at = open_app(monkeypatch, path, "views/steer.py")
    assert at.title[0].value == "Search & steer"
    assert "not available" in at.warning[0].value


@pytest.mark.parametrize(
    "page",
    [
        None,
        "views/features.py",
        "views/feature.py",
        "views/families.py",
        "views/trends.py",
        "views/contrast.py",
        "views/steer.py",
        "views/sql.py",
    ],
)
def test_missing_and_empty_warehouses_say_what_to_run(monkeypatch, tmp_path, page):
    at = open_app(monkeypatch, tmp_path / "nowhere.duckdb", page)
    assert "just data astro" in at.code[0].value
    from data.warehouse import open_writer

    empty = tmp_path / "empty.duckdb"
    with open_writer(empty):
        pass  # the schema only
    at = open_app(monkeypatch, empty, page)
    if page == "views/sql.py":
        assert at.text_area(key="sql_text").value  # an empty warehouse can still be queried
    else:
        assert at.code and "just" in at.code[0].value


def test_feature_page_counts_cooccurrence_from_activations_when_none_is_stored(
    monkeypatch, dashboard_warehouse, tmp_path
):
    import shutil

    from data.warehouse import open_writer

    path = tmp_path / "astro.duckdb"
    shutil.copy(dashboard_warehouse[0], path)
    large = dashboard_warehouse[1][1]
    with open_writer(path) as con:
        con.execute("DELETE FROM cooccurrence WHERE sae_id = ?", [large])
    latent = 7
    expected = sql(
        path,
        """
        SELECT b.latent, count(*) FROM activations a JOIN activations b USING (sae_id, doc_id)
        WHERE a.sae_id = ? AND a.latent = ? AND b.latent <> ? GROUP BY b.latent""",
        [large, latent, latent],
    )
    at = open_app(monkeypatch, path, "views/feature.py", sae_id=large, latent=latent)
    assert any("computed from activations" in tab.label for tab in at.tabs)
    shown = [f.value for f in at.dataframe if "count" in f.value.columns][0]
    counts = dict(expected)
    assert len(shown) == 10 and all(counts[int(r.latent)] == r.count for r in shown.itertuples())


def test_warehouse_picker_lists_the_artifacts_folder_and_accepts_a_typed_path(
    monkeypatch, dashboard_warehouse, tmp_path
):
    import shutil

    from data.settings import artifacts_dir

    monkeypatch.delenv("SAE_ATLAS_WAREHOUSE", raising=False)
    folder = artifacts_dir()
    shutil.copy(dashboard_warehouse[0], folder / "astro.duckdb")
    (folder / "cslg.duckdb").write_bytes(b"")  # not a warehouse: must not break the picker
    at = AppTest.from_file(APP, default_timeout=60).run()
    picker = at.selectbox(key="warehouse_choice")
    assert picker.options[:2] == [str(folder / "astro.duckdb"), str(folder / "cslg.duckdb")]
    assert not at.exception and metric(at, "Documents") == "12,623"
    picker.set_value(str(folder / "cslg.duckdb")).run()
    assert not at.exception and (at.error or at.info)  # explained, not a traceback
    at.selectbox(key="warehouse_choice").set_value("Other path…").run()
    at.text_input(key="warehouse_path_input").set_value(str(dashboard_warehouse[0])).run()
    assert not at.exception and metric(at, "Documents") == "12,623"


def test_visiting_every_page_leaves_the_warehouse_file_untouched(monkeypatch, dashboard_warehouse, tmp_path):
    import hashlib
    import shutil

    folder = tmp_path / "warehouse"
    folder.mkdir()
    path = folder / "astro.duckdb"
    shutil.copy(dashboard_warehouse[0], path)

    def fingerprint():
        return (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
            sorted(p.name for p in folder.iterdir()),
        )

    before = fingerprint()
    at = open_app(monkeypatch, path)
    for page in ["views/features.py", "views/feature.py", "views/families.py", "views/steer.py", "views/sql.py"]:
        at.switch_page(page).run()
        assert not at.exception, page
    at.button(key="sql_run").click().run()
    assert not at.exception and len(at.dataframe[0].value) > 0
    assert fingerprint() == before  # no write, no WAL, no lock file left behind
