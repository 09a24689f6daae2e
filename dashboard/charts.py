"""Plotly figures for the pages: pure functions from data frames to figures (no Streamlit, no SQL).

Over 300 lines as one module on purpose: every figure shares the same axis, colour and hover conventions,
and one import of plotly serves all pages.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

TEMPLATE = "plotly_white"
BASELINE_COLOUR = "#9aa0a6"
PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]


def label_text(value, fallback: str = "(no label)") -> str:
    """A label for display: missing labels (None or NaN from pandas) read as ``fallback``."""
    return value if isinstance(value, str) and value else fallback


def _layout(figure: go.Figure, title: str, height: int = 420, **axes) -> go.Figure:
    figure.update_layout(
        template=TEMPLATE,
        title=dict(text=title, x=0.01),
        height=height,
        margin=dict(l=10, r=10, t=50, b=70),
        legend=dict(orientation="h", y=-0.3, yanchor="top"),
        **axes,
    )
    return figure


def fit_power_law(n: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares in log-log space: ``y = scale * n ** exponent``; returns (scale, exponent)."""
    exponent, intercept = np.polyfit(np.log(n), np.log(y), 1)
    return float(math.exp(intercept)), float(exponent)


def scaling_figure(runs: pd.DataFrame) -> go.Figure:
    """The paper's scaling figure: validation FVU (fraction of variance unexplained) against n for each k, log-log,
    each k with its fitted power law."""
    figure = go.Figure()
    usable = runs[np.isfinite(runs["val_fvu"]) & (runs["val_fvu"] > 0)]
    for colour, (k, group) in zip(PALETTE * 4, usable.groupby("k"), strict=False):
        group = group.sort_values("n_latents")
        figure.add_trace(
            go.Scatter(
                x=group["n_latents"],
                y=group["val_fvu"],
                mode="markers",
                name=f"k = {k}",
                marker=dict(size=10, color=colour),
                legendgroup=str(k),
                customdata=group[["sae_id", "name"]],
                hovertemplate="SAE %{customdata[0]} %{customdata[1]}<br>n = %{x}<br>FVU = %{y:.4f}<extra></extra>",
            )
        )
        if group["n_latents"].nunique() >= 2:
            scale, exponent = fit_power_law(group["n_latents"].to_numpy(float), group["val_fvu"].to_numpy(float))
            grid = np.geomspace(group["n_latents"].min(), group["n_latents"].max(), 50)
            figure.add_trace(
                go.Scatter(
                    x=grid,
                    y=scale * grid**exponent,
                    mode="lines",
                    legendgroup=str(k),
                    name=f"k = {k} fit: {scale:.3g}·n^{exponent:.3f}",
                    line=dict(color=colour, dash="dash"),
                )
            )
    return _layout(
        figure,
        "Validation FVU vs number of latents (log-log, fitted power law per k)",
        xaxis=dict(type="log", title="latents n"),
        yaxis=dict(type="log", title="validation FVU"),
    )


def metric_by_n(
    runs: pd.DataFrame, column: str, title: str, axis_title: str, y_range: tuple[float, float] | None = None
) -> go.Figure:
    """One line per k of ``column`` against n (log x); repeated runs of one (k, n) are averaged.

    ``y_range`` fixes the y axis (a fraction: 0 to 1) instead of letting plotly pick one around the data."""
    figure = go.Figure()
    usable = runs[np.isfinite(runs[column])].groupby(["k", "n_latents"], as_index=False)[column].mean()
    for colour, (k, group) in zip(PALETTE * 4, usable.groupby("k"), strict=False):
        group = group.sort_values("n_latents")
        figure.add_trace(
            go.Scatter(
                x=group["n_latents"], y=group[column], mode="lines+markers", name=f"k = {k}", line=dict(color=colour)
            )
        )
    yaxis = dict(title=axis_title) if y_range is None else dict(title=axis_title, range=list(y_range))
    return _layout(figure, title, height=340, xaxis=dict(type="log", title="latents n"), yaxis=yaxis)


