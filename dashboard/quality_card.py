"""The quality card of one SAE on the Runs page: the stored `just report`, fidelity and steering results."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.queries import StoredEvaluations
from evals.report.steering import digest_lines

DENSITY_SPEC = {
    "mark": "bar",
    "encoding": {
        "x": {"field": "density", "type": "nominal", "sort": None, "title": "share of test documents"},
        "y": {"field": "latents", "type": "quantitative", "title": "latents"},
    },
}
"""The density histogram of a quality card: latents per density bin, bins in their order."""

SEARCHED = {
    "all": "test queries over every other document",
    "test": "test queries over test documents only",
    "sampled": "random queries (before the test split; not held out)",
}


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def card_headline(report: dict | None) -> str:
    if report is None:
        return "no quality card yet"
    return (
        f"test FVU {_num(report['test_fvu'])} · train {_num(report['train_fvu'])} · "
        f"coherence {_num(report['coherence_median'])}"
    )


def render_card(sae_id: int, corpus: str, stored: StoredEvaluations) -> None:
    report = stored.reports.get(sae_id)
    if report is None:
        st.info(
            f"No quality card for SAE {sae_id} yet. Compute it (every number on the test split): "
            f"`just report {corpus} --sae-id {sae_id}`",
            icon="ℹ️",
        )
    else:
        _report(report)
    not_run = []
    fidelity = stored.fidelity[stored.fidelity["sae_id"] == sae_id]
    if fidelity.empty:
        not_run.append(f"retrieval fidelity (`just fidelity {corpus}`)")
    else:
        st.markdown("**Retrieval fidelity** (stored by `just fidelity`: top 10 over reconstructions vs originals)")
        table = fidelity.assign(searched=fidelity["searched"].map(SEARCHED).fillna(fidelity["searched"]))
        st.dataframe(table.drop(columns="sae_id"), hide_index=True, width="stretch", key=f"fidelity_{sae_id}")
    if sae_id not in stored.steering:
        not_run.append(f"steering (`just steer-bench {corpus} --sae-id {sae_id}`)")
    else:
        summary, when = stored.steering[sae_id]
        st.markdown(f"**Steering** (latest `just steer-bench` run, stored {when})")
        st.dataframe(
            pd.DataFrame(digest_lines(summary), columns=["result", "value"]),
            hide_index=True,
            width="stretch",
            key=f"steering_{sae_id}",
        )
    if not_run:
        st.caption("Not run yet: " + " · ".join(not_run))


def _markdown_table(columns: list[str], rows: list[tuple]) -> None:
    """A few rows of text as a markdown table: three data grids (st.dataframe) cost the first page about 0.2 s of
    browser time (measured by `just bench dashboard`), for tables nobody sorts or scrolls."""

    def cells(values) -> str:
        return "| " + " | ".join(str(value).replace("|", "\\|") for value in values) + " |"

    st.markdown("\n".join([cells(columns), "|" + " --- |" * len(columns), *(cells(row) for row in rows)]))


def _report(r: dict) -> None:
    st.caption(
        f"`just report`: every number on the {r['n_test_docs']:,} test documents (never trained on) unless named "
        f"otherwise; {r['n_train_docs']:,} training-split documents"
    )
    for warning in r["warnings"]:
        st.warning(warning, icon="⚠️")
    columns = st.columns(5)
    columns[0].metric("Test FVU", _num(r["test_fvu"]))
    columns[1].metric("Train FVU", _num(r["train_fvu"]))
    columns[2].metric("Dead latents (test)", _num(r["dead_fraction"]))
    columns[3].metric(
        "Coherence (median)",
        _num(r["coherence_median"]),
        help=f"random {_num(r['coherence_random'])}, a document + its neighbours {_num(r['coherence_neighbours'])}",
    )
    columns[4].metric(
        "Fidelity recall@10", _num(r["fidelity_test_recall10"]), help="test queries over test documents only"
    )
    left, right = st.columns(2)
    with left:
        quantiles = r["test_cosine_quantiles"]
        st.markdown("**Reconstruction**")
        _markdown_table(
            ["metric", "value"],
            [
                (
                    "FVU test / train / val",
                    f"{_num(r['test_fvu'])} / {_num(r['train_fvu'])} / {_num(r['val_fvu'])}",
                ),
                ("cos(x, x̂) q05 / q25 / median / q75 / q95", " / ".join(_num(v) for v in quantiles.values())),
                ("L0 mean (min, max)", f"{_num(r['test_l0'], 1)} ({r['test_l0_min']}, {r['test_l0_max']})"),
                (
                    "dead: test / all docs / trainer",
                    f"{_num(r['dead_fraction'])} / {_num(r['dead_fraction_all_docs'])} / "
                    f"{_num(r['trainer_dead_fraction'])}",
                ),
                ("dense (density > 0.1)", _num(r["dense_fraction"])),
            ],
        )
        histogram = r["density_histogram"]
        edges = histogram["edges"]
        bins = ["dead"] + [f"{low:.0e}–{high:.0e}" for low, high in zip(edges, edges[1:], strict=False)]
        frame = pd.DataFrame({"density": bins, "latents": [histogram["dead"], *histogram["counts"]]})
        # A Vega-Lite spec, not st.bar_chart: that builds the chart with altair, whose import alone costs the
        # first page ~0.4 s; "sort": None keeps the bins in density order (not alphabetical).
        st.vega_lite_chart(frame, DENSITY_SPEC, width="stretch", height=180)
    with right:
        m = r["coherence_top_docs"]
        st.markdown(f"**Coherence** (centred embeddings, top {m} test documents per feature)")
        coherence = [
            ("median over features", _num(r["coherence_median"])),
            (f"{m} random test documents", _num(r["coherence_random"])),
            (f"a document + its {m - 1} nearest", _num(r["coherence_neighbours"])),
            (f"top {m} over all documents", _num(r["coherence_median_all_docs"])),
        ]
        coherence += [
            (f"level {level} ({v['features']:,} features)", _num(v["median"]))
            for level, v in (r.get("coherence_by_level") or {}).items()
        ]
        _markdown_table(["set", "mean pairwise cosine"], coherence)
        st.markdown(f"**Labels** ({r['labels_scored']:,} scored on test documents by {r.get('label_scorer') or 'n/a'})")
        _markdown_table(
            ["metric", "label", "other feature's label"],
            [
                (
                    "AUROC vs random negatives (median)",
                    _num(r["label_auroc_random_median"]),
                    _num(r["label_baseline_auroc_random_median"]),
                ),
                (
                    f"AUROC vs {r['label_hard_negatives']} hard negatives (median)",
                    _num(r["label_auroc_hard_median"]),
                    _num(r["label_baseline_auroc_hard_median"]),
                ),
                (
                    "share beating the other-label baseline",
                    _num(r["label_beats_baseline_fraction"]),
                    _num(r["label_beats_baseline_hard_fraction"]) + " (hard)",
                ),
                ("clean features", _num(r["clean_count"]), ""),
            ],
        )
    for key, reason in r["reasons"].items():
        if key != "steering":  # the card's Steering section below says it
            st.caption(f"not computed, {key}: {reason}")
