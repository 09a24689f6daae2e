"""The one configuration system of every command: jsonargparse over typed dataclass configs.

``command_parser`` gives each command the same shared arguments (``corpus``, ``--warehouse``,
``--sae-id``, ``--config``) and, when the command has one, the fields of its dataclass config as
flags whose ``--help`` is the field's docstring; ``conf/<name>.yaml`` holds the defaults and
``--config FILE`` overrides them. ``load_config`` reads the same YAML files for library callers.
Either way a wrong type or an unknown key is an error naming the file and the key.
(LightningCLI, the trainer's parser, is jsonargparse too.)

``entry_point`` wraps every command's ``main``: a warehouse it cannot use (missing, busy, not DuckDB,
damaged or truncated) is one clear message and exit 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import duckdb
import yaml
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace, set_parsing_settings
from rich.console import Console

from data.settings import warehouse_path
from data.warehouse import WarehouseError, is_damaged_file_error, unreadable

# A dataclass field's docstring (the string under it) becomes its --help text.
set_parsing_settings(docstring_parse_attribute_docstrings=True)

Config = TypeVar("Config")

CORPUS_HELP = "corpus name (conf/corpus/<name>.yaml), e.g. astro or cslg"
WAREHOUSE_HELP = "DuckDB file (default: artifacts/<corpus>.duckdb)"
ONE_SAE_HELP = "the SAE to use (default: the corpus's default SAE, its atlas SAE if any; README, Default SAE)"
MANY_SAES_HELP = "only these SAEs, e.g. --sae-id 3 5 (default: every complete SAE of the corpus)"


def command_parser(
    prog: str,
    description: str | None,
    *,
    sae_id: Literal["one", "many"] | None = None,
    config: type | None = None,
    config_file: Path | None = None,
) -> ArgumentParser:
    """A parser with the shared arguments, plus ``config``'s fields (defaults read from ``config_file``)."""
    parser = ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        default_config_files=[str(config_file)] if config_file is not None else None,
    )
    source = f" (read after {config_file.relative_to(config_file.parents[1])})" if config_file is not None else ""
    parser.add_argument("--config", action=ActionConfigFile, help=f"YAML file of this command's settings{source}")
    add_shared_arguments(parser, sae_id)
    if config is not None:
        parser.add_class_arguments(config)
    return parser


def add_shared_arguments(parser: ArgumentParser, sae_id: Literal["one", "many"] | None = None) -> None:
    """``corpus`` and ``--warehouse`` (and ``--sae-id``): the one definition every command uses."""
    parser.add_argument("corpus", type=str, help=CORPUS_HELP)
    parser.add_argument("--warehouse", type=Path | None, default=None, help=WAREHOUSE_HELP)
    if sae_id == "one":
        parser.add_argument("--sae-id", type=int | None, default=None, help=ONE_SAE_HELP)
    elif sae_id == "many":
        parser.add_argument("--sae-id", type=int, nargs="+", default=None, help=MANY_SAES_HELP)


def warehouse_of(args: Namespace) -> Path:
    """``--warehouse``, else the corpus's warehouse under the artifacts folder."""
    return Path(args.warehouse) if args.warehouse is not None else warehouse_path(args.corpus)


def config_from(parser: ArgumentParser, args: Namespace, cls: type[Config]) -> Config:
    """The ``cls`` instance described by the parsed ``args`` (nested dataclasses included)."""
    values = parser.instantiate(args)
    return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls)})  # type: ignore[arg-type]


def load_config(cls: type[Config], path: str | Path, **overrides: Any) -> Config:
    """``cls`` from a YAML file (every key optional), then ``overrides`` that are not None.

    A missing file, an unknown key or a value of the wrong type is a ``ValueError`` (or
    ``FileNotFoundError``) naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist; the shipped defaults are in conf/")
    # jsonargparse drops an unknown key whose value is empty ("offlin: {}"): check the top level first.
    known = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(yaml.safe_load(path.read_text()) or {}) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls)
    try:
        args = parser.parse_path(str(path))
        for key, value in overrides.items():
            if value is not None:
                args[key] = value
        parser.validate(args)
        return config_from(parser, args, cls)
    except (argparse.ArgumentError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error


EXIT_BAD_INPUT = 2
"""Exit code of a refused input (a bad file, a bad option, a warehouse that cannot be used)."""


def entry_point(main: Callable[..., int]) -> Callable[..., int]:
    @functools.wraps(main)
    def run(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except WarehouseError as error:
            return _refuse(error)
        except duckdb.Error as error:  # a file damaged inside its blocks fails only when they are read
            if not is_damaged_file_error(error):
                raise
            return _refuse(unreadable("the warehouse", error, at_open=False))

    return run


def _refuse(error: Exception) -> int:
    Console(stderr=True).print(f"[red]error:[/red] {error}", highlight=False)
    return EXIT_BAD_INPUT
