"""Family labels and scores, computed like a single feature's (interp's examples, explainer, scorer).

A family becomes a pseudo-feature whose activation on a document is the max (or sum) of its
members' activations. interp's example selection then picks its explanation and held-out
abstracts (stratified positives, random and hard negatives), interp's phrase explainer labels
it offline (or says "(no clear concept)"), and interp's proxy scorer rates the held-out abstracts against the
label (calibrated on the explanation examples only) for Pearson, F1 and AUROC.
With an API key the explainer LLM names the family instead (the paper's "superfeature" prompt,
given the member labels, the best phrase and top abstracts) and interp's LLM predictor rates the
held-out abstracts against that name, exactly as for a single feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from data.embed import make_embedder
from data.embed.local import LOCAL_MODEL
from data.warehouse import open_reader, open_writer
from evals.cooccurrence import TopK
from evals.families.activation import family_activation
from evals.families.graph import Family
from evals.families.store import FamilyLabel
from evals.interp.config import InterpConfig
from evals.interp.examples import READY, ROLE_CODE, SCORE_ROLES, group_activations, load_corpus, select_examples
from evals.interp.llm_path import predict_round
from evals.interp.metrics import score
from evals.interp.phrase_labels import EXPLAINER_NAME, NO_CONCEPT, PhraseLabel, explain_phrases, explanation_docs
from evals.interp.phrases import PhraseIndex
from evals.interp.prompts import parse_label
from evals.interp.proxy import LabelScorer
from evals.interp.store import FeatureResult
from evals.llm import LLMClient, LLMSettings

FAMILY_PROMPT = """You are an expert in {field}. Below are the labels of related features that a \
sparse autoencoder learned from {field} abstracts: a general parent feature and its more specific \
children, plus the best phrase and the titles of abstracts where the family is most active.
Step 1: brainstorm general concepts that these features share.
Step 2: pick the one high-level concept that covers most children, as specific as possible.
Step 3: answer with 2-8 words, without "in {field}", on the last line as: FINAL: <concept>"""
FIELDS = {"astro": "astronomy and astrophysics", "cslg": "machine learning and AI"}


@dataclass
class FamilyLabeller:
    """Labels and scores families: offline phrases + proxy scorer, or the LLM explainer + predictor."""

    interp: InterpConfig
    """Example counts, offline scorer and LLM models: the same as for single features."""
    reduce: str
    """Family activation: ``max`` or ``sum`` of member activations."""
    use_llm: bool = False
    corpus_name: str = "astro"
    llm_base_url: str | None = None
    """OpenAI-compatible endpoint (default: ``OPENAI_BASE_URL`` or api.openai.com)."""
    _embedder: object = field(default=None, init=False, repr=False)

    def label(self, warehouse: str | Path, sae_id: int, families: list[Family], topk: TopK) -> list[FamilyLabel]:
        if not families:
            return []
        with open_reader(warehouse) as con:
            embed_model = con.execute("SELECT embed_model FROM saes WHERE sae_id = ?", [sae_id]).fetchall()[0][0]
            corpus = load_corpus(con, embed_model, self.interp.examples.min_abstract_chars)
            member_labels = _member_labels(con, sae_id)
        pieces = [
            family_activation(
                topk.doc_ids, topk.latents, topk.stored_values, [m.latent for m in f.members], self.reduce
            )
            for f in families
        ]
        activations = group_activations(
            np.repeat(np.arange(len(families)), [docs.size for docs, _ in pieces]),
            np.concatenate([docs for docs, _ in pieces]),
            np.concatenate([acts for _, acts in pieces]),
            len(families),
            corpus.doc_ids,
        )
        offline = self.interp.offline
        examples = select_examples(
            corpus,
            activations,
            np.arange(len(families)),
            self.interp.examples,
            extra_positives=offline.explain_extra_positives,
            extra_negatives=offline.explain_extra_negatives,
        )
        ready = [i for i in range(len(families)) if examples.status[i] == READY]
        labels: list[FamilyLabel] = [FamilyLabel(None, not self.use_llm) for _ in families]
        if not ready:
            return labels
        index = PhraseIndex.build(corpus.texts, offline.max_phrase_words)
        # The embedding part needs the corpus's own embedding model; other models use term matching only.
        scorer = offline.scorer if embed_model == LOCAL_MODEL else "terms"
        label_scorer = LabelScorer(
            scorer, corpus, index, self._local_embedder() if scorer != "terms" else None, offline.term_weight
        )
        phrases = explain_phrases(
            index,
            [explanation_docs(examples, i) for i in ready],
            offline,
            label_scorer,
            np.random.default_rng([self.interp.examples.seed, 5]),
            what="families",
        )
        if self.use_llm:
            labels = self._llm_labels(warehouse, families, ready, phrases, member_labels, corpus, examples, labels)
        else:
            labels = self._offline_labels(ready, phrases, label_scorer, examples, labels)
        # A family's density: the share of documents where any member is active (its activation > 0).
        density = np.array([np.count_nonzero(acts > 0) / max(corpus.size, 1) for _, acts in pieces])
        nan = float("nan")
        verdicts = self.interp.clean.accepts(
            np.array([nan if x.pearson is None else x.pearson for x in labels]),
            np.array([nan if x.f1 is None else x.f1 for x in labels]),
            density,
        )
        return [replace(x, clean=bool(verdict)) for x, verdict in zip(labels, verdicts, strict=False)]

    def _offline_labels(
        self, ready, phrases: list[PhraseLabel], label_scorer: LabelScorer, examples, labels
    ) -> list[FamilyLabel]:
        """Phrase labels scored by interp's proxy; a family without a clear phrase is "(no clear concept)"."""
        named = [(i, p.label) for i, p in zip(ready, phrases, strict=False) if p.named]
        ratings, _ = label_scorer.ratings(
            examples,
            np.array([i for i, _ in named], dtype=np.int64),
            [text for _, text in named],
            np.random.default_rng([self.interp.examples.seed, 7]),
        )
        for i, phrase in zip(ready, phrases, strict=False):
            labels[i] = FamilyLabel(phrase.label, True)
        for i, text in named:
            rows = examples.of(i, *SCORE_ROLES)
            scores = score(ratings[rows], examples.role[rows] == ROLE_CODE["score_pos"])
            labels[i] = FamilyLabel(text, True, *_finite_scores(scores))
        return labels

    def _llm_labels(
        self, warehouse, families, ready, phrases, member_labels, corpus, examples, labels
    ) -> list[FamilyLabel]:
        """Explainer names, rated on the held-out abstracts by interp's LLM predictor."""
        titles = [
            [corpus.texts[d].split("\n", 1)[0] for d in examples.doc_index[examples.of(i, "explain_pos")]]
            for i in ready
        ]
        names = self._llm_names(
            warehouse, [families[i] for i in ready], [p.candidate or "" for p in phrases], member_labels, titles
        )
        results = [FeatureResult(i, "complete", label=name) for i, name in zip(ready, names, strict=False) if name]
        predict_round(
            self._client(warehouse, self.interp.llm_path.predictor_model),
            self.corpus_name,
            corpus,
            examples,
            results,
            self.interp.llm_path,
            self.interp.examples.seed,
            {},
        )
        for result in results:
            labels[result.latent] = FamilyLabel(result.label, False, *_finite_scores(result.scores))
        return labels

    def _local_embedder(self):
        """The local MiniLM, loaded once per labeller (it is reused for every SAE of a run)."""
        if self._embedder is None:
            self._embedder = make_embedder("local", LOCAL_MODEL)
        return self._embedder

    def _client(self, warehouse, model: str) -> LLMClient:
        settings = self.interp.llm_path
        return LLMClient(
            LLMSettings(
                model=model,
                base_url=self.llm_base_url,
                max_concurrency=settings.max_concurrency,
                timeout_s=settings.timeout_s,
                max_retries=settings.max_retries,
            ),
            lambda: open_writer(warehouse),
        )

    def _llm_names(
        self,
        warehouse,
        families: list[Family],
        best_phrases: list[str],
        member_labels: dict[int, str],
        titles: list[list[str]],
    ) -> list[str | None]:
        """The explainer's name per family (None where the request failed or had no FINAL line)."""
        subject = FIELDS.get(self.corpus_name, self.corpus_name)
        requests = []
        for family, phrase, top_titles in zip(families, best_phrases, titles, strict=False):
            children = [member_labels.get(m.latent, f"feature {m.latent} (unlabelled)") for m in family.members[1:]]
            user = "\n".join(
                [
                    f"Parent: {member_labels.get(family.root, f'feature {family.root} (unlabelled)')}",
                    "Children:",
                    *[f"- {c}" for c in children],
                    f"Best phrase of its abstracts: {phrase or '(none)'}",
                    "Top abstracts:",
                    *[f"- {t}" for t in top_titles],
                ]
            )
            requests.append(
                [{"role": "system", "content": FAMILY_PROMPT.format(field=subject)}, {"role": "user", "content": user}]
            )
        answers = self._client(warehouse, self.interp.llm_path.explainer_model).complete_many(requests)
        return [None if isinstance(answer, Exception) else parse_label(answer.text) for answer in answers]

    def describe(self, labels: list[FamilyLabel]) -> dict:
        """How the labels were made and how well they score (means over labelled families)."""
        labelled = [x for x in labels if x.label and x.label != NO_CONCEPT]
        summary = {
            "path": self.interp.llm_path.explainer_model if self.use_llm else EXPLAINER_NAME,
            "family_activation": self.reduce,
            "labelled": len(labelled),
            "families": len(labels),
        }
        for metric in ("pearson", "f1", "auroc"):
            values = [getattr(x, metric) for x in labelled if getattr(x, metric) is not None]
            summary[f"mean_{metric}"] = float(np.mean(values)) if values else None
        return summary


def _member_labels(con, sae_id: int) -> dict[int, str]:
    """The best stored label per latent (``best_labels``)."""
    rows = con.execute("SELECT latent, label FROM best_labels WHERE sae_id = ?", [sae_id]).fetchall()
    return {int(latent): label for latent, label in rows}


def _finite_scores(scores) -> tuple[float | None, float | None, float | None]:
    """(pearson, f1, auroc) with undefined (NaN) scores as None; all None without scores."""
    if scores is None:
        return None, None, None
    pearson, f1, auroc = (float(v) if np.isfinite(v) else None for v in (scores.pearson, scores.f1, scores.auroc))
    return pearson, f1, auroc
