"""Auto-interpretation end to end on the shared astro data: offline path, and the LLM path
against the fake OpenAI server (429s, 500s, timeouts and unparseable answers included)."""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from data.embeddings import load_embeddings
from data.warehouse import insert_arrow, open_reader, open_writer
from evals.interp.__main__ import main
from evals.interp.config import InterpConfig, LLMPathConfig
from evals.interp.examples import load_activations, load_corpus, select_examples
from evals.interp.pipeline import run_interpretation
from tests.fake_openai import Fault

SYNTHETIC_SAE = 1


def add_synthetic_sae(path, n_latents: int, k: int, seed: int = 0) -> None:
    """A stand-in SAE: latent j fires on the docs nearest a random abstract's direction (top-k per doc)."""
    with open_writer(path) as con:
        doc_ids, vectors = load_embeddings(con, "all-MiniLM-L6-v2")
        rng = np.random.default_rng(seed)
        directions = vectors[rng.choice(len(vectors), n_latents, replace=False)]
        similarity = vectors @ directions.T
        top = np.argpartition(-similarity, k, axis=1)[:, :k]
        values = np.maximum(np.take_along_axis(similarity, top, 1), 1e-3)
        con.execute(
            "INSERT INTO saes VALUES (?, 'synthetic', 'astro', 'all-MiniLM-L6-v2', ?, ?, ?, 0, '{}', NULL, NULL,"
            " 'complete', now(), now())", [SYNTHETIC_SAE, vectors.shape[1], n_latents, k])
        rows = pa.table({"sae_id": np.full(top.size, SYNTHETIC_SAE, np.int32), "doc_id": np.repeat(doc_ids, k).astype(np.int32),
                         "latent": top.ravel().astype(np.int32), "value": values.ravel().astype(np.float32)})
        insert_arrow(con, "activations", rows, order_by="sae_id, latent, value DESC")


def active_sets(path) -> dict[int, set[int]]:
    with open_reader(path) as con:
        rows = con.execute("SELECT latent, doc_id FROM activations WHERE sae_id = ?", [SYNTHETIC_SAE]).fetchall()
    sets: dict[int, set[int]] = {}
    for latent, doc in rows:
        sets.setdefault(latent, set()).add(doc)
    return sets


def test_offline_path_on_shared_data(astro_warehouse):
    add_synthetic_sae(astro_warehouse, n_latents=96, k=8)
    report = run_interpretation(astro_warehouse, "astro", use_llm=False)
    assert report.is_proxy and report.explainer == "offline-keywords" and report.interpreted == 96
    active = active_sets(astro_warehouse)
    with open_reader(astro_warehouse) as con:
        interp = con.execute("SELECT latent, label, is_proxy, auroc, random_auroc, n_scored, status, predictor "
                             "FROM interpretations ORDER BY latent").fetchall()
        examples = con.execute("SELECT latent, role, doc_id, activation, prediction FROM interp_examples").fetchall()
        summary = con.execute("SELECT summary FROM eval_summaries WHERE eval = 'interp:offline-keywords'").fetchall()
    assert len(interp) == 96 and all(row[2] and row[6] == "complete" and row[1] for row in interp)
    assert {row[7] for row in interp} == {"proxy-embedding-cosine"}
    by_latent: dict[int, dict[str, list]] = {}
    for latent, role, doc, activation, prediction in examples:
        by_latent.setdefault(latent, {}).setdefault(role, []).append((doc, activation, prediction))
    for latent, roles in by_latent.items():
        explain = {d for r, rows in roles.items() if r.startswith("explain") for d, _, _ in rows}
        scored = {d for r, rows in roles.items() if r.startswith("score") for d, _, _ in rows}
        assert not explain & scored, f"latent {latent}: held-out abstracts were shown to the explainer"
        assert len(roles["score_pos"]) == 10 and len(roles["score_neg_random"]) + len(roles["score_neg_hard"]) == 10
        assert {d for d, _, _ in roles["score_pos"]} <= active[latent]
        negatives = [d for r in ("score_neg_random", "score_neg_hard", "explain_neg_random", "explain_neg_hard") for d, _, _ in roles[r]]
        assert not set(negatives) & active[latent]
        assert all(p is not None and -1 <= p <= 1 for r in roles if r.startswith("score") for _, _, p in roles[r])
        # the top of the ranking is in the explanation set (top-heavy)
        assert max(a for _, a, _ in roles["explain_pos"]) >= max(a for _, a, _ in roles["score_pos"])
    aurocs = np.array([row[3] for row in interp])
    random_aurocs = np.array([row[4] for row in interp])
    assert np.median(aurocs) > np.median(random_aurocs) + 0.1  # labels carry real signal
    assert '"clean_fraction"' in summary[0][0]

    again = run_interpretation(astro_warehouse, "astro", use_llm=False)  # resumable: nothing left to do
    assert again.interpreted == 0 and again.skipped_done == 96


