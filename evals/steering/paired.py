"""SAE vs rewrite (and vs the drift control), compared query by query at equal cos(q, q').

A query's SAE curve is its ``none`` point (cos 1) and its rows at the ``paired_path`` grid points;
each metric is interpolated linearly in cos(q, q') at that query's rewrite cos (clamped to the
curve's range; ``compare_cos`` for queries without a rewrite). Comparing means of whole grid
settings instead picks whichever setting happens to sit near the rewrite's mean cos, e.g. a tiny u
with a large d, where the SAE adds almost nothing. Differences are tested with the Wilcoxon
signed-rank test (two-sided; zero differences dropped); "beats" = higher mean and p < alpha.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.stats import wilcoxon

from evals.steering.config import SteeringBenchConfig

CONTROL = "control:"


def at_cos(curve: list[tuple[float, float]], cos: float) -> float:
    """Linear interpolation of (cos, value) points at ``cos``, clamped to their cos range."""
    xs, ys = zip(*sorted(curve), strict=False)
    return float(np.interp(cos, xs, ys))


def signed_rank_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided Wilcoxon p of paired a vs b; 1.0 when every difference is zero; None without pairs."""
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(diffs) == 0:
        return None
    if not np.any(diffs):
        return 1.0
    return float(wilcoxon(diffs).pvalue)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _beats(a: list[float], b: list[float], p: float | None, alpha: float) -> bool | None:
    if p is None:
        return None
    return bool(np.mean(a) > np.mean(b) and p < alpha)


def net_down(row: dict, control: dict | None) -> float | None:
    if row["down_success"] is None or control is None or control["down_success"] is None:
        return None
    return row["down_success"] - control["down_success"]


def per_query(rows: list[dict], config: SteeringBenchConfig, rewrite_method: str | None) -> list[dict]:
    """Each query's SAE, control and rewrite values at its matched cos."""
    path = {(float(u), float(d)) for u, d in config.paired_path}
    by_query: dict[str, dict] = defaultdict(lambda: {"path": {}, "control": {}})
    for row in rows:
        entry = by_query[row["query"]]
        key = (row["u"], row["d"])
        if row["method"] == "none":
            entry["none"] = row
        elif row["method"] == "sae" and key in path:
            entry["path"][key] = row
        elif row["method"] == CONTROL + "sae" and key in path:
            entry["control"][key] = row
        elif row["method"] == rewrite_method:
            entry["rewrite"] = row
        elif row["method"] == CONTROL + str(rewrite_method):
            entry["rewrite_control"] = row
    compared = []
    for query, entry in by_query.items():
        if "none" not in entry or len(entry["path"]) < 2:
            continue
        rewrite = entry.get("rewrite")
        cos = rewrite["cos_qq"] if rewrite else config.compare_cos
        none, points = entry["none"], sorted(entry["path"])
        sae = [(none["cos_qq"], none["up_success"])] + [
            (entry["path"][k]["cos_qq"], entry["path"][k]["up_success"]) for k in points
        ]
        control = [(none["cos_qq"], none["up_success"])] + [
            (entry["control"][k]["cos_qq"], entry["control"][k]["up_success"]) for k in points
        ]
        self_judged = [(none["cos_qq"], none["up_success_self"])] + [
            (entry["path"][k]["cos_qq"], entry["path"][k]["up_success_self"]) for k in points
        ]
        item = {
            "query": query,
            "cos": cos,
            "sae_up": at_cos(sae, cos),
            "control_up": at_cos(control, cos),
            "sae_up_self": at_cos(self_judged, cos),
            "sae_down_net": None,
            "rewrite_up": None,
            "rewrite_down_net": None,
        }
        nets = [(entry["path"][k]["cos_qq"], net_down(entry["path"][k], entry["control"].get(k))) for k in points]
        known = [(cos_qq, net) for cos_qq, net in nets if net is not None]
        if none["down_success"] is not None and len(known) == len(nets):
            item["sae_down_net"] = at_cos([(none["cos_qq"], 0.0), *known], cos)
        if rewrite:
            item["rewrite_up"] = rewrite["up_success"]
            item["rewrite_down_net"] = net_down(rewrite, entry.get("rewrite_control"))
        compared.append(item)
    return compared


def paired_summary(rows: list[dict], config: SteeringBenchConfig, rewrite_method: str | None) -> dict:
    """The headline numbers of the benchmark (keys documented in the README)."""
    items = per_query(rows, config, rewrite_method)
    sae_up = [item["sae_up"] for item in items]
    control_up = [item["control_up"] for item in items]
    down = [item for item in items if item["sae_down_net"] is not None]
    paired = [item for item in items if item["rewrite_up"] is not None]
    paired_down = [item for item in paired if item["sae_down_net"] is not None and item["rewrite_down_net"] is not None]
    up_vs_control_p = signed_rank_p(sae_up, control_up)
    down_vs_zero_p = signed_rank_p([item["sae_down_net"] for item in down], [0.0] * len(down))
    a, b = [item["sae_up"] for item in paired], [item["rewrite_up"] for item in paired]
    wilcoxon_p = signed_rank_p(a, b)
    a_down, b_down = [item["sae_down_net"] for item in paired_down], [item["rewrite_down_net"] for item in paired_down]
    wilcoxon_p_down = signed_rank_p(a_down, b_down)
    return {
        "n_queries": len(items),
        "n_paired": len(paired),
        "n_down": len(down),
        "paired_path": [list(map(float, point)) for point in config.paired_path],
        "matched_cos": _mean([item["cos"] for item in paired]) if paired else config.compare_cos,
        "up_success_sae": _mean(sae_up),
        "up_success_sae_self_judged": _mean([item["sae_up_self"] for item in items]),
        "up_success_control": _mean(control_up),
        "up_vs_control_p": up_vs_control_p,
        "sae_beats_control": _beats(sae_up, control_up, up_vs_control_p, config.alpha),
        "down_success_net_sae": _mean([item["sae_down_net"] for item in down]),
        "down_net_p": down_vs_zero_p,
        "rewrite_method": rewrite_method if paired else None,
        "up_success_sae_paired": _mean(a),
        "up_success_rewrite": _mean(b),
        "down_success_net_rewrite": _mean(
            [item["rewrite_down_net"] for item in paired if item["rewrite_down_net"] is not None]
        ),
        "queries_better": int(sum(x > y for x, y in zip(a, b, strict=False))),
        "queries_worse": int(sum(x < y for x, y in zip(a, b, strict=False))),
        "queries_tied": int(sum(x == y for x, y in zip(a, b, strict=False))),
        "wilcoxon_p": wilcoxon_p,
        "wilcoxon_p_down": wilcoxon_p_down,
        "sae_beats_rewrite": _beats(a, b, wilcoxon_p, config.alpha),
        "per_query": items,
    }
