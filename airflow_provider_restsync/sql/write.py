"""TableWriter: lands record batches of one resource in one table; each batch is one transaction.

- ``append`` inserts the batch (COPY on PostgreSQL, multi-row inserts elsewhere).
- ``merge`` stages the batch in a temporary table (in-batch duplicates keep their last occurrence),
  then runs one set-based upsert (or delete-insert) against the table's primary key.
- ``replace`` loads every batch into a staging table and ``finish()`` swaps it in atomically.

Columns the records bring are added first (``ALTER TABLE ... ADD COLUMN``), in the batch's transaction
on PostgreSQL and SQLite (so readers of a PostgreSQL table wait for a batch that changes its columns);
MySQL commits DDL implicitly, so there a failed batch can leave new, empty, nullable columns behind,
never rows.

A replace that receives no records empties the table, because that is what replace means; a warning
says so in the task log. Telling "the source has nothing" from "the selector found nothing" is the
fetch layer's job, before the writer is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.errors import ConfigError, LoadError
from airflow_provider_restsync.sql import dml, schema
from airflow_provider_restsync.sql.batch import BatchPreparer, PreparedBatch, Record
from airflow_provider_restsync.sql.column_map import add_to_column_map, column_map_table, read_column_map
from airflow_provider_restsync.sql.convert import sqlite_timestamp
from airflow_provider_restsync.sql.ddl import DropTemporaryTable
from airflow_provider_restsync.sql.destination import attach_sqlite_schema
from airflow_provider_restsync.sql.dialects import family, transaction, transactional_ddl
from airflow_provider_restsync.sql.disposition import WriteDisposition
from airflow_provider_restsync.sql.hints import ColumnHint
from airflow_provider_restsync.sql.naming import ColumnNames, NamingConvention
from airflow_provider_restsync.sql.schema import (
    BOOKKEEPING,
    LOADED_AT,
    RESERVED,
    RUN_ID,
    ColumnSpec,
    TableModel,
)
from airflow_provider_restsync.sql.state import ensure_tables

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one ``write()`` (or a replace's ``finish()``) did."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # merged rows whose stored row was already the same: left as they were
    variant_values: int = 0
    new_columns: list[str] = field(default_factory=list)  # variant columns included
    new_variant_columns: list[str] = field(default_factory=list)


class TableWriter:
    """Writes batches of records of one resource into one table.

    :param engine: the destination (see ``create_destination_engine``).
    :param resource: the resource name, for errors, logs and the checkpoint key.
    :param table: the table name (normalized like the columns).
    :param primary_key: field names as in the API (``ID``) or normalized (``id``); composite allowed.
        Used by ``merge`` (and by ``replace`` to deduplicate); every record must carry it. A merge
        without one is a :class:`ConfigError` (the config reports it at parse time).
    :param disposition: a :class:`WriteDisposition`, or the name of one (``append``, ``replace``,
        ``merge``) with its default strategy.
    :param columns: column hints by field name (:func:`sql.hints.parse_column_hints` makes them).
    :param naming: ``snake_case`` (as dlt) or ``direct`` (the API's names).
    :param max_table_nesting: flatten nested objects this many levels into ``parent__child`` columns;
        None or 0 keeps them in JSON columns.
    :param schema: PostgreSQL schema / MySQL database (created if missing; SQLite has none: ignored).
    :param run_id: the Airflow run id stored in ``_restsync_run_id``.
    :param loaded_at: the time stored in ``_restsync_loaded_at`` (default: now).
    :param before_commit: called with the connection after a ``write()`` batch's rows (and its
        ``in_transaction`` work) are written, before its commit; raising there rolls the batch back.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        resource: str,
        table: str,
        primary_key: str | Sequence[str] = (),
        disposition: WriteDisposition | str = "append",
        columns: Mapping[str, ColumnHint] | None = None,
        naming: str = "snake_case",
        max_table_nesting: int | None = None,
        schema: str | None = None,
        run_id: str = "manual",
        loaded_at: datetime | None = None,
        before_commit: Callable[[sa.Connection], None] | None = None,
    ) -> None:
        self.engine = engine
        self.family = family(engine.dialect)
        self.resource = resource
        mode = disposition if isinstance(disposition, WriteDisposition) else WriteDisposition(disposition)
        self.disposition, self.strategy = mode.disposition, mode.strategy
        if max_table_nesting is not None and (isinstance(max_table_nesting, bool) or max_table_nesting < 0):
            raise ConfigError(
                f"expected a non-negative integer, got {max_table_nesting!r}", "max_table_nesting"
            )
        if schema and self.family == "sqlite":
            attach_sqlite_schema(engine, schema)
        self.schema = schema
        self.convention = NamingConvention.for_dialect(naming, self.family)
        self.table = self.convention.normalize(table)
        self.run_id = run_id
        self._before_commit = before_commit
        # What the database or its driver raises (COPY and encoding errors come from the driver itself).
        dbapi_error = getattr(engine.dialect.loaded_dbapi, "Error", sa.exc.SQLAlchemyError)
        self._database_errors: tuple[type[BaseException], ...] = (
            sa.exc.SQLAlchemyError,
            UnicodeError,
            dbapi_error,
        )

        hints = dict(columns or {})
        keys = [primary_key] if isinstance(primary_key, str) else list(primary_key)
        mode.require_key(keys, "primary_key")
        self.primary_key = keys
        self._keyed = bool(keys) and mode.keyed

        moment = (loaded_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        stamp: Any = moment if self.family == "postgresql" else moment.replace(tzinfo=None)
        if self.family == "sqlite":
            stamp = sqlite_timestamp(stamp)
        self._preparer = BatchPreparer(
            resource=resource,
            family=self.family,
            names=ColumnNames(self.convention, reserved=RESERVED),
            hints=hints,
            primary_key=keys,
            max_nesting=max_table_nesting,
            bookkeeping={LOADED_AT: stamp, RUN_ID: run_id},
        )
        derived = self.convention.derived
        self._staging_name = derived(self.table, "__restsync_new")
        self._stage_name = derived(self.table, "__restsync_stage")
        self._old_name = derived(self.table, "__restsync_old")
        self._key_name = derived(self.table, "_pkey")
        self._staging_key_name = derived(self._staging_name, "_pkey")
        self._index_name = derived(self.table, "__restsync_key")

        self._model: TableModel | None = None  # the table batches go to (replace: the staging table)
        self._target: TableModel | None = None  # replace: the table finish() replaces
        self._staging_ready = False
        self._column_map_read = False
        self._column_map_ready = False
        self._closed = False
        self._totals = BatchResult()
        self._tables: dict[tuple[Any, ...], sa.Table] = {}

    # --- public --------------------------------------------------------------------------------

    def write(
        self,
        records: Sequence[Record],
        *,
        in_transaction: Callable[[sa.Connection], None] | None = None,
        strict: bool = False,
    ) -> BatchResult:
        """Write one batch in one transaction; ``in_transaction(conn)`` runs in it too, after the rows
        (the run state that describes them: both commit, or neither). ``strict``: the records came from
        strict JSON (:meth:`BatchPreparer.prepare`).

        For ``replace`` the rows go to the staging table readers do not see yet: state that describes
        the table belongs in ``finish(in_transaction=...)``, which commits with the swap.
        """
        self._check_open()
        try:
            model = self._current_model()
            batch = self._preparer.prepare(records, model, dedup=self._keyed, strict=strict)
            named = self._preparer.names.pending()
            if named and not self._column_map_ready:
                ensure_tables(self.engine, self.schema, column_map_table)
                self._column_map_ready = True
            if batch.rows and not transactional_ddl(self.family):
                with self.engine.begin() as conn:
                    model = self._evolve(conn, batch, model)
                self._model = model
            with transaction(self.engine) as conn:
                if batch.rows and transactional_ddl(self.family):
                    model = self._evolve(conn, batch, model)
                result = self._load(conn, batch, model)
                add_to_column_map(conn, self.schema, self.table, named.items())
                if in_transaction is not None:
                    in_transaction(conn)
                if self._before_commit is not None:
                    self._before_commit(conn)
        except self._database_errors as error:
            self._model = None  # the batch's DDL may have been rolled back: reflect again
            raise self._load_error(error, len(records)) from error
        except BaseException:
            self._model = None
            raise
        self._model = model
        self._preparer.names.saved(named)
        if batch.rows and self.disposition == "replace":
            self._staging_ready = True
        self._add_to_totals(result)
        return result

    def finish(self, *, in_transaction: Callable[[sa.Connection], None] | None = None) -> BatchResult | None:
        """Complete the load: for ``replace`` swap the staging table in. ``in_transaction(conn)`` runs in
        the swap's transaction (on MySQL, whose RENAME commits by itself, right after it); for the
        other dispositions in a transaction of its own.

        A replace that received no rows swaps in an empty table with the old table's columns.
        """
        if self._closed:
            return None
        if self.disposition != "replace":
            if in_transaction is not None:
                with transaction(self.engine) as conn:
                    in_transaction(conn)
            self._closed = True
            return None
        try:
            result = self._swap(in_transaction)
        except self._database_errors as error:
            self.abort()
            reason = getattr(error, "orig", None) or error
            raise LoadError(
                f"resource {self.resource!r}: the swap of the staged table into {self.table!r} failed; "
                f"the table is as it was: {reason}"
            ) from error
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return result

    def abort(self) -> None:
        """Drop what a replace staged; the table itself is left as it was."""
        self._closed = True
        if self.disposition != "replace":
            return
        try:
            with transaction(self.engine) as conn:
                schema.drop_table(conn, self._staging_name, self.schema)
        except sa.exc.SQLAlchemyError as error:
            log.warning(
                "resource %r: could not drop staging table %r: %s", self.resource, self._staging_name, error
            )

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    # --- steps ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LoadError(f"resource {self.resource!r}: the writer of table {self.table!r} is finished")

    def _current_model(self) -> TableModel:
        if self._model is None:
            with self.engine.connect() as conn:
                if not self._column_map_read:  # before the first batch names any field
                    self._preparer.names.seed(read_column_map(conn, self.schema, self.table))
                    self._column_map_read = True
                target = schema.reflect(conn, self.table, self.schema, self.family)
                if self.disposition != "replace":
                    self._model = target
                else:
                    self._target = target
                    if self._staging_ready:
                        self._model = schema.reflect(conn, self._staging_name, self.schema, self.family)
                    else:
                        # The new table keeps the old one's columns (queries keep working), all nullable:
                        # the key is made again from this writer's primary_key.
                        columns = {n: replace(s, nullable=True) for n, s in target.columns.items()}
                        self._model = target.copy(
                            name=self._staging_name,
                            columns=columns,
                            exists=False,
                            primary_key=(),
                            unique_keys=(),
                        )
        return self._model

    def _evolve(self, conn: sa.Connection, batch: PreparedBatch, model: TableModel) -> TableModel:
        """Create the table or add the batch's new columns (and the key a merge needs)."""
        new = [*batch.new_columns, *(s for s in schema.bookkeeping_columns() if model.get(s.name) is None)]
        if self.disposition == "replace" and not self._staging_ready:
            schema.drop_table(conn, self._staging_name, self.schema)  # a crashed run's leftovers
        if not model.exists:
            return self._create(conn, model, new, batch.key)
        model = schema.add_columns(conn, model, self.family, new)
        if self._keyed and not schema.has_key(model, batch.key):
            model = schema.add_unique_key(conn, model, self.family, batch.key, self._index_name)
        return model

    def _create(
        self, conn: sa.Connection, model: TableModel, new: Sequence[ColumnSpec], key: Sequence[str]
    ) -> TableModel:
        """CREATE TABLE; key columns are key-typed even for ``append`` (a later merge can index them),
        the primary key constraint is made for ``merge`` and ``replace`` only."""
        schema.ensure_schema(conn, self.schema)
        specs = {**model.columns, **{spec.name: spec for spec in new}}
        key = [k for k in key if k in specs]
        text_keys = sum(1 for k in key if specs[k].data_type == "text")
        for name in key:
            specs[name] = schema.key_column(specs[name], conn.dialect, text_keys)
        constraint = key if self._keyed else []
        key_name = self._staging_key_name if self.disposition == "replace" else self._key_name
        return schema.create_table(
            conn, model.copy(columns=specs), self.family, constraint, key_name if constraint else None
        )

    def _load(self, conn: sa.Connection, batch: PreparedBatch, model: TableModel) -> BatchResult:
        result = BatchResult(
            rows=len(batch.rows),
            variant_values=sum(batch.variant_counts.values()),
            new_columns=[s.name for s in batch.new_columns],
            new_variant_columns=list(batch.new_variant_columns),
        )
        if not batch.rows:
            return result
        target = self._sa_table(model)
        if not self._keyed:
            dml.bulk_insert(conn, target, batch.columns, batch.rows)
            result.inserted = len(batch.rows)
            return result
        compare = [c.name for c in target.columns if c.name not in batch.key and c.name not in BOOKKEEPING]
        if self.family == "sqlite" and self.strategy != "delete-insert":
            upserted = dml.upsert_rows(conn, target, batch.key, batch.columns, batch.rows, compare=compare)
            assert upserted.inserted is not None and upserted.written is not None
            result.inserted = upserted.inserted
            result.updated = upserted.written - upserted.inserted
            result.unchanged = len(batch.rows) - upserted.written
            return result
        stage = self._sa_table(
            model,
            name=self._stage_name,
            in_schema=schema.temporary_schema(self.family, self.schema),
            temporary=True,
            key=batch.key,
        )
        conn.execute(DropTemporaryTable(stage))
        conn.execute(sa.schema.CreateTable(stage))
        dml.bulk_insert(conn, stage, batch.columns, batch.rows)
        staged = len(batch.rows)
        if self.strategy == "delete-insert":
            deleted = dml.count_existing(conn, target, stage, batch.key)
            dml.delete_insert(conn, target, stage, batch.key)
            result.inserted, result.updated = staged - deleted, deleted
        else:
            # PostgreSQL's upsert counts its inserts itself; MySQL's stored keys are counted first.
            existing = (
                None if self.family == "postgresql" else dml.count_existing(conn, target, stage, batch.key)
            )
            upserted = dml.upsert(
                conn, target, batch.key, select=dml.staged_rows(target, stage), compare=compare
            )
            inserted = upserted.inserted if upserted.inserted is not None else staged - (existing or 0)
            written = staged if upserted.written is None else upserted.written
            result.inserted = inserted
            result.updated = written - inserted
            result.unchanged = staged - written
        conn.execute(DropTemporaryTable(stage))
        return result

    def _sa_table(
        self,
        model: TableModel,
        *,
        name: str | None = None,
        in_schema: str | None = None,
        temporary: bool = False,
        key: Sequence[str] = (),
    ) -> sa.Table:
        """The Core table of ``model`` for a batch's statements, the same object while the columns stay
        the same: SQLAlchemy's statement cache knows a table by its identity, so a new one per batch
        would compile each statement again and keep every copy in the cache."""
        columns = tuple(model.columns.items())
        memo = (model.name, model.schema, columns, name, in_schema, temporary, tuple(key))
        table = self._tables.get(memo)
        if table is None:
            if len(self._tables) >= 8:  # columns changed: the old shapes are not used again
                self._tables.clear()
            table = self._tables[memo] = schema.sa_table(
                model, self.family, name=name, schema=in_schema, temporary=temporary, key=key
            )
        return table

    def _swap(self, in_transaction: Callable[[sa.Connection], None] | None) -> BatchResult:
        staging = self._current_model()
        target = self._target or TableModel(self.table, self.schema)
        if transactional_ddl(self.family):
            with transaction(self.engine) as conn:
                if not self._staging_ready:
                    staging = self._create_empty(conn, staging)
                self._swap_in(conn, staging, target)
                if in_transaction is not None:
                    in_transaction(conn)
        else:
            if not self._staging_ready:
                with self.engine.begin() as conn:
                    staging = self._create_empty(conn, staging)
                self._staging_ready = True
            with self.engine.begin() as conn:
                self._swap_in(conn, staging, target)
            if in_transaction is not None:
                with transaction(self.engine) as conn:
                    in_transaction(conn)
        return self._finish_result(target, staging)

    def _create_empty(self, conn: sa.Connection, model: TableModel) -> TableModel:
        """The staging table of a replace that received no rows: the table's columns, no rows."""
        schema.drop_table(conn, self._staging_name, self.schema)
        hinted = self._preparer.prepare([], model, dedup=False).new_columns
        new = [*hinted, *(s for s in schema.bookkeeping_columns() if model.get(s.name) is None)]
        key = self._preparer.key_columns(()) if self._keyed else ()
        if not all(model.get(k) is not None or any(s.name == k for s in new) for k in key):
            key = ()
        return self._create(conn, model, new, key)

    def _swap_in(self, conn: sa.Connection, staging: TableModel, target: TableModel) -> None:
        if self._totals.rows == 0 and target.exists:
            table = schema.sa_table(target, self.family, columns=[])
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None:
                log.warning(
                    "resource %r: replace received no records; table %r is replaced by an empty table",
                    self.resource,
                    self.table,
                )
        keyed = bool(staging.primary_key) and self.family == "postgresql"
        schema.swap_in(
            conn,
            self.family,
            staging,
            target,
            old_name=self._old_name,
            staging_key_name=self._staging_key_name if keyed else None,
            target_key_name=self._key_name if keyed else None,
        )

    def _finish_result(self, target: TableModel, staging: TableModel) -> BatchResult:
        new = [name for name in staging.columns if target.get(name) is None and name not in BOOKKEEPING]
        totals = self._totals
        return BatchResult(
            rows=totals.inserted,
            inserted=totals.inserted,
            variant_values=totals.variant_values,
            new_columns=new,
            new_variant_columns=[name for name in totals.new_variant_columns if name in new],
        )

    # --- totals and errors ---------------------------------------------------------------------

    def _add_to_totals(self, result: BatchResult) -> None:
        totals = self._totals
        totals.rows += result.rows
        totals.inserted += result.inserted
        totals.updated += result.updated
        totals.unchanged += result.unchanged
        totals.variant_values += result.variant_values
        totals.new_columns.extend(result.new_columns)
        totals.new_variant_columns.extend(result.new_variant_columns)

    def _load_error(self, error: BaseException, count: int) -> LoadError:
        reason = getattr(error, "orig", None) or error
        return LoadError(
            f"resource {self.resource!r}: writing a batch of {count} record(s) to table {self.table!r} "
            f"failed and was rolled back: {reason}"
        )
