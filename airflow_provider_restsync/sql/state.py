"""Checkpoints in the destination (``_restsync_state``), written in the same transaction as the rows."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.sql.dialects import family, transaction
from airflow_provider_restsync.sql.dml import upsert
from airflow_provider_restsync.sql.types import sql_type

STATE_TABLE = "_restsync_state"
_NAME_LENGTH = 255  # two of them make a key InnoDB accepts (2 x 255 x 4 bytes)


def state_table(dialect: sa.Dialect, schema: str | None) -> sa.Table:
    """``_restsync_state``: one row per (resource, table) with its state as JSON."""
    name = family(dialect)
    return sa.Table(
        STATE_TABLE,
        sa.MetaData(),
        sa.Column("resource", sa.String(_NAME_LENGTH), primary_key=True, autoincrement=False),
        sa.Column("table_name", sa.String(_NAME_LENGTH), primary_key=True, autoincrement=False),
        sa.Column("state", sql_type("json", name), nullable=False),
        sa.Column("run_id", sa.String(_NAME_LENGTH), nullable=True),
        sa.Column("updated_at", sql_type("timestamp", name), nullable=False),
        schema=schema,
    )


def ensure_state_table(engine: sa.Engine, schema: str | None) -> None:
    """Create the state table (and its schema) if missing, in a short transaction of its own
    (parallel tasks may race to it; a lost race is retried)."""
    for attempt in range(3):
        try:
            with transaction(engine) as conn:
                if schema and not sa.inspect(conn).has_schema(schema):
                    conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
                if not sa.inspect(conn).has_table(STATE_TABLE, schema=schema):
                    conn.execute(sa.schema.CreateTable(state_table(conn.dialect, schema), if_not_exists=True))
            return
        except sa.exc.SQLAlchemyError:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))


def write_state(
    conn: sa.Connection,
    schema: str | None,
    *,
    resource: str,
    table: str,
    state: Mapping[str, Any],
    run_id: str,
) -> None:
    """Upsert the state of (resource, table) on ``conn``, inside the caller's transaction."""
    target = state_table(conn.dialect, schema)
    now = datetime.now(timezone.utc)
    values = {
        "resource": resource,
        "table_name": table,
        "state": json.dumps(dict(state), default=str, allow_nan=False),
        "run_id": run_id[:_NAME_LENGTH],
        "updated_at": now if conn.dialect.name == "postgresql" else now.replace(tzinfo=None),
    }
    upsert(conn, target, ("resource", "table_name"), row=values)


def read_state(engine: sa.Engine, schema: str | None, *, resource: str, table: str) -> dict[str, Any] | None:
    """The stored state of (resource, table), or None if there is none (or no state table yet)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(STATE_TABLE, schema=schema):
            return None
        target = state_table(conn.dialect, schema)
        query = sa.select(target.c.state).where(target.c.resource == resource, target.c.table_name == table)
        value = conn.execute(query).scalar_one_or_none()
    if value is None:
        return None
    return dict(json.loads(value) if isinstance(value, (str, bytes)) else value)
