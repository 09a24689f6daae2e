"""Retrieval fidelity: does search over SAE reconstructions find what search over the originals finds?

For every complete SAE of a corpus the queries are its test-split documents (data/split.py: no SAE
trained on them), each with its own original embedding. Each query is searched twice, never
finding itself: over (a) every other document of the corpus (``searched = 'all'``) and (b) the other
test documents only (``'test'``: documents the SAE never saw, on both sides of the search). The
reference answer is the top 10 over the original embeddings, the tested answer the top 10 over the
SAE's reconstructions x_hat = sum(activations * W_dec) + b_pre (from the stored activations, i.e.
what the atlas shows). Scores: recall@10 (shared documents / 10) and nDCG@10 with graded relevance
(the reference's first document has gain 10, its tenth gain 1, any other document 0; log2
discount), averaged over queries. One row per searched set lands in ``fidelity`` (replacing that
SAE's previous rows).

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

from data.commands import command_parser, config_from, entry_point, warehouse_of
from data.embeddings import load_embeddings
from data.split import doc_ids_in_test
from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from evals.saes import StoredSAE, complete_sae, complete_sae_ids
from evals.steering.index import DocumentIndex


@dataclass
class FidelityConfig:
    """How many test queries and which cut-off."""

    n_queries: int | None = None
    """Test documents used as queries: all of them (None) or a seeded sample of this many."""
    top: int = 10
    """Cut-off of recall@top and nDCG@top."""
    seed: int = 0
    """Seed of the sample (same queries for every SAE of the corpus)."""


SEARCHED_ALL, SEARCHED_TEST = "all", "test"
"""What the test queries are searched over: every other document, or the other test documents only."""


class FidelityScores(NamedTuple):
    searched: str
    n_queries: int
    recall: float
    ndcg: float


def sparse_codes(con: duckdb.DuckDBPyConnection, info: StoredSAE, doc_ids: np.ndarray) -> scipy.sparse.csr_matrix:
    """(len(doc_ids), n_latents) stored activations of the SAE; documents it never encoded have empty rows."""
    table = con.execute("SELECT doc_id, latent, value FROM activations WHERE sae_id = ?", [info.sae_id]).fetchnumpy()
    if len(table["doc_id"]) == 0:
        raise ValueError(
            f"SAE {info.sae_id} has no stored activations; run its training to the end (`just train {info.corpus}`)"
        )
    position = np.searchsorted(doc_ids, table["doc_id"])
    position = np.clip(position, 0, len(doc_ids) - 1)
    known = doc_ids[position] == table["doc_id"]
    return scipy.sparse.csr_matrix(
        (table["value"][known].astype(np.float32), (position[known], table["latent"][known].astype(np.int64))),
        shape=(len(doc_ids), info.n_latents),
    )


def sae_decoder(con: duckdb.DuckDBPyConnection, sae_id: int) -> tuple[np.ndarray, np.ndarray]:
    """W_dec (n_latents, d) and b_pre (d,) of a stored SAE, from its checkpoint."""
    from trainer.checkpoint import load_sae_from_warehouse  # trainer's contract

    sae = load_sae_from_warehouse(con, sae_id)
    with torch.no_grad():
        return sae.W_dec.detach().numpy(), sae.b_pre.detach().numpy()


def decode(codes: scipy.sparse.csr_matrix, decoder: np.ndarray, b_pre: np.ndarray) -> np.ndarray:
    """x_hat = codes @ W_dec + b_pre."""
    return np.asarray(codes @ decoder, dtype=np.float32) + b_pre.astype(np.float32)


def reconstruct_documents(
    con: duckdb.DuckDBPyConnection, info: StoredSAE, doc_ids: np.ndarray, decoder: np.ndarray, b_pre: np.ndarray
) -> np.ndarray:
    """x_hat for every doc in ``doc_ids`` from the SAE's stored activations (sparse @ W_dec + b_pre)."""
    return decode(sparse_codes(con, info, doc_ids), decoder, b_pre)


def positions_of(doc_ids: np.ndarray, wanted: set[int] | np.ndarray) -> np.ndarray:
    """Positions in ``doc_ids`` of the documents in ``wanted`` (e.g. the test split), ascending."""
    return np.flatnonzero(np.isin(doc_ids, np.fromiter(wanted, dtype=np.int64, count=len(wanted))))


def query_rows(test_rows: np.ndarray, config: FidelityConfig) -> np.ndarray:
    """The test documents used as queries: all of ``test_rows``, or a seeded sample of ``config.n_queries``."""
    if config.n_queries is None or config.n_queries >= len(test_rows):
        return test_rows
    return np.sort(np.random.default_rng(config.seed).choice(test_rows, config.n_queries, replace=False))


