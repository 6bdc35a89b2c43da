"""The fault matrix: the example DAGs under each fault the sandbox injects, on SQLite and PostgreSQL.

With faults a retry gets through (``max_consecutive=1``), every table must equal what the API served, and
the retries each task reports by cause (``retries_by_cause`` in its XCom summary, and the end of its
summary line, ``...; <n> retries (429: 3, timeout: 1)``) must add up to the faults the sandbox injected.
With faults that outlast the retry policy, the task must fail with an error that names the resource, the
URL (without its secret) and the cause, and leave no row of the failed run in its table.

Each fault kind meets two DAGs (kinds rotate over the DAGs, one per database); the 10% mix of every kind
runs each DAG on both databases. Retries do not wait (``backoff_factor`` 0 in the connection extras,
``Retry-After: 0``), except where an example's own ``error_handler`` says otherwise (inbox_testing waits
5 s before retrying anything but a 429), and Airflow's task retries are off, so a task's one try shows
what the client's retries did.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.sandbox import FAULT_KINDS, SANDBOX_CREDENTIALS, FaultConfig, SandboxServer
from airflow_provider_restsync.sandbox.connections import connection_id, sandbox_connection
from airflow_provider_restsync.sql.destination import attach_sqlite_schema, create_destination_engine
from tests.support.databases import airflow_connection
from tests.support.tables import table_rows
from tests.test_example_dags_e2e import (
    DAGS,
    DEST_CONN,
    EXAMPLES,
    assert_tables_match_sandbox,
    task_states,
    use_sqlite_destination,
)
from tests.test_operator import xcom_summary

RECORDS = 300
MIX_RECORDS = 600  # more pages for the mix to hit
READ_TIMEOUT = 2.0  # comfortably above a loaded machine's answer time for these small pages
SLOW_SECONDS = READ_TIMEOUT + 1.5  # every slow answer comes after the read timeout
RETRY_EXTRAS = {"backoff_factor": 0, "read_timeout": READ_TIMEOUT}
# With rate 0.5 and this seed, communications' first pages are answered (after at most one 503 each)
# and the third gets 503 more often than one retry outlasts.
FAILING_SEED = 1
DATABASES = ("sqlite", "postgres")
# The 10% mix's fault seed per database: between them the two mixes meet every kind, drop included
# (with these, 6 and 7 kinds; about 6 of the 58 requests of the five DAGs fault).
MIX_SEEDS = {"sqlite": 245, "postgres": 325}

#: The cause a client reports for a retry after each fault kind; ``reset`` is either of two.
CAUSE_OF = {
    "429": "429",
    "429-date": "429",
    "500": "500",
    "502": "502",
    "503": "503",
    "504": "504",
    "truncated": "not JSON",
    "html": "not JSON",
    "slow": "timeout",
    "drop": "connection",
}
RESET_CAUSES = ("incomplete body", "connection")
assert set(CAUSE_OF) | {"reset"} == set(FAULT_KINDS)

# The DAGs each kind rotates over. inbox_testing's error_handler retries only 429 among the statuses
# and waits 5 s before any other retry, so it meets the 429s here and everything else in the mix.
ROTATION = ("communications", "mail_testing", "email_service", "email_delivery")
SINGLE_KINDS = ("429-date", "500", "502", "503", "504", "reset", "truncated", "html")


def single_kind_cases() -> list[tuple[str, str, str]]:
    """(kind, dag_id, database): each kind on two DAGs, one per database."""
    cases = [("429", "inbox_testing", database) for database in DATABASES]
    for index, kind in enumerate(SINGLE_KINDS):
        cases.append((kind, ROTATION[index % len(ROTATION)], "sqlite"))
        cases.append((kind, ROTATION[(index + 2) % len(ROTATION)], "postgres"))
    # Each slow request costs a read timeout: the DAGs with the fewest requests.
    cases += [("slow", "mail_testing", "sqlite"), ("slow", "communications", "postgres")]
    return cases


SINGLE_KIND_CASES = single_kind_cases()
# Every kind meets both databases, every DAG meets several kinds.
assert {(kind, db) for kind, _, db in SINGLE_KIND_CASES} == {
    (kind, db) for kind in FAULT_KINDS if kind != "drop" for db in DATABASES
}
assert {dag for _, dag, _ in SINGLE_KIND_CASES} == set(EXAMPLES)

# The end of a task's summary line: "Synced <name> into ...; <n> retries (429: 3, timeout: 1)".
RETRIES_LINE = re.compile(
    r"Synced (?P<name>\S+) into [^\n]*?; (?P<total>[\d,]+) retr(?:y|ies)(?: \((?P<causes>[^)]*)\))?"
)
CAUSE_ITEM = re.compile(r"\s*(?P<cause>[^:,]+?):\s*(?P<count>\d+)\s*")


# -- setting up a run --------------------------------------------------------------------------


def use_destination(
    database: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination connection: a fresh SQLite file or a fresh PostgreSQL database."""
    if database == "sqlite":
        use_sqlite_destination(tmp_path, monkeypatch)
    else:
        conn = airflow_connection(request.getfixturevalue("postgres_url"))
        monkeypatch.setenv(f"AIRFLOW_CONN_{DEST_CONN.upper()}", json.dumps(conn))


