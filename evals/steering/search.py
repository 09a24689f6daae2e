"""Steerable semantic search: the Python API the dashboard and the steering benchmark use.

``SteerableSearch(warehouse_path, sae_id)`` loads the corpus's document embeddings (the model
the SAE was trained on) and the SAE once; then a query text becomes an embedding (same model),
its SAE latents can be read, steered (decoder addition or latent clamping) and searched exactly
over every document (cosine, top 10 by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from data.corpus import load_corpus_config
from data.embed import Embedder, make_embedder
from data.embeddings import load_embeddings
from data.warehouse import open_reader
from evals.saes import StoredSAE, complete_sae
from evals.steering.errors import (
    DegenerateQuery,
    EmptyQuery,
    ModelMismatch,
    SteeringError,
)
from evals.steering.index import DocumentIndex
from evals.steering.interventions import add_directions, clamp_latents
from trainer.sae import TopKSAE


class LatentActivations(NamedTuple):
    """The active latents of one vector, strongest first (zeros dropped)."""

    latents: np.ndarray
    values: np.ndarray


class SearchResult(NamedTuple):
    """Warehouse doc ids and cosine scores, best first."""

    doc_ids: np.ndarray
    scores: np.ndarray


class SteerableSearch:
    """Query -> SAE latents -> steered query -> exact top-k documents, for one SAE."""

    def __init__(
        self, warehouse_path: str | Path, sae_id: int, *, embedder: Embedder | None = None, candidates: int = 1024
    ) -> None:
        with open_reader(warehouse_path) as con:
            info = complete_sae(con, sae_id)
            from trainer.checkpoint import load_sae_from_warehouse  # trainer's contract

            sae = load_sae_from_warehouse(con, info.sae_id)
            doc_ids, matrix = load_embeddings(con, info.embed_model)
        self._setup(info, sae, doc_ids, matrix, embedder, candidates)

    @classmethod
    def from_parts(
        cls,
        info: StoredSAE,
        sae: TopKSAE,
        doc_ids: np.ndarray,
        matrix: np.ndarray,
        embedder: Embedder | None = None,
        candidates: int = 1024,
    ) -> SteerableSearch:
        """Build from already-loaded parts (benchmarks on synthetic data, evaluations that hold them)."""
        search = cls.__new__(cls)
        search._setup(info, sae, doc_ids, matrix, embedder, candidates)
        return search

    def _setup(self, info, sae, doc_ids, matrix, embedder, candidates) -> None:
        if matrix.shape[1] != info.d:
            raise ModelMismatch(
                f"SAE {info.sae_id} expects {info.d}-d vectors "
                f"but the stored {info.embed_model!r} embeddings are {matrix.shape[1]}-d"
            )
        if embedder is not None and embedder.model != info.embed_model:
            raise ModelMismatch(
                f"the embedder produces {embedder.model!r} vectors but SAE {info.sae_id} was trained on "
                f"{info.embed_model!r}; pass an embedder of that model (or none, to use the corpus's)"
            )
        self.info = info
        self.sae = sae.eval()
        self.doc_ids = np.asarray(doc_ids)
        self.index = DocumentIndex(matrix, candidates=candidates)
        self._embedder = embedder

    @property
    def embed_model(self) -> str:
        return self.info.embed_model

    # -- query text -> vector -> latents ------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The corpus's embedder, created on first use (loading a model takes seconds)."""
        if self._embedder is None:
            backend = load_corpus_config(self.info.corpus).embed_backend
            self._embedder = make_embedder(backend, self.info.embed_model)
        return self._embedder

    def embed(self, text: str) -> np.ndarray:
        """One query text -> its unit vector in the corpus's embedding space."""
        return self.embed_many([text])[0]

    def embed_many(self, texts: list[str]) -> np.ndarray:
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise EmptyQuery(f"query {text!r} is empty: type a few words to search for")
        return np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)

    def encode(self, vector: np.ndarray, model: str | None = None) -> LatentActivations:
        """The SAE's top-k latents of one vector, strongest first."""
        x = torch.as_tensor(self.check_vector(vector, model)).reshape(1, -1)
        with torch.no_grad():
            values, indices = self.sae.encode(x)
        values, indices = values[0].numpy(), indices[0].numpy()
        order = np.argsort(-values, kind="stable")
        keep = order[values[order] > 0]
        return LatentActivations(indices[keep].astype(np.int64), values[keep].astype(np.float32))

    def query_latents(self, text: str) -> LatentActivations:
        return self.encode(self.embed(text))

    # -- steering and search -------------------------------------------------------------------

    def steer(
        self,
        query_vec: np.ndarray,
        up: Iterable[tuple[int, float]] = (),
        down: Iterable[tuple[int, float]] = (),
        model: str | None = None,
    ) -> np.ndarray:
        """q + sum u * W_dec[up] - sum |d| * W_dec[down] (down strengths: the paper's d <= 0 or a positive amount)."""
        return add_directions(self.check_vector(query_vec, model), self.sae.W_dec, up, down)

    def clamp(
        self, query_vec: np.ndarray, clamps: Mapping[int, float], keep_error: bool = True, model: str | None = None
    ) -> np.ndarray:
        """Set latents to values and decode; ``keep_error`` adds the SAE's reconstruction error back."""
        return clamp_latents(self.sae, self.check_vector(query_vec, model), clamps, keep_error)

    def search(self, vec: np.ndarray, top: int = 10, model: str | None = None) -> SearchResult:
        """The ``top`` documents by cosine with ``vec`` over the whole corpus (exact)."""
        if int(top) < 1:
            raise SteeringError(f"top={top}: ask for at least one result")
        hits = self.index.search(self.check_vector(vec, model), top)
        return SearchResult(self.doc_ids[hits.rows], hits.scores)

    def check_vector(self, vec: np.ndarray, model: str | None = None) -> np.ndarray:
        """``vec`` as a float32 (d,) vector of this SAE's embedding model, or a typed error."""
        if model is not None and model != self.info.embed_model:
            raise ModelMismatch(
                f"the query was embedded with {model!r} but SAE {self.info.sae_id} searches {self.info.embed_model!r} "
                "vectors; embed the query with SteerableSearch.embed"
            )
        array = np.asarray(vec, dtype=np.float32)
        if array.ndim != 1 or array.shape[0] != self.info.d:
            raise ModelMismatch(
                f"query vector has shape {array.shape} but SAE {self.info.sae_id} expects ({self.info.d},) "
                f"vectors of {self.info.embed_model!r}; was it embedded with another model?"
            )
        if not np.isfinite(array).all() or not np.any(array):
            raise DegenerateQuery("the query vector is zero, NaN or infinite; weaken the steering or change the query")
        return array
