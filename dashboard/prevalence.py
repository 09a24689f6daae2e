"""A feature's prevalence over time (the feature page's section and the Trends page's charts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext
from evals.trends.config import TrendsConfig
from evals.trends.stats import wilson_interval


def prevalence_frame(months: pd.DataFrame, active: pd.DataFrame, excluded: pd.Series) -> pd.DataFrame:
    """Every calendar month from the first to the last dated document: documents, active documents, share, 95% band.

    ``months``: (month, n_docs); ``active``: (month, n_active) of one feature; ``excluded``: per month, why it
    is not tested (None when it is); months missing from it (e.g. empty ones) are not tested.
    """
    if months.empty:
        return pd.DataFrame(columns=["month", "n_docs", "n_active", "share", "low", "high", "eligible", "note"])
    calendar = pd.period_range(
        pd.Timestamp(months["month"].min()), pd.Timestamp(months["month"].max()), freq="M"
    ).to_timestamp()

    def by_month(frame: pd.DataFrame, column: str) -> pd.Series:
        return frame.assign(month=pd.to_datetime(frame["month"])).set_index("month")[column]

    n_docs = by_month(months, "n_docs").reindex(calendar, fill_value=0).to_numpy()
    n_active = (
        by_month(active, "n_active").reindex(calendar, fill_value=0).to_numpy()
        if len(active)
        else np.zeros(len(calendar), int)
    )
    low, high = wilson_interval(n_active, np.maximum(n_docs, 1))
    reasons = pd.Series(excluded.to_numpy(object), index=pd.to_datetime(excluded.index)).reindex(calendar)
    reasons = reasons.where(reasons.index.isin(pd.to_datetime(excluded.index)), "no documents")
    eligible = reasons.isna().to_numpy()
    notes = [
        None if ok else ("category mix differs" if "category" in str(reason) else f"too few docs ({n})")
        for ok, reason, n in zip(eligible, reasons, n_docs, strict=False)
    ]
    return pd.DataFrame(
        {
            "month": calendar,
            "n_docs": n_docs,
            "n_active": n_active,
            "share": n_active / np.maximum(n_docs, 1),
            "low": low,
            "high": high,
            "eligible": eligible,
            "note": notes,
        }
    )


def feature_prevalence(ctx: PageContext, sae_id: int, latent: int) -> pd.DataFrame:
    """The frame of one feature; months are tested as the SAE's stored trends run decided, else by the default rule.

    With a stored run its month table is reused (no scan of the SAE's activations to count documents per month).
    """
    stored = queries.trend_months(ctx.path, ctx.version, sae_id)
    if len(stored):
        months = stored[["month", "n_docs"]]
        excluded = pd.Series(stored["excluded"].to_numpy(object), index=pd.to_datetime(stored["month"]))
    else:
        months = queries.monthly_documents(ctx.path, ctx.version, sae_id)
        minimum = TrendsConfig().min_docs_per_month
        excluded = pd.Series(
            [None if n >= minimum else "too few documents" for n in months["n_docs"]],
            index=pd.to_datetime(months["month"]),
            dtype=object,
        )
    active = queries.monthly_active(ctx.path, ctx.version, sae_id, (int(latent),))
    return prevalence_frame(months, active.drop(columns="latent"), excluded)


def render_prevalence(ctx: PageContext, sae_id: int, latent: int) -> None:
    """The feature page's "prevalence over time" section: one chart, or a note why there is none."""
    frame = feature_prevalence(ctx, sae_id, latent)
    if frame.empty:
        st.caption("No dated documents, so no prevalence over time (docs.published is empty).")
        return
    if frame["eligible"].sum() < 2:
        st.info(
            f"Too few documents per month to show a prevalence over time: fewer than two months have at least "
            f"{TrendsConfig().min_docs_per_month} documents (and a usual category mix).",
            icon="ℹ️",
        )
        return
    st.plotly_chart(
        charts.prevalence_figure(frame, f"Prevalence over time: feature {latent}"),
        width="stretch",
        key=f"prevalence_{latent}",
    )
    st.caption(
        "Share of the month's documents where the feature is active, with a 95% Wilson interval. Grey months are "
        "left out: too few documents for a share to mean anything, or (after `just trends`) a category mix unlike "
        "the other months'. `just trends` tests the change of every feature."
    )
