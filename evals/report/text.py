"""The quality card as plain text (what `just report` prints; paste-able into notes and issues)."""

from __future__ import annotations


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _bar(count: int, largest: int, width: int = 40) -> str:
    return "#" * (round(width * count / largest) if largest else 0)


def format_card(report: dict) -> str:
    r = report
    lines = [
        f"Quality card: SAE {r['sae_id']} of {r['corpus']} ({r['name']}, n = {r['n_latents']:,}, k = {r['k']})",
        f"every number on the {r['n_test_docs']:,} test documents (never trained on) unless named otherwise; "
        f"{r['n_train_docs']:,} training-split documents",
        "",
        "Reconstruction",
        f"  FVU                  test {_num(r['test_fvu'])}   train {_num(r['train_fvu'])} (trainer)   "
        f"val {_num(r['val_fvu'])} (trainer)",
        "  cosine(x, x_hat)     "
        + "  ".join(f"{q} {_num(v)}" for q, v in r["test_cosine_quantiles"].items())
        + f"   mean {_num(r['test_cosine_mean'])}",
        f"  L0                   {_num(r['test_l0'], 1)} active latents per document "
        f"(min {r['test_l0_min']}, max {r['test_l0_max']})",
        f"  dead latents         {_num(r['dead_fraction'])} (active on no test document)   "
        f"{_num(r['dead_fraction_all_docs'])} on all documents   "
        f"{_num(r['trainer_dead_fraction'])} by the trainer's rule",
        f"  dense latents        {_num(r['dense_fraction'])} (active on more than 10% of test documents)",
        "  density histogram    (share of test documents a latent is active on; latents per bin)",
    ]
    histogram = r["density_histogram"]
    largest = max([histogram["dead"], *histogram["counts"]])
    lines.append(f"    {'dead (0)':>20}  {histogram['dead']:>6,}  {_bar(histogram['dead'], largest)}")
    for low, high, count in zip(histogram["edges"], histogram["edges"][1:], histogram["counts"], strict=False):
        lines.append(f"    {f'[{low:.1e}, {high:.1e})':>20}  {count:>6,}  {_bar(count, largest)}")
    m = r["coherence_top_docs"]
    lines += [
        "",
        "Feature coherence (label-free: mean pairwise cosine of the centred embeddings "
        f"of a feature's top {m} test documents)",
        f"  median over features           {_num(r['coherence_median'])}   ({r['coherence_features']:,} features; "
        f"{r['coherence_too_few_docs']:,} active on fewer than {m} test documents)",
        f"  {m} random test documents       {_num(r['coherence_random'])}",
        f"  a document + its {m - 1} nearest    {_num(r['coherence_neighbours'])}",
        f"  top {m} over all documents      {_num(r['coherence_median_all_docs'])} (training documents included)",
    ]
    if r.get("coherence_by_level"):
        lines.append(
            "  by level: "
            + "   ".join(
                f"level {level}: {_num(v['median'])} ({v['features']:,})"
                for level, v in r["coherence_by_level"].items()
            )
        )
    lines += [
        "",
        f"Labels (stored labels scored on test documents by {r.get('label_scorer') or 'n/a'}; "
        f"{r['labels_scored']:,} of {r['labels_stored']:,} labelled features "
        f"fire on >= {r['label_min_test_positives']} test documents)",
        f"  {'':38}{'label':>8}  {'other feature label':>20}",
        f"  {'AUROC vs random negatives':38}{_num(r['label_auroc_random_median']):>8}  "
        f"{_num(r['label_baseline_auroc_random_median']):>20}   (medians)",
        f"  {'AUROC vs hard negatives (' + str(r['label_hard_negatives']) + ' nearest)':38}"
        f"{_num(r['label_auroc_hard_median']):>8}  {_num(r['label_baseline_auroc_hard_median']):>20}",
        f"  label beats its baseline             {_num(r['label_beats_baseline_fraction'])} "
        "of features (random negatives), "
        f"{_num(r['label_beats_baseline_hard_fraction'])} (hard negatives)",
        f"  clean features                       {_num(r['clean_count'])} "
        "(interpretation's stored verdict, conf/interp.yaml `clean`)",
        "  explainers                           "
        + (", ".join(f"{e}: {n:,}" for e, n in r["label_explainers"].items()) or "none"),
        "",
        f"Retrieval fidelity (the {_num(r['fidelity_queries'])} test documents as queries; "
        "top 10 over reconstructions vs originals)",
        f"  over every other document        recall@10 {_num(r['fidelity_all_recall10'])}   "
        f"nDCG@10 {_num(r['fidelity_all_ndcg10'])}",
        f"  over test documents only         recall@10 {_num(r['fidelity_test_recall10'])}   "
        f"nDCG@10 {_num(r['fidelity_test_ndcg10'])}",
        "",
        "Steering (latest stored benchmark)",
    ]
    steering = r["steering"]
    if steering is None:
        lines.append(f"  {r['reasons'].get('steering', 'not run')}")
    else:
        lines.append(f"  run stored {steering['created_at']}")
        lines += [f"  {name:32} {value}" for name, value in steering["lines"]]
    if r["reasons"]:
        lines += ["", "Not computed"] + [f"  {key}: {reason}" for key, reason in r["reasons"].items()]
    if r["warnings"]:
        lines += ["", "Warnings"] + [f"  ! {warning}" for warning in r["warnings"]]
    seconds = r.get("seconds", {})
    lines += [
        "",
        f"computed in {sum(seconds.values()):.1f} s ("
        + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
        + "); stored in eval_summaries (eval = 'report')",
    ]
    return "\n".join(lines)
