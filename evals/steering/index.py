"""Exact top-k cosine search over every document embedding, fast on a CPU.

A float32 scan of 424k x 1536 vectors reads 2.6 GB per query (~150-200 ms on two cores). Here a
compact copy is scanned first (int8 rows with one scale per document, scored by fbgemm's int8
GEMV, ~4x fewer bytes; float16 where that kernel is missing), the best ``candidates`` documents
are re-scored in float32, and the result is *certified*: every coarse score is within a bound
of its float32 score (derived below from the quantisation steps), so when the 10th re-scored
document beats the best unscanned candidate's coarse score by more than that bound, no other
document can enter the top 10. Queries that fail the check fall back to a full float32 scan, so
the answer always equals a float32 exact search (up to float32 rounding).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import torch

# fp16 inputs round to within 2^-11 relatively, so for unit x, q the two roundings move x.q by
# at most 2 * 2^-11 * sum|x_i q_i| <= 2^-10; the fp16 output adds 2^-11; doubled for safety.
FP16_SCORE_ERROR = 2 * (2**-10 + 2**-11)
SLACK = 1e-4
"""Added to every bound for float32 accumulation-order differences."""


class SearchHits(NamedTuple):
    """Row positions into the indexed matrix and their cosine scores, best first."""

    rows: np.ndarray
    scores: np.ndarray


def unit_rows(matrix: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm; already-unit rows are returned as they are (no 2.6 GB copy)."""
    norms = matrix.norm(dim=-1, keepdim=True)
    if bool((norms == 0).any()) or not bool(torch.isfinite(norms).all()):
        raise ValueError("cannot index zero or non-finite vectors; every row needs a direction")
    if bool(((norms - 1).abs() < 1e-5).all()):
        return matrix
    return matrix / norms


class Int8Scorer:
    """Rows as int8 with a per-document scale s_j = max|x_j| / 127, scored by fbgemm.

    fbgemm quantises the query to 8 (or, with reduce_range, 7) bits with step s_q <= range(q)/127.
    For unit rows: |coarse - exact| <= max_j(s_j)/2 * (|q|_1 + d * s_q/2) + sqrt(d) * s_q/2.
    """

    name = "int8"

    def __init__(self, exact: torch.Tensor) -> None:
        scales = exact.abs().amax(dim=1).clamp_min(1e-12) / 127
        with warnings.catch_warnings():  # the quantised-tensor API warns about its future; it works here
            warnings.simplefilter("ignore")
            weight = torch.quantize_per_channel(
                exact, scales.double(), torch.zeros(len(scales), dtype=torch.int64), 0, torch.qint8
            )
            self.packed = torch.ops.quantized.linear_prepack(weight, None)
        self.half_step = float(scales.max()) / 2
        self.dim = exact.shape[1]

    def scores(self, q: torch.Tensor) -> tuple[torch.Tensor, float]:
        coarse = torch.ops.quantized.linear_dynamic(q[None], self.packed, True)[0]
        query_step = (float(q.max().clamp_min(0)) - float(q.min().clamp_max(0))) / 127
        bound = (
            self.half_step * (float(q.abs().sum()) + self.dim * query_step / 2) + math.sqrt(self.dim) * query_step / 2
        )
        return coarse, bound + SLACK


class Float16Scorer:
    """Rows as float16 (half the bytes of float32); the portable fallback."""

    name = "float16"

    def __init__(self, exact: torch.Tensor) -> None:
        self.coarse = exact.half()

    def scores(self, q: torch.Tensor) -> tuple[torch.Tensor, float]:
        return torch.nn.functional.linear(q.half()[None], self.coarse)[0], FP16_SCORE_ERROR + SLACK


def make_scorer(exact: torch.Tensor, kind: str) -> Int8Scorer | Float16Scorer | None:
    """'auto' (int8, else float16), 'int8', 'float16', or 'none' (only exact batch search is needed)."""
    if kind not in ("auto", "int8", "float16", "none"):
        raise ValueError(f"coarse scorer {kind!r}: use 'auto', 'int8', 'float16' or 'none'")
    if kind == "none":
        return None
    if kind in ("auto", "int8"):
        try:
            return Int8Scorer(exact)
        except (AttributeError, RuntimeError, NotImplementedError):
            if kind == "int8":
                raise
    return Float16Scorer(exact)


class DocumentIndex:
    """Coarse scan + float32 re-rank, certified exact (see the module docstring)."""

    def __init__(self, matrix: np.ndarray, candidates: int = 1024, coarse: str = "auto") -> None:
        with warnings.catch_warnings():
            # Arrow-backed arrays are read-only; the index never writes to them, so share, don't copy.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            exact = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
        if exact.ndim != 2 or exact.shape[0] == 0:
            raise ValueError(f"need a non-empty (documents, dim) matrix, got shape {tuple(exact.shape)}")
        self.exact = unit_rows(exact)
        self.scorer = make_scorer(self.exact, coarse)
        self.candidates = min(candidates, self.exact.shape[0])
        self.fallbacks = 0
        """How many queries needed the full float32 scan (for benchmarks)."""

    @property
    def size(self) -> int:
        return self.exact.shape[0]

    @property
    def dim(self) -> int:
        return self.exact.shape[1]

    def search(self, query: np.ndarray, top: int = 10) -> SearchHits:
        """The ``top`` documents by cosine with one query vector (any norm > 0)."""
        q = unit_rows(torch.as_tensor(query, dtype=torch.float32).reshape(1, -1))[0]
        top = min(top, self.size)
        if self.scorer is None or self.candidates <= top:
            return self._exact_one(q, top)
        coarse, bound = self.scorer.scores(q)
        coarse_scores, candidate_rows = torch.topk(coarse, self.candidates)
        exact_scores = self.exact[candidate_rows] @ q
        best_scores, best = torch.topk(exact_scores, top)
        # An unscanned document scores at most (best coarse score left out) + bound in float32.
        if float(best_scores[-1]) <= float(coarse_scores[-1]) + bound and self.candidates < self.size:
            self.fallbacks += 1
            return self._exact_one(q, top)
        return SearchHits(candidate_rows[best].numpy(), best_scores.numpy())

    def search_exact(self, queries: np.ndarray, top: int = 10) -> SearchHits:
        """Plain float32 exact search for a batch of queries (the baseline; also for evaluations)."""
        q = unit_rows(torch.as_tensor(queries, dtype=torch.float32).reshape(-1, self.dim))
        top = min(top, self.size)
        # Chunks of queries keep the (queries x documents) score block small at paper scale.
        parts = [torch.topk(chunk @ self.exact.T, top, dim=1) for chunk in q.split(64)]
        scores = torch.cat([p.values for p in parts])
        rows = torch.cat([p.indices for p in parts])
        return SearchHits(rows.numpy(), scores.numpy())

    def _exact_one(self, q: torch.Tensor, top: int) -> SearchHits:
        scores, rows = torch.topk(torch.mv(self.exact, q), top)
        return SearchHits(rows.numpy(), scores.numpy())
