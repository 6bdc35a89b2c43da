"""Compare what landed in a table with the records an API served, value by value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.sql.naming import normalize_identifier

BOOKKEEPING_PREFIX = "_restsync_"


def comparable(value: Any) -> Any:
    """One form for a value whether it comes from JSON or back from a database column."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        if len(value) >= 19 and value[4:5] == "-" and value[10:11] in ("T", " "):
            try:
                return comparable(datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError:
                return value
        if value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
            try:
                return comparable(json.loads(value))
            except ValueError:
                return value
        return value
    if isinstance(value, Mapping):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    return value


def expected_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """API records as rows: snake_case column names, comparable values."""
    return [{normalize_identifier(k): comparable(v) for k, v in record.items()} for record in records]


def table_rows(engine: sa.Engine, table: str, schema: str | None = None) -> list[dict[str, Any]]:
    """Every row of a table without bookkeeping columns; a variant column's value goes back to its column."""
    with engine.connect() as conn:
        reflected = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
        result = conn.execute(sa.select(reflected))
        rows = [dict(row._mapping) for row in result]
    merged = []
    for row in rows:
        clean: dict[str, Any] = {}
        for column, value in row.items():
            if column.startswith(BOOKKEEPING_PREFIX):
                continue
            base = column.split("__v_", 1)[0]
            if value is not None or base not in clean:
                clean[base] = comparable(value)
        merged.append(clean)
    return merged


def by_key(rows: Iterable[Mapping[str, Any]], key: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    keyed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        keyed[tuple(row[k] for k in key)] = {k: v for k, v in row.items() if v is not None}
    return keyed
