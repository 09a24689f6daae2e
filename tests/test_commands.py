"""One configuration system: every command shares corpus / --warehouse / --config, configs are checked dataclasses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from data.cli import build_parser as data_parser
from data.commands import command_parser, config_from, load_config, warehouse_of
from data.settings import CONF_DIR
from data.warehouse import open_reader
from evals.contrast.__main__ import build_parser as contrast_parser
from evals.contrast.pipeline import ContrastConfig
from evals.export.__main__ import build_parser as export_parser
from evals.families.config import FamiliesConfig
from evals.interp.__main__ import build_parser as interp_parser
from evals.interp.config import InterpConfig
from evals.steering.config import SteeringBenchConfig
from evals.trends.__main__ import build_parser as trends_parser
from evals.trends.config import TrendsConfig
from tests.reliability_support import cli


def test_every_command_takes_the_shared_arguments(tmp_path):
    warehouse = tmp_path / "x.duckdb"
    args = interp_parser().parse_args(["cslg", "--warehouse", str(warehouse), "--sae-id", "3", "--llm", "no"])
    assert (args.corpus, warehouse_of(args), args.sae_id, args.llm) == ("cslg", warehouse, 3, "no")
    ingest = data_parser().parse_args(["ingest", "cslg", "--warehouse", str(warehouse), "--jsonl", "a", "b"]).ingest
    assert (ingest.corpus, warehouse_of(ingest), ingest.jsonl) == ("cslg", warehouse, [Path("a"), Path("b")])
    many = command_parser("x", None, sae_id="many").parse_args(["astro", "--sae-id", "3", "5"])
    assert many.sae_id == [3, 5] and warehouse_of(many).name == "astro.duckdb"  # default: artifacts/<corpus>.duckdb


def test_a_config_field_docstring_is_its_help_and_flags_override_the_yaml(capsys, tmp_path):
    parser = interp_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    assert "A clean label's Pearson r is at least this." in " ".join(capsys.readouterr().out.split())
    own = tmp_path / "interp.yaml"
    own.write_text("clean:\n  min_f1: 0.5\n")
    args = parser.parse_args(["astro", "--config", str(own), "--clean.max_density", "0.1"])
    clean = config_from(parser, args, InterpConfig).clean
    assert (clean.min_pearson, clean.min_f1, clean.max_density) == (0.8, 0.5, 0.1)  # conf, --config, flag


def test_load_config_names_the_file_and_the_bad_key(tmp_path):
    path = tmp_path / "families.yaml"
    path.write_text("seed: three\n")
    with pytest.raises(ValueError, match=r"families.yaml.*seed"):
        load_config(FamiliesConfig, path)
    path.write_text("n_querys: 3\n")
    with pytest.raises(ValueError, match=r"families.yaml.*n_querys"):
        load_config(SteeringBenchConfig, path)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(FamiliesConfig, tmp_path / "missing.yaml")
    assert load_config(FamiliesConfig, CONF_DIR / "families.yaml", seed=4).seed == 4


def test_the_research_instruments_share_the_parser_and_their_configs(capsys, tmp_path):
    warehouse = tmp_path / "x.duckdb"
    shared = ["astro", "--warehouse", str(warehouse), "--sae-id", "4"]
    own = tmp_path / "trends.yaml"
    own.write_text("window: 3\nalpha: 0.2\n")
    parser = trends_parser()
    args = parser.parse_args([*shared, "--config", str(own), "--alpha", "0.01"])
    trends = config_from(parser, args, TrendsConfig)
    assert (warehouse_of(args), args.sae_id, trends.window, trends.alpha) == (warehouse, 4, 3, 0.01)
    parser = contrast_parser()
    args = parser.parse_args([*shared, "--target", "category=astro-ph.GA", "--method", "correlation"])
    assert config_from(parser, args, ContrastConfig).method == "correlation" and args.target == "category=astro-ph.GA"
    args = export_parser().parse_args([*shared, "--format", "parquet", "--out", str(tmp_path / "out")])
    assert (args.format, args.out, args.sae_id) == ("parquet", tmp_path / "out", 4)
    for parser, bad in (
        (contrast_parser(), ["--target", "x=1", "--method", "lasso"]),
        (export_parser(), ["--format", "onnx"]),
        (trends_parser(), ["--windows", "3"]),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args([*shared, *bad])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        trends_parser().parse_args(["--help"])
    assert "A month with fewer documents is left out" in " ".join(capsys.readouterr().out.split())


def test_train_help_is_the_projects_short_page_and_help_all_is_lightnings():
    short = cli("trainer", "train", "astro", "--help")
    assert short.returncode == 0, short.stderr
    lines = short.stdout.splitlines()
    assert len(lines) < 60 and lines[0].startswith("usage: python -m trainer train <corpus>")
    assert re.search(r"--model\.k\s+null\s+null = the size rule", short.stdout)  # flag, default, its comment
    assert "--help-all" in short.stdout and "--trainer.gradient_clip_algorithm" not in short.stdout
    full = cli("trainer", "train", "astro", "--help-all")
    assert full.returncode == 0 and "--trainer.gradient_clip_algorithm" in full.stdout
    assert len(full.stdout.splitlines()) > 150  # at COLUMNS=1000


class TrainedByCli(NamedTuple):
    warehouse: Path
    run: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def trained_by_cli(astro_warehouse_template, tmp_path_factory) -> TrainedByCli:
    """One small SAE trained by the command a user runs (n 64, k 8, 12 steps); copy the warehouse to write."""
    warehouse = tmp_path_factory.mktemp("cli") / "astro.duckdb"
    shutil.copy(astro_warehouse_template, warehouse)
    args = ["--warehouse", str(warehouse), "--trainer.max_steps", "12", "--model.n_latents", "64"]
    run = cli("trainer", "train", "astro", *args, "--model.k", "8", "--data.batch_size", "256")
    assert run.returncode == 0, run.stderr[-2000:]
    return TrainedByCli(warehouse, run)


def test_training_ends_with_a_summary_and_without_library_noise(trained_by_cli):
    warehouse, run = trained_by_cli
    out = run.stdout
    assert re.search(r"SAE 1 complete: astro-batchtopk-n64-k8 .*12 steps", out), out
    assert re.search(r"test FVU 0\.\d{3}\s+train FVU 0\.\d{3}\s+dead fraction \d\.\d{3}", out), out
    weights = re.search(r"weights\s+(\S+)", out)[1]
    assert Path(weights).is_file() and Path(weights).parent.name == "sae_1"
    assert f"just interpret astro --sae-id 1 --warehouse {warehouse}" in out and "just report astro" in out
    assert f"just atlas astro --warehouse {warehouse}" in out  # the way to a readable atlas
    noise = run.stdout + run.stderr
    for unwanted in ("litlogger", "Epoch 1/-2", "LeafSpec", "tensorboardX", "Seed set to", "weights_only"):
        assert unwanted not in noise, unwanted
    assert "epoch 0 of a 12-step run" in noise  # the progress bar is still there


def test_interpret_summary_covers_the_features_asked_for(trained_by_cli, tmp_path):
    warehouse = shutil.copy(trained_by_cli.warehouse, tmp_path / "astro.duckdb")
    run = cli("evals.interp", "astro", "--warehouse", str(warehouse), "--llm", "no", "--max-features", "20")
    assert run.returncode == 0, run.stderr[-2000:]
    scored = re.search(r"over the (\d+) scored features of latents 0-19", run.stdout)
    assert scored and 0 < int(scored[1]) <= 20, run.stdout
    assert re.search(r"labelling features .* (\d+)/\1 [\d.]+ features/s", run.stderr), run.stderr[-500:]
    with open_reader(warehouse) as con:  # 20 rows written, whatever their status
        assert con.execute("SELECT count(*), max(latent) FROM interpretations").fetchall() == [(20, 19)]


def test_a_failed_png_export_is_one_line_saying_how_to_enable_it(tmp_path):
    """kaleido pointed at a missing browser (as on a machine without Chrome): one line, the HTML still written."""
    script = (
        "import sys; from pathlib import Path; import plotly.graph_objects as go\n"
        "from evals.steering.plots import write_figure\n"
        "html, png, problem = write_figure(go.Figure(go.Scatter(x=[1], y=[1])), Path(sys.argv[1]))\n"
        "print(html.is_file(), png, problem, sep='|')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "pareto")],
        env={**os.environ, "BROWSER_PATH": str(tmp_path / "no-chrome")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    html_written, png, problem = run.stdout.strip().split("|")
    assert (html_written, png) == ("True", "None")
    assert "\n" not in problem and len(problem) < 250
    assert "Kaleido requires Google Chrome" in problem and "plotly_get_chrome" in problem and "BROWSER_PATH" in problem
