"""The compose file's Airflow deployment on this machine (tests/support/stack.py), driven by its REST API.

One stack for the module: PostgreSQL metadata and warehouse, the sandbox, api-server, scheduler,
dag-processor and triggerer with the compose file's environment. The example DAGs are unpaused and
triggered as a user would; every table they fill must equal what the sandbox serves. Nothing is prepared
in the warehouse beforehand: the first runs create their schemas, their tasks in parallel.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.get_provider_info import get_provider_info
from airflow_provider_restsync.sandbox import SANDBOX_CREDENTIALS, expected_records
from airflow_provider_restsync.sandbox.connections import CONNECTION_TYPES
from airflow_provider_restsync.sql.naming import normalize_identifier
from tests.support.stack import LocalStack, StackError
from tests.support.tables import BOOKKEEPING_PREFIX, by_key, comparable, expected_rows, table_rows

pytestmark = pytest.mark.deployment

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"
DEPLOYMENT_DAGS = Path(__file__).resolve().parent / "deployment_dags"
EXAMPLES = ("mail_testing", "email_delivery", "communications", "inbox_testing", "email_service")
UI_DAG, UI_CONN, UI_SCHEMA = "communications_ui_connection", "communications_ui", "communications_ui"
RECORDS = 250
RUN_TIMEOUT = 240.0
RUN_ID = "_restsync_run_id"


@dataclass
class FirstRun:
    """The triggered first run of an example DAG, and how it (and the DAG's other runs) ended."""

    dag_id: str
    run_id: str
    error: str | None = None
    all_runs: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(records=RECORDS, extra_dag_folders=[DEPLOYMENT_DAGS]) as running:
        running.wait_for_dags([*EXAMPLES, UI_DAG])
        yield running
        groups = running.process_groups()
    running.assert_nothing_left(groups)


@pytest.fixture(scope="module")
def warehouse(stack: LocalStack) -> Iterator[sa.Engine]:
    engine = stack.warehouse_engine()
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def first_runs(stack: LocalStack) -> dict[str, FirstRun]:
    """Unpause and trigger all five example DAGs at once; wait for every run of theirs to end.

    Unpausing also schedules each DAG's latest interval, so each DAG runs twice, concurrently, on a
    warehouse with no schema yet. Failures are recorded here and asserted by the tests.
    """
    for dag_id in EXAMPLES:
        stack.unpause(dag_id)
    runs = {dag_id: FirstRun(dag_id, stack.trigger(dag_id)) for dag_id in EXAMPLES}
    for run in runs.values():
        try:
            stack.wait_for_run(run.dag_id, run.run_id, timeout=RUN_TIMEOUT)
        except StackError as error:
            run.error = str(error)
    for run in runs.values():
        try:
            wait_until_idle(stack, run.dag_id)
        except StackError as error:
            run.error = (run.error or "") + f"\nanother run of {run.dag_id}: {error}"
        run.all_runs = stack.runs(run.dag_id)
    return runs


def wait_until_idle(stack: LocalStack, dag_id: str, timeout: float = RUN_TIMEOUT) -> None:
    """Until no run of ``dag_id`` is queued or running; raises if one of them failed."""
    deadline = time.monotonic() + timeout
    while True:
        runs = stack.runs(dag_id)
        active = [run for run in runs if run["state"] not in ("success", "failed")]
        if not active:
            break
        if time.monotonic() > deadline:
            raise StackError(f"{dag_id}: runs still active after {timeout:.0f} s: {active}")
        time.sleep(1)
    for run in runs:
        if run["state"] == "failed":
            states = stack.task_states(dag_id, run["dag_run_id"])
            raise StackError(
                f"run {run['dag_run_id']} failed: {states}\n{stack.failure_logs(dag_id, run['dag_run_id'])}"
            )


# --- what landed -----------------------------------------------------------------------------------


def resources_of(dag_id: str) -> list[Any]:
    return list(load_source(DAGS / f"{dag_id}.yaml").selected_resources())


def key_of(resource: Any) -> list[str]:
    return [normalize_identifier(k) for k in resource.primary_key]


def table_differences(engine: sa.Engine, api: str, resource: Any, schema: str) -> list[str]:
    """How a table differs from what the sandbox serves for ``resource`` (empty: it is equal)."""
    key = key_of(resource)
    expected = by_key(expected_rows(expected_records(api, resource.name, records=RECORDS)), key)
    try:
        rows = table_rows(engine, resource.table_name, schema=schema)
    except sa.exc.NoSuchTableError:
        return [f"{schema}.{resource.table_name}: no such table"]
    landed = by_key(rows, key)
    where = f"{schema}.{resource.table_name}"
    problems = []
    if len(rows) != len(landed):
        problems.append(f"{where}: {len(rows) - len(landed)} duplicate keys")
    if landed.keys() != expected.keys():
        missing, extra = expected.keys() - landed.keys(), landed.keys() - expected.keys()
        problems.append(f"{where}: {len(missing)} rows missing {sorted(missing)[:3]}, {len(extra)} extra")
    problems += [
        f"{where} row {k}: {landed[k]} != {row}"
        for k, row in expected.items()
        if k in landed and landed[k] != row
    ][:3]
    return problems


def run_ids(engine: sa.Engine, schema: str, table: str) -> dict[str, int]:
    """How many rows each run id wrote last."""
    query = sa.text(f'SELECT "{RUN_ID}", count(*) FROM "{schema}"."{table}" GROUP BY 1')
    with engine.connect() as conn:
        return {str(run_id): count for run_id, count in conn.execute(query)}


def needs_first_run(first_runs: Mapping[str, FirstRun], dag_id: str) -> None:
    if first_runs[dag_id].error:
        error = first_runs[dag_id].error
        pytest.fail(f"the first run of {dag_id} failed (test_example_dags_sync_into_fresh_schemas): {error}")


# --- the tests -------------------------------------------------------------------------------------


def test_the_dags_have_no_import_errors(stack: LocalStack) -> None:
    errors = stack.api("GET", "/api/v2/importErrors")
    assert errors["total_entries"] == 0, errors["import_errors"]
    dags = {dag["dag_id"]: dag for dag in stack.api("GET", "/api/v2/dags", params={"limit": 1000})["dags"]}
    assert set(EXAMPLES) | {UI_DAG} <= set(dags)


def test_example_dags_sync_into_fresh_schemas(
    stack: LocalStack, first_runs: dict[str, FirstRun], warehouse: sa.Engine
) -> None:
    """Each example DAG, unpaused and triggered through the REST API, succeeds; its tables equal the API."""
    failed = {dag_id: run.error for dag_id, run in first_runs.items() if run.error}
    problems = [
        problem
        for dag_id in EXAMPLES
        for resource in resources_of(dag_id)
        for problem in table_differences(warehouse, dag_id, resource, schema=dag_id)
    ]
    assert not failed, "\n\n".join(f"{dag_id}: {error}" for dag_id, error in failed.items())
    assert not problems, "\n".join(problems)
    for dag_id, run in first_runs.items():
        states = stack.task_states(dag_id, run.run_id)
        assert set(states) == {resource.name for resource in resources_of(dag_id)}
        assert set(states.values()) == {"success"}, (dag_id, states)
    # The first runs really raced: in some DAG two tasks ran at once on the schema neither had made.
    at_once = {
        dag_id: ran_at_once(stack.task_instances(dag_id, run.run_id)) for dag_id, run in first_runs.items()
    }
    assert any(at_once.values()), f"no two tasks of a first run overlapped: {at_once}"
    # The tasks share a fresh schema, in parallel, two runs per DAG: none may fail even once (the DAGs
    # retry a failed task a minute later, which would hide a race between them).
    retried = {
        f"{dag_id} {run['dag_run_id']} {ti['task_id']} (try {ti['try_number']})": first_try_log(
            stack, dag_id, run["dag_run_id"], ti["task_id"]
        )
        for dag_id in EXAMPLES
        for run in first_runs[dag_id].all_runs
        for ti in stack.task_instances(dag_id, run["dag_run_id"])
        if (ti["try_number"] or 0) > 1
    }
    assert not retried, "tasks failed at their first try:\n" + "\n\n".join(
        f"--- {where} ---\n{log}" for where, log in retried.items()
    )


def ran_at_once(task_instances: list[dict[str, Any]]) -> bool:
    """Whether two of the task instances ran at the same time."""
    spans = sorted((ti["start_date"], ti["end_date"]) for ti in task_instances if ti["start_date"])
    latest_end = None
    for start, end in spans:
        if latest_end is not None and start < latest_end:
            return True
        latest_end = max(latest_end or end, end)
    return False


def first_try_log(stack: LocalStack, dag_id: str, run_id: str, task_id: str, lines: int = 25) -> str:
    text = stack.task_log(dag_id, run_id, task_id, try_number=1)
    errors = [line for line in text.splitlines() if " error " in line or "Error" in line]
    return "\n".join((errors or text.splitlines())[-lines:])


def test_a_run_of_one_resource_skips_the_others(
    stack: LocalStack, first_runs: dict[str, FirstRun], warehouse: sa.Engine
) -> None:
    """conf {"resources": ["servers"]}: only that task runs and only its table changes."""
    dag_id, chosen, other = "email_service", "servers", "domains"
    needs_first_run(first_runs, dag_id)
    wait_until_idle(stack, dag_id)
    resources = {resource.name: resource for resource in resources_of(dag_id)}
    # Rows gone from both tables: the run brings back the chosen table's, not the other's.
    deleted = {name: delete_some_rows(warehouse, dag_id, resources[name]) for name in (chosen, other)}
    other_before = table_rows(warehouse, resources[other].table_name, schema=dag_id)

    run_id = stack.trigger(dag_id, {"resources": [chosen]})
    stack.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)

    states = stack.task_states(dag_id, run_id)
    assert states.pop(chosen) == "success"
    assert set(states.values()) == {"skipped"}, states
    assert table_differences(warehouse, dag_id, resources[chosen], schema=dag_id) == []
    # A merge writes what changed: at least the rows that were missing now carry this run's id.
    assert run_ids(warehouse, dag_id, resources[chosen].table_name).get(run_id, 0) >= deleted[chosen]
    assert table_rows(warehouse, resources[other].table_name, schema=dag_id) == other_before
    assert run_id not in run_ids(warehouse, dag_id, resources[other].table_name)


