"""The offline explainer: the best phrase of the positives, or "(no clear concept)" (no LLM; a proxy).

For each feature, on its *explanation* examples only (the held-out ones never influence a label):
1. the examples are cut in two halves, each spanning the activation range: a *select* half and a
   *check* half;
2. candidates are the phrases (``evals.interp.phrases``) held by enough select positives that
   name something specific (at least one word rare in the corpus), pruned by how much more often
   positives hold them than random and hard negatives do;
3. each candidate is scored like a label: AUROC of its term match, positives against random
   negatives and against hard negatives, averaged; the best is kept, and a further phrase is added
   ("weak lensing; cluster masses") only while it raises that score by ``min_gain``
   (HypotheSAEs' "several candidates, keep the best", offline);
4. on the check half the kept label must beat the other-label baseline (another feature's label
   on the same examples) by ``min_margin``; otherwise the feature is labelled
   "(no clear concept)" instead of a made-up name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.progress import tracked
from evals.interp.config import OfflineConfig
from evals.interp.examples import ExampleSet, derangement
from evals.interp.metrics import auroc, column_aurocs
from evals.interp.phrases import PhraseIndex, content_words
from evals.interp.proxy import LabelScorer

EXPLAINER_NAME = "offline-phrases"
NO_CONCEPT = "(no clear concept)"
LABEL_SEPARATOR = "; "


@dataclass(frozen=True)
class ExplanationDocs:
    """One feature's explanation examples (corpus positions): positives strongest first."""

    positives: np.ndarray
    random: np.ndarray
    hard: np.ndarray

    def half(self, which: int) -> ExplanationDocs:
        """Every other example from ``which`` (0 = select, 1 = check): both halves span the range."""
        return ExplanationDocs(self.positives[which::2], self.random[which::2], self.hard[which::2])


def explanation_docs(examples: ExampleSet, latent: int) -> ExplanationDocs:
    """A feature's explanation examples (every explain_* role), positives strongest first."""
    positives = examples.of(latent, "explain_pos", "explain_extra_pos")
    positives = positives[np.argsort(-examples.activation[positives], kind="stable")]
    return ExplanationDocs(
        examples.doc_index[positives],
        examples.doc_index[examples.of(latent, "explain_neg_random", "explain_extra_neg_random")],
        examples.doc_index[examples.of(latent, "explain_neg_hard", "explain_extra_neg_hard")],
    )


@dataclass(frozen=True)
class PhraseLabel:
    label: str
    """The kept phrase(s), or ``NO_CONCEPT``."""
    candidate: str | None
    """The best candidate (also when it was rejected); None when no phrase qualified."""
    select_score: float
    """Mean AUROC (random, hard) of the candidate on the select half."""
    check: tuple[float, float]
    """AUROC against random and against hard negatives on the check half."""
    baseline: tuple[float, float]
    """The same for another feature's candidate (the other-label baseline)."""

    @property
    def named(self) -> bool:
        return self.label != NO_CONCEPT


def explain_phrases(
    index: PhraseIndex,
    features: list[ExplanationDocs],
    config: OfflineConfig,
    scorer: LabelScorer,
    rng: np.random.Generator,
    what: str = "features",
) -> list[PhraseLabel]:
    """A phrase label (or ``NO_CONCEPT``) per feature, every score under ``scorer`` (the predictor).

    ``what`` names the items on the progress bar (features, or families for the families labeller).
    """
    rare_word = index.word_fraction() <= config.max_word_share
    specific = np.array(
        [any(rare_word[index.word_id[w]] for w in content_words(p) if w in index.word_id) for p in index.phrases],
        dtype=bool,
    )
    corpus_share = np.bincount(index.phrase_docs.indices, minlength=len(index.phrases)) / max(index.n_docs, 1)
    shortlists = [_shortlist(index, docs.half(0), specific, corpus_share, config) for docs in features]
    texts = sorted({text for shortlist in shortlists for text in shortlist})
    vectors = scorer.vectors(texts)
    row_of = {text: row for row, text in enumerate(texts)}
    chosen: list[tuple[str, float] | None] = []
    pairs = zip(features, shortlists, strict=False)
    for docs, shortlist in tracked(pairs, f"labelling {what}", what, total=len(features)):
        if not shortlist:
            chosen.append(None)
            continue
        select = [_aurocs(scorer, vectors, row_of[text], docs.half(0)) for text in shortlist]
        best = int(np.nanargmax([np.mean(a) for a in select])) if not np.isnan(np.mean(select)) else 0
        chosen.append((shortlist[best], float(np.mean(select[best]))))
    return _check(features, chosen, scorer, vectors, row_of, config, rng)


