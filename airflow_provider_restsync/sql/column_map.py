"""Which column each API field owns in a table, kept in the destination so a name never moves.

Two fields can normalize to one name (``a-b`` and ``a_b``); the second one met gets a tagged name. Which
one is met first depends on the data of a run, so without a record a field seen alone in one run
(``a-b`` -> ``a_b``) could lose its column to the other field in a later run and their values would
mix. The writer reads a table's map before its first batch and adds the fields each batch names, in
the batch's own transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import sqlalchemy as sa

from airflow_provider_restsync.sql.naming import FieldKey

COLUMN_MAP_TABLE = "_restsync_columns"
_TABLE = 128


def column_map_table(dialect: sa.Dialect, schema: str | None) -> sa.Table:
    """``_restsync_columns``: one row per (table, field), naming the field's column."""
    return sa.Table(
        COLUMN_MAP_TABLE,
        sa.MetaData(),
        sa.Column("table_name", sa.String(_TABLE), primary_key=True),
        sa.Column("field_id", sa.String(64), primary_key=True),  # sha256 of ``field``: a short key
        sa.Column("field", sa.Text, nullable=False),  # JSON: "name", or ["parent", "child"] when flattened
        sa.Column("column_name", sa.String(_TABLE), nullable=False),
        schema=schema,
    )


def _field_json(field: FieldKey) -> str:
    # ASCII only: a lone surrogate in a field name is escaped, so every driver can send it.
    return json.dumps(field if isinstance(field, str) else list(field), ensure_ascii=True)


def _field(text: str) -> FieldKey:
    value = json.loads(text)
    return value if isinstance(value, str) else tuple(value)


def exists(conn: sa.Connection, schema: str | None) -> bool:
    return sa.inspect(conn).has_table(COLUMN_MAP_TABLE, schema=schema)


def read_column_map(conn: sa.Connection, schema: str | None, table: str) -> dict[FieldKey, str]:
    """The fields of ``table`` and their columns (empty when none were recorded yet)."""
    if not exists(conn, schema):
        return {}
    map_table = column_map_table(conn.dialect, schema)
    query = sa.select(map_table.c.field, map_table.c.column_name).where(map_table.c.table_name == table)
    return {_field(field): column for field, column in conn.execute(query)}


def add_to_column_map(
    conn: sa.Connection, schema: str | None, table: str, pairs: Iterable[tuple[FieldKey, str]]
) -> None:
    """Record that each field of ``pairs`` owns its column in ``table`` (fields not recorded yet)."""
    rows: dict[str, dict[str, str]] = {}
    for field, column in pairs:
        text = _field_json(field)
        field_id = hashlib.sha256(text.encode("ascii")).hexdigest()
        rows[field_id] = {"table_name": table, "field_id": field_id, "field": text, "column_name": column}
    if rows:
        conn.execute(sa.insert(column_map_table(conn.dialect, schema)), list(rows.values()))


__all__ = ["COLUMN_MAP_TABLE", "add_to_column_map", "column_map_table", "read_column_map"]