def test_a_full_refresh_reloads_every_table(
    stack: LocalStack, first_runs: dict[str, FirstRun], warehouse: sa.Engine
) -> None:
    """conf {"full_refresh": true}: every table is reloaded, a row the API no longer serves is gone."""
    dag_id = "email_service"
    needs_first_run(first_runs, dag_id)
    wait_until_idle(stack, dag_id)
    resources = resources_of(dag_id)
    stale = {resource.name: add_stale_row(warehouse, dag_id, resource) for resource in resources}

    run_id = stack.trigger(dag_id, {"full_refresh": True})
    stack.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)

    assert set(stack.task_states(dag_id, run_id).values()) == {"success"}
    for resource in resources:
        assert table_differences(warehouse, dag_id, resource, schema=dag_id) == [], stale[resource.name]
        written = run_ids(warehouse, dag_id, resource.table_name)
        assert list(written) == [run_id], (resource.name, written)


def test_a_connection_saved_by_the_ui_form_drives_a_dag(stack: LocalStack, warehouse: sa.Engine) -> None:
    """The communications API on a connection POSTed as the form saves it: every field at its default."""
    api = "communications"
    conn_type = CONNECTION_TYPES[api]
    form = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
    extra = {name: spec["schema"].get("default") for name, spec in form["conn-fields"].items()}
    assert f"AIRFLOW_CONN_{UI_CONN.upper()}" not in stack.environment
    stack.api(
        "POST",
        "/api/v2/connections",
        {
            "connection_id": UI_CONN,
            "conn_type": conn_type,
            "host": f"{stack.sandbox_url}/{api}",
            "password": SANDBOX_CREDENTIALS[api]["api_key"],
            "extra": json.dumps(extra),
        },
    )
    saved = stack.api("GET", f"/api/v2/connections/{UI_CONN}")
    assert saved["conn_type"] == conn_type

    stack.unpause(UI_DAG)
    run_id = stack.trigger(UI_DAG)
    stack.wait_for_run(UI_DAG, run_id, timeout=RUN_TIMEOUT)

    problems = [
        problem
        for resource in resources_of(api)
        for problem in table_differences(warehouse, api, resource, schema=UI_SCHEMA)
    ]
    assert not problems, "\n".join(problems)
    log = stack.task_log(UI_DAG, run_id, "communications_data")
    assert SANDBOX_CREDENTIALS[api]["api_key"] not in log


