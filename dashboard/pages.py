"""The dashboard's pages and what a URL that names none of them shows (instead of silently landing on Runs)."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.scriptrunner import get_script_run_ctx


def pages() -> list[StreamlitPage]:
    """The pages in sidebar order (new objects per run: streamlit marks the one it runs)."""
    return [
        st.Page("views/runs.py", title="Runs", icon=":material/insights:", default=True),
        st.Page("views/features.py", title="Features", icon=":material/table_rows:"),
        st.Page("views/feature.py", title="Feature page", icon=":material/neurology:"),
        st.Page("views/families.py", title="Families", icon=":material/account_tree:"),
        st.Page("views/trends.py", title="Trends", icon=":material/trending_up:"),
        st.Page("views/contrast.py", title="Contrast", icon=":material/compare_arrows:"),
        st.Page("views/steer.py", title="Search & steer", icon=":material/tune:"),
        st.Page("views/inspect.py", title="Inspect", icon=":material/search:"),
        st.Page("views/sql.py", title="SQL", icon=":material/terminal:"),
    ]


def requested_page() -> str | None:
    """The page the URL asks for: its ``page`` parameter, else the path the browser opened (``/features``).

    Streamlit falls back to the default page for an unknown path; its pages manager still holds the
    path that was asked for (when no page was picked by its hash, as the sidebar does).
    """
    if "page" in st.query_params:
        return st.query_params["page"]
    ctx = get_script_run_ctx()
    manager = ctx.pages_manager if ctx else None
    if manager is None or manager.intended_page_script_hash:
        return None
    return manager.intended_page_name or None


def route_unknown_page(pages: list[StreamlitPage]) -> bool:
    """Open the page ``?page=`` names; for a page that does not exist show the list of pages. True when handled."""
    wanted = requested_page()
    if wanted is None:
        return False
    by_name = {page.url_path: page for page in pages} | {page.title.lower(): page for page in pages}
    page = by_name.get(wanted.strip().strip("/").lower())
    if page is not None:
        if "page" in st.query_params:
            rest = {key: value for key, value in st.query_params.items() if key != "page"}
            st.switch_page(page, query_params=rest)
        return False
    st.title("Page not found")
    st.error(f"There is no page called `{wanted[:80]}`. Pick one of these:")
    for page in pages:
        st.page_link(page, label=f"{page.title}  (`/{page.url_path}`)", icon=page.icon)
    return True
