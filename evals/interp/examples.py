"""Which abstracts each feature is explained with and scored on, from the stored activations.

Per feature (reproducible: a feature's draws depend only on the seed and its latent id):
- explanation positives: the top ``explain_top`` abstracts plus ``explain_quantile`` drawn
  across activation quantiles below them (top-heavy, like Delphi's quantile sampling);
- held-out positives: ``score_positives`` drawn evenly across the quantile bins, never shown to
  the explainer;
- negatives (non-activating): random ones and hard ones, the non-activating abstracts nearest to
  the mean embedding of the explanation positives; explanation and scoring sets are disjoint.
Explanation examples come from the training split only and held-out examples from the test split
only (``docs.split``, see data/split.py), so a label is scored on abstracts that neither the SAE
nor the explainer ever saw.
Everything is loaded once and computed in numpy, with the hard-negative search batched over
features as matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from data.embeddings import load_embeddings
from data.split import TEST
from evals.cooccurrence import load_topk
from evals.interp.config import ExampleConfig

ROLES = (
    "explain_pos",
    "explain_extra_pos",
    "explain_neg_random",
    "explain_neg_hard",
    "score_pos",
    "score_neg_random",
    "score_neg_hard",
    "explain_extra_neg_random",
    "explain_extra_neg_hard",
)
ROLE_CODE = {role: code for code, role in enumerate(ROLES)}
SCORE_ROLES = tuple(r for r in ROLES if r.startswith("score_"))
EXPLAIN_POSITIVE_ROLES = ("explain_pos",)
READY, TOO_FEW_ACTIVE, TOO_FEW_INACTIVE = "ready", "too_few_active", "too_few_inactive"


@dataclass
class Corpus:
    """The corpus as the interpreter needs it: embeddings, texts, which docs may be examples."""

    doc_ids: np.ndarray
    """(N,) sorted warehouse doc ids; every other array is indexed by position here."""
    embeddings: np.ndarray
    """(N, d) float32 unit vectors (the corpus embedding model the SAE was trained on)."""
    texts: list[str]
    """title + "\\n\\n" + abstract."""
    eligible: np.ndarray
    """(N,) bool: long enough to be an example."""
    in_test: np.ndarray
    """(N,) bool: in the test split (held-out examples only, never explanation examples)."""

    @property
    def size(self) -> int:
        return len(self.doc_ids)


def load_corpus(con: duckdb.DuckDBPyConnection, embed_model: str, min_abstract_chars: int) -> Corpus:
    doc_ids, matrix = load_embeddings(con, embed_model)
    table = con.execute("SELECT doc_id, title, abstract, split FROM docs ORDER BY doc_id").fetchnumpy()
    position = np.searchsorted(table["doc_id"], doc_ids)
    titles, abstracts = table["title"][position], table["abstract"][position]
    texts = [f"{t}\n\n{a}" for t, a in zip(titles, abstracts, strict=False)]
    eligible = np.fromiter((len(a) > min_abstract_chars for a in abstracts), dtype=bool, count=len(abstracts))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return Corpus(doc_ids, matrix / np.maximum(norms, 1e-12), texts, eligible, table["split"][position] == TEST)


@dataclass
class Activations:
    """The stored activations of one SAE (``evals.cooccurrence.TopK``) grouped by latent, each group
    sorted by value (desc), with documents as positions in the ``Corpus``."""

    n_latents: int
    n_docs: int
    doc_index: np.ndarray
    """(nnz,) corpus positions, grouped by latent."""
    value: np.ndarray
    offsets: np.ndarray
    """(n_latents + 1,) group boundaries: latent l owns [offsets[l], offsets[l+1])."""

    def of(self, latent: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[latent], self.offsets[latent + 1]
        return self.doc_index[lo:hi], self.value[lo:hi]

    def density(self) -> np.ndarray:
        return np.diff(self.offsets) / self.n_docs


def load_activations(con: duckdb.DuckDBPyConnection, sae_id: int, n_latents: int, corpus: Corpus) -> Activations:
    topk = load_topk(con, sae_id, with_values=True)
    return group_activations(topk.latents, topk.doc_ids, topk.values, n_latents, corpus.doc_ids)


def group_activations(latent, doc_id, value, n_latents: int, corpus_doc_ids: np.ndarray) -> Activations:
    latent = np.asarray(latent, dtype=np.int64)
    doc_index = np.searchsorted(corpus_doc_ids, np.asarray(doc_id))
    known = (doc_index < len(corpus_doc_ids)) & (
        corpus_doc_ids[np.minimum(doc_index, len(corpus_doc_ids) - 1)] == doc_id
    )
    if not known.all():
        raise ValueError(
            f"{int((~known).sum())} activation rows name documents without an embedding; "
            "re-run `just data <corpus>` then retrain"
        )
    value = np.asarray(value, dtype=np.float32)
    order = np.lexsort((-value, latent))
    counts = np.bincount(latent, minlength=n_latents)
    return Activations(n_latents, len(corpus_doc_ids), doc_index[order], value[order], np.r_[0, np.cumsum(counts)])


@dataclass
class ExampleSet:
    """Flat example rows of many features, plus each feature's status."""

    latent: np.ndarray
    role: np.ndarray
    """int8 codes into ``ROLES``."""
    doc_index: np.ndarray
    activation: np.ndarray
    status: dict[int, str]

    def of(self, latent: int, *roles: str) -> np.ndarray:
        """Row indices of ``latent`` with one of ``roles`` (rows are sorted by latent)."""
        lo, hi = np.searchsorted(self.latent, [latent, latent + 1])
        codes = [ROLE_CODE[r] for r in roles]
        return lo + np.flatnonzero(np.isin(self.role[lo:hi], codes))


