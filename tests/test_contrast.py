"""Contrasts: target expressions, feature selection, and a real astro-ph.GA contrast on the test split."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
import scipy.sparse as sp

from evals.contrast.pipeline import ContrastConfig, run_contrast
from evals.contrast.select import correlations, select_features
from evals.contrast.target import BadTarget, parse_target
from evals.cooccurrence import TopK
from tests.dashboard_support import sql

GA = "category=astro-ph.GA"


@pytest.fixture
def docs_con(astro_warehouse_template):
    con = duckdb.connect(str(astro_warehouse_template), read_only=True)
    yield con
    con.close()


def _positives(con, target) -> int:
    return con.execute(f"SELECT sum(({target.sql})) FROM docs", list(target.params)).fetchall()[0][0]


def test_target_expressions_become_parameterised_sql(docs_con):
    target = parse_target(docs_con, GA)
    assert target.kind == "binary" and "?" in target.sql and "astro-ph.GA" not in target.sql
    assert (
        _positives(docs_con, target)
        == docs_con.execute("SELECT count(*) FROM docs WHERE list_contains(categories, 'astro-ph.GA')").fetchall()[0][0]
    )
    assert (
        _positives(docs_con, parse_target(docs_con, "category!=astro-ph.GA"))
        == docs_con.execute("SELECT count(*) FROM docs WHERE NOT list_contains(categories, 'astro-ph.GA')").fetchall()[
            0
        ][0]
    )
    assert (
        _positives(docs_con, parse_target(docs_con, "published >= 2026-01-01"))
        == docs_con.execute("SELECT count(*) FROM docs WHERE published >= DATE '2026-01-01'").fetchall()[0][0]
    )
    assert parse_target(docs_con, "doc_id").kind == "numeric"
    assert (
        _positives(docs_con, parse_target(docs_con, "source=shared"))
        == docs_con.execute("SELECT count(*) FROM docs").fetchall()[0][0]
    )


@pytest.mark.parametrize(
    "expression, message",
    [
        ("colour=red", "unknown column 'colour'.*docs columns: doc_id, arxiv_id"),
        ("title", "bare target must be a numeric column"),
        ("category>astro", "category takes = or !="),
        ("published>=yesterday", "not a valid DATE"),
        ("; DROP TABLE docs", "cannot read the target expression"),
    ],
)
def test_bad_targets_say_what_is_possible(docs_con, expression, message):
    with pytest.raises(BadTarget, match=message):
        parse_target(docs_con, expression)


def test_correlations_equal_numpy_and_selection_finds_planted_features():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.4).astype(float)
    dense = rng.random((2000, 30)) * (rng.random((2000, 30)) < 0.1)
    dense[:, 7] = y * rng.random(2000) * (rng.random(2000) < 0.8)  # active mostly on positives
    dense[:, 19] = (1 - y) * rng.random(2000) * (rng.random(2000) < 0.6)  # on negatives
    dense[:, 3] = 0
    dense[:3, 3] = y[:3] + 1  # a "perfect" predictor on 3 documents
    X = sp.csr_array(dense)
    expected = np.array([np.corrcoef(dense[:, j], y)[0, 1] if dense[:, j].std() else 0.0 for j in range(30)])
    assert np.allclose(correlations(X, y), expected)
    for method in ("correlation", "l1"):
        latents, scores = select_features(X, y, method, n_features=2, min_active=10, binary=True)
        assert set(latents.tolist()) == {7, 19}, method
        assert np.sign(scores[latents.tolist().index(7)]) > 0 > scores[latents.tolist().index(19)]
        assert 3 not in select_features(X, y, method, n_features=5, min_active=10, binary=True)[0]


def test_astro_ph_ga_contrast_on_the_test_split(trained_astro_copy):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[-1]
    report = run_contrast(path, "astro", GA, sae_id, ContrastConfig(n_features=20))
    n_test = sql(path, "SELECT count(*) FROM docs WHERE split = 'test'")[0][0]
    assert len(report.latents) == 20 and report.n_test == n_test and report.n_train + n_test == 12623
    assert (
        report.metric == "auc" and 0.7 < report.features_score < report.embedding_score and report.embedding_score > 0.9
    )
    stored = sql(
        path,
        "SELECT n_features, features_score, embedding_score, test_mean FROM contrasts WHERE sae_id = ? AND target = ?",
        [sae_id, GA],
    )
    assert stored == [
        (
            20,
            pytest.approx(report.features_score),
            pytest.approx(report.embedding_score),
            pytest.approx(report.test_mean),
        )
    ]
    latent, n_with, mean_with, mean_without, q = sql(
        path,
        "SELECT latent, n_with, mean_with, mean_without, q_value FROM contrast_features "
        "WHERE sae_id = ? AND target = ? AND rank = 1",
        [sae_id, GA],
    )[0]
    counted = sql(
        path,
        """
        SELECT count(*) FILTER (WHERE a.doc_id IS NOT NULL),
               avg(list_contains(d.categories, 'astro-ph.GA')::INT) FILTER (WHERE a.doc_id IS NOT NULL),
               avg(list_contains(d.categories, 'astro-ph.GA')::INT) FILTER (WHERE a.doc_id IS NULL)
        FROM docs d LEFT JOIN activations a ON a.doc_id = d.doc_id AND a.sae_id = ? AND a.latent = ? AND a.value > 0
        WHERE d.split = 'test'""",
        [sae_id, latent],
    )[0]
    assert (n_with, mean_with, mean_without) == (counted[0], pytest.approx(counted[1]), pytest.approx(counted[2]))
    assert q < 0.05

    # Selection sees the training split only: scrambling the test documents' target changes no selected
    # feature and no training score, and leaves the held-out AUC at chance.
    with duckdb.connect(str(path)) as con:
        con.execute("""UPDATE docs SET categories = CASE WHEN hash(doc_id) % 2 = 0
                       THEN list_append(list_filter(categories, lambda c: c <> 'astro-ph.GA'), 'astro-ph.GA')
                       ELSE list_filter(categories, lambda c: c <> 'astro-ph.GA') END WHERE split = 'test'""")
    scrambled = run_contrast(path, "astro", GA, sae_id, ContrastConfig(n_features=20))
    assert scrambled.latents.tolist() == report.latents.tolist()
    assert np.allclose(scrambled.train_scores, report.train_scores)
    assert abs(scrambled.features_score - 0.5) < 0.1 and abs(scrambled.embedding_score - 0.5) < 0.1


def test_other_targets_and_methods(trained_astro_copy):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    numeric = run_contrast(path, "astro", "doc_id", sae_id, ContrastConfig(method="correlation", n_features=5))
    assert numeric.metric == "r2" and np.isfinite(numeric.features_score) and np.isfinite(numeric.embedding_score)
    dated = run_contrast(
        path, "astro", "published>=2026-01-01", sae_id, ContrastConfig(method="correlation", n_features=5)
    )
    assert dated.target.kind == "binary" and len(dated.latents) == 5
    rows = sql(path, "SELECT target, method FROM contrasts WHERE sae_id = ? ORDER BY target", [sae_id])
    assert rows == [("doc_id", "correlation"), ("published>=2026-01-01", "correlation")]
    with pytest.raises(ValueError, match="never true on the train split.*spelling"):
        run_contrast(path, "astro", "category=astro-ph.NOPE", sae_id)


def test_activations_loaded_without_values_name_the_fix_when_values_are_needed():
    doc_ids, latents = np.array([3, 3], np.int32), np.array([0, 2], np.int32)
    with pytest.raises(ValueError, match=r"with_values=True"):
        _ = TopK(doc_ids, latents, 4).stored_values
    values = np.array([0.5, 0.25], np.float32)
    assert TopK(doc_ids, latents, 4, values).stored_values.tolist() == [0.5, 0.25]
