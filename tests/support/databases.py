"""Real database servers for tests: a fresh database per use, dropped afterwards.

Outside CI an unreachable server skips the test with the reason; under CI=true it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get(
    "RESTSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN_URL = os.environ.get("RESTSYNC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _unreachable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (CI=true: database tests must not skip)")
    pytest.skip(message)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a throwaway PostgreSQL database; yield its SQLAlchemy URL."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"restsync_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        _unreachable(f"PostgreSQL at {admin.url.render_as_string(hide_password=True)}", error)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def mysql_database() -> Iterator[str]:
    """Create a throwaway MariaDB/MySQL database; yield its SQLAlchemy URL."""
    admin = sa.create_engine(MYSQL_ADMIN_URL)
    name = f"restsync_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    except Exception as error:
        admin.dispose()
        _unreachable(f"MariaDB at {admin.url.render_as_string(hide_password=True)}", error)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def airflow_connection(url: str) -> dict[str, object]:
    """The ``AIRFLOW_CONN_<ID>`` JSON of a destination given as a ``sqlite:///`` or PostgreSQL URL."""
    parts = sa.make_url(url)
    if parts.get_backend_name() == "sqlite":
        return {"conn_type": "sqlite", "host": parts.database}
    return {
        "conn_type": "postgres",
        "host": parts.host,
        "port": parts.port,
        "login": parts.username,
        "password": parts.password,
        "schema": parts.database,
    }
