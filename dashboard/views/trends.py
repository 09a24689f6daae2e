"""Trends: which features rise and fall over the months (from `just trends`), with monthly charts and examples."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, queries
from dashboard.common import PageContext, empty_state, open_feature, run_page, sae_picker
from dashboard.prevalence import prevalence_frame

LISTED = 50
CHARTED = 4


def render(ctx: PageContext) -> None:
    st.title("Trends")
    sae = sae_picker(ctx)
    if sae is None:
        return
    sae_id = int(sae["sae_id"])
    trends = queries.trends(ctx.path, ctx.version, sae_id)
    if trends.empty:
        empty_state(
            "No trends for this SAE yet", "Test every feature for a change over the months:", "just trends astro"
        )
        return
    months = queries.trend_months(ctx.path, ctx.version, sae_id)
    metrics = st.columns(5)
    metrics[0].metric("Months tested", f"{int(months['eligible'].sum())} of {len(months)}")
    metrics[1].metric("Features tested", f"{int((trends['direction'] != 'too_rare').sum()):,}")
    metrics[2].metric(
        "Rising", int((trends["direction"] == "rising").sum()), help="significant at the run's false-discovery rate"
    )
    metrics[3].metric("Falling", int((trends["direction"] == "falling").sum()))
    metrics[4].metric("Documents", f"{int(months['n_docs'].sum()):,}")
    excluded = months[~months["eligible"]]
    if len(excluded):
        listed = "\n".join(
            f"- {pd.Timestamp(row.month).strftime('%Y-%m')} ({row.n_docs} documents): {row.excluded}"
            for row in excluded.itertuples()
        )
        st.info(f"Months left out of the test (blank in the charts):\n{listed}", icon="ℹ️")
    recent = months[months["period"] == "recent"]["month"]
    previous = months[months["period"] == "previous"]["month"]
    st.caption(
        f"Test: Cochran-Armitage trend in the monthly share of documents, corrected for month-to-month "
        "over-dispersion, Benjamini-Hochberg across features. "
        f"Ratio = share in {_span(recent)} over share in {_span(previous)}."
    )

    which = st.radio("Direction", ["rising", "falling"], horizontal=True, key="trends_direction")
    sign = 1 if which == "rising" else -1
    ranked = trends[(trends["direction"] != "too_rare") & (sign * trends["z"] > 0)].head(LISTED).reset_index(drop=True)
    ranked = ranked.assign(significant=ranked["direction"] == which)
    event = st.dataframe(
        ranked[
            [
                "latent",
                "label",
                "significant",
                "ratio",
                "q_value",
                "active_docs",
                "previous_prevalence",
                "recent_prevalence",
            ]
        ],
        hide_index=True,
        width="stretch",
        key=f"trends_table_{which}",
        on_select="rerun",
        selection_mode="multi-row",
        column_config={
            "ratio": st.column_config.NumberColumn(format="%.2f"),
            "q_value": st.column_config.NumberColumn("q", format="%.1e"),
            "previous_prevalence": st.column_config.NumberColumn("share before", format="%.4f"),
            "recent_prevalence": st.column_config.NumberColumn("share recent", format="%.4f"),
        },
    )
    if ranked.empty:
        st.caption("No tested feature trends this way.")
        return
    rows = (
        event.selection.rows if event is not None and event.selection.rows else list(range(min(CHARTED, len(ranked))))
    )
    chosen = ranked.iloc[rows]
    st.caption("Select rows to chart other features (strongest evidence first by default).")
    _charts(ctx, sae_id, chosen, months, recent if which == "rising" else previous)


def _span(months: pd.Series) -> str:
    if months.empty:
        return "-"
    return f"{pd.Timestamp(months.min()).strftime('%Y-%m')}..{pd.Timestamp(months.max()).strftime('%Y-%m')}"


def _charts(
    ctx: PageContext, sae_id: int, chosen: pd.DataFrame, months: pd.DataFrame, example_months: pd.Series
) -> None:
    active = queries.monthly_active(ctx.path, ctx.version, sae_id, tuple(int(x) for x in chosen["latent"]))
    excluded = pd.Series(months["excluded"].to_numpy(object), index=pd.to_datetime(months["month"]))
    documents = months[["month", "n_docs"]]
    start = pd.Timestamp(example_months.min()).date()
    stop = (pd.Timestamp(example_months.max()) + pd.offsets.MonthBegin(1)).date()
    columns = st.columns(2)
    for i, row in enumerate(chosen.itertuples()):
        with columns[i % 2]:
            frame = prevalence_frame(documents, active[active["latent"] == row.latent].drop(columns="latent"), excluded)
            title = f"{row.latent}: {charts.label_text(row.label)[:50]} (ratio {row.ratio:.2f}, q {row.q_value:.1e})"
            st.plotly_chart(charts.prevalence_figure(frame, title), width="stretch", key=f"trend_chart_{row.latent}")
            examples = queries.period_examples(ctx.path, ctx.version, sae_id, int(row.latent), start, stop)
            with st.expander(f"Examples of feature {row.latent} ({_span(example_months)})"):
                for example in examples.itertuples():
                    st.markdown(
                        f"**{example.activation:.2f}** · [{example.title}]({example.link}) · {example.published}"
                    )
                    st.caption(example.abstract[:500] + ("…" if len(example.abstract) > 500 else ""))
                if st.button("Open feature page", key=f"trend_open_{row.latent}"):
                    open_feature(sae_id, int(row.latent))


run_page(render)
