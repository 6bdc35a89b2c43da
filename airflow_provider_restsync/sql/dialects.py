"""What differs between the three databases, decided in one place: family, DDL transactions, BEGIN."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from airflow_provider_restsync.errors import ConfigError

FAMILIES = ("postgresql", "mysql", "sqlite")
# The execution option create_destination_engine's SQLite "begin" listener reads.
SQLITE_BEGIN_OPTION = "restsync_sqlite_begin"


def family(dialect: sa.Dialect) -> str:
    """``postgresql``, ``mysql`` (MariaDB included) or ``sqlite``; anything else is refused."""
    name = "mysql" if dialect.name == "mariadb" else dialect.name
    if name not in FAMILIES:
        raise ConfigError(
            f"destination database {dialect.name!r} is not supported; use PostgreSQL, MySQL/MariaDB or SQLite"
        )
    return name


# Data columns a table gets at most (fields, then their variant columns); further fields go to the
# overflow JSON column. Measured so a row of short incompressible texts (the worst case) still fits:
# PostgreSQL keeps values of up to ~24 bytes inline in its 8160-byte row; InnoDB keeps up to 40 bytes
# of each TEXT inline in its 8126-byte row and refuses CREATE/ALTER past ~380 TEXT columns; SQLite has
# no row limit but 2,000 columns, and a merge's "a column differs" test is one expression per column
# (SQLite's expression depth limit is 1,000).
MAX_DATA_COLUMNS = {"postgresql": 300, "mysql": 180, "sqlite": 500}


def max_data_columns(family_name: str) -> int:
    """How many data columns a table of this database family gets; the rest go to the overflow."""
    return MAX_DATA_COLUMNS[family_name]


def transactional_ddl(family_name: str) -> bool:
    """Whether DDL can share the batch's transaction; MySQL commits implicitly before and after DDL."""
    return family_name != "mysql"


@contextmanager
def transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One transaction on one connection: committed when the block ends, rolled back if it raises.

    On SQLite the transaction is opened with ``BEGIN IMMEDIATE``: the write lock is taken up front (so
    concurrent writers wait on the busy timeout instead of failing to upgrade a read lock), and DDL is
    inside the transaction (the sqlite3 module would otherwise autocommit it).
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        with conn.begin():
            if conn.dialect.name == "sqlite":
                dbapi_connection = conn.connection.dbapi_connection
                if not getattr(dbapi_connection, "in_transaction", True):
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) standing for ``name``."""
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_first_ddl(conn: sa.Connection, schema: str | None) -> None:
    """Let one transaction at a time create what is missing in ``schema``, until it ends.

    PostgreSQL's ``CREATE SCHEMA IF NOT EXISTS`` and ``CREATE TABLE IF NOT EXISTS`` are not safe when
    run at once: both transactions find the name free, and the second fails on the catalog's unique
    index (``pg_namespace_nspname_index``) when the first commits. That is exactly how the tasks of a
    DAG's first run start. A transaction-level advisory lock makes the second wait for the first to
    commit and then find everything made. MySQL (metadata locks) and SQLite (one writer) need none.
    """
    if conn.dialect.name == "postgresql":
        key = advisory_key(f"restsync first ddl {schema or ''}")
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
