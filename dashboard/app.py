"""SAE Atlas dashboard: `streamlit run dashboard/app.py` (warehouse from SAE_ATLAS_WAREHOUSE or the sidebar)."""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from dashboard.common import sidebar_warehouse_picker  # noqa: E402
from dashboard.pages import pages, route_unknown_page  # noqa: E402

st.set_page_config(page_title="SAE Atlas", page_icon=":material/map:", layout="wide")

PAGES = pages()
navigation = st.navigation(PAGES)
st.sidebar.markdown("## SAE Atlas")
sidebar_warehouse_picker()
if not route_unknown_page(PAGES):
    navigation.run()
