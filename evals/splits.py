"""Feature splitting across SAE sizes (`just splits <corpus>`).

Every latent of a larger SAE is matched to its nearest latent of a smaller one by decoder cosine
(the paper's ``nn_hierarchy``); a small latent whose several large "children" point to it has
split. Results go to ``splits`` (one row per large latent and pair of SAEs) and, per larger SAE,
the max-cosine histograms of its pairs to ``eval_summaries`` (eval='splits').
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, entry_point, warehouse_of
from data.corpus import load_corpus_config
from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from evals.saes import StoredSAE, UnknownSAE, complete_sae

HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class SplitsConfig:
    """What `just splits` stores besides the matches."""

    bins: int = HISTOGRAM_BINS
    """Bins of the histogram of each larger latent's max cosine (eval_summaries, eval='splits')."""


@dataclass(frozen=True)
class PairMatch:
    """Each latent of ``large`` matched to its nearest decoder direction in ``small``."""

    small: StoredSAE
    large: StoredSAE
    small_latent: np.ndarray
    """(large.n_latents,) the nearest small latent of each large latent."""
    cosine: np.ndarray
    """(large.n_latents,) that cosine."""

    def summary(self, bins: int = HISTOGRAM_BINS) -> dict:
        counts, edges = np.histogram(self.cosine, bins=bins, range=(min(0.0, float(self.cosine.min())), 1.0))
        children = np.bincount(self.small_latent, minlength=self.small.n_latents)
        return {
            "small_sae_id": self.small.sae_id,
            "large_sae_id": self.large.sae_id,
            "small_n": self.small.n_latents,
            "large_n": self.large.n_latents,
            "small_k": self.small.k,
            "large_k": self.large.k,
            "mean_max_cosine": float(self.cosine.mean()),
            "median_max_cosine": float(np.median(self.cosine)),
            "fraction_above_0.9": float((self.cosine > 0.9).mean()),
            "histogram": {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()},
            "small_latents_matched": int((children > 0).sum()),
            "max_children": int(children.max()),
        }