def density_vs_score(table: pd.DataFrame, score: str) -> go.Figure:
    """Each feature's label score against its density, beside the random-label baseline on the same features."""
    usable = table[np.isfinite(table[score].astype(float)) & (table["density"] > 0)]
    figure = go.Figure()
    baseline = f"random_{score}"
    if baseline in usable and usable[baseline].notna().any():
        figure.add_trace(
            go.Scattergl(
                x=usable["density"],
                y=usable[baseline],
                mode="markers",
                name="random-label baseline",
                marker=dict(size=4, color=BASELINE_COLOUR, opacity=0.45),
            )
        )
    figure.add_trace(
        go.Scattergl(
            x=usable["density"],
            y=usable[score],
            mode="markers",
            name="feature label",
            marker=dict(size=5, color=PALETTE[0], opacity=0.7),
            customdata=usable[["latent", "label"]],
            hovertemplate="latent %{customdata[0]}: %{customdata[1]}<br>density %{x:.2%}<br>"
            + score
            + " %{y:.3f}<extra></extra>",
        )
    )
    return _layout(
        figure,
        f"{score} vs density (label vs random-label baseline)",
        xaxis=dict(type="log", title="density (fraction of documents)"),
        yaxis=dict(title=score),
    )


CHANCE = {"pearson": 0.0, "auroc": 0.5, "balanced_accuracy": 0.5}


def score_histogram(table: pd.DataFrame, score: str) -> go.Figure:
    """Distribution of a score over features, overlaid on the random-label baseline, with the chance line."""
    figure = go.Figure()
    baseline = f"random_{score}"
    bins = dict(start=-1.0 if score == "pearson" else 0.0, end=1.0, size=0.05)
    if baseline in table and table[baseline].notna().any():
        figure.add_trace(
            go.Histogram(
                x=table[baseline], name="random-label baseline", xbins=bins, marker_color=BASELINE_COLOUR, opacity=0.6
            )
        )
    figure.add_trace(
        go.Histogram(x=table[score], name="feature label", xbins=bins, marker_color=PALETTE[0], opacity=0.75)
    )
    if score in CHANCE:
        figure.add_vline(x=CHANCE[score], line_dash="dot", annotation_text="chance")
    figure.update_layout(barmode="overlay")
    return _layout(
        figure,
        f"{score}: labels vs random-label baseline",
        height=320,
        xaxis=dict(title=score),
        yaxis=dict(title="features"),
    )


def activation_histogram(values: np.ndarray) -> go.Figure:
    """Non-zero activation values of one feature, 50 bins, log y (ticks at powers of ten only: the
    default 2 and 5 ticks between them overlap in a narrow column)."""
    figure = go.Figure(go.Histogram(x=values, nbinsx=50, marker_color=PALETTE[0]))
    return _layout(
        figure,
        f"Activation histogram ({len(values):,} documents)",
        height=320,
        xaxis=dict(title="activation", nticks=6),
        yaxis=dict(type="log", title="documents (log)", dtick=1),
    )


def cooccurrence_heatmap(pairs: pd.DataFrame, labels: dict[int, str]) -> go.Figure:
    """P(column | row) among a family's members, in the order of ``labels`` (root first)."""
    present = set(pairs["latent"]) | set(pairs["other"])
    latents = [latent for latent in labels if latent in present] + sorted(present - set(labels))
    position = {latent: i for i, latent in enumerate(latents)}
    matrix = np.zeros((len(latents), len(latents)))
    for row in pairs.itertuples():
        matrix[position[row.latent], position[row.other]] = row.p_other_given_latent
    names = [f"{latent}: {label_text(labels.get(latent), '')[:32]}" for latent in latents]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale="Viridis",
            zmin=0,
            zmax=1,
            colorbar=dict(title="P(col | row)"),
            hovertemplate="P(%{x} | %{y}) = %{z:.2f}<extra></extra>",
        )
    )
    return _layout(
        figure,
        "Co-occurrence within the family: P(column active | row active)",
        height=560,
        yaxis=dict(autorange="reversed"),
    )


