"""Phrases of the corpus and term matching of a label against abstracts (no model, pure sparse algebra).

A *phrase* is a run of one to ``max_words`` content words inside a sentence, possibly joined by
"of" ("weak lensing of galaxy clusters"): the candidates of the offline explainer. A *term match*
reads a label as a person skimming an abstract would: the idf-weighted share of the label's
content words (plural-insensitive) that the abstract contains, in [0, 1].

Over 300 lines as one module on purpose: phrase extraction and term matching share the tokenizer,
stop list and idf vocabulary, and the offline labeller's candidates must be matched by the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# Function words, the boilerplate of abstracts, and vague words that never make a concept on their own.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "although",
        "am",
        "among",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "either",
        "et",
        "al",
        "etc",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "however",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "least",
        "less",
        "may",
        "me",
        "might",
        "more",
        "most",
        "much",
        "must",
        "my",
        "myself",
        "near",
        "neither",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "per",
        "same",
        "several",
        "she",
        "should",
        "since",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "therefore",
        "these",
        "they",
        "this",
        "those",
        "though",
        "through",
        "thus",
        "to",
        "too",
        "two",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "via",
        "was",
        "we",
        "well",
        "were",
        "what",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "within",
        "without",
        "would",
        "yet",
        "you",
        "your",
        "yours",
        "yourself",
        "three",
        "four",
        "five",
        "first",
        "second",
        "new",
        "using",
        "used",
        "use",
        "based",
        "show",
        "shows",
        "shown",
        "find",
        "found",
        "present",
        "presents",
        "presented",
        "paper",
        "study",
        "studies",
        "result",
        "results",
        "work",
        "report",
        "reports",
        "obtain",
        "obtained",
        "provide",
        "provides",
        "propose",
        "proposed",
        "approach",
        "method",
        "methods",
        "analysis",
        "investigate",
        "investigated",
        "discuss",
        "discussed",
        "suggest",
        "suggests",
        "consistent",
        "different",
        "due",
        "large",
        "small",
        "high",
        "low",
        "given",
        "including",
        "include",
        "includes",
        "order",
        "case",
        "cases",
        "e",
        "g",
        "i",
        "e",
        "respectively",
        "significant",
        "significantly",
        "furthermore",
        "moreover",
        "addition",
        "additionally",
        "recent",
        "recently",
        "possible",
        "likely",
        "strong",
        "stronger",
        "makes",
        "make",
        "made",
        "simple",
        "previous",
        "higher",
        "lower",
        "initial",
        "total",
        "various",
        "typical",
        "specific",
        "general",
        "important",
        "key",
        "novel",
        "main",
        "potential",
        "better",
        "best",
        "good",
        "able",
        "allow",
        "allows",
        "allowing",
        "across",
        "along",
        "known",
        "particular",
        "particularly",
        "related",
        "relatively",
        "several",
        "around",
        "toward",
        "towards",
        "current",
        "currently",
        "future",
        "range",
        "wide",
        "widely",
        "level",
        "levels",
        "able",
        "type",
        "types",
        "number",
        "numbers",
        "value",
        "values",
        "well-known",
        "further",
        "first-time",
        "unique",
        "overall",
        "mathrm",
        "mathbf",
        "mathcal",
        "rm",
        "sim",
        "odot",
        "textrm",
        "textit",
        "emph",
        "frac",
        "sqrt",
        "approx",
        "lesssim",
        "gtrsim",
        "simeq",
        "times",
        "cdot",
        "pm",
    ]
)
NOT_ADVERBS = frozenset(
    ["anomaly", "family", "assembly", "early", "supply", "italy", "butterfly", "monopoly", "poly", "rely", "apply"]
)
"""Words ending in -ly that are not adverbs; every other -ly word ("nearly", "rapidly") names no concept."""
JOINERS = frozenset({"of"})
"""Words allowed inside a phrase between content words."""
_TOKEN = re.compile(r"[a-z0-9][a-z0-9\-]*[a-z0-9]|[a-z]")
_BREAK = re.compile(r"[.;:!?()\[\]{},$\"]")


def stem(word: str) -> str:
    """Plural-insensitive form: 'galaxies' -> 'galaxy', 'lenses' -> 'lens', 'discs' -> 'disc'."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _is_content(token: str) -> bool:
    return (
        token not in STOPWORDS
        and not token.replace("-", "").isdigit()
        and len(token) >= 2
        and (not token.endswith("ly") or token in NOT_ADVERBS)
    )


def content_words(text: str) -> list[str]:
    """The stemmed content words of ``text`` in order."""
    return [stem(t) for t in _TOKEN.findall(text.lower()) if _is_content(t)]


