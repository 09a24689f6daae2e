"""The Runs page shows each SAE's stored quality card, fidelity rows and steering summary (AppTest)."""

from __future__ import annotations

import json

from data.warehouse import open_writer
from evals.fidelity import FidelityConfig, corpus_fidelity
from evals.report.card import ReportConfig, build_report
from tests.dashboard_support import fresh_streamlit_caches, open_app, sql  # noqa: F401 (fixture)


def test_runs_page_shows_a_quality_card_per_sae(monkeypatch, trained_astro_copy):
    path, (first, *others) = trained_astro_copy.path, trained_astro_copy.sae_ids
    report = build_report(path, "astro", first, ReportConfig(baseline_draws=50))
    corpus_fidelity(path, "astro", FidelityConfig(n_queries=100))
    headline = {"up_success_net": 0.21, "judge": "independent SAE (seed 1)"}
    with open_writer(path) as con:
        con.execute(
            "INSERT INTO eval_summaries VALUES (?, 'steering', ?, now())",
            [first, json.dumps({"run_id": "r1", "headline": headline, "points": [{"u": 1.0}] * 5})],
        )

    default = others[-1]  # the most latents: the SAE every page opens, its card first

    def cards():
        return [e for e in at.expander if e.label.startswith("#")]

    at = open_app(monkeypatch, path, timeout=120)
    assert [e.label.split(" ")[0] for e in cards()] == [f"#{default}"]  # the first tab: the default SAE's card
    assert "run_pick" not in [box.key for box in at.selectbox]  # the All runs tab has not run
    at.session_state["runs_tab"] = "All runs"
    at = at.run()
    picker = at.selectbox(key="run_pick")
    # every SAE, one drawn at a time
    assert sorted(option.split(" ")[0] for option in picker.options) == sorted(f"#{i}" for i in (first, *others))
    assert picker.value is None and not cards()  # none until picked
    assert not at.json
    at = picker.select(first).run()

    assert [e.label.split(" ")[0] for e in cards()] == [f"#{first}"]
    card = next(e for e in cards() if e.label.startswith(f"#{first} "))
    assert f"test FVU {report['test_fvu']:.3f}" in card.label
    metrics = {m.label: m.value for m in card.metric}
    assert metrics["Test FVU"] == f"{report['test_fvu']:.3f}" and metrics["Train FVU"] == f"{report['train_fvu']:.3f}"
    assert metrics["Coherence (median)"] == f"{report['coherence_median']:.3f}"
    assert metrics["Fidelity recall@10"] == f"{report['fidelity_test_recall10']:.3f}"
    frames = [frame.value for frame in card.dataframe]
    fidelity = next(f for f in frames if "recall_at_10" in f.columns)
    stored = sql(path, "SELECT searched, recall_at_10 FROM fidelity WHERE sae_id = ? ORDER BY searched", [first])
    assert sorted(fidelity["recall_at_10"]) == sorted(r[1] for r in stored) and len(stored) == 2
    steering = next(f for f in frames if list(f.columns) == ["result", "value"])
    assert dict(zip(steering["result"], steering["value"], strict=False)) == {
        "up_success_net": "0.21",
        "judge": "independent SAE (seed 1)",
    }
    assert any("just interpret astro" in c.value for c in card.caption)  # labels not computed: the reason shows
    assert len(at.json) == 2  # with its config and metrics
    at = at.selectbox(key="run_pick").select(others[0]).run()
    other = next(e for e in cards() if e.label.startswith(f"#{others[0]} "))
    assert any("No quality card" in i.value and "`just report astro" in i.value for i in other.info)
    assert not other.code  # the command sits in the note: a code block would load a syntax highlighter (1.5 MB)
    assert any(f"just steer-bench astro --sae-id {others[0]}" in c.value for c in other.caption)
    at = at.selectbox(key="run_pick").select(default).run()
    assert [e.label.split(" ")[0] for e in cards()] == [f"#{default}"] and len(at.json) == 2
