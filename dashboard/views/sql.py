"""SQL: ad-hoc SELECT queries over the warehouse, read-only, with a row limit, a timeout and a schema browser."""

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

# Errors are cut to this many characters (a long query is not echoed whole).
ERROR_CHARS = 200


def short(message: str, limit: int = ERROR_CHARS) -> str:
    """``message`` cut to ``limit`` characters, saying how much was left out."""
    message = " ".join(message.split())
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… ({len(message) - limit:,} more characters)"


def rows_text(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


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
        timeout = st.number_input(
            "Timeout (s)",
            min_value=0.1,
            max_value=600.0,
            value=ctx.settings.sql_timeout_s,
            step=1.0,
            key="sql_timeout",
            help="A query still running after this long is stopped (SAE_ATLAS_SQL_TIMEOUT_S sets the default).",
        )
    with left:
        sql = st.text_area("Query", key="sql_text", height=180)
    if st.button("Run query", type="primary", key="sql_run"):
        _run(ctx, sql, int(limit), float(timeout))
    _schema_browser(ctx)


def _run(ctx: PageContext, sql: str, limit: int, timeout: float) -> None:
    try:
        result = queries.run_select(ctx.path, sql, limit, timeout)
    except queries.RejectedQuery as error:
        st.error(f"Refused: {short(str(error))}")
        return
    except queries.QueryTimeout as error:
        st.error(f"Stopped: {error}")
        return
    except duckdb.Error as error:
        st.error(f"The query failed: {short(str(error))}")
        return
    more = f" (first {limit:,}; more exist: raise the row limit)" if result.truncated else ""
    st.success(f"{rows_text(len(result.frame))}{more} in {result.seconds:.3f} s")
    st.dataframe(result.frame, hide_index=True, width="stretch", key="sql_result")


def _schema_browser(ctx: PageContext) -> None:
    """Every table and view with its row count; pick one to see its columns."""
    st.subheader("Schema")
    tables, columns = queries.schema(ctx.path, ctx.version)
    left, right = st.columns([2, 3])
    with left:
        st.dataframe(
            tables,
            hide_index=True,
            width="stretch",
            key="sql_schema_tables",
            column_config={"rows": st.column_config.NumberColumn("rows", help="exact count; views are not run")},
        )
    with right:
        table = st.selectbox("Columns of", tables["name"].tolist(), key="sql_schema_table")
        st.dataframe(
            columns.loc[columns["table"] == table, ["column", "type"]],
            hide_index=True,
            width="stretch",
            key="sql_schema_columns",
        )


run_page(render)