def phrases_of(text: str, max_words: int = 4) -> set[str]:
    """Every phrase of ``text``: 1..``max_words`` content words in a row, "of" allowed between them."""
    found: set[str] = set()
    for sentence in _BREAK.split(text.lower()):
        tokens = _TOKEN.findall(sentence)
        for start, token in enumerate(tokens):
            if not _is_content(token):
                continue
            words = 0
            for end in range(start, len(tokens)):
                current = tokens[end]
                if _is_content(current):
                    words += 1
                    if words > max_words:
                        break
                    found.add(" ".join(tokens[start : end + 1]))
                elif not (current in JOINERS and end + 1 < len(tokens) and _is_content(tokens[end + 1])):
                    break
    return found


@dataclass
class PhraseIndex:
    """Which documents hold which phrase and which content word (binary, documents as corpus positions)."""

    phrases: list[str]
    phrase_docs: sp.csr_matrix
    """(n_docs, n_phrases) 1 where the document holds the phrase."""
    word_id: dict[str, int]
    word_docs: sp.csr_matrix
    """(n_docs, n_words) 1 where the document holds the (stemmed) word."""
    idf: np.ndarray
    """(n_words,) smoothed inverse document frequency."""

    @classmethod
    def build(
        cls, texts: list[str], max_words: int = 4, min_docs: int = 3, max_doc_fraction: float = 0.3
    ) -> PhraseIndex:
        """Phrases held by ``min_docs`` .. ``max_doc_fraction`` of the documents, and every content word."""
        phrase_id: dict[str, int] = {}
        word_id: dict[str, int] = {}
        phrase_cols: list[int] = []
        word_cols: list[int] = []
        phrase_ptr, word_ptr = [0], [0]
        for text in texts:
            # sorted: ids (and so ties between equally good phrases) do not depend on string hashing
            phrase_cols.extend(phrase_id.setdefault(p, len(phrase_id)) for p in sorted(phrases_of(text, max_words)))
            word_cols.extend(sorted({word_id.setdefault(w, len(word_id)) for w in content_words(text)}))
            phrase_ptr.append(len(phrase_cols))
            word_ptr.append(len(word_cols))
        n_docs = len(texts)
        phrase_docs = _binary(phrase_cols, phrase_ptr, len(phrase_id))
        word_docs = _binary(word_cols, word_ptr, len(word_id))
        df = np.bincount(phrase_docs.indices, minlength=len(phrase_id))
        keep = np.flatnonzero((df >= min_docs) & (df <= max_doc_fraction * n_docs))
        names = list(phrase_id)
        word_df = np.bincount(word_docs.indices, minlength=len(word_id))
        idf = (np.log((1 + n_docs) / (1 + word_df)) + 1).astype(np.float32)
        return cls([names[i] for i in keep], phrase_docs[:, keep].tocsr(), word_id, word_docs, idf)

    @property
    def n_docs(self) -> int:
        return self.word_docs.shape[0]

    def word_fraction(self) -> np.ndarray:
        """(n_words,) share of documents holding each word."""
        return np.bincount(self.word_docs.indices, minlength=len(self.word_id)) / max(self.n_docs, 1)

    def label_weights(self, labels: list[str]) -> sp.csc_matrix:
        """(n_words, n_labels): each label's known content words, idf-weighted, summing to 1."""
        return self.word_set_weights(
            [{self.word_id[w] for w in content_words(label) if w in self.word_id} for label in labels]
        )

    def word_set_weights(self, word_sets: list[set[int]] | list[frozenset[int]]) -> sp.csc_matrix:
        """(n_words, n_sets): each set of word ids idf-weighted, summing to 1 (an empty set: a zero column)."""
        rows, cols, vals = [], [], []
        for col, words in enumerate(word_sets):
            ids = sorted(words)
            if ids:
                weights = self.idf[ids] / self.idf[ids].sum()
                rows += ids
                cols += [col] * len(ids)
                vals += weights.tolist()
        return sp.csc_matrix((vals, (rows, cols)), shape=(len(self.word_id), len(word_sets)), dtype=np.float32)

    def term_match(self, weights: sp.csc_matrix, label_cols: np.ndarray, doc_index: np.ndarray) -> np.ndarray:
        """Term match of label ``label_cols[i]`` (a column of ``weights``) and document ``doc_index[i]``."""
        docs = self.word_docs[doc_index]
        picked = sp.csc_matrix(weights)[:, label_cols].T.tocsr()
        return np.asarray(docs.multiply(picked).sum(axis=1)).ravel()


def _binary(cols: list[int], ptr: list[int], width: int) -> sp.csr_matrix:
    return sp.csr_matrix(
        (np.ones(len(cols), dtype=np.float32), np.asarray(cols, dtype=np.int64), np.asarray(ptr)),
        shape=(len(ptr) - 1, width),
    )
