"""Run state in the destination, written in the same transaction as the rows it describes.

Two tables, created beside the synced tables (in the same schema):

- ``_restsync_state``: one row per (source, resource, table, partition) with its state as JSON. The
  partition ``""`` is the resource's own row (its cursor, the sync in progress and where it stands, the
  last completed run); a child resource has one more row per parent record it syncs under (its own
  cursor and position), keyed by a hash of the parent values (:func:`partition_id`).
- ``_restsync_parent_keys``: the values the children of a resource need from each of its records
  (``{"accounts": {"id": 1}, "inboxes": {"id": 7}}``), per DAG run, so a child task reads the parents
  its parent task committed instead of listing them from the API again.

Nothing lives on the worker: a retry on another worker reads the same rows.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.sql.dialects import family, lock_first_ddl, transaction
from airflow_provider_restsync.sql.dml import upsert
from airflow_provider_restsync.sql.schema import ensure_schema
from airflow_provider_restsync.sql.types import sql_type

STATE_TABLE = "_restsync_state"
PARENT_KEYS_TABLE = "_restsync_parent_keys"
ROOT = ""  # the partition of a resource's own state row
_NAME = 100  # source and resource names; with the others a key InnoDB accepts (< 3072 bytes)
_TABLE = 128
_PARTITION = 40
_RUN = 250
_DELETE_CHUNK = 500


@dataclass(frozen=True)
class StateKey:
    """Whose state: the source (the DAG), the resource and the table it lands in."""

    source: str
    resource: str
    table: str


def partition_id(scope: str, parent: Mapping[str, Any] | None = None) -> str:
    """The partition of a state row: ``scope`` itself for the resource's own row (``""`` unless a
    data-interval window scopes it), else a hash of the scope and the parent values."""
    if parent is None:
        return scope
    text = json.dumps([scope, parent], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def window_scope(start: str, end: str) -> str:
    """The scope of a sync over one data interval: its own rows, so adjacent intervals run in parallel."""
    digest = hashlib.sha1(f"{start}/{end}".encode(), usedforsecurity=False).hexdigest()
    return f"w:{digest[: _PARTITION - 2]}"


def _state_table(dialect: sa.Dialect, schema: str | None) -> sa.Table:
    return _state_table_of(family(dialect), schema)


# One Table object per database family and schema: SQLAlchemy's statement cache knows a table by its
# identity, so a new object per call would compile every statement again and keep each copy cached.
@functools.lru_cache(maxsize=64)
def _state_table_of(name: str, schema: str | None) -> sa.Table:
    return sa.Table(
        STATE_TABLE,
        sa.MetaData(),
        sa.Column("source", sa.String(_NAME), primary_key=True, autoincrement=False),
        sa.Column("resource", sa.String(_NAME), primary_key=True, autoincrement=False),
        sa.Column("table_name", sa.String(_TABLE), primary_key=True, autoincrement=False),
        sa.Column("partition_id", sa.String(_PARTITION), primary_key=True, autoincrement=False),
        sa.Column("state", sql_type("json", name), nullable=False),
        sa.Column("run_id", sa.String(_RUN), nullable=True),
        sa.Column("updated_at", sql_type("timestamp", name), nullable=False),
        schema=schema,
    )


def _parent_keys_table(dialect: sa.Dialect, schema: str | None) -> sa.Table:
    return _parent_keys_table_of(family(dialect), schema)


@functools.lru_cache(maxsize=64)
def _parent_keys_table_of(name: str, schema: str | None) -> sa.Table:
    return sa.Table(
        PARENT_KEYS_TABLE,
        sa.MetaData(),
        sa.Column("source", sa.String(_NAME), primary_key=True, autoincrement=False),
        sa.Column("resource", sa.String(_NAME), primary_key=True, autoincrement=False),
        sa.Column("sync_id", sa.String(_RUN), primary_key=True, autoincrement=False),
        sa.Column("partition_id", sa.String(_PARTITION), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("context", sql_type("json", name), nullable=False),
        schema=schema,
    )


def ensure_state_tables(engine: sa.Engine, schema: str | None) -> None:
    """Create both tables (and the schema) if missing."""
    ensure_tables(engine, schema, _state_table, _parent_keys_table)


def ensure_tables(
    engine: sa.Engine, schema: str | None, *tables: Callable[[sa.Dialect, str | None], sa.Table]
) -> None:
    """Create bookkeeping tables (and their schema) if missing, in one short transaction.

    Parallel tasks all do this on a DAG's first run; :func:`lock_first_ddl` lets them through one at a
    time, so none loses a race.
    """
    with transaction(engine) as conn:
        lock_first_ddl(conn, schema)
        ensure_schema(conn, schema)
        for make in tables:
            conn.execute(sa.schema.CreateTable(make(conn.dialect, schema), if_not_exists=True))


def read_states(engine: sa.Engine, schema: str | None, key: StateKey) -> dict[str, dict[str, Any]]:
    """Every stored state of ``key`` by partition."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(STATE_TABLE, schema=schema):
            return {}
        table = _state_table(conn.dialect, schema)
        query = sa.select(table.c.partition_id, table.c.state).where(*_matches(table, key))
        return {partition: _loads(state) for partition, state in conn.execute(query)}


