"""Concept trends of one SAE: monthly prevalence of every feature, a trend test, stored in the warehouse.

Reads the stored activations (``evals.cooccurrence.load_topk``) and each document's ``docs.published``
(the listing or publication date); writes ``trends`` (one row per latent), ``trend_months`` (documents
per calendar month, whether the month was tested, its effect-size period) and a summary in
``eval_summaries`` (eval = 'trends'), replacing the SAE's previous rows in one transaction.

Over 300 lines as one module on purpose: loading, the month table, the test and the write are one
transaction's steps, each used once (the statistics live in ``stats.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from data.warehouse import insert_arrow, open_reader, open_writer, transaction
from evals.cooccurrence import load_topk
from evals.saes import StoredSAE, pick_sae
from evals.steering.features import load_catalog
from evals.trends.config import TrendsConfig
from evals.trends.stats import TrendStatistics, directions, trend_statistics


class TooFewMonths(ValueError):
    """The corpus has too few months with enough documents for a trend test."""


@dataclass(frozen=True)
class MonthTable:
    """Every calendar month from the first to the last dated document (empty months included)."""

    months: pd.DatetimeIndex
    n_docs: np.ndarray
    eligible: np.ndarray
    """Boolean: tested (enough documents and a category mix like the other months')."""
    excluded: np.ndarray
    """Why a month is not tested (None when it is)."""
    period: np.ndarray
    """'recent', 'previous' or None per month."""
    window: int
    """Months per effect-size period (the configured window, or fewer when the corpus is short)."""


@dataclass(frozen=True)
class TrendFeature:
    """One feature of the ranked lists, with what the command prints about it."""

    latent: int
    label: str | None
    direction: str
    ratio: float
    q_value: float
    z: float
    monthly_counts: list[int]
    """Active documents per eligible month."""
    examples: list[str]
    """Titles of its strongest documents in the period that shows the change."""


@dataclass(frozen=True)
class TrendsReport:
    sae: StoredSAE
    months: MonthTable
    statistics: TrendStatistics
    direction: np.ndarray
    rising: list[TrendFeature]
    falling: list[TrendFeature]
    undated_docs: int
    seconds: float


def month_table(published: pd.Series, categories: pd.Series, config: TrendsConfig) -> MonthTable:
    """Documents per calendar month, which months are tested (else why not), and the two effect-size periods."""
    dated = published.notna()
    months = published[dated].dt.to_period("M")
    if months.empty:
        raise TooFewMonths(
            "no document has a date (docs.published is empty): a trend needs dated documents; "
            "ingest a source with dates (arXiv listing or API, or a CSV with a 'published' column)"
        )
    calendar = pd.period_range(months.min(), months.max(), freq="M")
    n_docs = months.value_counts().reindex(calendar, fill_value=0).to_numpy()
    excluded = np.array(
        [
            None if n >= config.min_docs_per_month else f"fewer than {config.min_docs_per_month} documents"
            for n in n_docs
        ],
        dtype=object,
    )
    enough = [month for month, reason in zip(calendar, excluded, strict=False) if reason is None]
    for month, reason in composition_shifts(months, categories[dated], enough, config.max_composition_shift).items():
        excluded[calendar.get_loc(month)] = reason
    eligible = np.array([reason is None for reason in excluded])
    order = np.flatnonzero(eligible)
    if len(order) < 3:
        raise TooFewMonths(
            f"only {len(order)} calendar month(s) can be tested (documents per month: "
            f"{dict(zip(calendar.strftime('%Y-%m'), n_docs.tolist(), strict=False))}; left out: "
            f"{ {str(m): r for m, r in zip(calendar, excluded, strict=False) if r} }); a trend test needs 3 or more. "
            "Ingest more documents, or lower --min_docs_per_month if you accept noisier monthly shares"
        )
    window = min(config.window, len(order) // 2)
    period = np.full(len(calendar), None, dtype=object)
    period[order[-window:]] = "recent"
    period[order[-2 * window : -window]] = "previous"
    return MonthTable(calendar.to_timestamp(), n_docs, eligible, excluded, period, window)


def composition_shifts(months: pd.Series, categories: pd.Series, candidates: list, threshold: float) -> dict:
    """Months (among ``candidates``) whose share of documents listing some category is more than ``threshold``
    away from the median candidate month's share; the reason names the category and both shares."""
    if threshold >= 1 or len(candidates) < 3:
        return {}
    frame = pd.DataFrame({"month": months.to_numpy(), "category": categories.to_numpy()})
    frame = frame[frame["month"].isin(candidates)]
    per_month = frame.groupby("month").size()
    listed = frame.explode("category").dropna(subset=["category"])
    if listed.empty:
        return {}  # a corpus without categories: nothing to compare
    shares = pd.crosstab(listed["month"], listed["category"]).div(per_month, axis=0).reindex(candidates, fill_value=0.0)
    shares = shares.loc[:, shares.mean() >= 0.01]
    median = shares.median()
    distance = (shares - median).abs()
    worst, gap = distance.idxmax(axis=1), distance.max(axis=1)
    return {
        month: f"category mix unlike the other months: {worst[month]} in {shares.at[month, worst[month]]:.0%} of its "
        f"documents vs {median[worst[month]]:.0%} in the median month"
        for month in candidates
        if gap[month] > threshold
    }


def monthly_counts(
    doc_ids: np.ndarray, latents: np.ndarray, doc_month: dict[int, int], n_latents: int, n_months: int
) -> np.ndarray:
    """(n_latents x n_months) documents per month in which each latent is active (one bincount)."""
    lookup_ids = np.fromiter(doc_month.keys(), dtype=np.int64, count=len(doc_month))
    lookup_months = np.fromiter(doc_month.values(), dtype=np.int64, count=len(doc_month))
    order = np.argsort(lookup_ids)
    lookup_ids, lookup_months = lookup_ids[order], lookup_months[order]
    position = np.clip(np.searchsorted(lookup_ids, doc_ids), 0, len(lookup_ids) - 1)
    dated = lookup_ids[position] == doc_ids
    flat = latents[dated].astype(np.int64) * n_months + lookup_months[position[dated]]
    return np.bincount(flat, minlength=n_latents * n_months).reshape(n_latents, n_months)


def run_trends(
    path: str | Path, corpus: str, sae_id: int | None = None, config: TrendsConfig | None = None
) -> TrendsReport:
    """Compute and store the trends of one SAE (default: the corpus's default SAE (the most latents))."""
    config = config or TrendsConfig()
    started = time.perf_counter()
    with open_reader(path) as con:
        sae = pick_sae(con, corpus, sae_id)
        topk = load_topk(con, sae.sae_id)
        encoded = np.unique(topk.doc_ids)
        dates = con.execute(
            "SELECT doc_id, published, categories FROM docs WHERE doc_id IN (SELECT unnest(?::INTEGER[]))",
            [encoded.tolist()],
        ).df()
        labels = load_catalog(con, sae.sae_id, sae.n_latents).labels
    published = pd.to_datetime(dates["published"])
    months = month_table(published, dates["categories"], config)
    dated = published.notna().to_numpy()
    month_of = (published[dated].dt.to_period("M") - months.months[0].to_period("M")).map(lambda offset: offset.n)
    doc_month = dict(zip(dates["doc_id"].to_numpy()[dated].tolist(), month_of.to_numpy().tolist(), strict=False))
    counts = monthly_counts(topk.doc_ids, topk.latents, doc_month, sae.n_latents, len(months.months))
    eligible = np.flatnonzero(months.eligible)
    result = trend_statistics(
        counts[:, eligible],
        months.n_docs[eligible],
        eligible,
        months.period[eligible] == "recent",
        months.period[eligible] == "previous",
        config.min_active,
    )
    direction = directions(result, config.alpha)
    with open_reader(path) as con:
        rising = _ranked(con, sae, result, direction, "rising", counts[:, eligible], labels, months, config)
        falling = _ranked(con, sae, result, direction, "falling", counts[:, eligible], labels, months, config)
    seconds = time.perf_counter() - started
    report = TrendsReport(sae, months, result, direction, rising, falling, int((~dated).sum()), seconds)
    with open_writer(path) as con:
        store_trends(con, report, config)
    return report


def _ranked(
    con: duckdb.DuckDBPyConnection,
    sae: StoredSAE,
    result: TrendStatistics,
    direction: np.ndarray,
    which: str,
    counts: np.ndarray,
    labels: dict[int, str],
    months: MonthTable,
    config: TrendsConfig,
) -> list[TrendFeature]:
    """The ``top`` tested features trending ``which`` way, strongest evidence (smallest p-value) first.

    Significant ones (``direction == which``) come first by construction; the rest of the list are the
    next candidates, marked by their direction ('flat'), so a short list of real trends is not padded
    with noise unannounced.
    """
    sign = 1 if which == "rising" else -1
    candidates = np.flatnonzero(result.tested & (sign * np.nan_to_num(result.z) > 0))
    chosen = candidates[np.argsort(result.p_value[candidates], kind="stable")][: config.top]
    period = "recent" if which == "rising" else "previous"
    start, stop = _period_bounds(months, period)
    return [
        TrendFeature(
            int(latent),
            labels.get(int(latent)),
            str(direction[latent]),
            float(result.ratio[latent]),
            float(result.q_value[latent]),
            float(result.z[latent]),
            counts[latent].astype(int).tolist(),
            period_examples(con, sae.sae_id, int(latent), start, stop, config.examples),
        )
        for latent in chosen
    ]


def _period_bounds(months: MonthTable, period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    inside = months.months[months.period == period]
    return inside.min(), inside.max() + pd.offsets.MonthBegin(1)


def period_examples(con: duckdb.DuckDBPyConnection, sae_id: int, latent: int, start, stop, n: int) -> list[str]:
    """Titles of the feature's most strongly activating documents published in [start, stop)."""
    rows = con.execute(
        """
        SELECT d.title FROM activations a JOIN docs d USING (doc_id)
        WHERE a.sae_id = ? AND a.latent = ? AND d.published >= ? AND d.published < ?
        ORDER BY a.value DESC LIMIT ?
        """,
        [sae_id, latent, start.date(), stop.date(), n],
    ).fetchall()
    return [row[0] for row in rows]


def store_trends(con: duckdb.DuckDBPyConnection, report: TrendsReport, config: TrendsConfig) -> None:
    """Replace the SAE's rows in trends, trend_months and its eval_summaries row, atomically."""
    s, sae_id = report.statistics, report.sae.sae_id
    n = len(s.z)
    rows = pa.table(
        {
            "sae_id": pa.array(np.full(n, sae_id, np.int32)),
            "latent": pa.array(np.arange(n, dtype=np.int32)),
            "active_docs": pa.array(s.active_docs.astype(np.int32)),
            **{
                name: pa.array(getattr(s, name), pa.float64(), from_pandas=True)
                for name in (
                    "slope",
                    "z",
                    "dispersion",
                    "p_value",
                    "q_value",
                    "recent_prevalence",
                    "previous_prevalence",
                    "ratio",
                )
            },
            "direction": pa.array(report.direction.astype(str)),
        }
    )
    m = report.months
    month_rows = pa.table(
        {
            "sae_id": pa.array(np.full(len(m.months), sae_id, np.int32)),
            "month": pa.array(m.months.date, pa.date32()),
            "n_docs": pa.array(m.n_docs.astype(np.int32)),
            "eligible": pa.array(m.eligible),
            "excluded": pa.array(list(m.excluded), pa.string()),
            "period": pa.array(list(m.period), pa.string()),
        }
    )
    summary = {
        "config": asdict(config),
        "window": m.window,
        "months": len(m.months),
        "eligible_months": int(m.eligible.sum()),
        "excluded_months": {
            str(month.date())[:7]: reason for month, reason in zip(m.months, m.excluded, strict=False) if reason
        },
        "undated_docs": report.undated_docs,
        "tested": int(s.tested.sum()),
        **{which: int((report.direction == which).sum()) for which in ("rising", "falling", "flat", "too_rare")},
        "seconds": round(report.seconds, 2),
    }
    with transaction(con):
        con.execute("DELETE FROM trends WHERE sae_id = ?", [sae_id])
        con.execute("DELETE FROM trend_months WHERE sae_id = ?", [sae_id])
        con.execute("DELETE FROM eval_summaries WHERE sae_id = ? AND eval = 'trends'", [sae_id])
        insert_arrow(con, "trends", rows)
        insert_arrow(con, "trend_months", month_rows)
        con.execute(
            "INSERT INTO eval_summaries (sae_id, eval, summary, created_at) VALUES (?, 'trends', ?, now())",
            [sae_id, json.dumps(summary)],
        )
