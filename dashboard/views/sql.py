"""SQL: ad-hoc SELECT queries over the warehouse, read-only, with a row limit."""

from __future__ import annotations

import duckdb
import streamlit as st

from dashboard import queries
from dashboard.common import PageContext, run_page

EXAMPLES = {
    "Runs and their metrics": "SELECT sae_id, name, n_latents, k, metrics FROM complete_saes ORDER BY k, n_latents",
    "Top abstracts of a feature": (
        "SELECT a.value, d.title, d.arxiv_id\nFROM activations a JOIN docs d USING (doc_id)\n"
        "WHERE a.sae_id = (SELECT max(sae_id) FROM latents) AND a.latent = 0\nORDER BY a.value DESC LIMIT 10"
    ),
    "Best-scored labels": (
        "SELECT sae_id, latent, label, pearson, f1, random_pearson\nFROM interpretations\n"
        "ORDER BY pearson DESC NULLS LAST LIMIT 20"
    ),
    "Family members": (
        "SELECT f.family_id, f.label, m.latent, m.depth, m.parent_latent\n"
        "FROM families f JOIN family_members m USING (sae_id, family_id)\nORDER BY f.family_id, m.depth LIMIT 50"
    ),
    "Co-occurring features": "SELECT latent, other, count, weight FROM cooccurrence ORDER BY weight DESC LIMIT 20",
    "Tables and row counts": "SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY table_name",
}


def _load_example() -> None:
    st.session_state["sql_text"] = EXAMPLES[st.session_state["sql_example"]]


def render(ctx: PageContext) -> None:
    st.title("SQL")
    st.caption(
        f"One SELECT at a time on a read-only connection to `{ctx.path}` (file access disabled). "
        "Anything else is refused; the dashboard never writes."
    )
    if "sql_text" not in st.session_state:
        st.session_state["sql_text"] = next(iter(EXAMPLES.values()))
    left, right = st.columns([3, 1])
    with right:
        st.selectbox("Ready queries", list(EXAMPLES), key="sql_example", on_change=_load_example)
        limit = st.number_input(
            "Row limit", min_value=1, max_value=100_000, value=ctx.settings.sql_row_limit, step=100, key="sql_limit"
        )
    with left:
        sql = st.text_area("Query", key="sql_text", height=180)
    if not st.button("Run query", type="primary", key="sql_run"):
        return
    try:
        frame, truncated = queries.run_select(ctx.path, sql, int(limit))
    except queries.RejectedQuery as error:
        st.error(f"Refused: {error}")
        return
    except duckdb.Error as error:
        st.error(f"The query failed: {error}")
        return
    st.success(
        f"{len(frame):,} rows" + (f" (first {int(limit):,}; more exist: raise the row limit)" if truncated else "")
    )
    st.dataframe(frame, hide_index=True, width="stretch", key="sql_result")


run_page(render)
