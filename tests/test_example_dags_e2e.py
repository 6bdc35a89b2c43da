"""The five example DAGs, run through real Airflow (dag.test) against the sandbox API.

Every table must equal what the sandbox served for its resource, row by row; a second run changes nothing
but bookkeeping columns; with 5% injected faults the tables are the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.sandbox import FaultConfig, SandboxServer, expected_records
from airflow_provider_restsync.sandbox.connections import sandbox_environment
from airflow_provider_restsync.sql.destination import attach_sqlite_schema, create_destination_engine
from airflow_provider_restsync.sql.naming import normalize_identifier
from tests.support.databases import airflow_connection
from tests.support.tables import by_key, expected_rows, table_rows

DAGS = Path(__file__).resolve().parent.parent / "dags"
EXAMPLES = ("mail_testing", "email_delivery", "communications", "inbox_testing", "email_service")
RECORDS = 250
FAULT_RECORDS = 3000
DEST_CONN = "restsync_test_destination"


def run_example(dag_id: str, monkeypatch: pytest.MonkeyPatch, conf: dict[str, Any] | None = None) -> Any:
    """Parse the example DAG file as Airflow does and run it once with dag.test()."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RESTSYNC_DESTINATION_CONN_ID", DEST_CONN)
    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag(dag_id)
    return dag.test(run_conf=conf)


def task_states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture(params=["sqlite", "postgres"])
def destination(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The destination connection (a SQLite file or a fresh PostgreSQL database), set in the environment."""
    if request.param == "sqlite":
        use_sqlite_destination(tmp_path, monkeypatch)
        yield DEST_CONN
        return
    conn = airflow_connection(request.getfixturevalue("postgres_url"))
    monkeypatch.setenv(f"AIRFLOW_CONN_{DEST_CONN.upper()}", json.dumps(conn))
    yield DEST_CONN


def use_sqlite_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The destination connection: a fresh SQLite file."""
    conn = {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}
    monkeypatch.setenv(f"AIRFLOW_CONN_{DEST_CONN.upper()}", json.dumps(conn))


def sandbox_env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sandbox_environment({api: sandbox.base_url(api) for api in EXAMPLES}).items():
        monkeypatch.setenv(name, value)


def assert_tables_match_sandbox(
    dag_id: str, engine: sa.Engine, records: int = RECORDS
) -> dict[str, list[dict[str, Any]]]:
    source = load_source(DAGS / f"{dag_id}.yaml")
    attach_sqlite_schema(engine, dag_id)
    snapshot = {}
    for resource in source.selected_resources():
        key = [normalize_identifier(k) for k in resource.primary_key]
        expected = by_key(expected_rows(expected_records(dag_id, resource.name, records=records)), key)
        rows = table_rows(engine, resource.table_name, schema=dag_id)
        landed = by_key(rows, key)
        assert len(rows) == len(landed), f"{dag_id}.{resource.name}: duplicate keys in the table"
        assert landed.keys() == expected.keys(), f"{dag_id}.{resource.name}: different keys"
        for k, row in expected.items():
            assert landed[k] == row, f"{dag_id}.{resource.name} row {k}"
        snapshot[resource.name] = sorted(landed.items(), key=lambda item: repr(item[0]))
    return snapshot


@pytest.mark.airflow
@pytest.mark.parametrize("dag_id", EXAMPLES)
def test_example_dag_lands_exactly_what_the_api_serves(
    dag_id: str, destination: str, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(records=RECORDS) as sandbox:
        sandbox_env(sandbox, monkeypatch)
        first = run_example(dag_id, monkeypatch)
        assert str(first.state) == "success", task_states(first)
        engine = create_destination_engine(conn_id=destination)
        try:
            before = assert_tables_match_sandbox(dag_id, engine)
            second = run_example(dag_id, monkeypatch)
            assert str(second.state) == "success", task_states(second)
            assert assert_tables_match_sandbox(dag_id, engine) == before
        finally:
            engine.dispose()


@pytest.mark.airflow
def test_example_dags_survive_injected_faults(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5% of requests answer 429/5xx, drop the connection or stall: every table still equals the API."""
    use_sqlite_destination(tmp_path, monkeypatch)
    faults = FaultConfig(rate=0.05, retry_after=0, slow_seconds=0.05)
    with SandboxServer(records=FAULT_RECORDS, faults=faults) as sandbox:
        sandbox_env(sandbox, monkeypatch)
        for dag_id in EXAMPLES:
            run = run_example(dag_id, monkeypatch)
            assert str(run.state) == "success", (dag_id, task_states(run))
        injected = dict(sandbox.stats.faults)
    engine = create_destination_engine(conn_id=DEST_CONN)
    try:
        for dag_id in EXAMPLES:
            assert_tables_match_sandbox(dag_id, engine, records=FAULT_RECORDS)
    finally:
        engine.dispose()
    # The faults were real, of more than one kind.
    assert sum(injected.values()) >= 3, injected
    assert len(injected) >= 2, injected


@pytest.mark.airflow
def test_selected_resources_run_and_the_others_are_skipped(
    tmp_path: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sqlite_destination(tmp_path, monkeypatch)
    with SandboxServer(records=RECORDS) as sandbox:
        sandbox_env(sandbox, monkeypatch)
        run = run_example("inbox_testing", monkeypatch, conf={"resources": ["messages"]})
    states = task_states(run)
    assert str(run.state) == "success", states
    assert states.pop("messages") == "success"
    assert set(states.values()) == {"skipped"}


@pytest.mark.airflow
def test_airflow_dags_test_cli_runs_an_example_and_its_output_holds_no_secret(
    tmp_path: Path, airflow_home: Path
) -> None:
    """The query-string key of 002 is in every URL the task requests; the CLI's whole output must lack it."""
    import os
    import subprocess
    import sys

    from airflow_provider_restsync.sandbox import SANDBOX_CREDENTIALS

    env = os.environ.copy()
    env["RESTSYNC_DESTINATION_CONN_ID"] = DEST_CONN
    env[f"AIRFLOW_CONN_{DEST_CONN.upper()}"] = json.dumps(
        {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}
    )
    # Every request fails once (a 500 or a dropped connection) before it succeeds.
    faults = FaultConfig(rate=1.0, kinds=("500", "drop"), retry_after=0)
    with SandboxServer(records=RECORDS, faults=faults) as sandbox:
        env.update(sandbox_environment({"communications": sandbox.base_url("communications")}))
        airflow = str(Path(sys.executable).with_name("airflow"))
        result = subprocess.run(
            [airflow, "dags", "test", "communications"], env=env, capture_output=True, text=True, timeout=300
        )
        assert sum(sandbox.stats.faults.values()) > 0
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "communications_data" in output
    assert SANDBOX_CREDENTIALS["communications"]["api_key"] not in output
    # The hook's retry lines, written in the fetch process, are in the task's log, its key masked.
    retries = [line for line in output.splitlines() if "; retry 1 of" in line]
    assert retries, output[-3000:]
    assert all("api_key=***" in line for line in retries if "api_key" in line), retries