def _stratified(ranks: np.ndarray, n_bins: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` of ``ranks`` (sorted best first) spread as evenly as possible over ``n_bins`` bins."""
    if count >= len(ranks):
        return ranks
    bins = np.array_split(ranks, min(n_bins, len(ranks)))
    shuffled = [rng.permutation(b) for b in bins]
    chosen: list[int] = []
    round_ = 0
    while len(chosen) < count:
        for b in shuffled:
            if round_ < len(b) and len(chosen) < count:
                chosen.append(b[round_])
        round_ += 1
    return np.sort(np.array(chosen, dtype=ranks.dtype))


def select_positives(
    n_train: int, n_test: int, config: ExampleConfig, rng: np.random.Generator, extra: int = 0
) -> dict[str, np.ndarray] | None:
    """Ranks (0 = strongest) per positive role, or None when the feature fires too rarely.

    Explanation ranks index the feature's ranking among training-split abstracts (``n_train`` of
    them), held-out ranks its ranking among test-split abstracts (``n_test``).
    """
    if n_train < config.min_explain_positives or n_test < config.min_score_positives:
        return None
    top = min(config.explain_top, n_train) if config.explain_sampling == "top" else 0
    rest = np.arange(top, n_train)
    spread = config.explain_quantile + (0 if config.explain_sampling == "top" else config.explain_top)
    quantile = _stratified(rest, config.quantiles, spread, rng)
    rest = np.setdiff1d(rest, quantile)
    extra_ranks = np.sort(rng.choice(rest, size=min(extra, len(rest)), replace=False)) if extra else rest[:0]
    score = _stratified(np.arange(n_test), config.quantiles, config.score_positives, rng)
    return {"explain_pos": np.r_[np.arange(top), quantile], "score_pos": score, "explain_extra_pos": extra_ranks}


def select_examples(
    corpus: Corpus,
    activations: Activations,
    latents: np.ndarray,
    config: ExampleConfig,
    extra_positives: int = 0,
    extra_negatives: int = 0,
    chunk: int = 256,
) -> ExampleSet:
    """Explanation (training split) and held-out (test split) examples of every latent in ``latents``.

    ``extra_positives`` / ``extra_negatives`` (of each kind) are further explanation examples for
    an explainer that reads many (the offline phrase explainer); extra hard ones rank after the others.
    """
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    status: dict[int, str] = {}
    eligible = corpus.eligible
    train_pool = np.flatnonzero(eligible & ~corpus.in_test)
    test_pool = np.flatnonzero(eligible & corpus.in_test)
    ready: list[int] = []
    explain_means = []
    explain_negatives = config.explain_hard_negatives + config.explain_random_negatives + 2 * extra_negatives
    score_negatives = config.score_hard_negatives + config.score_random_negatives
    for latent in latents.tolist():
        docs, values = activations.of(latent)
        keep = eligible[docs]
        docs, values = docs[keep], values[keep]
        held = corpus.in_test[docs]
        rng = np.random.default_rng([config.seed, latent])
        chosen = select_positives(int((~held).sum()), int(held.sum()), config, rng, extra_positives)
        if chosen is None:
            status[latent] = TOO_FEW_ACTIVE
            continue
        if len(train_pool) - (~held).sum() < 2 * explain_negatives or len(test_pool) - held.sum() < 2 * score_negatives:
            status[latent] = TOO_FEW_INACTIVE
            continue
        status[latent] = READY
        ready.append(latent)
        train_docs, train_values, test_docs, test_values = docs[~held], values[~held], docs[held], values[held]
        explain_means.append(corpus.embeddings[train_docs[chosen["explain_pos"]]].mean(axis=0))
        for role, ranks in chosen.items():
            if role == "score_pos":
                rows.append(_rows(latent, role, test_docs[ranks], test_values[ranks]))
            else:
                rows.append(_rows(latent, role, train_docs[ranks], train_values[ranks]))

    for start in range(0, len(ready), chunk):
        block = ready[start : start + chunk]
        similarity = np.asarray(explain_means[start : start + chunk]) @ corpus.embeddings.T
        for i, latent in enumerate(block):
            similarity[i, activations.of(latent)[0]] = -np.inf  # hard negatives must not fire
        explain_hard = _nearest(similarity, train_pool, config.explain_hard_negatives + extra_negatives)
        score_hard = _nearest(similarity, test_pool, config.score_hard_negatives)
        for i, latent in enumerate(block):
            active = activations.of(latent)[0]
            rng = np.random.default_rng([config.seed, latent, 1])
            explain_random = _random_negatives(
                train_pool, active, explain_hard[i], config.explain_random_negatives + extra_negatives, rng
            )
            score_random = _random_negatives(test_pool, active, score_hard[i], config.score_random_negatives, rng)
            hard_end, random_end = config.explain_hard_negatives, config.explain_random_negatives
            for role, negatives in (
                ("explain_neg_hard", explain_hard[i][:hard_end]),
                ("score_neg_hard", score_hard[i]),
                ("explain_neg_random", explain_random[:random_end]),
                ("score_neg_random", score_random),
                ("explain_extra_neg_hard", explain_hard[i][hard_end:]),
                ("explain_extra_neg_random", explain_random[random_end:]),
            ):
                rows.append(_rows(latent, role, negatives, np.zeros(len(negatives))))
    if rows:
        latent_col, role_col, doc_col, act_col = (np.concatenate(c) for c in zip(*rows, strict=False))
    else:
        latent_col = role_col = doc_col = act_col = np.zeros(0)
    order = np.argsort(latent_col, kind="stable")
    return ExampleSet(
        latent_col[order].astype(np.int64),
        role_col[order].astype(np.int8),
        doc_col[order].astype(np.int64),
        act_col[order].astype(np.float32),
        status,
    )


def _rows(latent: int, role: str, docs: np.ndarray, values: np.ndarray):
    n = len(docs)
    return np.full(n, latent), np.full(n, ROLE_CODE[role]), np.asarray(docs), np.asarray(values)


def _nearest(similarity: np.ndarray, pool: np.ndarray, count: int) -> np.ndarray:
    """Per row, the ``count`` positions of ``pool`` with the highest similarity, best first."""
    within = similarity[:, pool]
    nearest = np.argpartition(-within, count, axis=1)[:, :count]
    nearest = np.take_along_axis(nearest, np.argsort(-np.take_along_axis(within, nearest, 1), axis=1), 1)
    return pool[nearest]


def _random_negatives(
    pool: np.ndarray, active: np.ndarray, exclude: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` distinct abstracts of ``pool`` outside ``active`` and ``exclude``, uniformly at random."""
    banned = np.union1d(active, exclude)
    chosen = np.zeros(0, dtype=np.int64)
    while len(chosen) < count:
        draw = pool[rng.integers(0, len(pool), size=4 * count + 8)]
        draw = draw[~np.isin(draw, banned)]
        chosen = np.r_[chosen, draw[~np.isin(draw, chosen)]]
        chosen = chosen[np.sort(np.unique(chosen, return_index=True)[1])]
    return chosen[:count]


def derangement(count: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation with no fixed point (for ``count`` >= 2): feature i borrows label perm[i]."""
    perm = rng.permutation(count)
    for i in range(count):
        if perm[i] == i:
            j = (i + 1) % count
            perm[i], perm[j] = perm[j], perm[i]
    return perm
