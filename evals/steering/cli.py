"""`python -m evals.steering bench <corpus>` (= `just steer-bench <corpus>`): run, store, plot, print."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.table import Table

from jsonargparse import ArgumentParser

from data.commands import command_parser, config_from, warehouse_of
from data.settings import artifacts_dir
from data.warehouse import open_reader, open_writer
from evals.llm import LLMClient, LLMSettings, llm_available
from evals.steering.benchmark import BenchmarkRun, default_queries, read_queries, run_benchmark, store_run, summarise
from evals.steering.config import DEFAULT_PATH, SteeringBenchConfig
from evals.steering.features import load_active_docs, load_catalog
from evals.steering.judge import judge_cases
from evals.steering.plots import pareto_figure, write_figure
from evals.steering.rewrite import llm_rewrites, offline_rewrite
from evals.saes import pick_sae
from evals.steering.search import SteerableSearch


@dataclass
class SteeringReport:
    run: BenchmarkRun
    summary: dict
    html: Path
    png: Path | None
    png_problem: str | None


def steering_benchmark(path: str | Path, corpus: str, config: SteeringBenchConfig,
                       sae_id: int | None = None) -> SteeringReport:
    """Run the benchmark on SAE ``sae_id`` (default: the corpus's default SAE), store rows + summary, plot."""
    with open_reader(path) as con:
        sae_id = pick_sae(con, corpus, sae_id).sae_id
    search = SteerableSearch(path, sae_id)
    with open_reader(path) as con:
        catalog = load_catalog(con, sae_id, search.info.n_latents)
        queries = read_queries(config.queries_file, config.n_queries) if config.queries_file else default_queries(con, config.n_queries, config.seed)

    def active_docs(latents):
        with open_reader(path) as con:
            return load_active_docs(con, sae_id, latents)

    def doc_texts(doc_ids):
        with open_reader(path) as con:
            rows = con.execute("SELECT doc_id, title, abstract FROM docs WHERE list_contains(?, doc_id)", [doc_ids]).fetchall()
        return {doc: f"{title}\n{abstract[: config.judge_abstract_chars]}" for doc, title, abstract in rows}

    connect = partial(open_writer, path)
    if llm_available():
        rewriter, method = partial(llm_rewrites, LLMClient(LLMSettings(model=config.rewrite_model), connect)), "rewrite-llm"
    else:
        rewriter, method = (lambda requests: [offline_rewrite(r) for r in requests]), "rewrite-offline"
    judge = None
    if config.judge:
        if not llm_available():
            raise ValueError("the LLM judge needs OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server); run without --judge offline")
        judge = partial(judge_cases, LLMClient(LLMSettings(model=config.judge_model), connect), seed=config.seed)

    run = run_benchmark(search, queries, catalog, active_docs, config, rewriter, method, judge, doc_texts)
    summary = summarise(run)
    stem = artifacts_dir() / "steering" / f"{corpus}_sae{sae_id}_pareto"
    html, png, problem = write_figure(pareto_figure(summary, f"Search steering on {corpus}, SAE {sae_id} ({search.info.name})"), stem)
    summary["plot_html"], summary["plot_png"] = str(html), str(png) if png else None
    with open_writer(path) as con:
        store_run(con, run, summary)
    return SteeringReport(run, summary, html, png, problem)


def print_report(report: SteeringReport, console: Console) -> None:
    summary = report.summary
    table = Table(title=f"steering benchmark {summary['run_id']}: {summary['n_queries']} queries (means; down over queries with hits)")
    for column in ("method", "u", "d", "cos(q,q')", "up-success", "down-success (n)", "overlap", "judge up/down (n)"):
        table.add_column(column, justify="right")
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    for p in summary["points"]:
        if p["method"] == "sae" and p not in summary["sae_front_up"] and p not in summary["sae_front_down"] and p["n_judged"] == 0:
            continue  # print the Pareto-optimal and judged settings; the rest are in the table and the plot
        judged = f"{fmt(p['judge_up_accuracy'])}/{fmt(p['judge_down_accuracy'])} ({p['n_judged']})" if p["n_judged"] else "-"
        table.add_row(p["method"], fmt(p["u"]), fmt(p["d"]), fmt(p["cos"]), fmt(p["up_success"]),
                      f"{fmt(p['down_success'])} ({p['n_down']})", fmt(p["overlap"]), judged)
    console.print(table)
    for pair in summary["matched_drift"]:
        r, s = pair["rewrite"], pair["sae_at_matched_cos"]
        console.print(
            f"matched drift: {r['method']} cos {fmt(r['cos'])} up {fmt(r['up_success'])} down {fmt(r['down_success'])}"
            f"  vs  SAE u={s['u']} d={s['d']} cos {fmt(s['cos'])} up {fmt(s['up_success'])} down {fmt(s['down_success'])}"
        )
    if summary["skipped"]:
        console.print("skipped: " + ", ".join(f"{reason}: {count}" for reason, count in summary["skipped"].items()))
    console.print(f"rows in steering_results (run_id {summary['run_id']}), summary in eval_summaries; plot: {report.html}"
                  + (f", {report.png}" if report.png else f" ({report.png_problem})"))


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m evals.steering", description=__doc__)
    commands = parser.add_subcommands()
    bench = command_parser("just steer-bench", "Steering benchmark: SAE intervention vs query rewriting. Settings: "
                           "conf/steering.yaml, or --config FILE, or any field as a flag (e.g. --n_queries 20).",
                           sae_id="one", config=SteeringBenchConfig, config_file=DEFAULT_PATH)
    commands.add_subcommand("bench", bench, help="steering benchmark: SAE intervention vs query rewriting")
    args = parser.parse_args(argv).bench
    console = Console()
    try:
        config = config_from(bench, args, SteeringBenchConfig)
        print_report(steering_benchmark(warehouse_of(args), args.corpus, config, args.sae_id), console)
    except (ValueError, FileNotFoundError) as error:  # bad input: say what and why, no traceback
        console.print(f"[red]error:[/red] {error}")
        return 2
    return 0
