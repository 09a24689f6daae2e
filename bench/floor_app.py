"""The cold-start floor of `just bench dashboard`: a bare Streamlit page with a title and one Vega-Lite chart.

Streamlit's own start, its JavaScript and the Vega chunks, and pandas (which st.vega_lite_chart imports), with none
of SAE Atlas: timed beside the dashboard in the same run, it says what a noisy machine allows at that moment.
"""

import streamlit as st

st.title("Floor")
st.vega_lite_chart(
    {
        "data": {"values": [{"bin": "a", "count": 3}, {"bin": "b", "count": 5}, {"bin": "c", "count": 2}]},
        "mark": "bar",
        "encoding": {"x": {"field": "bin", "type": "nominal"}, "y": {"field": "count", "type": "quantitative"}},
    },
    height=180,
)