def match_decoders(small: np.ndarray, large: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``large`` (n_l, d): the index and cosine of its nearest row of ``small`` (n_s, d)."""
    if small.ndim != 2 or large.ndim != 2 or small.shape[1] != large.shape[1]:
        raise ValueError(f"decoders must be (n, d) with the same d; got {small.shape} and {large.shape}")
    small = _unit_rows(small)
    large = _unit_rows(large)
    index = np.empty(large.shape[0], dtype=np.int32)
    cosine = np.empty(large.shape[0], dtype=np.float32)
    for start in range(0, large.shape[0], chunk):
        similarity = large[start : start + chunk] @ small.T
        index[start : start + chunk] = similarity.argmax(axis=1)
        cosine[start : start + chunk] = similarity.max(axis=1)
    return index, cosine


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def sae_shapes(
    con: duckdb.DuckDBPyConnection, corpus: str, sae_ids: list[int] | None = None, embed_model: str | None = None
) -> list[StoredSAE]:
    """The given SAEs, or every complete SAE of the corpus on ``embed_model``; smallest first.

    Decoder directions are only comparable within one embedding model, so given SAEs of
    different models are refused.
    """
    if not sae_ids:
        sae_ids = [
            row[0]
            for row in con.execute(
                "SELECT sae_id FROM complete_saes WHERE corpus = ? AND (embed_model = ? OR ? IS NULL)",
                [corpus, embed_model, embed_model],
            ).fetchall()
        ]
    shapes = sorted({complete_sae(con, sae_id) for sae_id in sae_ids}, key=lambda s: (s.n_latents, s.k, s.sae_id))
    models = {(s.embed_model, s.d) for s in shapes}
    if len(models) > 1:
        raise ValueError(
            f"the SAEs {[s.sae_id for s in shapes]} were trained on different embeddings {sorted(models)}; "
            "decoder directions are only comparable within one model: pass --sae-id for SAEs of one model"
        )
    if len(shapes) < 2:
        raise UnknownSAE(
            f"feature splitting needs at least two complete SAEs of corpus {corpus!r}"
            f"{f' on {embed_model}' if embed_model and not sae_ids else ''}; found "
            f"{[s.sae_id for s in shapes] or 'none'} (train more with `just train {corpus}` or `just sweep {corpus}`)"
        )
    return shapes


def load_decoder(con: duckdb.DuckDBPyConnection, sae_id: int) -> np.ndarray:
    """The (n, d) decoder of a stored SAE, through the trainer's checkpoint loader."""
    from trainer.checkpoint import load_sae_from_warehouse

    return load_sae_from_warehouse(con, sae_id).W_dec.detach().cpu().numpy()


def run_splits(
    warehouse: str | Path, corpus: str, sae_ids: list[int] | None = None, bins: int = HISTOGRAM_BINS
) -> list[PairMatch]:
    """Match every pair (smaller, larger) of the SAEs and store the results atomically.

    Default SAEs: every complete one of the corpus on the corpus's embedding model (conf/corpus).
    """
    embed_model = load_corpus_config(corpus).embed_model
    with open_reader(warehouse) as con:
        shapes = sae_shapes(con, corpus, sae_ids, embed_model)
        decoders = {s.sae_id: load_decoder(con, s.sae_id) for s in shapes}
    matches = []
    for i, small in enumerate(shapes):
        for large in shapes[i + 1 :]:
            index, cosine = match_decoders(decoders[small.sae_id], decoders[large.sae_id])
            matches.append(PairMatch(small, large, index, cosine))
    with open_writer(warehouse) as con:
        write_splits(con, matches, bins)
    return matches


def write_splits(con: duckdb.DuckDBPyConnection, matches: list[PairMatch], bins: int = HISTOGRAM_BINS) -> None:
    """Replace the rows of these pairs and the 'splits' summary of each larger SAE, all or nothing."""
    by_large: dict[int, list[dict]] = {}
    for match in matches:
        by_large.setdefault(match.large.sae_id, []).append(match.summary(bins))
    with transaction(con):
        for match in matches:
            con.execute(
                "DELETE FROM splits WHERE small_sae_id = ? AND large_sae_id = ?",
                [match.small.sae_id, match.large.sae_id],
            )
            n = match.large.n_latents
            insert_arrow(
                con,
                "splits",
                pa.table(
                    {
                        "small_sae_id": pa.array(np.full(n, match.small.sae_id, np.int32)),
                        "large_sae_id": pa.array(np.full(n, match.large.sae_id, np.int32)),
                        "large_latent": pa.array(np.arange(n, dtype=np.int32)),
                        "small_latent": pa.array(match.small_latent),
                        "cosine": pa.array(match.cosine.astype(np.float64)),
                    }
                ),
                order_by="small_latent, large_latent",
            )
        for large_id, pairs in by_large.items():
            con.execute("DELETE FROM eval_summaries WHERE sae_id = ? AND eval = 'splits'", [large_id])
            con.execute(
                "INSERT INTO eval_summaries (sae_id, eval, summary, created_at) VALUES (?, 'splits', ?, now())",
                [large_id, json.dumps({"pairs": pairs})],
            )


@dataclass(frozen=True)
class SplitChains:
    """How one latent of the smallest SAE splits across two larger SAEs."""

    latent: int
    sae_ids: tuple[int, int, int]
    chains: list[tuple[int, int, int]]
    """(small latent, middle latent, large latent): each large latent matched to a middle one matched to ``latent``."""
    direct: list[int]
    """Large latents matched directly to ``latent`` (small -> large, skipping the middle SAE)."""

    @property
    def consistency(self) -> float:
        """Jaccard of the large latents reached through the middle SAE and directly (1 = same split)."""
        through = {large for _, _, large in self.chains}
        union = through | set(self.direct)
        return len(through & set(self.direct)) / len(union) if union else 1.0


def split_chains(con: duckdb.DuckDBPyConnection, latent: int, sae_ids: tuple[int, int, int]) -> SplitChains:
    """Chains small -> middle -> large for ``latent`` of ``sae_ids[0]``, from the stored ``splits``."""
    small, middle, large = (int(i) for i in sae_ids)
    n_small = complete_sae(con, small).n_latents
    for sae_id in (middle, large):
        complete_sae(con, sae_id)
    if not 0 <= latent < n_small:
        raise ValueError(f"latent {latent} is out of range for SAE {small} (0..{n_small - 1})")
    for pair in ((small, middle), (middle, large), (small, large)):
        if not con.execute(
            "SELECT count(*) FROM splits WHERE small_sae_id = ? AND large_sae_id = ?", list(pair)
        ).fetchall()[0][0]:
            raise LookupError(
                f"no stored splits for SAEs {pair[0]} -> {pair[1]}; run `just splits <corpus>` first "
                "(and pass the SAE ids smallest first)"
            )
    rows = con.execute(
        "SELECT m.large_latent, l.large_latent FROM splits m "
        "LEFT JOIN splits l "
        "ON l.small_sae_id = m.large_sae_id AND l.large_sae_id = ? AND l.small_latent = m.large_latent "
        "WHERE m.small_sae_id = ? AND m.large_sae_id = ? AND m.small_latent = ? ORDER BY 1, 2",
        [large, small, middle, int(latent)],
    ).fetchall()
    chains = [(int(latent), int(mid), int(big)) for mid, big in rows if big is not None]
    direct = [
        row[0]
        for row in con.execute(
            "SELECT large_latent FROM splits "
            "WHERE small_sae_id = ? AND large_sae_id = ? AND small_latent = ? ORDER BY 1",
            [small, large, int(latent)],
        ).fetchall()
    ]
    return SplitChains(int(latent), (small, middle, large), chains, direct)


def render_histogram(summary: dict, width: int = 40) -> str:
    counts = summary["histogram"]["counts"]
    edges = summary["histogram"]["edges"]
    peak = max(counts) or 1
    return "\n".join(
        f"  {edges[i]:5.2f}-{edges[i + 1]:4.2f} {'#' * round(width * c / peak):<{width}} {c}"
        for i, c in enumerate(counts)
    )


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("just splits", __doc__, sae_id="many", config=SplitsConfig)
    args = parser.parse_args(argv)
    config = config_from(parser, args, SplitsConfig)
    console = Console()
    try:
        matches = run_splits(warehouse_of(args), args.corpus, args.sae_id, config.bins)
    except (ValueError, LookupError, FileNotFoundError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 2
    table = Table(title=f"Feature splitting ({args.corpus}): max decoder cosine of each larger-SAE latent")
    for column in (
        "small SAE (n, k)",
        "large SAE (n, k)",
        "mean",
        "median",
        "> 0.9",
        "small latents matched",
        "max children",
    ):
        table.add_column(column, justify="right")
    for match in matches:
        s = match.summary(config.bins)
        table.add_row(
            f"{s['small_sae_id']} ({s['small_n']}, {s['small_k']})",
            f"{s['large_sae_id']} ({s['large_n']}, {s['large_k']})",
            f"{s['mean_max_cosine']:.3f}",
            f"{s['median_max_cosine']:.3f}",
            f"{s['fraction_above_0.9']:.1%}",
            f"{s['small_latents_matched']}/{s['small_n']}",
            str(s["max_children"]),
        )
    console.print(table)
    for match in matches:
        s = match.summary(config.bins)
        console.print(f"SAE {s['small_sae_id']} -> SAE {s['large_sae_id']}:\n{render_histogram(s)}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
