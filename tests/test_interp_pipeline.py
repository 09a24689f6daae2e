"""Auto-interpretation end to end on the shared astro data: offline path, and the LLM path
against the fake OpenAI server (429s, 500s, timeouts and unparseable answers included).

Over 300 lines as one file on purpose: both paths share the module-scoped trained warehouse and the fake server.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from data.text import text_hash
from data.warehouse import open_reader, open_writer
from evals.interp.__main__ import main
from evals.interp.config import InterpConfig, LLMPathConfig, OfflineConfig
from evals.interp.examples import READY, Corpus, ExampleSet, load_activations, load_corpus, select_examples
from evals.interp.phrase_labels import NO_CONCEPT
from evals.interp.pipeline import run_interpretation
from tests.fake_openai import Fault

FEATURES = 120
"""Features the offline test interprets (the whole-SAE run is `just bench interp`)."""


def activation_values(path, sae_id: int) -> dict[int, list[tuple[int, float]]]:
    with open_reader(path) as con:
        rows = con.execute("SELECT latent, doc_id, value FROM activations WHERE sae_id = ?", [sae_id]).fetchall()
    values: dict[int, list[tuple[int, float]]] = {}
    for latent, doc, value in rows:
        values.setdefault(latent, []).append((doc, value))
    return values


def active_sets(path, sae_id: int) -> dict[int, set[int]]:
    return {latent: {doc for doc, _ in pairs} for latent, pairs in activation_values(path, sae_id).items()}


def test_offline_path_on_shared_data(trained_astro_copy):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]  # n = 768, k = 32
    report = run_interpretation(path, "astro", sae_id=sae_id, use_llm=False, max_features=FEATURES)
    assert report.is_proxy and report.explainer == "offline-phrases"
    assert report.interpreted + report.not_interpretable == FEATURES and report.interpreted > FEATURES // 2
    active = active_sets(path, sae_id)
    top_values = activation_values(path, sae_id)
    with open_reader(path) as con:
        interp = con.execute(
            "SELECT latent, label, is_proxy, auroc_random, auroc_hard, random_auroc_random, "
            "random_auroc_hard, n_scored, predictor, reasoning FROM interpretations "
            "WHERE status = 'complete' ORDER BY latent"
        ).fetchall()
        rare = con.execute("SELECT latent FROM interpretations WHERE status = 'too_few_active'").fetchall()
        split = dict(con.execute("SELECT doc_id, split FROM docs").fetchall())
        eligible = {doc for (doc,) in con.execute("SELECT doc_id FROM docs WHERE length(abstract) > 100").fetchall()}
        examples = con.execute("SELECT latent, role, doc_id, activation, prediction FROM interp_examples").fetchall()
        summary = con.execute("SELECT summary FROM eval_summaries WHERE eval = 'interp:offline-phrases'").fetchall()
    assert len(interp) == report.interpreted and all(row[2] and row[1] for row in interp)
    named = [row for row in interp if row[1] != NO_CONCEPT]
    unclear = [row for row in interp if row[1] == NO_CONCEPT]
    assert named and unclear  # the gate keeps some phrases and turns down others
    # 5 to 10 held-out positives (as many as the test split has, at least 5) and 10 negatives
    assert all(15 <= row[7] <= 20 and None not in row[3:7] for row in named)
    assert all(
        row[7] is None and row[3] is None and ("best candidate" in row[9] or "no specific phrase" in row[9])
        for row in unclear
    )  # a rejected candidate is explained, never scored as if it were the label
    for (latent,) in rare:  # fewer than 5 (eligible) test abstracts to score on, or 3 training ones to explain
        on = [split[d] for d in active.get(latent, ()) if d in eligible]
        assert on.count("test") < 5 or on.count("train") < 3
    assert {row[8] for row in interp} == {"proxy-embedding+terms"}
    named_latents = {row[0] for row in named}
    by_latent: dict[int, dict[str, list]] = {}
    for latent, role, doc, activation, prediction in examples:
        by_latent.setdefault(latent, {}).setdefault(role, []).append((doc, activation, prediction))
    for latent, roles in by_latent.items():
        explain = {d for r, rows in roles.items() if r.startswith("explain") for d, _, _ in rows}
        scored = {d for r, rows in roles.items() if r.startswith("score") for d, _, _ in rows}
        assert not explain & scored, f"latent {latent}: held-out abstracts were shown to the explainer"
        assert {split[d] for d in explain} == {"train"}, f"latent {latent}: a test document explained the label"
        assert {split[d] for d in scored} == {"test"}, f"latent {latent}: scored on documents outside the test split"
        assert (
            5 <= len(roles["score_pos"]) <= 10 and len(roles["score_neg_random"]) + len(roles["score_neg_hard"]) == 10
        )
        assert {d for d, _, _ in roles["score_pos"]} <= active[latent]
        negatives = [d for r in roles if "neg" in r for d, _, _ in roles[r]]
        assert not set(negatives) & active[latent] and len(roles["explain_extra_neg_hard"]) == 45
        predicted = [p for r in roles if r.startswith("score") for _, _, p in roles[r]]
        if latent in named_latents:
            assert all(p is not None and -1 <= p <= 1 for p in predicted)
        else:
            assert all(p is None for p in predicted)
        # the top of the training ranking is in the explanation set (top-heavy)
        train_top = max(a for d, a in top_values[latent] if split[d] == "train" and d in eligible)
        assert max(a for _, a, _ in roles["explain_pos"]) == pytest.approx(train_top)
    own = np.array([(row[3] + row[4]) / 2 for row in named])
    borrowed = np.array([(row[5] + row[6]) / 2 for row in named])
    assert np.median(own) > np.median(borrowed)  # labels beat another feature's label
    assert '"clean_fraction"' in summary[0][0] and '"no_clear_concept"' in summary[0][0]
    # the labels' vectors are in the embedding cache, so `just report` does not embed them again
    with open_reader(path) as con:
        labels = [row[1] for row in named]
        cached = con.execute(
            "SELECT count(*) FROM embeddings WHERE model = 'all-MiniLM-L6-v2' AND text_hash IN (SELECT unnest(?))",
            [[text_hash(label) for label in labels]],
        ).fetchall()[0][0]
    assert cached == len(set(labels))

    again = run_interpretation(path, "astro", sae_id=sae_id, use_llm=False, max_features=FEATURES)
    assert again.interpreted == 0 and again.skipped_done == FEATURES  # resumable: nothing left to do


def test_term_matching_scorer(trained_astro_copy):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    config = InterpConfig(offline=OfflineConfig(scorer="terms", min_check_auroc=(0.5, 0.5)))
    report = run_interpretation(path, "astro", sae_id=sae_id, use_llm=False, max_features=30, config=config)
    assert report.predictor == "proxy-term-match" and report.interpreted > 0
    with open_reader(path) as con:
        rows = con.execute(
            "SELECT predictor, is_proxy, auroc FROM interpretations WHERE status = 'complete' AND label <> ?",
            [NO_CONCEPT],
        ).fetchall()
    assert {(r[0], r[1]) for r in rows} == {("proxy-term-match", True)} and all(0 <= r[2] <= 1 for r in rows)


def test_example_selection_is_reproducible(trained_astro_copy):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    first = run_interpretation(path, "astro", sae_id=sae_id, use_llm=False, max_features=8)
    with open_reader(path) as con:
        before = con.execute("SELECT * FROM interp_examples ORDER BY ALL").fetchall()
    with open_writer(path) as con:
        con.execute("DELETE FROM interpretations")
    second = run_interpretation(path, "astro", sae_id=sae_id, use_llm=False, max_features=8)
    with open_reader(path) as con:
        after = con.execute("SELECT * FROM interp_examples ORDER BY ALL").fetchall()
    assert first.interpreted == second.interpreted > 0 and before == after and len(before) > 0


class ScriptedLLM:
    """Answers like a perfect explainer/predictor that knows the SAE's stored activations.

    Explain: the label names the latent whose top abstract is shown first. Predict: +0.9 for an
    abstract the named latent fires on, -0.9 otherwise; some answers are deliberately unreadable.
    """

    def __init__(self, path, sae_id: int, latents):
        self.active = active_sets(path, sae_id)
        with open_reader(path) as con:
            texts = dict(con.execute("SELECT doc_id, title || '\n\n' || abstract FROM docs").fetchall())
            # the top abstract the explainer is shown: the strongest eligible one of the training split
            tops = con.execute(
                "SELECT a.latent, arg_max(a.doc_id, a.value) FROM activations a JOIN docs d USING (doc_id) "
                "WHERE a.sae_id = ? AND d.split = 'train' AND length(d.abstract) > 100 "
                "AND a.latent IN (SELECT unnest(?)) "
                "GROUP BY a.latent",
                [sae_id, list(latents)],
            ).fetchall()
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
        described = re.search(r"Feature description: synthetic feature (\d+)", prompt)
        assert described is not None, prompt
        latent = int(described.group(1))
        shown = re.findall(
            r"Abstract (\d+):\n(.*?)(?=\n\n------------------------\n|\n\nFor each abstract)", prompt, re.S
        )
        docs = [self.doc_of_text[text[:200]] for _, text in shown]
        if self.garble is not None and self.garble[0] == latent and self.garble[1] in docs:
            return "The abstracts are all interesting."
        lines = [
            f"{number}: {0.9 if doc in self.active[latent] else -0.9}"
            for (number, _), doc in zip(shown, docs, strict=False)
        ]
        return "Thinking...\n" + "\n".join(lines)


def interpretable_latents(path, sae_id: int, count: int) -> tuple[list[int], ExampleSet, Corpus]:
    """The first ``count`` latents of the SAE that fire often enough to be interpreted, with the examples
    and the corpus they were selected from."""
    config = llm_config()
    with open_reader(path) as con:
        corpus = load_corpus(con, "all-MiniLM-L6-v2", config.examples.min_abstract_chars)
        activations = load_activations(con, sae_id, 768, corpus)
    examples = select_examples(corpus, activations, np.arange(768), config.examples)
    return [latent for latent in range(768) if examples.status[latent] == READY][:count], examples, corpus


def held_out_positive(examples, corpus, latent: int) -> int:
    """A doc the pipeline will hold out for ``latent`` (selection is deterministic)."""
    return int(corpus.doc_ids[examples.doc_index[examples.of(latent, "score_pos")][0]])


def llm_config() -> InterpConfig:
    return InterpConfig(
        llm_path=LLMPathConfig(
            explainer_model="gpt-4o",
            predictor_model="gpt-4o-mini",
            timeout_s=1.0,
            max_retries=4,
            features_per_batch=3,
            max_concurrency=4,
        )
    )


def test_llm_path_end_to_end_against_fake_server(trained_astro_copy, fake_openai, monkeypatch, capsys):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    latents, examples, corpus = interpretable_latents(path, sae_id, 6)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    scripted = ScriptedLLM(path, sae_id, latents)
    failing, garbled = latents[4], latents[2]
    scripted.no_final_for = {failing}
    scripted.garble = (garbled, held_out_positive(examples, corpus, garbled))
    fake_openai.chat = scripted
    fake_openai.faults["chat"] += [
        Fault.status_code(429),
        Fault.status_code(500),
        Fault.timeout(2.0),
        Fault.status_code(503),
    ]

    report = run_interpretation(
        path,
        "astro",
        sae_id=sae_id,
        use_llm=True,
        max_features=latents[-1] + 1,
        config=llm_config(),
        llm_base_url=fake_openai.base_url,
    )
    assert (report.interpreted, report.errors) == (5, 1) and not report.is_proxy
    with open_reader(path) as con:
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT latent, label, status, pearson, f1, auroc, random_auroc, parse_failures, n_scored, is_proxy, "
                "error "
                "FROM interpretations WHERE explainer = 'gpt-4o' AND status IN ('complete', 'error')"
            ).fetchall()
        }
        nulls = con.execute(
            "SELECT count(*) FROM interp_examples WHERE latent = ? AND role LIKE 'score%' AND prediction IS NULL",
            [garbled],
        ).fetchall()[0][0]
        cached = con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
    assert sorted(rows) == latents
    assert rows[failing][1] == "error" and "FINAL" in rows[failing][9]
    for latent in set(latents) - {failing, garbled}:
        label, status, pearson_r, f1_score, auroc, random_auroc, failures, n_scored, is_proxy, _ = rows[latent]
        held_out = len(
            examples.of(latent, "score_pos", "score_neg_random", "score_neg_hard")
        )  # 5-10 test positives + 10
        assert (label, status, failures, n_scored, is_proxy) == (
            f"synthetic feature {latent}",
            "complete",
            0,
            held_out,
            False,
        )
        assert pearson_r == pytest.approx(1.0) and f1_score == 1.0 and auroc == 1.0
        assert random_auroc < 1.0  # another feature's label does not predict this one
    garbled_held_out = len(examples.of(garbled, "score_pos", "score_neg_random", "score_neg_hard"))
    assert (
        rows[garbled][6] == 5 and rows[garbled][7] == garbled_held_out - 5 and nulls == 5
    )  # unreadable: counted, stored NULL
    assert cached == len(fake_openai.requests["chat"]) - 4  # every answered request (the faults were retried)
    explain_prompts = [
        r["messages"][-1]["content"] for r in fake_openai.requests["chat"] if "FINAL" in r["messages"][-1]["content"]
    ]
    assert all("Activation: " in p and "NON-ACTIVATING ABSTRACTS" in p for p in explain_prompts)

    # Resume through the CLI: only the failed feature is asked again (1 explanation + 4 + 4 ratings).
    scripted.no_final_for = set()
    monkeypatch.setenv("SAE_ATLAS_ARTIFACTS", str(path.parent))
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    sent = len(fake_openai.requests["chat"])
    assert main(["astro", "--llm", "yes", "--max-features", str(latents[-1] + 1), "--sae-id", str(sae_id)]) == 0
    assert len(fake_openai.requests["chat"]) - sent == 9
    with open_reader(path) as con:
        label, status, auroc = con.execute(
            "SELECT label, status, auroc FROM interpretations WHERE latent = ? AND sae_id = ?", [failing, sae_id]
        ).fetchall()[0]
    assert (label, status, auroc) == (f"synthetic feature {failing}", "complete", 1.0)
    output = capsys.readouterr().out
    assert "est. USD" in output and "gpt-4o-mini" in output


def test_llm_flag_without_key_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["astro", "--llm", "yes"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().out


class LocalModel:
    """A local server's model (Ollama / llama.cpp / vLLM dialect): it answers explain requests with
    JSON candidates for some features and ignores the requested format (prose + FINAL lines) for
    the others; it rates every abstract mildly."""

    def __init__(self, prose_for: set[str]):
        self.prose_for = prose_for
        """Titles of top abstracts whose features get prose answers."""

    def __call__(self, request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "ACTIVATING ABSTRACTS" not in prompt:
            count = len(re.findall(r"^Abstract \d+:", prompt, re.M))
            return "\n".join(f"{i + 1}: {0.5 if i % 2 else -0.5}" for i in range(count))
        title = prompt.split("ACTIVATING ABSTRACTS:\n", 1)[1].split("\n")[1].strip()
        if title in self.prose_for:
            return f"The abstracts share a theme.\nFINAL: zzz qqq\nFINAL: {title}\nFINAL: topic of the papers"
        return json.dumps({"reasoning": "shared theme", "candidates": ["topic: astrophysics", "zzz qqq", title]})


def test_local_server_without_key_structured_or_not(trained_astro_copy, fake_openai, monkeypatch, capsys):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[0]
    latents, examples, corpus = interpretable_latents(path, sae_id, 4)
    top_title = {
        latent: corpus.texts[
            examples.doc_index[examples.of(latent, "explain_pos")][
                np.argmax(examples.activation[examples.of(latent, "explain_pos")])
            ]
        ]
        .split("\n", 1)[0]
        .strip()
        for latent in latents
    }
    prose = {top_title[latents[1]]}
    fake_openai.chat = LocalModel(prose)
    fake_openai.faults["chat"] += [Fault.status_code(400)] * 3  # the first explain round: "response_format unsupported"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("SAE_ATLAS_ARTIFACTS", str(path.parent))
    assert (
        main(
            [
                "astro",
                "--llm",
                "yes",
                "--llm-base-url",
                fake_openai.base_url,
                "--llm_path.explainer_model",
                "qwen2.5:7b",
                "--llm_path.predictor_model",
                "qwen2.5:7b",
                "--max-features",
                str(latents[-1] + 1),
                "--sae-id",
                str(sae_id),
            ]
        )
        == 0
    )
    chats = fake_openai.requests["chat"]
    assert {r["model"] for r in chats} == {"qwen2.5:7b"}  # the model named on the command line, for both roles
    explains = [r for r in chats if "ACTIVATING ABSTRACTS" in r["messages"][-1]["content"]]
    assert any(r.get("response_format", {}).get("type") == "json_schema" for r in explains)  # structured output asked
    assert any("response_format" not in r for r in explains)  # ... and asked again without it after the 400s
    with open_reader(path) as con:
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT latent, label, reasoning, auroc_random, auroc_hard "
                "FROM interpretations WHERE explainer = 'qwen2.5:7b' "
                "AND status = 'complete'"
            ).fetchall()
        }
    assert sorted(rows) == latents
    for latent in latents:  # generic candidates filtered out; of the rest, the best on the explanation examples kept
        label, reasoning, auroc_random, auroc_hard = rows[latent]
        scored = dict(
            (name, float(value)) for name, value in re.findall(r"'([^']+)' ([0-9.]+)", reasoning.split("proxy): ")[1])
        )
        assert set(scored) == {
            "zzz qqq",
            " ".join(top_title[latent].split()[:8]).strip("*_`\"' ."),
        }  # JSON or FINAL lines
        assert label == max(scored, key=scored.get) and auroc_random is not None and auroc_hard is not None
