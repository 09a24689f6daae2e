"""Search & steer: a query's top 10, its active features as sliders, and the steered results side by side."""
from __future__ import annotations

import streamlit as st

from dashboard.common import PageContext, run_page


def render(ctx: PageContext) -> None:
    st.title("Search & steer")
    st.info("Steering needs `evals.steering.search.SteerableSearch` (the steering package), which this checkout "
            "does not have yet.", icon="ℹ️")


run_page(render)
