"""Retrieval fidelity: does search over SAE reconstructions find what search over the originals finds?

For every complete SAE of a corpus: a seeded sample of documents is held out as queries (their
own embeddings, removed from the searched corpus); the reference answer is the top 10 over the
original document embeddings, the tested answer the top 10 over the SAE's reconstructions
x_hat = sum(activations * W_dec) + b_pre (from the stored activations, i.e. what the atlas shows).
Scores: recall@10 (shared documents / 10) and nDCG@10 with graded relevance (the reference's
first document has gain 10, its tenth gain 1, any other document 0; log2 discount), averaged
over queries. Rows land in ``fidelity`` (replacing that SAE's previous row).

`python -m evals.fidelity astro` (= `just fidelity astro`).
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse
import torch
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, warehouse_of
from data.embeddings import load_embeddings
from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from evals.steering.index import DocumentIndex
from evals.saes import StoredSAE, complete_sae, complete_sae_ids


@dataclass
class FidelityConfig:
    """How many held-out queries and which cut-off."""

    n_queries: int = 500
    """Documents held out as queries (seeded sample; fewer if the corpus is small)."""
    top: int = 10
    """Cut-off of recall@top and nDCG@top."""
    seed: int = 0
    """Seed of the held-out sample (same queries for every SAE of the corpus)."""


class FidelityScores(NamedTuple):
    n_queries: int
    recall: float
    ndcg: float


def reconstruct_documents(con: duckdb.DuckDBPyConnection, info: StoredSAE, doc_ids: np.ndarray, decoder: np.ndarray, b_pre: np.ndarray) -> np.ndarray:
    """x_hat for every doc in ``doc_ids`` from the SAE's stored activations (sparse @ W_dec + b_pre)."""
    table = con.execute("SELECT doc_id, latent, value FROM activations WHERE sae_id = ?", [info.sae_id]).fetchnumpy()
    if len(table["doc_id"]) == 0:
        raise ValueError(f"SAE {info.sae_id} has no stored activations; run its training to the end (`just train {info.corpus}`)")
    position = np.searchsorted(doc_ids, table["doc_id"])
    position = np.clip(position, 0, len(doc_ids) - 1)
    known = doc_ids[position] == table["doc_id"]
    codes = scipy.sparse.csr_matrix(
        (table["value"][known].astype(np.float32), (position[known], table["latent"][known].astype(np.int64))),
        shape=(len(doc_ids), info.n_latents),
    )
    return np.asarray(codes @ decoder, dtype=np.float32) + b_pre.astype(np.float32)


def held_out_rows(n_docs: int, config: FidelityConfig) -> np.ndarray:
    count = min(config.n_queries, n_docs // 2)
    return np.sort(np.random.default_rng(config.seed).choice(n_docs, count, replace=False))


def retrieval_fidelity(original: np.ndarray, reconstructed: np.ndarray, query_rows: np.ndarray, top: int = 10) -> FidelityScores:
    """recall@top and nDCG@top of search over ``reconstructed`` against ``original`` (rows aligned)."""
    corpus_rows = np.setdiff1d(np.arange(len(original)), query_rows)
    queries = original[query_rows]
    reference = DocumentIndex(original[corpus_rows], coarse="none").search_exact(queries, top).rows
    tested = DocumentIndex(reconstructed[corpus_rows], coarse="none").search_exact(queries, top).rows
    discounts = 1.0 / np.log2(np.arange(top) + 2)
    ideal = float(np.sum(np.arange(top, 0, -1) * discounts))
    recalls, ndcgs = [], []
    for truth, found in zip(reference, tested):
        gain = {int(row): top - rank for rank, row in enumerate(truth)}
        recalls.append(len(gain.keys() & set(found.tolist())) / top)
        ndcgs.append(float(sum(gain.get(int(row), 0) * discounts[i] for i, row in enumerate(found))) / ideal)
    return FidelityScores(len(query_rows), float(np.mean(recalls)), float(np.mean(ndcgs)))


def store_fidelity(con: duckdb.DuckDBPyConnection, sae_id: int, scores: FidelityScores) -> None:
    rows = pa.table({
        "sae_id": pa.array([sae_id], pa.int32()),
        "n_queries": pa.array([scores.n_queries], pa.int32()),
        "recall_at_10": [scores.recall],
        "ndcg_at_10": [scores.ndcg],
        "created_at": pa.array([dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)], pa.timestamp("us")),
    })
    with transaction(con):
        con.execute("DELETE FROM fidelity WHERE sae_id = ?", [sae_id])
        insert_arrow(con, "fidelity", rows)


def corpus_fidelity(path: str | Path, corpus: str, config: FidelityConfig = FidelityConfig()) -> dict[int, FidelityScores]:
    """Score every complete SAE of ``corpus`` and store one ``fidelity`` row per SAE."""
    from trainer.checkpoint import load_sae_from_warehouse  # trainer's contract

    results: dict[int, FidelityScores] = {}
    with open_reader(path) as con:
        sae_ids = complete_sae_ids(con, corpus)
    loaded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sae_id in sae_ids:
        with open_reader(path) as con:
            info = complete_sae(con, sae_id)
            if info.embed_model not in loaded:
                loaded[info.embed_model] = load_embeddings(con, info.embed_model)
            doc_ids, original = loaded[info.embed_model]
            sae = load_sae_from_warehouse(con, sae_id)
            with torch.no_grad():
                decoder, b_pre = sae.W_dec.detach().numpy(), sae.b_pre.detach().numpy()
            reconstructed = reconstruct_documents(con, info, doc_ids, decoder, b_pre)
        results[sae_id] = retrieval_fidelity(original, reconstructed, held_out_rows(len(doc_ids), config), config.top)
        with open_writer(path) as con:
            store_fidelity(con, sae_id, results[sae_id])
    return results


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("just fidelity", __doc__, config=FidelityConfig)
    args = parser.parse_args(argv)
    console = Console()
    try:
        results = corpus_fidelity(warehouse_of(args), args.corpus, config_from(parser, args, FidelityConfig))
    except (ValueError, FileNotFoundError) as error:  # bad input: say what and why, no traceback
        console.print(f"[red]error:[/red] {error}")
        return 2
    table = Table(title=f"retrieval fidelity of {args.corpus} SAEs (reconstructed vs original document embeddings)")
    for column in ("sae_id", "queries", "recall@10", "nDCG@10"):
        table.add_column(column, justify="right")
    for sae_id, scores in results.items():
        table.add_row(str(sae_id), str(scores.n_queries), f"{scores.recall:.3f}", f"{scores.ndcg:.3f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