def _shortlist(
    index: PhraseIndex, docs: ExplanationDocs, specific: np.ndarray, corpus_share: np.ndarray, config: OfflineConfig
) -> list[str]:
    """The ``config.shortlist`` best labels by term match: each a top phrase, extended while that helps.

    A phrase names something specific when it holds a rare word, or when the positives hold it at
    least ``min_enrichment`` times as often as the corpus does (a broad feature's common words).
    """
    if len(docs.positives) == 0:
        return []
    share = np.asarray(index.phrase_docs[docs.positives].mean(axis=0)).ravel()
    held = np.flatnonzero(
        (share * len(docs.positives) >= config.min_phrase_docs)
        & (share >= config.min_phrase_share)
        & (specific | (share >= config.min_enrichment * corpus_share))
    )
    if not held.size:
        return []
    random_share = np.asarray(index.phrase_docs[docs.random][:, held].mean(axis=0)).ravel()
    hard_share = np.asarray(index.phrase_docs[docs.hard][:, held].mean(axis=0)).ravel()
    held = held[np.argsort(-(2 * share[held] - random_share - hard_share), kind="stable")[: config.max_candidates]]
    phrases = [index.phrases[p] for p in held]
    word_sets = [frozenset(index.word_id[w] for w in content_words(p) if w in index.word_id) for p in phrases]
    words = np.array(sorted(set().union(*word_sets)), dtype=np.int64)
    local = {w: i for i, w in enumerate(words.tolist())}
    present = index.word_docs[np.r_[docs.positives, docs.random, docs.hard]][:, words].toarray()  # (docs, words)
    idf = index.idf[words]
    n_pos, n_random = len(docs.positives), len(docs.random)

    def scores(sets: list[frozenset[int]]) -> np.ndarray:
        weights = np.zeros((len(words), len(sets)))
        for column, members in enumerate(sets):
            rows = [local[w] for w in members]
            weights[rows, column] = idf[rows] / idf[rows].sum()
        match = present @ weights
        positive = match[:n_pos]
        return (
            column_aurocs(positive, match[n_pos : n_pos + n_random])
            + column_aurocs(positive, match[n_pos + n_random :])
        ) / 2

    single = scores(word_sets)
    labels: list[str] = []
    # Best first; among equal scores the phrase with more words (it says more).
    for first in np.lexsort((-np.array([len(w) for w in word_sets]), -single))[: config.shortlist].tolist():
        chosen, best, words_in = [first], float(single[first]), word_sets[first]
        while len(chosen) < config.max_phrases:
            others = [i for i in range(len(phrases)) if i not in chosen and not word_sets[i] <= words_in]
            if not others:
                break
            extended = scores([words_in | word_sets[i] for i in others])
            pick = int(np.argmax(extended))
            if extended[pick] < best + config.min_gain:
                break
            chosen.append(others[pick])
            best, words_in = float(extended[pick]), words_in | word_sets[others[pick]]
        text = LABEL_SEPARATOR.join(phrases[i] for i in chosen)
        if text not in labels:
            labels.append(text)
    return labels


def _check(
    features: list[ExplanationDocs],
    chosen: list[tuple[str, float] | None],
    scorer: LabelScorer,
    vectors,
    row_of: dict[str, int],
    config: OfflineConfig,
    rng: np.random.Generator,
) -> list[PhraseLabel]:
    """Each chosen label against another feature's chosen label on the check half."""
    have = [(i, c) for i, c in enumerate(chosen) if c is not None]
    nan2 = (float("nan"), float("nan"))
    labels = [PhraseLabel(NO_CONCEPT, None, float("nan"), nan2, nan2) for _ in features]
    borrowed = derangement(len(have), rng) if len(have) > 1 else None
    for position, (i, (text, select_score)) in enumerate(have):
        docs = features[i].half(1)
        own = _aurocs(scorer, vectors, row_of[text], docs)
        other = (
            _aurocs(scorer, vectors, row_of[have[int(borrowed[position])][1][0]], docs)
            if borrowed is not None
            else nan2
        )
        beats = (
            not np.isnan(np.mean(own))
            and own[0] >= config.min_check_auroc[0]
            and own[1] >= config.min_check_auroc[1]
            and (np.isnan(np.mean(other)) or np.mean(own) > np.mean(other) + config.min_margin)
        )
        labels[i] = PhraseLabel(text if beats else NO_CONCEPT, text, select_score, own, other)
    return labels


def _aurocs(scorer: LabelScorer, vectors, row: int, docs: ExplanationDocs) -> tuple[float, float]:
    """AUROC of one label's similarity, positives against random and against hard negatives."""
    all_docs = np.r_[docs.positives, docs.random, docs.hard]
    similarity = scorer.similarities(vectors, np.full(len(all_docs), row), all_docs)
    n_pos, n_random = len(docs.positives), len(docs.random)
    truth = np.r_[np.ones(n_pos, bool), np.zeros(len(all_docs) - n_pos, bool)]
    random_part = np.arange(n_pos + n_random)
    hard_part = np.r_[np.arange(n_pos), np.arange(n_pos + n_random, len(all_docs))]
    return auroc(similarity[random_part], truth[random_part]), auroc(similarity[hard_part], truth[hard_part])


def duplicate_of(latents: list[int], labels: list[str], quality: list[float]) -> dict[int, int]:
    """Near-duplicate labels (the same content words, in any order or number): latent -> the better one.

    Within a group the latent with the highest ``quality`` keeps its label unflagged.
    """
    groups: dict[frozenset[str], list[tuple[float, int]]] = {}
    for latent, label, q in zip(latents, labels, quality, strict=False):
        key = frozenset(content_words(label))
        if key and label != NO_CONCEPT:
            groups.setdefault(key, []).append((-np.nan_to_num(q, nan=-np.inf), latent))
    flagged = {}
    for members in groups.values():
        members.sort()
        flagged.update({latent: members[0][1] for _, latent in members[1:]})
    return flagged
