"""`just report`: the quality card's numbers against direct computations on a trained SAE (the
``trained_astro`` fixture: real astro documents, real Lightning training) and on small arrays."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import scipy.sparse
import torch

from data.embed import make_embedder
from data.embed.local import LOCAL_MODEL
from data.embeddings import load_embeddings
from data.text import text_hash
from data.warehouse import open_reader, open_writer
from evals.coherence import mean_pairwise_cosine, neighbour_sets, top_documents
from evals.interp.config import load_interp_config
from evals.interp.examples import derangement
from evals.interp.phrases import content_words
from evals.report.__main__ import main
from evals.report.card import REQUIRED_KEYS, ReportConfig, build_report, stored_report
from evals.report.text import format_card
from trainer.checkpoint import load_sae_from_warehouse

N_LABELLED = 40


def test_top_documents_and_set_coherence_match_a_naive_computation():
    rng = np.random.default_rng(0)
    codes = scipy.sparse.random(60, 7, density=0.3, format="csr", random_state=1, dtype=np.float32)
    latents, top = top_documents(codes, 4)
    dense = codes.toarray()
    assert latents.tolist() == [latent for latent in range(7) if (dense[:, latent] > 0).sum() >= 4]
    for latent, rows in zip(latents, top, strict=False):
        assert rows.tolist() == np.argsort(-dense[:, latent], kind="stable")[:4].tolist()
    z = rng.standard_normal((60, 5))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sets = rng.choice(60, (9, 4))
    naive = [np.mean([z[a] @ z[b] for i, a in enumerate(s) for j, b in enumerate(s) if i != j]) for s in sets]
    assert np.allclose(mean_pairwise_cosine(z[sets].sum(axis=1), 4), naive)
    # a document with its nearest neighbours: anchors drawn by the same seeded rng, sets found by sorting
    coherence = neighbour_sets(z, 4, 5, np.random.default_rng(3))
    anchors = np.random.default_rng(3).choice(60, 5, replace=False)
    naive_sets = [np.r_[a, [r for r in np.argsort(-(z @ z[a])) if r != a][:3]] for a in anchors]
    assert np.allclose(coherence, mean_pairwise_cosine(z[naive_sets].sum(axis=1), 4))


def _auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(positive score > negative score), ties half: over every pair, no ranks."""
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _store_labels(path, sae_id: int) -> dict[int, str]:
    """A label per frequent latent: the title of its top training document (a real, specific label)."""
    with open_writer(path) as con:
        rows = con.execute(
            """
            SELECT a.latent, arg_max(d.title, a.value) FROM activations a JOIN docs d USING (doc_id)
            WHERE a.sae_id = ? AND d.split = 'train' GROUP BY a.latent ORDER BY count(*) DESC, a.latent LIMIT ?
            """,
            [sae_id, N_LABELLED],
        ).fetchall()
        for latent, title in rows:
            con.execute(
                "INSERT INTO interpretations (sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, "
                "status, clean, created_at) "
                "VALUES (?, ?, 'test-titles', 'none', true, ?, 0.9, 0.9, 'complete', ?, now())",
                [sae_id, latent, title, latent % 3 == 0],
            )
    return dict(rows)