def test_task_logs_hold_no_secret_and_no_parent_binding_lines(
    stack: LocalStack, first_runs: dict[str, FirstRun]
) -> None:
    """A child task logs its own work, not its parents' "inferred" binding lines; no log holds a secret."""
    secrets = {value for credentials in SANDBOX_CREDENTIALS.values() for value in credentials.values()}
    secrets = {value for value in secrets if len(value) >= 5 and value != "api"}
    logs: dict[tuple[str, str], str] = {}
    for dag_id, run in first_runs.items():
        for ti in stack.task_instances(dag_id, run.run_id):
            if ti["try_number"]:
                logs[dag_id, ti["task_id"]] = stack.task_log(dag_id, run.run_id, ti["task_id"])
    assert [where for where, text in logs.items() if "Synced " not in text] == []  # real logs, each
    leaks = {where: sorted(s for s in secrets if s in text) for where, text in logs.items()}
    assert {where: found for where, found in leaks.items() if found} == {}

    child = logs.get(("inbox_testing", "messages"))
    assert child, f"no log of inbox_testing.messages: {first_runs['inbox_testing'].error}"
    assert "Synced messages into inbox_testing.messages" in child  # the log of the task's own work
    inferred = [line for line in child.splitlines() if "(inferred)" in line or " bound to " in line]
    assert inferred == []


