"""What every command-line entry point shares: a warehouse it cannot use is one clear message and exit 2.

    @entry_point
    def main(argv: list[str] | None = None) -> int: ...

Missing, busy, non-DuckDB and damaged (e.g. truncated) warehouse files are reported here, once for
all commands, instead of as a traceback.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import duckdb
from rich.console import Console

from data.warehouse import WarehouseError, is_damaged_file_error, unreadable

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
