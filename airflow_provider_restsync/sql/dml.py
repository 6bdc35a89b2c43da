"""Moving rows: bulk insert (COPY on PostgreSQL), and set-based merges from a staging table.

The merge is one statement per batch, chosen by dialect: ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``
on PostgreSQL and SQLite, ``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE`` on MySQL/MariaDB, or for the
``delete-insert`` strategy a ``DELETE ... WHERE key IN (SELECT key FROM staging)`` and an
``INSERT ... SELECT``. The target's primary key or unique index serves every lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from airflow_provider_restsync.sql.dialects import family

_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def bulk_insert(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (one value per name in ``columns``, ready for the driver) in bulk.

    PostgreSQL with psycopg: COPY. SQLite and MySQL: the driver's executemany of one statement whose
    identifiers SQLAlchemy quoted and whose values are all bound (PyMySQL folds it into multi-row
    INSERTs, sqlite3 runs it in-process). SQLAlchemy's per-row parameter processing is skipped: the
    converters already produced what the driver takes.
    """
    if not rows:
        return
    dialect = conn.dialect
    placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy_rows(conn, table, columns, rows)
    elif dialect.name == "postgresql" or placeholder is None:
        conn.execute(sa.insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
    else:
        preparer = dialect.identifier_preparer
        statement = (
            f"INSERT INTO {preparer.format_table(table)} ({', '.join(preparer.quote(c) for c in columns)}) "
            f"VALUES ({', '.join([placeholder] * len(columns))})"
        )
        conn.exec_driver_sql(statement, list(rows))


def _copy_rows(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """COPY ... FROM STDIN through psycopg, on the connection (and in the transaction) SQLAlchemy holds."""
    from psycopg import sql

    target = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver_connection: Any = conn.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        write_row = copy.write_row
        for values in rows:
            write_row(values)


def _key_match(target: sa.Table, staging: sa.Table, key: Sequence[str]) -> sa.ColumnElement[bool]:
    return sa.and_(*(target.c[k] == staging.c[k] for k in key))


def count_existing(conn: sa.Connection, target: sa.Table, staging: sa.Table, key: Sequence[str]) -> int:
    """How many staged rows already have their key in the target (they will be updates)."""
    query = sa.select(sa.func.count()).select_from(staging.join(target, _key_match(target, staging, key)))
    return int(conn.execute(query).scalar_one())


@dataclass
class Upserted:
    """What an upsert did, where the database can tell (None where it cannot)."""

    inserted: int | None = None
    written: int | None = None  # inserted plus updated: rows left alone as unchanged are not in it


def upsert(
    conn: sa.Connection,
    target: sa.Table,
    key: Sequence[str],
    *,
    select: sa.Select[Any] | None = None,
    row: Mapping[str, Any] | None = None,
    compare: Sequence[str] = (),
) -> Upserted:
    """Insert rows (those of ``select``, or one ``row`` of values); a row whose key is stored replaces it.

    The one place that picks the dialect's upsert: ``ON CONFLICT DO UPDATE`` on PostgreSQL and SQLite,
    ``ON DUPLICATE KEY UPDATE`` on MySQL/MariaDB.

    :param key: the columns of the target's primary key or unique index.
    :param select: a SELECT of every target column, by name (the staged batch).
    :param row: the values of one row (the state table's).
    :param compare: on PostgreSQL and SQLite, a stored row is only rewritten when one of these columns
        differs (``IS DISTINCT FROM``): a re-sync of unchanged data writes nothing. MySQL rewrites it.
    """
    new: Any
    if select is not None:
        columns, new = [c.name for c in target.columns], select.selected_columns
    else:
        assert row is not None
        columns, new = list(row), row
    update = [c for c in columns if c not in key]
    name = family(conn.dialect)
    if name == "mysql":
        mysql_insert = mysql.insert(target)
        mysql_insert = (
            mysql_insert.from_select(columns, select) if select is not None else mysql_insert.values(new)
        )
        values = {c: new[c] for c in update} or {key[0]: new[key[0]]}
        conn.execute(mysql_insert.on_duplicate_key_update(values))
        return Upserted()
    dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
    # SQLite needs a WHERE before ON CONFLICT to parse INSERT ... SELECT (its docs' "parsing ambiguity").
    statement = (
        dialect_insert(target).from_select(columns, select.where(sa.true()))
        if select is not None
        else dialect_insert(target).values(new)
    )
    statement = _on_conflict(statement, target, key, update, compare)
    if name == "postgresql" and select is not None:
        # xmax is 0 on a row version this statement inserted, not on one it updated.
        upserted = statement.returning(sa.literal_column("xmax = 0").label("inserted")).cte("upserted")
        inserted = sa.func.count().filter(upserted.c.inserted)
        counted = conn.execute(sa.select(inserted, sa.func.count()).select_from(upserted)).one()
        return Upserted(int(counted[0]), int(counted[1]))
    conn.execute(statement)
    return Upserted()


def _on_conflict(
    statement: Any, target: sa.Table, key: Sequence[str], update: Sequence[str], compare: Sequence[str]
) -> Any:
    """``ON CONFLICT (key) DO UPDATE`` the ``update`` columns where a ``compare`` column differs, or
    ``DO NOTHING`` when there is nothing to update (PostgreSQL and SQLite)."""
    if not update:
        return statement.on_conflict_do_nothing(index_elements=list(key))
    changed = [target.c[c].is_distinct_from(statement.excluded[c]) for c in compare]
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={c: statement.excluded[c] for c in update},
        where=sa.or_(*changed) if changed else None,
    )


def upsert_rows(
    conn: sa.Connection,
    target: sa.Table,
    key: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    compare: Sequence[str] = (),
) -> Upserted:
    """SQLite: upsert ``rows`` (values in ``columns`` order) straight into ``target``, no staging table.

    SQLite runs in the task's process, so a staging table is a second copy of every row for nothing: one
    ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <a column differs>`` per row, all in one executemany,
    does the same. Inserted rows get rowids above the table's highest one before (an update keeps its
    row's rowid), so counting those tells the inserts without scanning the table; SQLite's change count
    tells the rows written.
    """
    statement = sqlite.insert(target).values({c: sa.bindparam(c) for c in columns})
    update = [c for c in columns if c not in key]
    statement = _on_conflict(statement, target, key, update, compare)
    compiled = statement.compile(dialect=conn.dialect)
    order = list(compiled.positiontup or ())
    if order != list(columns):
        position = {name: index for index, name in enumerate(columns)}
        rows = [tuple(row[position[name]] for name in order) for row in rows]
    rowid: sa.ColumnElement[int] = sa.literal_column("rowid")
    highest = conn.execute(sa.select(sa.func.max(rowid)).select_from(target)).scalar_one() or 0
    result = conn.exec_driver_sql(str(compiled), list(rows))
    inserted = conn.execute(
        sa.select(sa.func.count()).select_from(target).where(rowid > highest)
    ).scalar_one()
    return Upserted(inserted=int(inserted), written=result.rowcount)


def staged_rows(target: sa.Table, staging: sa.Table) -> sa.Select[Any]:
    """SELECT of the staged rows, column by column as the target has them."""
    return sa.select(*(staging.c[c.name] for c in target.columns))


def delete_insert(conn: sa.Connection, target: sa.Table, staging: sa.Table, key: Sequence[str]) -> int:
    """Delete the target's rows whose key is staged, then insert the staged rows; return rows deleted."""
    if len(key) == 1:
        matched = target.c[key[0]].in_(sa.select(staging.c[key[0]]))
    else:
        matched = sa.tuple_(*(target.c[k] for k in key)).in_(sa.select(*(staging.c[k] for k in key)))
    deleted = conn.execute(sa.delete(target).where(matched)).rowcount
    insert_from(conn, target, staging)
    return int(deleted or 0)


def insert_from(conn: sa.Connection, target: sa.Table, staging: sa.Table) -> None:
    """INSERT INTO target SELECT ... FROM staging, column by column."""
    conn.execute(
        sa.insert(target).from_select([c.name for c in target.columns], staged_rows(target, staging))
    )
