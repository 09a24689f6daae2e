"""The offline explainer: contrastive TF-IDF keywords (no LLM; a proxy, marked as such).

A feature's label is its most distinctive terms: the mean TF-IDF weight of a term over the
explanation positives minus its mean over the explanation negatives (random and hard), among
terms that occur in at least ``min_term_docs`` positives. Unigrams and within-sentence bigrams
(no stopword inside) are both candidates; all features are explained with two sparse products.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

EXPLAINER_NAME = "offline-keywords"

# Function words plus the boilerplate of abstracts; TF-IDF and the contrast handle the rest.
STOPWORDS = frozenset(
    """a about above after again against all also although am among an and any are as at be because been
    before being below between both but by can could did do does doing down during each either et al
    etc few for from further had has have having he her here hers herself him himself his how however i
    if in into is it its itself just least less may me might more most much must my myself near neither
    no nor not now of off on once one only or other our ours ourselves out over own per same several
    she should since so some such than that the their theirs them themselves then there therefore these
    they this those though through thus to too two under until up upon us very via was we well were what
    when where whether which while who whom whose why will with within without would yet you your
    yours yourself three four five first second new using used use based show shows shown find found
    present presents presented paper study studies result results work report reports obtain obtained
    provide provides propose proposed approach method methods analysis investigate investigated
    discuss discussed suggest suggests consistent different due large small high low also given
    including include includes order case cases well e g i e et al respectively here significant
    significantly however furthermore moreover addition additionally recent recently possible""".split()
    # LaTeX left in abstracts
    + "mathrm mathbf mathcal rm sim odot textrm textit emph frac sqrt approx lesssim gtrsim simeq times cdot pm".split()
)
_TOKEN = re.compile(r"[a-z0-9][a-z0-9\-]*[a-z0-9]|[a-z]")
_SENTENCE = re.compile(r"[.;:!?()\[\]]")


def terms_of(text: str) -> list[str]:
    """Unigrams (not stopwords, not bare numbers) and bigrams of adjacent such unigrams."""
    terms: list[str] = []
    for sentence in _SENTENCE.split(text.lower()):
        previous = None
        for token in _TOKEN.findall(sentence):
            if token in STOPWORDS or token.replace("-", "").isdigit() or len(token) < 3:
                previous = None
                continue
            terms.append(token)
            if previous is not None:
                terms.append(f"{previous} {token}")
            previous = token
    return terms


@dataclass
class TfidfIndex:
    """Sublinear TF-IDF of every corpus text, rows L2-normalised."""

    vocabulary: list[str]
    term_id: dict[str, int]
    idf: np.ndarray
    matrix: sp.csr_matrix
    """(n_docs, n_terms)."""

    @classmethod
    def build(cls, texts: list[str], min_df: int = 3, max_df_fraction: float = 0.5) -> "TfidfIndex":
        term_id: dict[str, int] = {}
        indptr, indices = [0], []
        for text in texts:
            ids = [term_id.setdefault(t, len(term_id)) for t in terms_of(text)]
            indices.extend(ids)
            indptr.append(len(indices))
        counts = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
            shape=(len(texts), len(term_id)),
        )
        counts.sum_duplicates()
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        keep = np.flatnonzero((df >= min_df) & (df <= max_df_fraction * len(texts)))
        counts = counts[:, keep]
        names = list(term_id)
        vocabulary = [names[i] for i in keep]
        idf = (np.log((1 + len(texts)) / (1 + df[keep])) + 1).astype(np.float32)
        weights = counts.copy()
        weights.data = (1 + np.log(weights.data)) * idf[weights.indices]
        norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1)).ravel())
        weights = sp.diags(1 / np.maximum(norms, 1e-12)) @ weights
        return cls(vocabulary, {t: i for i, t in enumerate(vocabulary)}, idf, weights.tocsr())

    def vectorise(self, term_lists: list[list[str]]) -> sp.csr_matrix:
        """(len(term_lists), n_terms): each row the L2-normalised idf weights of its known terms."""
        rows, cols, vals = [], [], []
        for row, terms in enumerate(term_lists):
            ids = sorted({self.term_id[t] for t in terms if t in self.term_id})
            if ids:
                w = self.idf[ids] / np.linalg.norm(self.idf[ids])
                rows += [row] * len(ids)
                cols += ids
                vals += w.tolist()
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(term_lists), len(self.vocabulary)), dtype=np.float32)


def _membership(groups: list[np.ndarray], n_docs: int, mean: bool) -> sp.csr_matrix:
    """(n_groups, n_docs): 1/len(group) (``mean``) or 1 at each group's docs."""
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    rows = np.repeat(np.arange(len(groups)), sizes)
    cols = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    vals = np.repeat(1 / np.maximum(sizes, 1), sizes) if mean else np.ones(len(cols))
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(groups), n_docs))


def explain_offline(index: TfidfIndex, positives: list[np.ndarray], negatives: list[np.ndarray],
                    label_terms: int = 4, min_term_docs: int = 2) -> list[list[str]]:
    """The label terms of each feature, from its positive and negative explanation docs (corpus rows)."""
    n_docs = index.matrix.shape[0]
    contrast = (_membership(positives, n_docs, mean=True) @ index.matrix
                - _membership(negatives, n_docs, mean=True) @ index.matrix).tocsr()
    presence = index.matrix.copy()
    presence.data[:] = 1
    support = (_membership(positives, n_docs, mean=False) @ presence).tocsr()  # positives containing each term
    dense_support = np.zeros(contrast.shape[1])
    labels = []
    for row in range(len(positives)):
        terms, weights = _row(contrast, row)
        support_terms, support_counts = _row(support, row)
        dense_support[support_terms] = support_counts
        usable = (weights > 0) & (dense_support[terms] >= min_term_docs)
        dense_support[support_terms] = 0
        order = np.argsort(-weights[usable], kind="stable")[: 8 * label_terms]
        ranked = [(index.vocabulary[t], w) for t, w in zip(terms[usable][order], weights[usable][order])]
        labels.append(_pick_terms(ranked, label_terms))
    return labels


def _row(matrix: sp.csr_matrix, row: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[lo:hi], matrix.data[lo:hi]


def _pick_terms(ranked: list[tuple[str, float]], count: int, bigram_preference: float = 0.6) -> list[str]:
    """Best terms without repeats (plural-insensitive).

    A bigram replaces a chosen unigram it contains when it is nearly as distinctive, because
    "transit photometry" says more than "transit".
    """
    chosen: list[tuple[str, float, set[str]]] = []
    for term, weight in ranked:
        words = {_singular(w) for w in term.split()}
        overlap = [i for i, (_, _, c) in enumerate(chosen) if words <= c or c <= words]
        if not overlap:
            if len(chosen) < count:
                chosen.append((term, weight, words))
            continue
        i = overlap[0]
        if len(overlap) == 1 and len(words) > len(chosen[i][2]) and weight >= bigram_preference * chosen[i][1]:
            chosen[i] = (term, chosen[i][1], words)
    return [term for term, _, _ in chosen]


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def label_text(terms: list[str]) -> str:
    return ", ".join(terms)