def retrieval_fidelity(
    original: np.ndarray,
    reconstructed: np.ndarray,
    query_rows: np.ndarray,
    top: int = 10,
    searched_rows: np.ndarray | None = None,
    searched: str = SEARCHED_ALL,
) -> FidelityScores:
    """recall@top and nDCG@top of search over ``reconstructed`` against ``original`` (rows aligned).

    Each query row is searched over ``searched_rows`` (default: every row) without itself.
    """
    if searched_rows is None:
        searched_rows = np.arange(len(original))
    if len(query_rows) == 0:
        raise ValueError(
            "no query documents: the corpus has no test-split documents with an embedding "
            "(see `test_fraction` in conf/corpus/<corpus>.yaml)"
        )
    queries = original[query_rows]
    reference = _top_rows(original, searched_rows, queries, query_rows, top)
    tested = _top_rows(reconstructed, searched_rows, queries, query_rows, top)
    discounts = 1.0 / np.log2(np.arange(top) + 2)
    ideal = float(np.sum(np.arange(top, 0, -1) * discounts))
    recalls, ndcgs = [], []
    for truth, found in zip(reference, tested, strict=False):
        gain = {int(row): top - rank for rank, row in enumerate(truth)}
        recalls.append(len(gain.keys() & set(found.tolist())) / top)
        ndcgs.append(float(sum(gain.get(int(row), 0) * discounts[i] for i, row in enumerate(found))) / ideal)
    return FidelityScores(searched, len(query_rows), float(np.mean(recalls)), float(np.mean(ndcgs)))


def _top_rows(
    matrix: np.ndarray, searched_rows: np.ndarray, queries: np.ndarray, query_rows: np.ndarray, top: int
) -> list[np.ndarray]:
    """Per query, the ``top`` rows of ``searched_rows`` nearest by cosine in ``matrix``,
    the query's own row left out."""
    hits = searched_rows[DocumentIndex(matrix[searched_rows], coarse="none").search_exact(queries, top + 1).rows]
    return [found[found != own][:top] for found, own in zip(hits, query_rows, strict=False)]


def fidelity_of_test_queries(
    original: np.ndarray, reconstructed: np.ndarray, test_rows: np.ndarray, queries: np.ndarray, top: int = 10
) -> list[FidelityScores]:
    """Test ``queries`` searched over every other document, and over the other test documents only."""
    return [
        retrieval_fidelity(original, reconstructed, queries, top, None, SEARCHED_ALL),
        retrieval_fidelity(original, reconstructed, queries, top, test_rows, SEARCHED_TEST),
    ]


def store_fidelity(con: duckdb.DuckDBPyConnection, sae_id: int, scores: list[FidelityScores]) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = pa.table(
        {
            "sae_id": pa.array([sae_id] * len(scores), pa.int32()),
            "searched": pa.array([s.searched for s in scores], pa.string()),
            "n_queries": pa.array([s.n_queries for s in scores], pa.int32()),
            "recall_at_10": [s.recall for s in scores],
            "ndcg_at_10": [s.ndcg for s in scores],
            "created_at": pa.array([now] * len(scores), pa.timestamp("us")),
        }
    )
    with transaction(con):
        con.execute("DELETE FROM fidelity WHERE sae_id = ?", [sae_id])
        insert_arrow(con, "fidelity", rows)


def corpus_fidelity(
    path: str | Path, corpus: str, config: FidelityConfig | None = None
) -> dict[int, list[FidelityScores]]:
    """Score every complete SAE of ``corpus`` and store its ``fidelity`` rows (one per searched set)."""
    config = config or FidelityConfig()
    results: dict[int, list[FidelityScores]] = {}
    with open_reader(path) as con:
        sae_ids = complete_sae_ids(con, corpus)
        test_doc_ids = doc_ids_in_test(con)
    loaded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sae_id in sae_ids:
        with open_reader(path) as con:
            info = complete_sae(con, sae_id)
            if info.embed_model not in loaded:
                loaded[info.embed_model] = load_embeddings(con, info.embed_model)
            doc_ids, original = loaded[info.embed_model]
            reconstructed = reconstruct_documents(con, info, doc_ids, *sae_decoder(con, sae_id))
        test_rows = positions_of(doc_ids, test_doc_ids)
        results[sae_id] = fidelity_of_test_queries(
            original, reconstructed, test_rows, query_rows(test_rows, config), config.top
        )
        with open_writer(path) as con:
            store_fidelity(con, sae_id, results[sae_id])
    return results


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("just fidelity", __doc__, config=FidelityConfig)
    args = parser.parse_args(argv)
    console = Console()
    try:
        results = corpus_fidelity(warehouse_of(args), args.corpus, config_from(parser, args, FidelityConfig))
    except (ValueError, FileNotFoundError) as error:  # bad input: say what and why, no traceback
        console.print(f"[red]error:[/red] {error}")
        return 2
    table = Table(
        title=f"retrieval fidelity of {args.corpus} SAEs: "
        "test documents as queries, reconstructed vs original embeddings"
    )
    for column in ("sae_id", "searched", "queries", "recall@10", "nDCG@10"):
        table.add_column(column, justify="right")
    for sae_id, rows in results.items():
        for scores in rows:
            searched = "every other doc" if scores.searched == SEARCHED_ALL else "other test docs"
            table.add_row(str(sae_id), searched, str(scores.n_queries), f"{scores.recall:.3f}", f"{scores.ndcg:.3f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
