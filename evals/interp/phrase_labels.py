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
from evals.interp.candidate_scorer import CandidateScorer
from evals.interp.config import OfflineConfig
from evals.interp.examples import ExampleSet, derangement
from evals.interp.metrics import auroc
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
    candidates = [_candidates(index, docs.half(0), specific, corpus_share, config) for docs in features]
    phrases = sorted({phrase for found in candidates for phrase in found})
    phrase_vectors = scorer.vectors(phrases)  # one batch: every feature's candidates embedded once
    row_of = {phrase: row for row, phrase in enumerate(phrases)}
    shortlists = [
        _shortlist(index, scorer, phrase_vectors, found, [row_of[p] for p in found], docs.half(0), config)
        for docs, found in tracked(zip(features, candidates, strict=False), f"labelling {what}", what, len(features))
    ]
    # The shortlisted labels joining two phrases are embedded as the text they are, and judged by it.
    texts = sorted({text for shortlist in shortlists for text in shortlist})
    vectors = scorer.vectors(texts)
    row_of = {text: row for row, text in enumerate(texts)}
    chosen: list[tuple[str, float] | None] = []
    for docs, shortlist in zip(features, shortlists, strict=False):
        if not shortlist:
            chosen.append(None)
            continue
        select = np.array([np.mean(_aurocs(scorer, vectors, row_of[text], docs.half(0))) for text in shortlist])
        preferred = select + config.phrase_bonus * np.array([_extra_words(text) for text in shortlist])
        best = int(np.nanargmax(preferred)) if not np.isnan(preferred).all() else 0
        chosen.append((shortlist[best], float(select[best])))
    return _check(features, chosen, scorer, vectors, row_of, config, rng)


def _extra_words(label: str) -> int:
    """Content words beyond one per phrase: what a longer phrase says more ("weak lensing" over "lensing")."""
    return len(content_words(label)) - len(label.split(LABEL_SEPARATOR))


def _candidates(
    index: PhraseIndex, docs: ExplanationDocs, specific: np.ndarray, corpus_share: np.ndarray, config: OfflineConfig
) -> list[str]:
    """The ``config.max_candidates`` phrases most held by the select positives against their negatives.

    A phrase qualifies when it names something specific (a rare word), or when the positives hold
    it at least ``min_enrichment`` times as often as the corpus does (a broad feature's common words).
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
    return [index.phrases[p] for p in held]


def _shortlist(
    index: PhraseIndex,
    scorer: LabelScorer,
    phrase_vectors,
    phrases: list[str],
    rows: list[int],
    docs: ExplanationDocs,
    config: OfflineConfig,
) -> list[str]:
    """The ``config.shortlist`` best labels under the predictor: each a top phrase, extended while that helps.

    A candidate must be held by ``min_held_margin`` more of the positives than of the negatives; each is
    scored like a label (AUROC of the predictor's similarity, positives against random and against hard
    negatives, averaged). A second phrase must share no content word with
    the first ("degrees; degrees of freedom" says nothing more) and raise the score by ``min_gain``.
    Two phrases are judged here by the normalised sum of their vectors (the joined text is embedded
    only for the shortlist). Each content word beyond the first counts ``phrase_bonus`` in the ranking.
    """
    if not phrases:
        return []
    word_sets = [frozenset(index.word_id[w] for w in content_words(p) if w in index.word_id) for p in phrases]
    combined = CandidateScorer(index, scorer, phrase_vectors, rows, word_sets, docs)
    # A label's words must be in the feature's abstracts: a word whose embedding merely leans the right
    # way ("lepton" for a feature of AGN abstracts) predicts the proxy and tells a reader nothing.
    literal = combined.held_margin() >= config.min_held_margin
    if not literal.any():
        return []
    single = np.full(len(phrases), -np.inf)  # only literal phrases are scored (each label's AUROC is its own)
    kept = np.flatnonzero(literal)
    single[kept] = combined.scores([(i,) for i in kept.tolist()])
    labels: list[str] = []
    preferred = single + config.phrase_bonus * np.array([len(words) - 1 for words in word_sets])
    for first in np.argsort(-preferred, kind="stable")[: min(config.shortlist, int(literal.sum()))].tolist():
        chosen: tuple[int, ...] = (first,)
        best = float(single[first])
        while len(chosen) < config.max_phrases:
            used = frozenset().union(*(word_sets[c] for c in chosen))
            others = [i for i in range(len(phrases)) if literal[i] and not word_sets[i] & used]
            if not others:
                break
            extended = combined.scores([(*chosen, i) for i in others])
            pick = int(np.argmax(extended))
            if extended[pick] < best + config.min_gain:
                break
            chosen, best = (*chosen, others[pick]), float(extended[pick])
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
