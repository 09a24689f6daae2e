"""Distribution of one explainer's scores over an SAE's features, next to the random-label baseline."""

from __future__ import annotations

import duckdb
import numpy as np

from evals.interp.config import CleanConfig
from evals.interp.phrase_labels import NO_CONCEPT

METRICS = ("pearson", "f1", "auroc", "balanced_accuracy", "auroc_random", "auroc_hard")


def _quartiles(values: np.ndarray) -> dict[str, float | None]:
    values = values[~np.isnan(values)]
    if not len(values):
        return {"q25": None, "median": None, "q75": None}
    q25, median, q75 = np.quantile(values, [0.25, 0.5, 0.75])
    return {"q25": round(float(q25), 4), "median": round(float(median), 4), "q75": round(float(q75), 4)}


def summarise(
    con: duckdb.DuckDBPyConnection, sae_id: int, explainer: str, clean: CleanConfig, below: int | None = None
) -> dict:
    """Quartiles of every score and its baseline, the clean fraction (stored flags), counts; over latents
    ``0..below-1`` when ``below`` is given (what ``--max-features`` asked for), else over every latent.

    The random-label baseline has no stored flag: ``clean`` judges its scores the same way.
    """
    upper = 2**31 - 1 if below is None else below
    table = con.execute(
        """
        SELECT i.pearson, i.f1, i.auroc, i.balanced_accuracy, i.random_pearson, i.random_f1, i.random_auroc,
               i.random_balanced_accuracy, i.auroc_random, i.auroc_hard, i.random_auroc_random, i.random_auroc_hard,
               (i.label = ?)::DOUBLE AS no_concept, (i.duplicate_of IS NOT NULL)::DOUBLE AS duplicate, l.density,
               coalesce(i.clean, false)::DOUBLE AS clean, i.parse_failures
        FROM interpretations i LEFT JOIN latents l ON l.sae_id = i.sae_id AND l.latent = i.latent
        WHERE i.sae_id = ? AND i.explainer = ? AND i.status = 'complete' AND i.latent < ?
        """,
        [NO_CONCEPT, sae_id, explainer, upper],
    ).fetchnumpy()
    counts = dict(
        con.execute(
            "SELECT status, count(*) FROM interpretations WHERE sae_id = ? AND explainer = ? AND latent < ? "
            "GROUP BY status",
            [sae_id, explainer, upper],
        ).fetchall()
    )
    # fetchnumpy returns masked arrays where there are NULLs (undefined scores): keep them NaN.
    column = {name: np.ma.filled(np.ma.asarray(table[name]).astype(np.float64), np.nan) for name in table}
    summary: dict = {
        "features": counts,
        "latents": "all" if below is None else f"0-{below - 1}",
        "scored": int((~np.isnan(column["auroc"])).sum()),
        "no_clear_concept": int(np.nansum(column["no_concept"])),
        "near_duplicates": int(np.nansum(column["duplicate"])),
    }
    for name in METRICS:
        summary[name] = _quartiles(column[name])
        summary[f"random_{name}"] = _quartiles(column[f"random_{name}"])
    random_clean = clean.accepts(column["random_pearson"], column["random_f1"], column["density"])
    scored = max(len(column["clean"]), 1)
    summary["clean_fraction"] = round(float(column["clean"].sum()) / scored, 4)
    summary["random_clean_fraction"] = round(float(random_clean.sum()) / scored, 4)
    # A label beats its baseline when its mean AUROC (random, hard negatives) is higher than the borrowed label's.
    own = (column["auroc_random"] + column["auroc_hard"]) / 2
    borrowed = (column["random_auroc_random"] + column["random_auroc_hard"]) / 2
    both = ~np.isnan(own) & ~np.isnan(borrowed)
    summary["beats_baseline_fraction"] = round(float((own[both] > borrowed[both]).mean()), 4) if both.any() else None
    summary["parse_failures"] = int(np.nansum(column["parse_failures"]))
    return summary