def read_state(
    engine: sa.Engine, schema: str | None, key: StateKey, partition: str = ROOT
) -> dict[str, Any] | None:
    """One stored state, or None."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(STATE_TABLE, schema=schema):
            return None
        table = _state_table(conn.dialect, schema)
        query = sa.select(table.c.state).where(*_matches(table, key), table.c.partition_id == partition)
        value = conn.execute(query).scalar_one_or_none()
    return None if value is None else _loads(value)


def read_resource_states(
    engine: sa.Engine, schema: str | None, *, source: str, resource: str, partition: str = ROOT
) -> list[dict[str, Any]]:
    """The states of one partition of ``resource`` whatever table it lands in (a child looks up its
    parent's without knowing the parent task's table)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(STATE_TABLE, schema=schema):
            return []
        table = _state_table(conn.dialect, schema)
        query = sa.select(table.c.state).where(
            table.c.source == source[:_NAME],
            table.c.resource == resource[:_NAME],
            table.c.partition_id == partition,
        )
        return [_loads(value) for (value,) in conn.execute(query)]


def write_states(
    conn: sa.Connection,
    schema: str | None,
    key: StateKey,
    states: Mapping[str, Mapping[str, Any] | None],
    *,
    run_id: str,
) -> None:
    """Upsert the states by partition on ``conn``, inside the caller's transaction; None deletes one."""
    table = _state_table(conn.dialect, schema)
    now = db_now(conn)
    gone = [partition for partition, state in states.items() if state is None]
    for chunk in _chunks(gone):
        conn.execute(sa.delete(table).where(*_matches(table, key), table.c.partition_id.in_(chunk)))
    for partition, state in states.items():
        if state is None:
            continue
        row = {
            "source": key.source[:_NAME],
            "resource": key.resource[:_NAME],
            "table_name": key.table[:_TABLE],
            "partition_id": partition,
            "state": json.dumps(dict(state), default=str, allow_nan=False),
            "run_id": run_id[:_RUN],
            "updated_at": now,
        }
        upsert(conn, table, ("source", "resource", "table_name", "partition_id"), row=row)


def delete_states(
    conn: sa.Connection, schema: str | None, key: StateKey, *, keep: Iterable[str] = ()
) -> None:
    """Delete every state row of ``key`` but the partitions in ``keep``."""
    if not sa.inspect(conn).has_table(STATE_TABLE, schema=schema):
        return
    table = _state_table(conn.dialect, schema)
    kept = list(keep)
    query = sa.delete(table).where(*_matches(table, key))
    if kept:
        query = query.where(table.c.partition_id.not_in(kept))
    conn.execute(query)


def write_parent_keys(
    conn: sa.Connection,
    schema: str | None,
    *,
    source: str,
    resource: str,
    sync_id: str,
    contexts: Mapping[str, Mapping[str, Any]],
    first_seq: int,
) -> None:
    """Store the children's view of ``resource``'s records (by partition, in order) for ``sync_id``."""
    if not contexts:
        return
    table = _parent_keys_table(conn.dialect, schema)
    match = _keys_of(table, source, resource, sync_id)
    for chunk in _chunks(list(contexts)):
        conn.execute(sa.delete(table).where(*match, table.c.partition_id.in_(chunk)))
    rows = [
        {
            "source": source[:_NAME],
            "resource": resource[:_NAME],
            "sync_id": sync_id[:_RUN],
            "partition_id": partition,
            "seq": first_seq + index,
            "context": json.dumps(dict(context), default=str, allow_nan=False),
        }
        for index, (partition, context) in enumerate(contexts.items())
    ]
    conn.execute(sa.insert(table), rows)


def count_parent_keys(
    conn: sa.Connection, schema: str | None, *, source: str, resource: str, sync_id: str
) -> int:
    table = _parent_keys_table(conn.dialect, schema)
    query = sa.select(sa.func.count()).where(*_keys_of(table, source, resource, sync_id))
    return int(conn.execute(query).scalar_one())


def read_parent_keys(
    engine: sa.Engine, schema: str | None, *, source: str, resource: str, sync_id: str
) -> Iterator[dict[str, Any]]:
    """The stored contexts of ``resource``'s records in sync ``sync_id``, in the order they were fetched."""
    with engine.connect() as conn:
        table = _parent_keys_table(conn.dialect, schema)
        query = (
            sa.select(table.c.context)
            .where(*_keys_of(table, source, resource, sync_id))
            .order_by(table.c.seq)
        )
        for (context,) in conn.execution_options(yield_per=1000).execute(query):
            yield _loads(context)


def delete_parent_keys(
    conn: sa.Connection, schema: str | None, *, source: str, resource: str, keep_sync: str | None = None
) -> None:
    """Forget the stored parent keys of ``resource`` (but those of ``keep_sync``)."""
    table = _parent_keys_table(conn.dialect, schema)
    query = sa.delete(table).where(*_keys_of(table, source, resource))
    if keep_sync is not None:
        query = query.where(table.c.sync_id != keep_sync[:_RUN])
    conn.execute(query)


def _keys_of(
    table: sa.Table, source: str, resource: str, sync_id: str | None = None
) -> tuple[sa.ColumnElement[bool], ...]:
    """The parent-key rows of ``resource`` (of one sync when ``sync_id`` is given)."""
    match = (table.c.source == source[:_NAME], table.c.resource == resource[:_NAME])
    return match if sync_id is None else (*match, table.c.sync_id == sync_id[:_RUN])


def _matches(table: sa.Table, key: StateKey) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        table.c.source == key.source[:_NAME],
        table.c.resource == key.resource[:_NAME],
        table.c.table_name == key.table[:_TABLE],
    )


def _loads(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, (str, bytes)) else value)


def db_now(conn: sa.Connection) -> datetime:
    """Now, as ``conn``'s timestamp columns take it (aware on PostgreSQL, naive UTC elsewhere)."""
    now = datetime.now(timezone.utc)
    return now if conn.dialect.name == "postgresql" else now.replace(tzinfo=None)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _DELETE_CHUNK):
        yield items[start : start + _DELETE_CHUNK]
