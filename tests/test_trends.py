"""Concept trends: the statistics on planted trends, the month rules, and a real run on the astro corpus."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evals.trends.__main__ import main as trends_main
from evals.trends.config import TrendsConfig
from evals.trends.pipeline import TooFewMonths, month_table, run_trends
from evals.trends.stats import directions, trend_statistics, wilson_interval
from tests.dashboard_support import sql


def _planted(seed: int = 0):
    """13 months x 1000 documents; feature 0 rises 2% -> 6%, 1 is flat at 5%, 2 zig-zags around a slight rise
    (month-to-month noise far above binomial), 3 is rare; 200 more flat features make the FDR control real."""
    rng = np.random.default_rng(seed)
    months, n = 13, np.full(13, 1000)
    t = np.arange(months)
    shares = [
        0.02 + 0.04 * t / (months - 1),
        np.full(months, 0.05),
        0.05 + 0.03 * (-1.0) ** t + 0.003 * t,
        np.full(months, 0.0004),
    ] + [np.full(months, 0.05)] * 200
    counts = np.array([rng.binomial(n, share) for share in shares])
    counts[2] = np.round(shares[2] * n)  # the zig-zag exactly, no sampling noise on top
    recent, previous = t >= months - 6, (t >= months - 12) & (t < months - 6)
    return counts, n, t, recent, previous


def test_a_planted_rise_is_found_and_month_to_month_noise_is_not_a_trend():
    counts, n, t, recent, previous = _planted()
    result = trend_statistics(counts, n, t, recent, previous, min_active=20)
    direction = directions(result, alpha=0.05)
    assert direction[0] == "rising" and result.q_value[0] < 1e-6 and result.ratio[0] > 1.8
    assert direction[1] == "flat"
    # The zig-zag has a real but small slope: plain Cochran-Armitage calls it significant, the dispersion does not.
    plain_z = result.z[2] * np.sqrt(result.dispersion[2])
    assert abs(plain_z) > 4 and result.dispersion[2] > 10 and direction[2] == "flat"
    assert direction[3] == "too_rare" and np.isnan(result.p_value[3])
    assert (direction[4:] == "rising").sum() + (direction[4:] == "falling").sum() <= 2  # FDR 5% over 200 nulls


def test_wilson_interval_matches_known_values():
    low, high = wilson_interval(np.array([0, 5]), np.array([10, 10]))
    assert low[0] == 0 and high[0] == pytest.approx(0.2775, abs=1e-4)
    assert (low[1], high[1]) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))


def _dated(months: dict[str, int], mixes: dict[str, list[str]] | None = None):
    dates, categories = [], []
    for month, count in months.items():
        dates += [pd.Timestamp(f"{month}-15")] * count
        pool = (mixes or {}).get(month, ["a", "b"])
        categories += [[pool[i % len(pool)]] for i in range(count)]
    return pd.Series(dates), pd.Series(categories)


def test_months_with_few_documents_or_another_category_mix_are_left_out():
    published, categories = _dated(
        {"2025-01": 3, "2025-02": 150, "2025-03": 150, "2025-05": 150, "2025-06": 150, "2025-07": 150},
        {"2025-02": ["a"]},
    )
    months = month_table(published, categories, TrendsConfig(window=6))
    labels = months.months.strftime("%Y-%m").tolist()
    assert labels == [
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-04",
        "2025-05",
        "2025-06",
        "2025-07",
    ]  # the gap stays a month
    reasons = dict(zip(labels, months.excluded, strict=False))
    assert reasons["2025-01"] == "fewer than 100 documents" and reasons["2025-04"] == "fewer than 100 documents"
    assert "category mix" in reasons["2025-02"] and "a in 100%" in reasons["2025-02"]
    assert [m for m, ok in zip(labels, months.eligible, strict=False) if ok] == [
        "2025-03",
        "2025-05",
        "2025-06",
        "2025-07",
    ]
    assert months.window == 2 and list(months.period[-2:]) == ["recent", "recent"]
    assert TrendsConfig(max_composition_shift=1.0).max_composition_shift == 1.0
    kept = month_table(published, categories, TrendsConfig(max_composition_shift=1.0))
    assert kept.eligible[1]  # the check can be turned off


def test_too_few_months_and_undated_corpora_say_what_to_do():
    published, categories = _dated({"2025-01": 500, "2025-02": 500, "2025-03": 20})
    with pytest.raises(TooFewMonths, match="only 2 calendar month.*2025-03.: 20.*--min_docs_per_month"):
        month_table(published, categories, TrendsConfig())
    with pytest.raises(TooFewMonths, match="docs.published is empty"):
        month_table(pd.Series([pd.NaT] * 5), pd.Series([["a"]] * 5), TrendsConfig())


def test_trends_of_a_trained_sae_are_stored_and_match_the_activations(trained_astro_copy):
    path, sae_id = trained_astro_copy.path, trained_astro_copy.sae_ids[-1]
    report = run_trends(path, "astro", sae_id, TrendsConfig(top=5))
    n_latents = sql(path, "SELECT n_latents FROM saes WHERE sae_id = ?", [sae_id])[0][0]
    assert sql(path, "SELECT count(*) FROM trends WHERE sae_id = ?", [sae_id])[0][0] == n_latents
    months = sql(
        path,
        "SELECT strftime(month, '%Y-%m'), n_docs, eligible, excluded, period FROM trend_months "
        "WHERE sae_id = ? ORDER BY month",
        [sae_id],
    )
    by_month = {m: (n, ok, why) for m, n, ok, why, _ in months}
    assert by_month["2025-03"][1] is False and "fewer than" in by_month["2025-03"][2]
    # The shared data's first full months were collected from astro-ph.GA alone: they must not count.
    assert all(not by_month[m][1] and "astro-ph.GA" in by_month[m][2] for m in ("2025-04", "2025-05", "2025-06"))
    eligible = [m for m, (_, ok, _) in by_month.items() if ok]
    assert (
        sum(n for n, ok, _ in by_month.values())
        == sql(path, "SELECT count(DISTINCT doc_id) FROM activations WHERE sae_id = ?", [sae_id])[0][0]
    )
    # Stored counts are exactly what SQL counts over the tested months.
    latent, active = sql(
        path, "SELECT latent, active_docs FROM trends WHERE sae_id = ? ORDER BY active_docs DESC LIMIT 1", [sae_id]
    )[0]
    counted = sql(
        path,
        "SELECT count(*) FROM activations a JOIN docs d USING (doc_id) WHERE a.sae_id = ? AND a.latent = ? "
        "AND strftime(d.published, '%Y-%m') IN (SELECT unnest(?::VARCHAR[]))",
        [sae_id, latent, eligible],
    )[0][0]
    assert active == counted
    assert all(len(f.monthly_counts) == len(eligible) for f in report.rising + report.falling)
    assert all(f.direction in ("rising", "flat") and f.z > 0 for f in report.rising)
    assert [f.q_value for f in report.rising] == sorted(f.q_value for f in report.rising)
    summary = json.loads(
        sql(path, "SELECT summary FROM eval_summaries WHERE sae_id = ? AND eval = 'trends'", [sae_id])[0][0]
    )
    assert summary["eligible_months"] == len(eligible) and summary["tested"] == int(report.statistics.tested.sum())
    run_trends(path, "astro", sae_id)  # a re-run replaces, never duplicates
    assert sql(path, "SELECT count(*) FROM trends WHERE sae_id = ?", [sae_id])[0][0] == n_latents
    assert sql(path, "SELECT count(*) FROM trend_months WHERE sae_id = ?", [sae_id])[0][0] == len(months)


def test_the_command_names_a_missing_sae(trained_astro, capsys):
    assert trends_main(["astro", "--sae-id", "999", "--warehouse", str(trained_astro.path)]) == 2
    output = capsys.readouterr().out
    assert "unknown SAE id 999" in output and str(trained_astro.sae_ids[0]) in output
