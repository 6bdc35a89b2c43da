"""Destination engines from Airflow connections, URLs, and the embedded SQLite default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.dialects import transaction
from airflow_provider_restsync.sql.write import TableWriter
from tests.test_sql_support import fetch


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def round_trip(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as w:
        w.write([{"id": 1, "v": "ü"}])
    assert [(r["id"], r["v"]) for r in fetch(engine, "t")] == [(1, "ü")]
    engine.dispose()


def test_embedded_default_is_a_wal_sqlite_file_in_airflow_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    engine = create_destination_engine()
    assert engine.url.database == str(tmp_path / "restsync.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    round_trip(engine)
    nested = tmp_path / "elsewhere" / "home"
    assert create_destination_engine(airflow_home=str(nested)).url.database == str(nested / "restsync.db")


def test_sqlite_ddl_rolls_back_with_its_transaction(tmp_path: Path) -> None:
    for engine in (
        create_destination_engine(url=f"sqlite:///{tmp_path / 'a.db'}"),
        sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}"),
    ):
        with pytest.raises(RuntimeError), transaction(engine) as conn:
            conn.execute(sa.text("CREATE TABLE made_then_undone (x INTEGER)"))
            raise RuntimeError("fail after DDL")
        assert not sa.inspect(engine).has_table("made_then_undone")
        engine.dispose()


def test_urls_without_a_driver_get_the_installed_ones() -> None:
    postgres = create_destination_engine(url="postgresql://user:pw@db.example:5432/analytics")
    assert postgres.dialect.driver == "psycopg"
    mysql = create_destination_engine(url="mysql://root@db.example/analytics")
    assert mysql.dialect.driver == "pymysql" and mysql.url.query["charset"] == "utf8mb4"
    mariadb = create_destination_engine(url="mariadb://root@db.example/analytics")
    assert mariadb.dialect.driver == "pymysql"


def test_url_errors_redact_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        create_destination_engine(url="postgresql+nosuchdriver://user:s3cr3t-pw@db.example/x")
    assert "s3cr3t-pw" not in str(raised.value) and "***" in str(raised.value)
    with pytest.raises(ConfigError, match="not both"):
        create_destination_engine(conn_id="x", url="sqlite://")


def test_sqlite_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_connection(monkeypatch, "dest_lite", conn_type="sqlite", host=str(tmp_path / "sub" / "dest.db"))
    engine = create_destination_engine(conn_id="dest_lite")
    assert engine.url.database == str(tmp_path / "sub" / "dest.db")
    round_trip(engine)


def test_postgres_connection_uses_psycopg3(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:
    url = sa.make_url(postgres_url)
    set_connection(
        monkeypatch,
        "dest_pg",
        conn_type="postgres",
        host=url.host,
        port=url.port,
        login=url.username,
        password=url.password,
        schema=url.database,
    )
    engine = create_destination_engine(conn_id="dest_pg")
    assert engine.dialect.driver == "psycopg"
    round_trip(engine)


@pytest.mark.parametrize("conn_type", ["mysql", "mariadb"])
def test_mysql_connection_uses_pymysql(
    monkeypatch: pytest.MonkeyPatch, mysql_url: str, conn_type: str
) -> None:
    url = sa.make_url(mysql_url)
    set_connection(
        monkeypatch,
        "dest_my",
        conn_type=conn_type,
        host=url.host,
        port=url.port,
        login=url.username,
        schema=url.database,
    )
    engine = create_destination_engine(conn_id="dest_my")
    assert engine.dialect.driver == "pymysql" and engine.url.query["charset"] == "utf8mb4"
    round_trip(engine)


def test_connection_errors_name_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "dest_http", conn_type="http", host="example.com", password="s3cr3t-pw")
    with pytest.raises(ConfigError, match="'dest_http' has type 'http'") as raised:
        create_destination_engine(conn_id="dest_http")
    assert "s3cr3t-pw" not in str(raised.value)
    with pytest.raises(ConfigError, match="'no_such_connection'"):
        create_destination_engine(conn_id="no_such_connection")
