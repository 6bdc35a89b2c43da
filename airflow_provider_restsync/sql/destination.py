"""The destination engine: from an Airflow connection, a SQLAlchemy URL, or an embedded SQLite file.

PostgreSQL goes through psycopg 3, MySQL/MariaDB through PyMySQL (utf8mb4). SQLite files get WAL mode
and a busy timeout, so a reader can query a table while a task loads it, and transactions whose DDL
really is transactional (the sqlite3 module would otherwise autocommit DDL).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.redaction import redact_url
from airflow_provider_restsync.sql.dialects import SQLITE_BEGIN_OPTION

EMBEDDED_DATABASE = "restsync.db"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
_MYSQL_TYPES = ("mysql", "mariadb")
_POSTGRES_TYPES = ("postgres", "postgresql")
# libpq settings a postgres connection's extra may carry into the URL.
_LIBPQ_EXTRAS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
)


def create_destination_engine(
    *, conn_id: str | None = None, url: str | None = None, airflow_home: str | None = None
) -> sa.Engine:
    """The engine to load into.

    :param conn_id: an Airflow connection of type postgres, mysql/mariadb or sqlite.
    :param url: a SQLAlchemy URL (``postgresql://`` and ``mysql://`` get psycopg 3 and PyMySQL).
    :param airflow_home: where the embedded ``restsync.db`` lives when neither is given
        (default: ``$AIRFLOW_HOME``, else ``~/airflow``).
    """
    if conn_id and url:
        raise ConfigError("give a destination connection id or a URL, not both", "destination")
    if conn_id:
        return _from_connection(conn_id)
    if url:
        return _from_url(url)
    home = airflow_home or os.environ.get("AIRFLOW_HOME") or str(Path("~/airflow").expanduser())
    return _engine(sa.URL.create("sqlite", database=str(Path(home) / EMBEDDED_DATABASE)))


def _from_url(url: str) -> sa.Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as error:
        raise ConfigError(f"not a SQLAlchemy URL: {redact_url(url)!r}", "destination.url") from error
    return _engine(_with_driver(parsed))


def _with_driver(url: sa.URL) -> sa.URL:
    """Pick the drivers this provider installs when the URL names none."""
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername in _MYSQL_TYPES:
        url = url.set(drivername="mysql+pymysql")
    if url.get_backend_name() in _MYSQL_TYPES and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def _from_connection(conn_id: str) -> sa.Engine:
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as error:  # Airflow's NotFound, or a secrets backend failing: either way unusable
        raise ConfigError(
            f"destination connection {conn_id!r} cannot be read: {error}", "destination"
        ) from error
    conn_type = (conn.conn_type or "").lower()
    if conn_type in _POSTGRES_TYPES:
        return _postgres_engine(conn)
    if conn_type == "sqlite":
        path = conn.host or conn.schema
        if not path:
            raise ConfigError(f"sqlite connection {conn_id!r} names no database file (host)", "destination")
        return _engine(sa.URL.create("sqlite", database=path))
    if conn_type in _MYSQL_TYPES:
        return _engine(
            sa.URL.create(
                "mysql+pymysql",
                username=conn.login or None,
                password=conn.password or None,
                host=conn.host or None,
                port=conn.port or None,
                database=conn.schema or None,
                query={"charset": "utf8mb4"},
            )
        )
    raise ConfigError(
        f"destination connection {conn_id!r} has type {conn_type!r}; "
        "expected postgres, mysql, mariadb or sqlite",
        "destination",
    )


def _postgres_engine(conn: Any) -> sa.Engine:
    """The postgres provider's engine when it is psycopg 3, else one built from the connection fields."""
    try:
        engine: sa.Engine = conn.get_hook().get_sqlalchemy_engine(engine_kwargs={"pool_pre_ping": True})
        if engine.dialect.driver == "psycopg":
            return engine
        engine.dispose()
    except Exception:  # the provider is missing or too old to build an engine: the fields serve below
        pass
    extra = conn.extra_dejson if isinstance(conn.extra_dejson, dict) else {}
    query = {key: str(extra[key]) for key in _LIBPQ_EXTRAS if extra.get(key) is not None}
    url = sa.URL.create(
        "postgresql+psycopg",
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
        query=query,
    )
    return _engine(url)


def _engine(url: sa.URL) -> sa.Engine:
    shown = url.render_as_string(hide_password=True)
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise ConfigError(f"cannot create an engine for {shown}: {error}", "destination") from error


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory and not database.startswith("file:"):
        path = Path(database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = url.set(database=str(path))
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, so DDL is inside transactions too.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "BEGIN"))

    return engine


# Schemas attached per SQLite engine; each new pooled connection attaches them all.
_ATTACHED: weakref.WeakKeyDictionary[sa.Engine, dict[str, str]] = weakref.WeakKeyDictionary()


def attach_sqlite_schema(engine: sa.Engine, schema: str) -> None:
    """Make ``schema`` usable on SQLite: a database file beside the main one, attached under that name.

    dlt lays SQLite datasets out the same way (``<main>__<schema>.db``), so several sources can share one
    embedded database without their tables colliding. Idempotent; other databases are left alone.
    """
    if engine.dialect.name != "sqlite":
        return
    if not schema or "\x00" in schema:
        raise ConfigError(f"not a usable schema name: {schema!r}", "destination_schema")
    attached = _ATTACHED.get(engine)
    if attached is None:
        attached = _ATTACHED[engine] = {}
        event.listen(engine, "connect", _attach_all(attached))
    if schema in attached:
        return
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        attached[schema] = ":memory:"
    else:
        main = Path(database)
        attached[schema] = str(main.with_name(f"{main.stem}__{schema}{main.suffix or '.db'}"))
    # Connections already pooled lack the new attachment: let the pool open fresh ones.
    engine.dispose()


def _attach_all(attached: dict[str, str]) -> Callable[[Any, Any], None]:
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for name, path in attached.items():
            quoted = '"' + name.replace('"', '""') + '"'
            cursor.execute(f"ATTACH DATABASE ? AS {quoted}", (path,))
            if path != ":memory:":
                cursor.execute(f"PRAGMA {quoted}.journal_mode = WAL")
        cursor.close()

    return _on_connect