def test_example_selection_is_reproducible(astro_warehouse):
    add_synthetic_sae(astro_warehouse, n_latents=96, k=8)
    first = run_interpretation(astro_warehouse, "astro", use_llm=False, max_features=5)
    with open_reader(astro_warehouse) as con:
        before = con.execute("SELECT * FROM interp_examples ORDER BY ALL").fetchall()
        con.close()
    with open_writer(astro_warehouse) as con:
        con.execute("DELETE FROM interpretations")
    second = run_interpretation(astro_warehouse, "astro", use_llm=False, max_features=5)
    with open_reader(astro_warehouse) as con:
        after = con.execute("SELECT * FROM interp_examples ORDER BY ALL").fetchall()
    assert first.interpreted == second.interpreted == 5 and before == after


class ScriptedLLM:
    """Answers like a perfect explainer/predictor that knows the synthetic SAE's activations.

    Explain: the label names the latent whose top abstract is shown first. Predict: +0.9 for an
    abstract the named latent fires on, -0.9 otherwise; some answers are deliberately unreadable.
    """

    def __init__(self, path, latents):
        self.active = active_sets(path)
        with open_reader(path) as con:
            texts = dict(con.execute("SELECT doc_id, title || '\n\n' || abstract FROM docs").fetchall())
            tops = con.execute(
                "SELECT latent, arg_max(doc_id, value) FROM activations WHERE sae_id = ? AND latent < ? GROUP BY latent",
                [SYNTHETIC_SAE, max(latents) + 1]).fetchall()
        self.latent_of_top = {texts[doc][:200]: latent for latent, doc in tops}
        self.doc_of_text = {text[:200]: doc for doc, text in texts.items()}
        self.no_final_for: set[int] = set()
        self.garble: tuple[int, int] | None = None
        """(latent, doc): the rating request naming this latent and containing this doc is unreadable."""

    def __call__(self, request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "ACTIVATING ABSTRACTS" in prompt:
            first = prompt.split("ACTIVATING ABSTRACTS:\n", 1)[1].split("\n", 1)[1][:200]
            latent = self.latent_of_top[first]
            if latent in self.no_final_for:
                return "I cannot decide on a label."
            return f"Step 1: they share a topic.\nFINAL: **synthetic feature {latent}**"
        latent = int(re.search(r"Feature description: synthetic feature (\d+)", prompt).group(1))
        shown = re.findall(r"Abstract (\d+):\n(.*?)(?=\n\n------------------------\n|\n\nFor each abstract)", prompt, re.S)
        docs = [self.doc_of_text[text[:200]] for _, text in shown]
        if self.garble is not None and self.garble[0] == latent and self.garble[1] in docs:
            return "The abstracts are all interesting."
        lines = [f"{number}: {0.9 if doc in self.active[latent] else -0.9}" for (number, _), doc in zip(shown, docs)]
        return "Thinking...\n" + "\n".join(lines)


def held_out_positive(path, latent: int) -> int:
    """A doc the pipeline will hold out for ``latent`` (selection is deterministic)."""
    config = llm_config()
    with open_reader(path) as con:
        corpus = load_corpus(con, "all-MiniLM-L6-v2", config.examples.min_abstract_chars)
        activations = load_activations(con, SYNTHETIC_SAE, 96, corpus)
    examples = select_examples(corpus, activations, np.array([latent]), config.examples)
    return int(corpus.doc_ids[examples.doc_index[examples.of(latent, "score_pos")][0]])


def llm_config() -> InterpConfig:
    return InterpConfig(llm=LLMPathConfig(explainer_model="gpt-4o", predictor_model="gpt-4o-mini", timeout_s=1.0,
                                          max_retries=4, features_per_batch=3, max_concurrency=4))


def test_llm_path_end_to_end_against_fake_server(astro_warehouse, fake_openai, monkeypatch, capsys):
    add_synthetic_sae(astro_warehouse, n_latents=96, k=8)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    scripted = ScriptedLLM(astro_warehouse, range(6))
    scripted.no_final_for = {4}
    scripted.garble = (2, held_out_positive(astro_warehouse, 2))
    fake_openai.chat = scripted
    fake_openai.faults["chat"] += [Fault.status_code(429), Fault.status_code(500), Fault.timeout(2.0), Fault.status_code(503)]

    report = run_interpretation(astro_warehouse, "astro", use_llm=True, max_features=6, config=llm_config(),
                                llm_base_url=fake_openai.base_url)
    assert (report.interpreted, report.errors) == (5, 1) and not report.is_proxy
    with open_reader(astro_warehouse) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT latent, label, status, pearson, f1, auroc, random_auroc, parse_failures, n_scored, is_proxy, error "
            "FROM interpretations WHERE explainer = 'gpt-4o'").fetchall()}
        nulls = con.execute("SELECT count(*) FROM interp_examples WHERE latent = 2 AND role LIKE 'score%' "
                            "AND prediction IS NULL").fetchall()[0][0]
        cached = con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
    assert rows[4][1] == "error" and "FINAL" in rows[4][9]
    for latent in (0, 1, 3, 5):
        label, status, pearson_r, f1_score, auroc, random_auroc, failures, n_scored, is_proxy, _ = rows[latent]
        assert (label, status, failures, n_scored, is_proxy) == (f"synthetic feature {latent}", "complete", 0, 20, False)
        assert pearson_r == pytest.approx(1.0) and f1_score == 1.0 and auroc == 1.0
        assert random_auroc < 1.0  # another feature's label does not predict this one
    assert rows[2][6] == 5 and rows[2][7] == 15 and nulls == 5  # 5 unreadable ratings: counted, stored NULL
    assert cached == len(fake_openai.requests["chat"]) - 4  # every answered request (the faults were retried)
    explain_prompts = [r["messages"][-1]["content"] for r in fake_openai.requests["chat"] if "FINAL" in r["messages"][-1]["content"]]
    assert all("Activation: " in p and "NON-ACTIVATING ABSTRACTS" in p for p in explain_prompts)

    # Resume through the CLI: only the failed feature is asked again (1 explanation + 4 + 4 ratings).
    scripted.no_final_for = set()
    monkeypatch.setenv("SAE_ATLAS_ARTIFACTS", str(astro_warehouse.parent))
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    sent = len(fake_openai.requests["chat"])
    assert main(["astro", "--llm", "--max-features", "6", "--sae-id", str(SYNTHETIC_SAE)]) == 0
    assert len(fake_openai.requests["chat"]) - sent == 9
    with open_reader(astro_warehouse) as con:
        label, status, auroc = con.execute("SELECT label, status, auroc FROM interpretations WHERE latent = 4").fetchall()[0]
    assert (label, status, auroc) == ("synthetic feature 4", "complete", 1.0)
    output = capsys.readouterr().out
    assert "est. USD" in output and "gpt-4o-mini" in output


def test_llm_flag_without_key_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["astro", "--llm"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().out