# --- changing the warehouse behind the DAGs' back --------------------------------------------------


def delete_some_rows(engine: sa.Engine, schema: str, resource: Any, count: int = 2) -> int:
    table = sa.Table(resource.table_name, sa.MetaData(), schema=schema, autoload_with=engine)
    key = [table.c[column] for column in key_of(resource)]
    with engine.begin() as conn:
        doomed = conn.execute(sa.select(*key).order_by(*key).limit(count)).all()
        assert len(doomed) == count
        for values in doomed:
            conn.execute(table.delete().where(*(c == v for c, v in zip(key, values, strict=True))))
    return count


def add_stale_row(engine: sa.Engine, schema: str, resource: Any) -> dict[str, Any]:
    """A copy of a row under a key the API does not serve; returns its key."""
    table = sa.Table(resource.table_name, sa.MetaData(), schema=schema, autoload_with=engine)
    with engine.begin() as conn:
        row = dict(conn.execute(sa.select(table).limit(1)).one()._mapping)
        key = {}
        for column in key_of(resource):
            value = row[column]
            key[column] = value + 10**6 if isinstance(value, int) else f"stale-{value}"
        row.update(key)
        row[RUN_ID] = "stale"
        conn.execute(table.insert().values(**row))
    return {
        column: comparable(value)
        for column, value in key.items()
        if not column.startswith(BOOKKEEPING_PREFIX)
    }
