"""SAE Atlas dashboard: `streamlit run dashboard/app.py` (warehouse from SAE_ATLAS_WAREHOUSE or the sidebar)."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from dashboard.common import sidebar_warehouse_picker  # noqa: E402

st.set_page_config(page_title="SAE Atlas", page_icon="🗺️", layout="wide")

PAGES = [
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

navigation = st.navigation(PAGES)
st.sidebar.markdown("## SAE Atlas")
sidebar_warehouse_picker()
navigation.run()
