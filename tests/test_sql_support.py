"""Helpers for the sql tests: read a table back in one comparable form on every database."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.sql.dialects import family
from airflow_provider_restsync.sql.schema import TableModel, reflect


def model(engine: sa.Engine, table: str, schema: str | None = None) -> TableModel:
    with engine.connect() as conn:
        return reflect(conn, table, schema, family(engine.dialect))


def column_types(engine: sa.Engine, table: str, schema: str | None = None) -> dict[str, str | None]:
    """Column name -> data type, as the writer reads them back."""
    return {name: spec.data_type for name, spec in model(engine, table, schema).columns.items()}


def _normal(value: Any, data_type: str | None, dialect: str) -> Any:
    if value is None:
        return None
    if data_type == "json" and dialect != "postgresql":  # psycopg decodes JSONB itself
        return json.loads(value)
    if data_type == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if data_type == "time" and isinstance(value, str):
        return time.fromisoformat(value)
    if data_type == "bool":
        return bool(value)
    if data_type == "timestamp":
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if data_type == "decimal":
        return Decimal(str(value))
    return value


def fetch(
    engine: sa.Engine, table: str, *, order_by: str | None = None, schema: str | None = None
) -> list[dict[str, Any]]:
    """Every row as a dict of normalized values (JSON parsed, bools as bool, timestamps aware UTC)."""
    shape = model(engine, table, schema)
    assert shape.exists, f"table {table} does not exist"
    types = {name: spec.data_type for name, spec in shape.columns.items()}
    target = sa.table(table, *(sa.column(n) for n in types), schema=schema)
    query = sa.select(*(target.c[n] for n in types))
    if order_by:
        query = query.order_by(target.c[order_by])
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    dialect = engine.dialect.name
    return [
        {name: _normal(value, types[name], dialect) for name, value in zip(types, row, strict=True)}
        for row in rows
    ]


def data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the bookkeeping columns."""
    return [{k: v for k, v in row.items() if not k.startswith("_restsync_")} for row in rows]


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        target = sa.table(table)
        return int(conn.execute(sa.select(sa.func.count()).select_from(target)).scalar_one())


def table_exists(engine: sa.Engine, table: str, schema: str | None = None) -> bool:
    with engine.connect() as conn:
        return sa.inspect(conn).has_table(table, schema=schema)
