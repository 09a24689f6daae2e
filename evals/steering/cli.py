"""`python -m evals.steering bench <corpus>` (= `just steer-bench <corpus>`): run, store, plot, print."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from jsonargparse import ArgumentParser
from rich.console import Console
from rich.table import Table

from data.commands import command_parser, config_from, entry_point, warehouse_of
from data.settings import artifacts_dir
from data.warehouse import open_reader, open_writer
from evals.llm import LLMClient, LLMSettings, llm_available
from evals.saes import pick_sae
from evals.steering.benchmark import (
    BenchmarkRun,
    Evidence,
    Rewriter,
    default_queries,
    read_queries,
    run_benchmark,
    store_run,
    summarise,
)
from evals.steering.concept_judge import build_judge, ensure_judge_sae, stored_seed
from evals.steering.config import DEFAULT_PATH, SteeringBenchConfig
from evals.steering.features import load_active_docs, load_catalog, load_doc_latents
from evals.steering.judge import judge_cases
from evals.steering.paired import CONTROL
from evals.steering.plots import pareto_figure, write_figure
from evals.steering.rewrite import llm_rewrites, offline_rewrite
from evals.steering.search import SteerableSearch


@dataclass
class SteeringReport:
    run: BenchmarkRun
    summary: dict
    html: Path
    png: Path | None
    png_problem: str | None


def reading(path: str | Path, load, sae_id: int):
    """``load(con, sae_id, items)`` as a function of ``items`` that opens a short read-only connection."""

    def read(items):
        with open_reader(path) as con:
            return load(con, sae_id, items)

    return read


def steering_benchmark(
    path: str | Path,
    corpus: str,
    config: SteeringBenchConfig,
    sae_id: int | None = None,
    console: Console | None = None,
) -> SteeringReport:
    """Run the benchmark on SAE ``sae_id`` (default: the corpus's default SAE), store rows + summary, plot."""
    log = console.print if console else print
    with open_reader(path) as con:
        steering = pick_sae(con, corpus, sae_id)
    judge_sae = ensure_judge_sae(path, partial(open_reader, path), steering, config, log)
    search = SteerableSearch(path, steering.sae_id)
    from trainer.checkpoint import load_sae_from_warehouse  # trainer's contract

    with open_reader(path) as con:
        catalog = load_catalog(con, steering.sae_id, steering.n_latents)
        queries = read_queries(config.queries_file) if config.queries_file else default_queries(con, config.seed)
        judge_decoder = load_sae_from_warehouse(con, judge_sae.sae_id).W_dec
        judge = build_judge(
            search.sae.W_dec,
            judge_decoder,
            judge_sae,
            stored_seed(con, judge_sae.sae_id),
            config,
            reading(path, load_active_docs, judge_sae.sae_id),
        )
    evidence = Evidence(
        reading(path, load_doc_latents, steering.sae_id), reading(path, load_active_docs, steering.sae_id), judge
    )

    def doc_texts(doc_ids):
        with open_reader(path) as con:
            rows = con.execute(
                "SELECT doc_id, title, abstract FROM docs WHERE list_contains(?, doc_id)", [doc_ids]
            ).fetchall()
        return {doc: f"{title}\n{abstract[: config.judge_abstract_chars]}" for doc, title, abstract in rows}

    connect = partial(open_writer, path)
    rewriter: Rewriter
    if llm_available():
        rewriter, method = (
            partial(llm_rewrites, LLMClient(LLMSettings(model=config.rewrite_model), connect)),
            "rewrite-llm",
        )
    else:
        rewriter, method = (lambda requests: [offline_rewrite(r) for r in requests]), "rewrite-offline"
    llm_judge = None
    if config.judge:
        if not llm_available():
            raise ValueError(
                "the LLM judge needs OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server); "
                "run without --judge offline"
            )
        llm_judge = partial(judge_cases, LLMClient(LLMSettings(model=config.judge_model), connect), seed=config.seed)

    run = run_benchmark(
        search, queries, catalog, evidence, config, rewriter, method, llm_judge=llm_judge, doc_texts=doc_texts
    )
    summary = summarise(run, config)
    stem = artifacts_dir() / "steering" / f"{corpus}_sae{steering.sae_id}_pareto"
    html, png, problem = write_figure(
        pareto_figure(
            summary, f"Search steering on {corpus}, SAE {steering.sae_id} ({steering.name}); judge: SAE {judge.sae_id}"
        ),
        stem,
    )
    summary["plot_html"], summary["plot_png"] = str(html), str(png) if png else None
    with open_writer(path) as con:
        store_run(con, run, summary)
    return SteeringReport(run, summary, html, png, problem)


def fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def fmt_p(value) -> str:
    return "-" if value is None else f"{value:.2g}"


def print_report(report: SteeringReport, console: Console) -> None:
    s = report.summary
    h = s["headline"]
    console.print(f"judge: {h['judge']}" + (f"; LLM judge {h['llm_judge']}" if h["llm_judge"] else ""))
    table = Table(
        title=f"steering benchmark {s['run_id']}: {h['n_queries']} queries; success judged by SAE {h['judge_sae_id']}; "
        "control = same cos(q, q') towards a random feature"
    )
    for column in (
        "method",
        "u",
        "d",
        "cos(q,q')",
        "up",
        "up ctrl",
        "up self",
        "down (n)",
        "down ctrl",
        "overlap",
        "LLM up/down (n)",
    ):
        table.add_column(column, justify="right")
    points = {(p["method"], p["u"], p["d"]): p for p in s["points"]}
    path = {tuple(point) for point in s["paired_path"]}
    front = [(p["method"], p["u"], p["d"]) for p in s["sae_front_up"] + s["sae_front_down"]]
    for p in s["points"]:
        key = (p["method"], p["u"], p["d"])
        if p["method"].startswith(CONTROL) or (
            p["method"] == "sae" and (p["u"], p["d"]) not in path and key not in front and not p["n_judged"]
        ):
            continue  # controls sit next to their row; the rest of the grid is in the table and the plot
        control = points.get((CONTROL + p["method"], p["u"], p["d"]), {})
        judged = (
            f"{fmt(p['judge_up_accuracy'])}/{fmt(p['judge_down_accuracy'])} ({p['n_judged']})" if p["n_judged"] else "-"
        )
        table.add_row(
            p["method"],
            fmt(p["u"]),
            fmt(p["d"]),
            fmt(p["cos"]),
            fmt(p["up_success"]),
            fmt(control.get("up_success")),
            fmt(p["up_success_self_judged"]),
            f"{fmt(p['down_success'])} ({p['n_down']})",
            fmt(control.get("down_success")),
            fmt(p["overlap"]),
            judged,
        )
    console.print(table)
    console.print(
        f"SAE along {s['paired_path']} at each query's matched cos (mean {fmt(h['matched_cos'])}), "
        f"{h['n_queries']} queries: up-success {fmt(h['up_success_sae'])} "
        f"vs drift control {fmt(h['up_success_control'])} (Wilcoxon p {fmt_p(h['up_vs_control_p'])}; "
        f"beats control: {h['sae_beats_control']}); self-judged it would read {fmt(h['up_success_sae_self_judged'])}; "
        f"down-success net of control {fmt(h['down_success_net_sae'])} over {h['n_down']} queries "
        f"(p {fmt_p(h['down_net_p'])})"
    )
    if h["rewrite_method"]:
        console.print(
            f"paired vs {h['rewrite_method']} ({h['n_paired']} queries, same cos each): "
            f"up-success SAE {fmt(h['up_success_sae_paired'])} vs rewrite {fmt(h['up_success_rewrite'])}; "
            f"{h['queries_better']} queries better, {h['queries_worse']} worse, {h['queries_tied']} tied; "
            f"Wilcoxon p {fmt_p(h['wilcoxon_p'])} (beats rewrite: {h['sae_beats_rewrite']}); "
            f"down net of control SAE {fmt(h['down_success_net_sae'])} vs rewrite {fmt(h['down_success_net_rewrite'])} "
            f"(p {fmt_p(h['wilcoxon_p_down'])})"
        )
    else:
        console.print(
            "no SAE-vs-rewrite comparison: no rewrite ran "
            "(the up features have no labels; run `just interpret <corpus>` first)"
        )
    if s["skipped"]:
        console.print("skipped: " + ", ".join(f"{reason}: {count}" for reason, count in s["skipped"].items()))
    console.print(
        f"rows in steering_results (run_id {s['run_id']}), summary in eval_summaries; plot: {report.html}"
        + (f", {report.png}" if report.png else f" ({report.png_problem})")
    )


def bench_parser() -> ArgumentParser:
    """`just steer-bench`'s arguments: the shared ones and every ``SteeringBenchConfig`` field, whose
    defaults come from conf/steering.yaml (the one place the benchmark's settings are read)."""
    return command_parser(
        "just steer-bench",
        "Steering benchmark: SAE intervention vs query rewriting. Settings: "
        "conf/steering.yaml, or --config FILE, or any field as a flag (e.g. --n_queries 20).",
        sae_id="one",
        config=SteeringBenchConfig,
        config_file=DEFAULT_PATH,
    )


@entry_point
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m evals.steering", description=__doc__)
    commands = parser.add_subcommands()
    bench = bench_parser()
    commands.add_subcommand("bench", bench, help="steering benchmark: SAE intervention vs query rewriting")
    args = parser.parse_args(argv).bench
    console = Console()
    from trainer.quiet import quiet_lightning  # a judge SAE may be trained on the way

    quiet_lightning()
    try:
        config = config_from(bench, args, SteeringBenchConfig)
        print_report(steering_benchmark(warehouse_of(args), args.corpus, config, args.sae_id, console), console)
    except (ValueError, FileNotFoundError) as error:  # bad input: say what and why, no traceback
        console.print(f"[red]error:[/red] {error}")
        return 2
    return 0
