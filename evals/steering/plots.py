"""The Pareto plot of the steering benchmark: judged success against cos(q, q'), SAE grid vs rewrites,
with the drift-matched control (a random feature direction at the same cos) beside each."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

METRICS = (("up_success", "up-success"), ("down_success", "down-success"))
COLOURS = {"none": "grey", "rewrite-offline": "crimson", "rewrite-llm": "darkorange"}
CONTROL_GRID = "control:sae"


def pareto_figure(summary: dict, title: str) -> go.Figure:
    figure = make_subplots(rows=1, cols=2, subplot_titles=[name for _, name in METRICS], shared_xaxes=True)
    points = summary["points"]
    sae = [p for p in points if p["method"] == "sae"]
    for column, (metric, name) in enumerate(METRICS, start=1):
        shown = [p for p in sae if p[metric] is not None]
        figure.add_trace(
            go.Scatter(
                x=[p["cos"] for p in shown],
                y=[p[metric] for p in shown],
                mode="markers",
                name="SAE (u, d) grid",
                marker={
                    "color": [p["u"] for p in shown],
                    "colorscale": "Viridis",
                    "size": 8,
                    "showscale": column == 2,
                    "colorbar": {"title": "u"},
                },
                text=[f"u={p['u']}, d={p['d']}, n={p['n']}" for p in shown],
                showlegend=column == 1,
                legendgroup="sae",
            ),
            row=1,
            col=column,
        )
        control = [p for p in points if p["method"] == CONTROL_GRID and p[metric] is not None]
        figure.add_trace(
            go.Scatter(
                x=[p["cos"] for p in control],
                y=[p[metric] for p in control],
                mode="markers",
                name="control: random feature direction, same cos",
                marker={"color": "lightgrey", "size": 7, "symbol": "circle-open"},
                text=[f"control of u={p['u']}, d={p['d']}" for p in control],
                showlegend=column == 1,
                legendgroup="control",
            ),
            row=1,
            col=column,
        )
        front = summary["sae_front_up" if metric == "up_success" else "sae_front_down"]
        figure.add_trace(
            go.Scatter(
                x=[p["cos"] for p in front],
                y=[p[metric] for p in front],
                mode="lines",
                name="SAE Pareto front",
                line={"color": "black", "dash": "dot"},
                showlegend=column == 1,
                legendgroup="front",
            ),
            row=1,
            col=column,
        )
        for p in points:
            if p["method"] in ("sae", CONTROL_GRID) or p[metric] is None:
                continue
            symbol = "x" if p["method"] == "none" else "star-open" if p["method"].startswith("control:") else "star"
            figure.add_trace(
                go.Scatter(
                    x=[p["cos"]],
                    y=[p[metric]],
                    mode="markers",
                    name=p["method"],
                    legendgroup=p["method"],
                    marker={
                        "symbol": symbol,
                        "size": 14,
                        "color": COLOURS.get(p["method"].removeprefix("control:"), "crimson"),
                    },
                    showlegend=column == 1,
                    text=[f"n={p['n']}"],
                ),
                row=1,
                col=column,
            )
        figure.update_xaxes(title_text="cos(q, q')", row=1, col=column)
        figure.update_yaxes(title_text=f"{name} (judge SAE)", range=[-0.02, 1.02], row=1, col=column)
    figure.update_layout(
        title=title, width=1100, height=520, template="plotly_white", legend={"orientation": "h", "y": -0.2, "x": 0}
    )
    return figure


def png_problem(error: Exception) -> str:
    """One line for a failed optional PNG export (kaleido's own message is a dozen lines) and how to enable it."""
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return (
        f"no PNG ({first[:120]}); to enable it: `plotly_get_chrome`, or BROWSER_PATH=/path/to/chromium; "
        "the HTML plot is complete"
    )


def write_figure(figure: go.Figure, stem: Path) -> tuple[Path, Path | None, str | None]:
    """HTML (self-contained, works offline) and PNG (kaleido + Chromium); PNG failure is reported, not fatal."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    html = stem.with_suffix(".html")
    figure.write_html(html, include_plotlyjs=True)
    png = stem.with_suffix(".png")
    try:
        figure.write_image(png)
    except Exception as error:  # noqa: BLE001 - kaleido needs a Chrome/Chromium; say why and keep the HTML
        return html, None, png_problem(error)
    return html, png, None
