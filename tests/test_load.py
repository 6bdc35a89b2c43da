"""Load: a 1,000,000-record sync keeps its memory flat, and 20 syncs at once into one database land exactly.

Every sync runs in a process of its own, as on an Airflow worker, against the sandbox in another one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.config import ResourceConfig, load_source
from airflow_provider_restsync.sandbox import expected_records
from airflow_provider_restsync.sandbox.connections import connection_id, sandbox_environment
from airflow_provider_restsync.sql import state as run_state
from airflow_provider_restsync.sql.lock import LOCK_TABLE
from airflow_provider_restsync.sql.naming import normalize_identifier
from benchmarks.runners import RESOURCE
from benchmarks.sync_vs_dlt import API, API_KEY, measure
from tests.support.databases import airflow_connection
from tests.support.load import (
    Checksum,
    SyncJob,
    records_checksum,
    run_at_once,
    sandbox_process,
    table_checksum,
)
from tests.support.tables import by_key, expected_rows, table_rows

pytestmark = pytest.mark.load

DAGS = Path(__file__).resolve().parent.parent / "dags"

# --- a million records, flat memory ---------------------------------------------------------------

LARGE = 1_000_000
SMALL = 100_000
LIMIT = 1_000  # records per page: 1,000 requests for the large sync
# Compared over every row: the key, plain strings, a timestamp, a boolean and a JSON list.
COMPARED = ("id", "subject", "status", "received_at", "track_opens", "recipients")
# A streaming sync's peak is the same at any size, give or take how the allocator's arenas fill (a few
# MB). Keeping only the keys of 1,000,000 records (a set of their ids) would add about 120 MB; the
# records themselves, several GB.
MARGIN_MB = 32
PEAK_LIMIT_MB = 320


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[int, str]]:
    """Reference API 004 serving SMALL and LARGE messages; each keeps its pages once made (about 0.55 KB
    a record), so the second database's sync meets an equally fast server."""
    with (
        sandbox_process(SMALL, max_limit=LIMIT, cache_mb=SMALL * 2 // 1000) as small,
        sandbox_process(LARGE, max_limit=LIMIT, cache_mb=LARGE * 2 // 1000) as large,
    ):
        yield {SMALL: f"{small}/{API}", LARGE: f"{large}/{API}"}


def _until(stop: threading.Event, records: Iterable[Any]) -> Iterator[Any]:
    for record in records:
        if stop.is_set():
            return
        yield record


@pytest.fixture(scope="module")
def expected_large() -> Iterator[Future[Checksum]]:
    """The checksum of the LARGE records the sandbox serves, made in a thread while the syncs run."""
    stop = threading.Event()
    with ThreadPoolExecutor(1) as executor:
        records = _until(stop, expected_records(API, RESOURCE, records=LARGE))
        yield executor.submit(records_checksum, records, COMPARED)
        stop.set()


def _sync(base_url: str, database: str, schema: str | None, run_id: str) -> dict[str, Any]:
    """``benchmarks.runners``' restsync run: the operator in a fresh process, its peak memory measured."""
    result = measure(
        "restsync",
        base_url=base_url,
        api_key=API_KEY,
        limit=LIMIT,
        run_id=run_id,
        database=database,
        schema=schema,
    )
    assert result is not None
    return result


# PostgreSQL only: SQLite's million takes two minutes more of CI for the same streaming path, whose
# memory on SQLite tests/test_fetch_memory.py already bounds (pass "sqlite" here to measure it too).
@pytest.mark.parametrize("kind", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_million_records_sync_in_flat_memory_and_land_exactly(
    kind: str,
    sandboxes: dict[int, str],
    expected_large: Future[Checksum],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    destinations: dict[int, tuple[str, str | None]]
    if kind == "postgres":
        server = request.getfixturevalue("postgres_url")
        destinations = {size: (server, f"load_{size}") for size in (SMALL, LARGE)}
    else:
        destinations = {size: (f"sqlite:///{tmp_path / f'{size}.db'}", None) for size in (SMALL, LARGE)}
    runs = {}
    for size in (SMALL, LARGE):
        started = time.monotonic()
        runs[size] = _sync(sandboxes[size], *destinations[size], run_id=f"load-{size}")
        runs[size]["process_seconds"] = time.monotonic() - started
        print(f"{kind} {size:,} records: {json.dumps(runs[size])}")
    small, large = runs[SMALL], runs[LARGE]
    assert (small["records"], large["records"]) == (SMALL, LARGE)
    assert (small["requests"], large["requests"]) == (SMALL // LIMIT, LARGE // LIMIT)

    assert large["peak_mb"] <= small["peak_mb"] + MARGIN_MB, (
        f"peak {large['peak_mb']:.0f} MB for {LARGE:,} records, {small['peak_mb']:.0f} MB for {SMALL:,}"
    )
    assert large["peak_mb"] < PEAK_LIMIT_MB, f"peak {large['peak_mb']:.0f} MB for {LARGE:,} records"

    url, schema = destinations[LARGE]
    engine = sa.create_engine(url)
    try:
        name = f'"{schema}".{RESOURCE}' if schema else RESOURCE
        with engine.connect() as conn:
            count, distinct = conn.execute(sa.text(f"SELECT count(*), count(DISTINCT id) FROM {name}")).one()
        assert (count, distinct) == (LARGE, LARGE)
        landed = table_checksum(engine, RESOURCE, COMPARED, schema=schema)
    finally:
        engine.dispose()
    assert landed == expected_large.result(timeout=600)


# --- 20 resources at once -------------------------------------------------------------------------

RECORDS = 2_000
EXAMPLES = ("mail_testing", "email_delivery", "communications", "inbox_testing", "email_service")
# The four biggest resources once more, each into a table of its own in one more schema.
COPIES_DAG = "load_copies"
COPIES = (
    ("email_service", "messages"),
    ("email_delivery", "bounces"),
    ("communications", "communications_data"),
    ("mail_testing", "messages"),
)
WAREHOUSE = "load_warehouse"
RUN_ID = "manual__load"


@dataclass(frozen=True)
class Target:
    dag_id: str  # what the run state is kept under
    api: str
    resource: ResourceConfig
    schema: str
    table: str


def concurrent_targets() -> list[Target]:
    """Every top-level resource of the five example configs, each in its API's schema as the example
    DAGs have it (up to six at once into one schema), and four of them again into one more schema."""
    targets = []
    for api in EXAMPLES:
        for resource in load_source(DAGS / f"{api}.yaml").selected_resources():
            if resource.parent is None:  # a child task runs after its parent's, never beside it
                targets.append(Target(api, api, resource, api, resource.table_name))
    for api, name in COPIES:
        resource = load_source(DAGS / f"{api}.yaml").resource(name)
        targets.append(Target(COPIES_DAG, api, resource, COPIES_DAG, f"{api}_{name}"))
    return targets


def with_children(api: str) -> set[str]:
    """The resources of an example config that others take values from."""
    return {r.parent for r in load_source(DAGS / f"{api}.yaml").resources if r.parent is not None}


@pytest.mark.postgres
def test_twenty_resources_synced_at_once_into_one_database_land_exactly(postgres_url: str) -> None:
    targets = concurrent_targets()
    assert len(targets) == 20 and len({(t.schema, t.table) for t in targets}) == 20
    with sandbox_process(RECORDS) as root:
        connections = sandbox_environment({api: f"{root}/{api}" for api in EXAMPLES})
        connections[f"AIRFLOW_CONN_{WAREHOUSE.upper()}"] = json.dumps(airflow_connection(postgres_url))
        jobs = [
            SyncJob(
                dag_id=t.dag_id,
                task_id=f"{t.schema}.{t.table}",
                source=str(DAGS / f"{t.api}.yaml"),
                resource=t.resource.name,
                conn_id=connection_id(t.api),
                destination_conn_id=WAREHOUSE,
                schema=t.schema,
                table_name=t.table,
                run_id=RUN_ID,
                connections=connections,
            )
            for t in targets
        ]
        started = time.monotonic()
        summaries = run_at_once(jobs)
        print(f"20 syncs at once: {time.monotonic() - started:.1f} s")

    engine = sa.create_engine(postgres_url)
    try:
        for t in targets:
            name = f"{t.schema}.{t.table}"
            key = [normalize_identifier(k) for k in t.resource.primary_key]
            expected = by_key(expected_rows(expected_records(t.api, t.resource.name, records=RECORDS)), key)
            rows = table_rows(engine, t.table, schema=t.schema)
            landed = by_key(rows, key)
            assert len(rows) == len(landed), f"{name}: duplicate keys"
            assert landed.keys() == expected.keys(), f"{name}: different keys"
            for k, row in expected.items():
                assert landed[k] == row, f"{name} row {k}"
            summary = summaries[name]
            assert (summary["table"], summary["records"], summary["inserted"]) == (
                t.table,
                len(expected),
                len(expected),
            ), name
            assert (summary["updated"], summary["resumed"]) == (0, False), name
            with engine.connect() as conn:
                stamped = conn.execute(
                    sa.text(f'SELECT DISTINCT _restsync_run_id FROM "{t.schema}"."{t.table}"')
                )
                assert stamped.scalars().all() == [RUN_ID], name
        # The load is what it says: eleven of the syncs move RECORDS records each, the others a few.
        assert sum(summary["records"] == RECORDS for summary in summaries.values()) == 11

        for schema in {t.schema for t in targets}:
            assert_run_state_consistent(engine, schema, [t for t in targets if t.schema == schema])
    finally:
        engine.dispose()


def assert_run_state_consistent(engine: sa.Engine, schema: str, targets: list[Target]) -> None:
    """One completed state row per table synced into ``schema`` and nothing else; no lock left behind;
    parent keys only from the resources with children, from their completed sync, one per record."""
    with engine.connect() as conn:
        states = conn.execute(
            sa.text(
                "SELECT source, resource, table_name, partition_id, state, run_id "
                f'FROM "{schema}"."{run_state.STATE_TABLE}"'
            )
        ).all()
        locks = conn.execute(sa.text(f'SELECT count(*) FROM "{schema}"."{LOCK_TABLE}"')).scalar_one()
        parent_keys = conn.execute(
            sa.text(
                f'SELECT source, resource, sync_id, count(*) FROM "{schema}"."{run_state.PARENT_KEYS_TABLE}" '
                "GROUP BY source, resource, sync_id"
            )
        ).all()
    assert locks == 0, f"{schema}: {locks} lock rows left"
    assert sorted((s.source, s.resource, s.table_name, s.partition_id) for s in states) == sorted(
        (t.dag_id, t.resource.name, t.table, run_state.ROOT) for t in targets
    ), schema
    completed = {}
    for row in states:
        state = row.state if isinstance(row.state, dict) else json.loads(row.state)
        assert row.run_id == RUN_ID, (schema, row)
        assert "sync" not in state and "position" not in state, (schema, row)
        assert state["completed_sync"]["run_id"] == RUN_ID and state["started_run"] == RUN_ID, (schema, row)
        completed[(row.source, row.resource, row.table_name)] = state["completed_sync"]["id"]
    expected_keys = sorted(
        (
            t.dag_id,
            t.resource.name,
            completed[(t.dag_id, t.resource.name, t.table)],
            len(list(expected_records(t.api, t.resource.name, records=RECORDS))),
        )
        for t in targets
        if t.resource.name in with_children(t.api)
    )
    assert sorted(tuple(row) for row in parent_keys) == expected_keys, schema