def family_scores(families: pd.DataFrame) -> go.Figure:
    """Family label scores (Pearson, F1) against each other, sized by family size."""
    usable = families.dropna(subset=["pearson", "f1"])
    figure = go.Figure(
        go.Scatter(
            x=usable["pearson"],
            y=usable["f1"],
            mode="markers",
            marker=dict(size=np.clip(usable["size"].astype(float), 4, 30), color=PALETTE[2], opacity=0.7),
            customdata=usable[["family_id", "label", "size"]],
            hovertemplate="#%{customdata[0]} %{customdata[1]} (%{customdata[2]} members)"
            "<br>pearson %{x:.2f}, f1 %{y:.2f}<extra></extra>",
        )
    )
    figure.add_hline(y=0.8, line_dash="dot")
    figure.add_vline(x=0.8, line_dash="dot", annotation_text="clean ≥ 0.8 / 0.8")
    return _layout(figure, "Family label scores", height=380, xaxis=dict(title="pearson"), yaxis=dict(title="f1"))


def prevalence_figure(frame: pd.DataFrame, title: str, height: int = 300) -> go.Figure:
    """Monthly share of documents with a feature and its 95% Wilson band; months with too few documents are
    left blank (a grey band says so) instead of drawing a share computed from a handful of documents.

    ``frame``: month, n_docs, n_active, share, low, high, eligible, note
    (see ``dashboard.prevalence.prevalence_frame``).
    """
    shown = frame.assign(
        share=frame["share"].where(frame["eligible"]),
        low=frame["low"].where(frame["eligible"]),
        high=frame["high"].where(frame["eligible"]),
    )
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=shown["month"],
            y=100 * shown["high"],
            mode="lines",
            line=dict(width=0),
            showlegend=False,
            hoverinfo="skip",
            connectgaps=False,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=shown["month"],
            y=100 * shown["low"],
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor="rgba(76,120,168,0.2)",
            name="95% interval",
            hoverinfo="skip",
            connectgaps=False,
        )
    )
    figure.add_trace(
        go.Scatter(
            x=shown["month"],
            y=100 * shown["share"],
            mode="lines+markers",
            name="share of documents",
            line=dict(color=PALETTE[0]),
            connectgaps=False,
            customdata=shown[["n_active", "n_docs"]],
            hovertemplate="%{x|%Y-%m}: %{y:.2f}% (%{customdata[0]} of %{customdata[1]} documents)<extra></extra>",
        )
    )
    # One grey band (and one note) per run of consecutive left-out months with the same reason.
    runs = (frame["eligible"] | (frame["note"] != frame["note"].shift())).cumsum()
    for _, run in frame[~frame["eligible"]].groupby(runs[~frame["eligible"]]):
        figure.add_vrect(
            x0=run["month"].iloc[0] - pd.Timedelta(days=14),
            x1=run["month"].iloc[-1] + pd.Timedelta(days=14),
            fillcolor=BASELINE_COLOUR,
            opacity=0.25,
            line_width=0,
            annotation_text=run["note"].iloc[0],
            annotation_position="top left",
            annotation_font_size=10,
            annotation_textangle=-90,
        )
    return _layout(
        figure, title, height=height, xaxis=dict(title="month"), yaxis=dict(title="% of documents", rangemode="tozero")
    )


def contrast_effects(features: pd.DataFrame, kind: str) -> go.Figure:
    """Per selected feature: the target's mean on test documents with vs without it (the effect, as a dumbbell)."""
    names = [f"{row.latent}: {label_text(row.label, '')[:40]}" for row in features.itertuples()]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=features["mean_without"],
            y=names,
            mode="markers",
            name="without the feature",
            marker=dict(color=BASELINE_COLOUR, size=9),
        )
    )
    figure.add_trace(
        go.Scatter(
            x=features["mean_with"],
            y=names,
            mode="markers",
            name="with the feature",
            marker=dict(color=PALETTE[0], size=10),
            customdata=features[["n_with", "q_value"]],
            hovertemplate="%{y}<br>%{x:.3f} on %{customdata[0]} test documents, "
            "q = %{customdata[1]:.1e}<extra></extra>",
        )
    )
    for row, name in zip(features.itertuples(), names, strict=False):
        figure.add_shape(
            type="line", x0=row.mean_without, x1=row.mean_with, y0=name, y1=name, line=dict(color=PALETTE[0], width=1)
        )
    axis = "share of positives (test split)" if kind == "binary" else "mean target (test split)"
    return _layout(
        figure,
        "Target on test documents with vs without each selected feature",
        height=max(320, 28 * len(names) + 120),
        xaxis=dict(title=axis),
        yaxis=dict(autorange="reversed"),
    )