def test_report_numbers_match_a_direct_computation(trained_astro_copy, capsys):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    config = ReportConfig(baseline_draws=300)

    # Before any label: label metrics are null, each with its reason, and the card says so.
    unlabelled = build_report(path, "astro", sae_id, config)
    assert (
        unlabelled["label_auroc_random_median"] is None
        and "just interpret astro" in unlabelled["reasons"]["label_auroc_random_median"]
    )
    assert "just steer-bench astro" in unlabelled["reasons"]["steering"] and unlabelled["steering"] is None

    labels = _store_labels(path, sae_id)
    report = build_report(path, "astro", sae_id, config)
    with open_reader(path) as con:
        doc_ids, x = load_embeddings(con, LOCAL_MODEL)
        split = dict(con.execute("SELECT doc_id, split FROM docs").fetchall())
        metrics = json.loads(con.execute("SELECT metrics FROM saes WHERE sae_id = ?", [sae_id]).fetchall()[0][0])
        sae = load_sae_from_warehouse(con, sae_id)
        acts = con.execute("SELECT doc_id, latent, value FROM activations WHERE sae_id = ?", [sae_id]).fetchall()
        assert stored_report(con, sae_id) == json.loads(json.dumps(report))  # what the dashboard reads
        cached = con.execute(
            "SELECT count(*) FROM embeddings WHERE model = ? AND text_hash IN (SELECT unnest(?))",
            [LOCAL_MODEL, [text_hash(t) for t in labels.values()]],
        ).fetchall()[0][0]
    assert cached == len(set(labels.values()))  # label vectors went to the embedding cache
    test = np.array([split[d] == "test" for d in doc_ids])
    assert report["n_test_docs"] == test.sum() and report["n_train_docs"] == (~test).sum()

    # Reconstruction: the SAE's own inference pass (encode, decode) on the test documents.
    xt = x[test]
    with torch.no_grad():
        x_hat = sae.decode(*sae.encode(torch.from_numpy(xt.copy()))).numpy().astype(np.float64)
    fvu = ((xt - x_hat) ** 2).sum() / ((xt - xt.mean(axis=0)) ** 2).sum()
    assert report["test_fvu"] == pytest.approx(fvu, rel=1e-4) and report["test_fvu"] == pytest.approx(
        metrics["test_fvu"], rel=1e-4
    )
    assert report["train_fvu"] == metrics["train_fvu"] and report["train_fvu"] < report["test_fvu"]
    cosine = (xt * x_hat).sum(1) / np.linalg.norm(xt, axis=1) / np.linalg.norm(x_hat, axis=1)
    assert report["test_cosine_quantiles"]["q50"] == pytest.approx(np.median(cosine), abs=1e-4)
    assert report["test_cosine_quantiles"]["q05"] == pytest.approx(np.quantile(cosine, 0.05), abs=1e-4)
    position = {d: i for i, d in enumerate(doc_ids)}
    codes = np.zeros((len(doc_ids), 768))
    for doc, latent, value in acts:
        codes[position[doc], latent] = value
    test_density = (codes[test] > 0).mean(axis=0)
    assert report["dead_fraction"] == pytest.approx((test_density == 0).mean())
    assert report["dense_fraction"] == pytest.approx((test_density > 0.1).mean())
    assert report["test_l0"] == pytest.approx((codes[test] > 0).sum(1).mean())
    assert sum(report["density_histogram"]["counts"]) + report["density_histogram"]["dead"] == 768

    # Coherence: each latent's top 10 test documents by activation, centred embeddings, pairwise cosines.
    z = xt - xt.mean(axis=0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    per_latent = []
    for latent in range(768):
        active = np.flatnonzero(codes[test][:, latent] > 0)
        if len(active) >= 10:
            top = active[np.argsort(-codes[test][active, latent], kind="stable")[:10]]
            gram = z[top] @ z[top].T
            per_latent.append((gram.sum() - np.trace(gram)) / 90)
    assert report["coherence_features"] == len(per_latent)
    assert report["coherence_median"] == pytest.approx(np.median(per_latent), abs=1e-5)
    assert abs(report["coherence_random"]) < 0.02 < report["coherence_median"] < report["coherence_neighbours"]

    # Labels: the proxy scorer (label embedding vs document embedding, plus the idf-weighted share of
    # the label's words in the document) on the test documents.
    scored = sorted(latent for latent in labels if (codes[test][:, latent] > 0).sum() >= 5)
    assert report["labels_scored"] == len(scored) >= 2
    vectors = make_embedder("local", LOCAL_MODEL).embed([labels[latent] for latent in scored])
    unit = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    with open_reader(path) as con:
        texts = dict(con.execute("SELECT doc_id, title || '\n\n' || abstract FROM docs").fetchall())
    words = [set(content_words(texts[d])) for d in doc_ids]
    df: dict[str, int] = {}
    for bag in words:
        for word in bag:
            df[word] = df.get(word, 0) + 1
    idf = {word: np.log((1 + len(words)) / (1 + n)) + 1 for word, n in df.items()}
    match = np.zeros((test.sum(), len(scored)))
    for column, latent in enumerate(scored):
        own = [w for w in set(content_words(labels[latent])) if w in idf]
        total = sum(idf[w] for w in own)
        for row, bag in enumerate(np.array(words, dtype=object)[test]):
            match[row, column] = sum(idf[w] for w in own if w in bag) / total if total else 0.0
    similarity = unit @ vectors.T + load_interp_config().offline.term_weight * match
    borrowed = derangement(len(scored), np.random.default_rng([0, 7]))
    results = []
    for i, latent in enumerate(scored):
        positive = codes[test][:, latent] > 0
        centroid = unit[positive].mean(axis=0)
        candidates = np.flatnonzero(~positive)
        hard = candidates[np.argsort(-(unit[candidates] @ centroid))[: config.hard_negatives]]
        row = []
        for column in (i, borrowed[i]):
            s = similarity[:, column]
            row += [_auroc(s[positive], s[~positive]), _auroc(s[positive], s[hard])]
        results.append(row)
    results = np.array(results)
    assert report["label_auroc_random_median"] == pytest.approx(np.median(results[:, 0]), abs=1e-4)
    assert report["label_auroc_hard_median"] == pytest.approx(np.median(results[:, 1]), abs=1e-4)
    assert report["label_baseline_auroc_random_median"] == pytest.approx(np.median(results[:, 2]), abs=1e-4)
    assert report["label_beats_baseline_fraction"] == pytest.approx(np.mean(results[:, 0] > results[:, 2]), abs=1e-9)
    assert report["label_auroc_random_median"] > report["label_baseline_auroc_random_median"]  # titles are specific
    assert report["clean_count"] == sum(latent % 3 == 0 for latent in labels)  # interp's stored flags, counted

    # Retrieval fidelity: brute force over originals vs the SAE's reconstructions, each query left out.
    x_all_hat = codes.astype(np.float32) @ sae.W_dec.detach().numpy() + sae.b_pre.detach().numpy()
    test_rows = np.flatnonzero(test)

    def top10(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per test query, the 10 rows of ``rows`` nearest by cosine in ``matrix``, the query itself left out."""
        unit_rows = matrix[rows] / np.linalg.norm(matrix[rows], axis=1, keepdims=True)
        scores = x[test_rows] @ unit_rows.T
        scores[rows[None, :] == test_rows[:, None]] = -np.inf
        return rows[np.argsort(-scores, axis=1)[:, :10]]

    for searched, rows in (("test", test_rows), ("all", np.arange(len(x)))):
        truth, found = top10(x, rows), top10(x_all_hat, rows)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=False)])
        assert report[f"fidelity_{searched}_recall10"] == pytest.approx(recall, abs=2e-3)

    # The CLI: --json prints one object with every required key; the card prints the sections.
    assert main(["astro", "--warehouse", str(path), "--sae-id", str(sae_id), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(REQUIRED_KEYS) <= set(printed) and printed["test_fvu"] == pytest.approx(report["test_fvu"])
    assert main(["astro", "--warehouse", str(path), "--sae-id", str(sae_id)]) == 0
    card, progress = capsys.readouterr()
    assert re.search(r"quality card .* 6/6 steering", progress), progress[-300:]  # the phase bar, on stderr
    for heading in ("Reconstruction", "Feature coherence", "Labels", "Retrieval fidelity", "Steering", "not run"):
        assert heading in card


def test_coherence_per_level_when_the_sae_stores_levels(trained_astro_copy):
    """A Matryoshka SAE stores ``latents.level``; the card then splits coherence by level
    (a plain SAE: one level, no split)."""
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    assert build_report(path, "astro", sae_id, ReportConfig(baseline_draws=50))["coherence_by_level"] is None
    with open_writer(path) as con:  # as a two-level Matryoshka SAE stores them
        con.execute("UPDATE latents SET level = CASE WHEN latent < 128 THEN 0 ELSE 1 END WHERE sae_id = ?", [sae_id])
    report = build_report(path, "astro", sae_id, ReportConfig(baseline_draws=50))
    levels = report["coherence_by_level"]
    assert (
        list(levels) == ["0", "1"] and levels["0"]["features"] + levels["1"]["features"] == report["coherence_features"]
    )
    assert "level 0:" in format_card(report)


def test_unknown_sae_and_missing_warehouse_are_clear_errors(trained_astro, tmp_path, capsys):
    assert main(["astro", "--warehouse", str(trained_astro.path), "--sae-id", "999"]) == 2
    assert "unknown SAE id 999" in capsys.readouterr().err
    assert main(["astro", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_test_split_smaller_than_a_coherence_set_is_reported_not_a_crash(trained_astro_copy, capsys):
    """Fewer test documents than ``top_docs`` (10): no random or neighbour set can be drawn; the card
    says so instead of failing inside the sampler, and every other number is still computed."""
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    with open_writer(path) as con:  # keep the activations of 6 test documents only (the others: not encoded)
        con.execute(
            "DELETE FROM activations WHERE sae_id = ? AND doc_id IN "
            "(SELECT doc_id FROM docs WHERE split = 'test' ORDER BY doc_id OFFSET 6)",
            [sae_id],
        )
    assert main(["astro", "--warehouse", str(path), "--sae-id", str(sae_id), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["n_test_docs"] == 6
    for key in ("coherence_median", "coherence_random", "coherence_neighbours"):
        assert report[key] is None
        assert (
            "the test split holds 6 encoded documents, fewer than the 10 of a coherence set" in report["reasons"][key]
        )
    assert report["test_fvu"] is not None and report["coherence_median_all_docs"] is not None
    assert "coherence_random is null: the test split holds 6" in captured.err
