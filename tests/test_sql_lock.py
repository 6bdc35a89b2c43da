"""ResourceLock on each real database: one holder at a time, a clear message naming the holder, a retry
of the same task instance taking over, and nothing left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.lock import LOCK_TABLE, ResourceLock, SyncLockedError
from airflow_provider_restsync.sql.state import StateKey

KEY = StateKey("dag", "items", "items")


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_destination_engine(url=database_url)
    yield engine
    engine.dispose()


def lock(engine: sa.Engine, owner: str, *, wait: float = 0.0, scope: str = "") -> ResourceLock:
    return ResourceLock(
        engine, None, KEY, scope=scope, owner=owner, holder=f"run {owner!r}", wait=wait, poll=0.05
    )


def lock_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {LOCK_TABLE}")).scalar_one())


def test_a_second_run_fails_naming_the_holder(engine: sa.Engine) -> None:
    with lock(engine, "dag/items/run-1/-1"):
        with pytest.raises(SyncLockedError) as caught, lock(engine, "dag/items/run-2/-1", wait=0.3):
            pass
        message = str(caught.value)
        assert "run 'dag/items/run-1/-1'" in message and "'items'" in message and "waited 0.3 s" in message
    assert lock_rows(engine) == 0


def test_a_second_run_waits_for_the_first(engine: sa.Engine) -> None:
    order: list[str] = []
    first = lock(engine, "dag/items/run-1/-1")
    first.acquire()

    def second() -> None:
        with lock(engine, "dag/items/run-2/-1", wait=10):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)
    order.append("first done")
    first.release()
    thread.join(timeout=15)
    assert order == ["first done", "second"]
    assert lock_rows(engine) == 0


def test_other_scopes_do_not_wait(engine: sa.Engine) -> None:
    with lock(engine, "dag/items/run-1/-1", scope="w:a"), lock(engine, "dag/items/run-2/-1", scope="w:b"):
        assert lock_rows(engine) == 2


def test_a_killed_holders_retry_takes_over_on_sqlite(sqlite_url: str) -> None:
    """SQLite has no session lock: the row a killed task left is taken over by its own retry at once,
    and by another run only once its heartbeat is stale."""
    engine = create_destination_engine(url=sqlite_url)
    try:
        killed = lock(engine, "dag/items/run-1/-1")
        killed.acquire()  # never released: the process "died"
        with pytest.raises(SyncLockedError):
            lock(engine, "dag/items/run-2/-1", wait=0.2).acquire()
        with lock(engine, "dag/items/run-1/-1"):  # the same task instance, retried
            pass
        assert lock_rows(engine) == 0
        lock(engine, "dag/items/run-1/-1").acquire()
        stale = ResourceLock(
            engine, None, KEY, scope="", owner="dag/items/run-3/-1", holder="x", wait=0.2, stale_after=0.0
        )
        with stale:
            pass
    finally:
        engine.dispose()
