"""Target expressions of `just contrast --target ...`: what a document's target value is, as safe SQL.

Grammar: ``<name> <op> <value>`` (op: = != >= <= > <) for a binary target, or a bare ``<name>`` of a
numeric column for a numeric one.

- ``category=astro-ph.GA``: the document lists that arXiv category (``!=``: it does not);
- ``published>=2026-01-01``: a date cut on the listing/publication date;
- any other column of ``docs``, e.g. ``source=shared`` or, for a list column, membership;
- ``<json column>.<key>=value`` or bare ``<json column>.<key>`` for a metadata field stored as JSON.

Column names are checked against the warehouse's ``docs`` columns (never pasted from the input
unchecked); values travel as ``?`` parameters. Documents whose target is NULL are left out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import duckdb

_EXPRESSION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)?)\s*(?:(!=|>=|<=|=|>|<)\s*(.+?))?\s*$")
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)


class BadTarget(ValueError):
    """A target expression that does not parse or names no usable column."""


@dataclass(frozen=True)
class Target:
    expression: str
    kind: str
    """'binary' (0/1) or 'numeric'."""
    sql: str
    """A DOUBLE-valued SQL expression over ``docs`` (NULL = document left out)."""
    params: tuple


def parse_target(con: duckdb.DuckDBPyConnection, expression: str) -> Target:
    """Turn ``expression`` into SQL over ``docs``; ``BadTarget`` says what is wrong and what is possible."""
    match = _EXPRESSION.match(expression or "")
    columns = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'docs' ORDER BY ordinal_position"
        ).fetchall()
    )
    usage = (
        "use e.g. category=astro-ph.GA, published>=2026-01-01, <docs column>=<value>, or a bare numeric column; "
        f"docs columns: {', '.join(columns)}"
    )
    if not match:
        raise BadTarget(f"cannot read the target expression {expression!r}; {usage}")
    name, op, value = match.groups()
    if name == "category":
        if op not in ("=", "!="):
            raise BadTarget(f"category takes = or != (membership), not {op or 'no operator'}: {expression!r}")
        condition = "list_contains(categories, ?)" if op == "=" else "NOT list_contains(categories, ?)"
        return Target(expression, "binary", f"CASE WHEN {condition} THEN 1.0 ELSE 0.0 END", (value,))
    column, _, key = name.partition(".")
    if column not in columns:
        raise BadTarget(f"unknown column {column!r} in target {expression!r}; {usage}")
    data_type = columns[column]
    params: tuple[str, ...]
    if key:
        if data_type != "JSON":
            raise BadTarget(f"{column!r} is a {data_type} column, not JSON, so {name!r} names nothing; {usage}")
        field, params = f"({column} ->> ?)", (f"$.{key}",)
        data_type = "VARCHAR" if op else "DOUBLE"
        if not op:
            return Target(expression, "numeric", f"TRY_CAST({field} AS DOUBLE)", params)
    else:
        field, params = column, ()
    if not op:
        if not data_type.startswith(_NUMERIC):
            raise BadTarget(
                f"a bare target must be a numeric column; {column!r} is {data_type}. "
                f"Compare it instead, e.g. {column}=<value>"
            )
        return Target(expression, "numeric", f"{field}::DOUBLE", params)
    if data_type.endswith("[]"):
        if op not in ("=", "!="):
            raise BadTarget(f"{column!r} is a list: use = or != (membership), not {op}")
        condition = f"list_contains({field}, ?)" if op == "=" else f"NOT list_contains({field}, ?)"
        return Target(expression, "binary", f"CASE WHEN {condition} THEN 1.0 ELSE 0.0 END", params + (value,))
    condition = f"{field} {op} ?"
    # ``field`` appears twice, so its parameters (a JSON path) are passed twice.
    return Target(
        expression,
        "binary",
        f"CASE WHEN {field} IS NULL THEN NULL WHEN {condition} THEN 1.0 ELSE 0.0 END",
        params * 2 + (_typed(value, data_type, expression),),
    )


def _typed(value: str, data_type: str, expression: str):
    try:
        if data_type == "DATE" or data_type.startswith("TIMESTAMP"):
            return dt.date.fromisoformat(value)
        if data_type.startswith(_NUMERIC):
            return float(value)
    except ValueError as error:
        raise BadTarget(f"{value!r} is not a valid {data_type} value in target {expression!r}: {error}") from error
    return value
