"""One configuration system: every command shares corpus / --warehouse / --config, configs are checked dataclasses."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.cli import build_parser as data_parser
from data.commands import command_parser, config_from, load_config, warehouse_of
from data.settings import CONF_DIR
from evals.families.config import FamiliesConfig
from evals.interp.__main__ import build_parser as interp_parser
from evals.interp.config import InterpConfig
from evals.steering.config import SteeringBenchConfig


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
