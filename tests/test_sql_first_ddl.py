"""First-time DDL under parallel tasks: the tasks of a DAG's first run start together and all create
the same schema and bookkeeping tables, each its own table; none may fail for losing that race."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.lock import ResourceLock
from airflow_provider_restsync.sql.state import StateKey, ensure_state_tables
from airflow_provider_restsync.sql.write import TableWriter

WORKERS = 8


def _all_at_once(work: Callable[[int], Any]) -> list[BaseException]:
    """Run ``work(i)`` in WORKERS threads released together; return what they raised."""
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.mark.parametrize("round_", range(3))
@pytest.mark.parametrize("server", ["postgres_url", "mysql_url"])
def test_parallel_first_syncs_into_a_fresh_schema_all_succeed(
    request: pytest.FixtureRequest, server: str, round_: int
) -> None:
    """SQLite has no schemas to race on (its schemas are attached files, one writer at a time)."""
    engine = create_destination_engine(url=request.getfixturevalue(server))
    schema = f"fresh_{uuid.uuid4().hex[:8]}_{round_}"  # on MySQL a database beside the test's own
    # Every statement that lost the race, even one a retry got over: a failed task in waiting. (Other
    # errors are SQLAlchemy's own probes, such as MySQL's has_table answering 1146 for a missing table.)
    lost: list[str] = []

    def on_error(context: Any) -> None:
        text = str(context.original_exception)
        if "already exists" in text or "duplicate key" in text.lower() or "database exists" in text:
            lost.append(text)

    sa.event.listen(engine, "handle_error", on_error)

    def first_sync(index: int) -> None:
        key = StateKey("dag", f"resource_{index}", f"table_{index}")
        with ResourceLock(engine, schema, key, scope="all", owner=f"o{index}", holder=f"task {index}"):
            ensure_state_tables(engine, schema)
            with TableWriter(
                engine,
                resource=f"resource_{index}",
                table=f"table_{index}",
                primary_key="id",
                disposition="merge",
                schema=schema,
            ) as writer:
                writer.write([{"id": 1, "value": index}])

    try:
        assert _all_at_once(first_sync) == []
        assert lost == []
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names(schema=schema))
            assert {f"table_{i}" for i in range(WORKERS)} <= tables
            for index in range(WORKERS):
                assert (
                    conn.execute(sa.text(f"SELECT value FROM {schema}.table_{index}")).scalar_one() == index
                )
    finally:
        with engine.begin() as conn:
            if engine.dialect.name != "postgresql":  # PostgreSQL's goes with the test's database
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{schema}`"))
        engine.dispose()