def use_sandbox_apis(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, **extras: Any) -> None:
    """The example DAGs' API connections to ``sandbox``, with the matrix's retry settings as extras."""
    for api in EXAMPLES:
        conn = sandbox_connection(api, sandbox.base_url(api))
        existing = conn.get("extra")
        conn["extra"] = {**(existing if isinstance(existing, Mapping) else {}), **RETRY_EXTRAS, **extras}
        monkeypatch.setenv(f"AIRFLOW_CONN_{connection_id(api).upper()}", json.dumps(conn))


def run_once(dag_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Parse the example DAG file as Airflow does and run it with dag.test(), one try per task.

    The examples retry a failed task a minute later; here the first try must show the outcome.
    """
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("RESTSYNC_DESTINATION_CONN_ID", DEST_CONN)
    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert bag.import_errors == {}
    dag = bag.get_dag(dag_id)
    for task in dag.tasks:
        task.retries = 0
    return dag.test()


# -- reading its outcome -------------------------------------------------------------------------


def error_lines(output: str) -> list[str]:
    """The lines of a task log that carry a failed request's error (it starts with the resource)."""
    return [line for line in output.splitlines() if "resource '" in line]


def logged_retries(output: str) -> dict[str, tuple[int, dict[str, int]]]:
    """Each resource's retries as its summary line gives them (``...; <n> retries (cause: count, ...)``):
    the total and the causes."""
    found = {}
    for match in RETRIES_LINE.finditer(output):
        causes = {}
        for item in (match.group("causes") or "").split(","):
            if item.strip():
                parsed = CAUSE_ITEM.fullmatch(item)
                assert parsed is not None, f"unreadable cause {item!r} in {match.group(0)!r}"
                causes[parsed.group("cause")] = int(parsed.group("count"))
        found[match.group("name")] = (int(match.group("total").replace(",", "")), causes)
    return found


def nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {key: value for key, value in counts.items() if value}


def assert_retries_match_faults(run: Any, output: str, injected: Mapping[str, int]) -> None:
    """Summed over the run's tasks, the retries by cause are the faults injected, kind by kind."""
    logged = logged_retries(output)
    total: Counter[str] = Counter()
    for task_id in task_states(run):
        summary = xcom_summary(run, task_id)
        assert "retries_by_cause" in summary, f"{task_id}: no retries_by_cause in the XCom summary {summary}"
        by_cause = nonzero(summary["retries_by_cause"])
        assert sum(by_cause.values()) == summary["retries"], (task_id, summary)
        assert task_id in logged, (
            f'{task_id}: no summary line "Synced {task_id} into ...; <n> retries ..." in the log'
        )
        assert logged[task_id] == (summary["retries"], by_cause), (task_id, logged[task_id], summary)
        total.update(by_cause)
    expected: Counter[str] = Counter()
    for kind, count in injected.items():
        expected[CAUSE_OF.get(kind, "incomplete body or connection")] += count
    # A reset mid-body is either cause, as the client meets it; both are a broken connection.
    got = Counter(total)
    got["incomplete body or connection"] += sum(got.pop(cause, 0) for cause in RESET_CAUSES)
    expected["incomplete body or connection"] += expected.pop("connection", 0)
    assert nonzero(got) == nonzero(expected), f"retries {dict(total)} for injected faults {dict(injected)}"
    assert total["connection"] >= injected.get("drop", 0)


def assert_synced_exactly(dag_id: str, run: Any, output: str, records: int) -> None:
    states = task_states(run)
    failed = {task: state for task, state in states.items() if state != "success"}
    assert str(run.state) == "success" and not failed, (failed, error_lines(output)[-5:])
    engine = create_destination_engine(conn_id=DEST_CONN)
    try:
        assert_tables_match_sandbox(dag_id, engine, records=records)
    finally:
        engine.dispose()


def sync_under_faults(
    dag_id: str,
    faults: FaultConfig,
    records: int,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> dict[str, int]:
    """Run the DAG against a sandbox with ``faults``; check its tables and retries; return the faults."""
    with SandboxServer(records=records, faults=faults) as sandbox:
        use_sandbox_apis(sandbox, monkeypatch)
        capfd.readouterr()
        run = run_once(dag_id, monkeypatch)
        injected = dict(sandbox.stats.faults)
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert_synced_exactly(dag_id, run, output, records)
    assert_retries_match_faults(run, output, injected)
    return injected


# -- the matrix ----------------------------------------------------------------------------------


@pytest.mark.airflow
@pytest.mark.parametrize(
    ("kind", "dag_id", "database"), SINGLE_KIND_CASES, ids=[f"{k}-{d}-{db}" for k, d, db in SINGLE_KIND_CASES]
)
def test_each_fault_kind_is_retried_to_exact_tables_and_counted_by_cause(
    kind: str,
    dag_id: str,
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    airflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Every request of the DAG meets the fault once, then its retry is answered."""
    use_destination(database, request, tmp_path, monkeypatch)
    faults = FaultConfig(rate=1.0, kinds=(kind,), retry_after=0, slow_seconds=SLOW_SECONDS)
    injected = sync_under_faults(dag_id, faults, RECORDS, monkeypatch, capfd)
    assert set(injected) == {kind} and injected[kind] >= 3, injected


@pytest.mark.airflow
@pytest.mark.parametrize("database", DATABASES)
def test_a_ten_percent_mix_of_every_fault_on_every_dag(
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    airflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    use_destination(database, request, tmp_path, monkeypatch)
    faults = FaultConfig(
        rate=0.1, kinds=FAULT_KINDS, retry_after=0, slow_seconds=SLOW_SECONDS, seed=MIX_SEEDS[database]
    )
    met: Counter[str] = Counter()
    problems = {}
    for dag_id in EXAMPLES:
        try:
            met.update(sync_under_faults(dag_id, faults, MIX_RECORDS, monkeypatch, capfd))
        except AssertionError as failure:  # see every DAG's outcome, not only the first one's
            problems[dag_id] = str(failure).splitlines()[:6]
    assert not problems, "\n".join(f"{dag_id}: {' | '.join(lines)}" for dag_id, lines in problems.items())
    assert len(met) >= 5, met  # the mix was real, of several kinds


@pytest.mark.airflow
@pytest.mark.parametrize("database", DATABASES)
def test_faults_outlasting_the_retries_fail_the_task_naming_resource_url_and_cause(
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    airflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """One request, part way through the pages, gets more 503s than one retry outlasts."""
    use_destination(database, request, tmp_path, monkeypatch)
    dag_id, resource = "communications", "communications_data"
    table = load_source(DAGS / f"{dag_id}.yaml").resource(resource).table_name
    faults = FaultConfig(rate=0.5, kinds=("503",), retry_after=0, max_consecutive=5, seed=FAILING_SEED)
    with SandboxServer(records=RECORDS, faults=faults) as sandbox:
        use_sandbox_apis(sandbox, monkeypatch, max_retries=1)
        capfd.readouterr()
        run = run_once(dag_id, monkeypatch)
        log = sandbox.request_log()
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert task_states(run) == {resource: "failed"}
    # It failed part way: pages were answered before the request that got 503 twice in a row.
    statuses = [entry.status for entry in log]
    assert statuses[-2:] == [503, 503] and 200 in statuses[:-2], (statuses, "pick another FAILING_SEED")
    failed = urlsplit(log[-1].target)
    errors = [line for line in error_lines(output) if f"resource '{resource}'" in line]
    assert errors, output[-3000:]
    message = errors[-1]
    assert "503" in message and "2 attempts" in message, message  # max_retries=1: two attempts
    assert failed.path in message, message
    for name, value in parse_qsl(failed.query):  # the very request: its offset and limit
        assert f"{name}={value}" in message, message
    assert SANDBOX_CREDENTIALS[dag_id]["api_key"] not in output
    # The pages read before the failure are not in the table, not even in part.
    engine = create_destination_engine(conn_id=DEST_CONN)
    try:
        attach_sqlite_schema(engine, dag_id)
        assert (
            not sa.inspect(engine).has_table(table, schema=dag_id)
            or table_rows(engine, table, schema=dag_id) == []
        )
    finally:
        engine.dispose()
    # The next run, faults gone, lands exactly the source.
    with SandboxServer(records=RECORDS) as sandbox:
        use_sandbox_apis(sandbox, monkeypatch)
        again = run_once(dag_id, monkeypatch)
    assert_synced_exactly(dag_id, again, "", RECORDS)
