"""`just families` end to end on the real astro warehouse, with a transparent stand-in SAE.

The stand-in "SAE" has one latent per frequent word: a document's top-32 latents are its most
distinctive words (count x idf). Word co-occurrence in real abstracts gives the family graph real
structure and the labels real text, without waiting for a trained SAE (the trained fixture is
used in tests/test_families_trained.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from evals.cooccurrence import cooccurrence_counts
from evals.families.__main__ import main as families_main
from evals.families.config import load_families_config
from evals.families.labels import FamilyLabeller
from evals.families.pipeline import run_families
from evals.interp.config import load_interp_config
from evals.interp.phrase_labels import NO_CONCEPT
from evals.saes import UnknownSAE

WORD_SAE_ID = 41
K = 32


def add_word_sae(path, sae_id: int = WORD_SAE_ID, vocabulary_size: int = 500) -> list[str]:
    with open_reader(path) as con:
        docs = con.execute("SELECT doc_id, title || ' ' || abstract FROM docs ORDER BY doc_id").fetchall()
    words = [Counter(re.findall(r"[a-z]{5,}", text.lower())) for _, text in docs]
    df = Counter(w for counts in words for w in counts)
    vocabulary = [w for w, n in df.most_common() if n <= 0.2 * len(docs)][:vocabulary_size]
    latent_of = {w: i for i, w in enumerate(vocabulary)}
    idf = {w: np.log(len(docs) / df[w]) for w in vocabulary}
    doc_col, latent_col, value_col = [], [], []
    for (doc_id, _), counts in zip(docs, words, strict=False):
        scored = sorted(((counts[w] * idf[w], w) for w in counts if w in latent_of), reverse=True)[:K]
        doc_col += [doc_id] * len(scored)
        latent_col += [latent_of[w] for _, w in scored]
        value_col += [s for s, _ in scored]
    with open_writer(path) as con, transaction(con):
        con.execute(
            "INSERT INTO saes (sae_id, name, corpus, embed_model, d, n_latents, k, k_aux, config, status, created_at)"
            " VALUES (?, 'words', 'astro', 'all-MiniLM-L6-v2', 384, ?, ?, ?, '{}', 'complete', now())",
            [sae_id, len(vocabulary), K, 2 * K],
        )
        insert_arrow(
            con,
            "activations",
            pa.table(
                {
                    "sae_id": pa.array(np.full(len(doc_col), sae_id, np.int32)),
                    "doc_id": pa.array(np.array(doc_col, np.int32)),
                    "latent": pa.array(np.array(latent_col, np.int32)),
                    "value": pa.array(np.array(value_col, np.float32)),
                }
            ),
            order_by="latent, value DESC",
        )
    return vocabulary


@pytest.fixture(scope="module")
def word_warehouse_template(astro_warehouse_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("words") / "astro.duckdb"
    shutil.copy(astro_warehouse_template, path)
    vocabulary = add_word_sae(path)
    return path, vocabulary


@pytest.fixture
def word_warehouse(word_warehouse_template, tmp_path):
    path = tmp_path / "astro.duckdb"
    shutil.copy(word_warehouse_template[0], path)
    return path, word_warehouse_template[1]


@pytest.fixture(scope="module")
def families_done(word_warehouse_template, tmp_path_factory):
    """A read-only warehouse after one offline `run_families` of the word SAE, and that run."""
    path = tmp_path_factory.mktemp("families_done") / "astro.duckdb"
    shutil.copy(word_warehouse_template[0], path)
    return path, word_warehouse_template[1], run_families(path, WORD_SAE_ID, load_families_config(), offline_labeller())


def offline_labeller():
    # Word latents are lexical, so their labels are scored by term matching (interp's "terms"
    # scorer); the default embedding scorer rates meaning and puts them near chance.
    config = load_interp_config()
    config.offline.scorer = "terms"
    return FamilyLabeller(config, "max")


def table_rows(path, sql, params=()):
    with open_reader(path) as con:
        return con.execute(sql, list(params)).fetchall()


def test_families_are_stored_with_members_stats_and_scored_labels(families_done):
    path, vocabulary, run = families_done
    config = load_families_config()
    assert len(run.families) >= 3
    families = table_rows(
        path,
        "SELECT family_id, root_latent, n_children, label, is_proxy, f1, auroc FROM families "
        "WHERE sae_id = ? ORDER BY family_id",
        [WORD_SAE_ID],
    )
    assert len(families) == len(run.families)
    assert all(n >= config.min_family_children for _, _, n, *_ in families)
    # Offline phrase labels, scored on held-out abstracts like a single feature's.
    labelled = [row for row in families if row[3] and row[3] != NO_CONCEPT]
    assert labelled and all(row[4] and row[3] for row in families)  # the others say "(no clear concept)"
    assert np.mean([row[6] for row in labelled if row[6] is not None]) > 0.6  # AUROC above chance

    members = table_rows(
        path, "SELECT family_id, latent, parent_latent, depth FROM family_members WHERE sae_id = ?", [WORD_SAE_ID]
    )
    by_family: dict[int, dict[int, tuple]] = {}
    for family_id, latent, parent, depth in members:
        by_family.setdefault(family_id, {})[latent] = (parent, depth)
    for family_id, root, n_children, *_ in families:
        tree = by_family[family_id]
        assert tree[root] == (None, 0) and len(tree) == n_children + 1
        for latent, (parent, depth) in tree.items():
            if latent != root:
                assert parent in tree and tree[parent][1] == depth - 1  # a real tree inside the family

    summary = json.loads(
        table_rows(path, "SELECT summary FROM eval_summaries WHERE sae_id = ? AND eval = 'families'", [WORD_SAE_ID])[0][
            0
        ]
    )
    assert summary["size_distribution"]["families"] == len(families)
    assert summary["parent_child_ratio"]["mean"] > 1  # roots co-occur with children more than children do together
    assert summary["block_diagonal"]["lift"] > 1  # families group co-occurring words better than random groups
    assert summary["labels"]["path"] == "offline-phrases"
    coherence = summary["coherence"]  # families that hold together, each child in one family, bounded size
    assert coherence["children_in_several_families"] == 0 and coherence["lift_over_random"] > 1
    assert coherence["largest_family_share"] <= config.max_family_share + 1e-9
    lifts = table_rows(
        path, "SELECT min(cooccurrence_lift), count(coherence) FROM families WHERE sae_id = ?", [WORD_SAE_ID]
    )
    assert lifts[0][0] >= config.min_cooccurrence_lift and lifts[0][1] > 0

    partners = table_rows(
        path,
        "SELECT latent, count(*), min(weight), bool_and(latent <> other) FROM cooccurrence "
        "WHERE sae_id = ? GROUP BY latent",
        [WORD_SAE_ID],
    )
    assert len(partners) > 0.9 * len(vocabulary)
    assert all(n <= config.top_cooccurring and w > 0 and distinct for _, n, w, distinct in partners)


def test_rerun_replaces_rows_and_counts_match_the_stored_activations(families_done, tmp_path):
    path = tmp_path / "astro.duckdb"
    shutil.copy(families_done[0], path)
    config = load_families_config()
    before = table_rows(
        path,
        "SELECT (SELECT count(*) FROM families), (SELECT count(*) FROM family_members), "
        "(SELECT count(*) FROM cooccurrence), (SELECT count(*) FROM eval_summaries)",
    )
    run_families(path, WORD_SAE_ID, config, offline_labeller())
    after = table_rows(
        path,
        "SELECT (SELECT count(*) FROM families), (SELECT count(*) FROM family_members), "
        "(SELECT count(*) FROM cooccurrence), (SELECT count(*) FROM eval_summaries)",
    )
    assert before == after
    # The stored partner counts are the SQL self-join counts of the activations table.
    sql_counts = dict(
        ((a, b), n)
        for a, b, n in table_rows(
            path,
            "SELECT x.latent, y.latent, count(*) FROM activations x JOIN activations y "
            "ON x.doc_id = y.doc_id AND x.sae_id = y.sae_id AND x.latent <> y.latent "
            "WHERE x.sae_id = ? AND x.latent < 40 GROUP BY ALL",
            [WORD_SAE_ID],
        )
    )
    stored = table_rows(
        path, "SELECT latent, other, count FROM cooccurrence WHERE sae_id = ? AND latent < 40", [WORD_SAE_ID]
    )
    assert stored and all(sql_counts[(a, b)] == n for a, b, n in stored)
    with open_reader(path) as con:
        counts = cooccurrence_counts(con, WORD_SAE_ID)
    assert all(counts[a, b] == n for a, b, n in stored)


def fake_family_llm(request: dict) -> str:
    """Explainer requests get a name; predictor requests rate odd-numbered abstracts as active."""
    user = request["messages"][-1]["content"]
    if "Feature description:" in user:
        count = user.count("Abstract ")
        return "\n".join(f"{i}: {0.9 if i % 2 else -0.7}" for i in range(1, count + 1))
    return "Concepts: many.\nFINAL: Stellar Things"


def test_llm_names_and_scores_families_through_the_fake_server(word_warehouse, fake_openai):
    path, _ = word_warehouse
    fake_openai.chat = fake_family_llm
    labeller = FamilyLabeller(
        offline_labeller().interp, "max", use_llm=True, corpus_name="astro", llm_base_url=fake_openai.base_url
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", "test")
        run = run_families(path, WORD_SAE_ID, load_families_config(), labeller)
    rows = table_rows(path, "SELECT label, is_proxy, f1, auroc FROM families WHERE sae_id = ?", [WORD_SAE_ID])
    assert {label for label, *_ in rows} == {"Stellar Things"} and not any(is_proxy for _, is_proxy, *_ in rows)
    # Scored by interp's LLM predictor on the held-out abstracts: real numbers, not placeholders.
    assert all(f1 is not None and 0 <= f1 <= 1 and 0 <= auroc <= 1 for _, _, f1, auroc in rows)
    requests = [r["messages"] for r in fake_openai.requests["chat"]]
    naming = [m for m in requests if "FINAL: <concept>" in m[0]["content"]]
    rating = [m for m in requests if "Feature description: Stellar Things" in m[-1]["content"]]
    assert len(naming) == len(rows) and rating
    assert "astronomy" in naming[0][0]["content"] and "Children:" in naming[0][1]["content"]
    assert run.summary["labels"]["path"] == load_interp_config().llm_path.explainer_model
    # Answers are cached in llm_cache: a re-run sends no new request.
    sent = len(fake_openai.requests["chat"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", "test")
        run_families(path, WORD_SAE_ID, load_families_config(), labeller)
    assert len(fake_openai.requests["chat"]) == sent


def test_unknown_sae_is_a_clear_error_and_loses_nothing(families_done, tmp_path, capsys):
    path = tmp_path / "astro.duckdb"
    shutil.copy(families_done[0], path)
    before = table_rows(path, "SELECT count(*) FROM families")
    with pytest.raises(UnknownSAE, match="unknown SAE id 999"):
        run_families(path, 999, load_families_config(), offline_labeller())
    assert families_main(["astro", "--warehouse", str(path), "--sae-id", "999", "--llm", "no"]) == 2
    assert "unknown SAE id 999" in capsys.readouterr().out
    assert families_main(["nowhere", "--warehouse", str(path)]) == 2
    assert "unknown corpus 'nowhere'" in capsys.readouterr().out
    assert families_main(["astro", "--warehouse", str(path.parent / "missing.duckdb")]) == 2
    assert "no warehouse at" in capsys.readouterr().out
    with pytest.raises(ValueError, match="just interpret"):  # clean_only without stored labels
        run_families(
            path, WORD_SAE_ID, dataclasses.replace(load_families_config(), clean_only=True), offline_labeller()
        )
    assert table_rows(path, "SELECT count(*) FROM families") == before


def test_cli_runs_every_complete_sae_offline(word_warehouse, capsys, monkeypatch):
    path, _ = word_warehouse
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert families_main(["astro", "--warehouse", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Feature families" in out and "labels: offline-phrases" in out
    assert table_rows(path, "SELECT count(DISTINCT sae_id) FROM families") == [(1,)]


def test_clean_only_keeps_the_graph_to_latents_with_good_labels(families_done, tmp_path):
    path = tmp_path / "astro.duckdb"
    shutil.copy(families_done[0], path)
    with open_writer(path) as con, transaction(con):  # labels as `just interpret` stores them: 0..299 clean
        con.execute(
            "INSERT INTO interpretations "
            "(sae_id, latent, explainer, predictor, is_proxy, label, pearson, f1, clean, status, created_at) "
            "SELECT ?, range, 'offline-keywords', 'proxy-term-match', true, 'w' || range, "
            "CASE WHEN range < 300 THEN 0.9 ELSE 0.3 END, 0.9, range < 300, 'complete', now() FROM range(500)",
            [WORD_SAE_ID],
        )
    config = dataclasses.replace(
        load_families_config(), clean_only=True, max_family_share=1.0, min_cooccurrence_lift=0.0
    )
    run = run_families(path, WORD_SAE_ID, config, offline_labeller())
    assert run.families and all(m.latent < 300 for f in run.families for m in f.members)
    assert run.summary["graph_latents"] == 300
