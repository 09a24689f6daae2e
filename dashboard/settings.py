"""Which warehouse the dashboard opens (a setting, an env var, or a picker over the artifacts folder), and how
a bench or a test launches it headless."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from data.settings import artifacts_dir

WAREHOUSE_ENV = "SAE_ATLAS_WAREHOUSE"
APP = Path(__file__).resolve().parent / "app.py"


@dataclass(frozen=True)
class DashboardSettings:
    """The dashboard's settings, read from the environment."""

    warehouse: Path | None
    """The warehouse opened first (``SAE_ATLAS_WAREHOUSE``); else ``artifacts/astro.duckdb`` or the first found."""
    sql_row_limit: int = 1000
    """The most rows the SQL page returns (``SAE_ATLAS_SQL_ROW_LIMIT``)."""
    sql_timeout_s: float = 5.0
    """How long an SQL-page query may run before it is stopped (``SAE_ATLAS_SQL_TIMEOUT_S``)."""

    @classmethod
    def from_env(cls) -> DashboardSettings:
        value = os.environ.get(WAREHOUSE_ENV)
        limit = int(os.environ.get("SAE_ATLAS_SQL_ROW_LIMIT", "1000"))
        timeout = float(os.environ.get("SAE_ATLAS_SQL_TIMEOUT_S", "5"))
        return cls(warehouse=Path(value).expanduser() if value else None, sql_row_limit=limit, sql_timeout_s=timeout)


def candidate_warehouses(settings: DashboardSettings) -> list[Path]:
    """The configured warehouse first, then every ``*.duckdb`` in the artifacts folder (astro first)."""
    found = sorted(artifacts_dir().glob("*.duckdb"), key=lambda p: (p.stem != "astro", p.name))
    ordered = ([settings.warehouse] if settings.warehouse else []) + found
    unique: list[Path] = []
    for path in ordered:
        if path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def headless_command(app: Path, port: int) -> list[str]:
    """`streamlit run app` as the benches and browser tests start it: no browser, no telemetry, no file watcher."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
