"""Each batch commits atomically, and replace never shows readers an empty or half table."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.errors import LoadError
from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.write import TableWriter
from tests.support.state import checkpoint, read_checkpoint
from tests.test_sql_support import count, data, fetch, model, table_exists


class Injected(RuntimeError):
    """The failure a test injects."""


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_destination_engine(url=database_url)
    yield engine
    engine.dispose()


def fail(conn: sa.Connection) -> None:
    raise Injected("the task was killed between the upsert and the commit")


def refuse_poison(engine: sa.Engine) -> None:
    """Make table ``t`` refuse rows whose text starts with "poison", as only the database can tell."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                sa.text(
                    "CREATE TRIGGER t_refuses_poison BEFORE INSERT ON t WHEN NEW.text LIKE 'poison%' "
                    "BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
                )
            )
        else:
            conn.execute(
                sa.text("ALTER TABLE t ADD CONSTRAINT t_refuses_poison CHECK (text NOT LIKE 'poison%')")
            )


def rows(ids: range, text: str) -> list[dict[str, object]]:
    return [{"id": i, "text": f"{text} {i}", "n": i} for i in ids]


def test_merge_failing_before_commit_leaves_table_and_checkpoint_unchanged(engine: sa.Engine) -> None:
    options = {"resource": "r", "table": "t", "primary_key": "id", "disposition": "merge"}
    with TableWriter(engine, **options) as w:  # type: ignore[arg-type]
        w.write(rows(range(100), "first"), in_transaction=checkpoint(engine, {"page": 1}))
    before = fetch(engine, "t", order_by="id")
    columns_before = set(model(engine, "t").columns)

    writer = TableWriter(engine, **options, run_id="r2", before_commit=fail)  # type: ignore[arg-type]
    changed = [{**row, "text": "changed", "brand_new": True} for row in rows(range(50, 150), "x")]
    with pytest.raises(Injected):
        writer.write(changed, in_transaction=checkpoint(engine, {"page": 2}))

    after = fetch(engine, "t", order_by="id")
    assert [{k: row[k] for k in columns_before} for row in after] == before
    assert read_checkpoint(engine) == {"page": 1}
    if engine.dialect.name == "mysql":  # MySQL commits DDL implicitly: the new column remains, empty
        assert all(row["brand_new"] is None for row in after)
    else:
        assert set(model(engine, "t").columns) == columns_before
    # The same writer goes on once the cause is gone.
    writer._before_commit = None
    result = writer.write(changed, in_transaction=checkpoint(engine, {"page": 2}))
    assert (result.inserted, result.updated) == (50, 50)
    assert count(engine, "t") == 150 and read_checkpoint(engine) == {"page": 2}


@pytest.mark.parametrize("disposition", ["append", "merge"])
def test_value_rejected_mid_batch_rolls_the_batch_back(engine: sa.Engine, disposition: str) -> None:
    writer = TableWriter(engine, resource="r", table="t", primary_key="id", disposition=disposition)
    writer.write(rows(range(10), "kept"))
    refuse_poison(engine)
    before = fetch(engine, "t", order_by="id")
    # Rows of 1 kB: by row 2500 the driver has already sent earlier rows (sqlite3 row by row, PyMySQL
    # in ~1 MB statements, psycopg in COPY chunks), so the failure is in the middle of the batch.
    batch = rows(range(10, 3010), "new " + "x" * 1000)
    batch[2500]["text"] = "poison: the database refuses this row"
    with pytest.raises(LoadError, match="rolled back"):
        writer.write(batch)
    assert fetch(engine, "t", order_by="id") == before


def test_replace_failing_mid_load_keeps_the_old_table(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write(rows(range(5), "old"))
    before = fetch(engine, "t", order_by="id")
    with pytest.raises(Injected), TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write(rows(range(1000), "new"))
        w._before_commit = fail  # the second batch dies before its commit
        w.write(rows(range(1000, 2000), "new"))
    assert fetch(engine, "t", order_by="id") == before
    assert not table_exists(engine, "t__restsync_new")


def test_replace_swap_failure_keeps_the_old_table(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write(rows(range(5), "old"))
    before = fetch(engine, "t", order_by="id")
    writer = TableWriter(engine, resource="r", table="t", disposition="replace")
    writer.write(rows(range(50), "new"))
    with engine.begin() as conn:  # the staging table vanishes under the writer: the swap fails for real
        conn.execute(sa.text("DROP TABLE t__restsync_new"))
    with pytest.raises(LoadError, match="swap"):
        writer.finish(in_transaction=checkpoint(engine, {"page": 9}))
    assert fetch(engine, "t", order_by="id") == before
    assert read_checkpoint(engine) is None


def _reader(url: str, stop: threading.Event, seen: list[int], errors: list[BaseException]) -> None:
    engine = create_destination_engine(url=url)
    try:
        while not stop.is_set():
            try:
                with engine.connect() as conn:
                    seen.append(int(conn.execute(sa.text("SELECT count(*) FROM servers")).scalar_one()))
                    conn.rollback()
            except Exception as error:  # every failure is a finding
                errors.append(error)
                return
    finally:
        engine.dispose()


def test_replace_under_a_concurrent_reader(engine: sa.Engine, database_url: str) -> None:
    with TableWriter(engine, resource="r", table="servers", disposition="replace") as w:
        w.write(rows(range(300), "v1"))
    stop, seen, errors = threading.Event(), [], []
    reader = threading.Thread(target=_reader, args=(database_url, stop, seen, errors))
    reader.start()
    try:
        time.sleep(0.1)
        for size in (500, 300, 700):
            with TableWriter(engine, resource="r", table="servers", disposition="replace") as w:
                for start in range(0, size, 100):
                    w.write(rows(range(start, start + 100), f"v{size}"))
                    time.sleep(0.01)
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(timeout=30)
    assert not errors, errors
    assert len(seen) > 10
    assert set(seen) <= {300, 500, 700}, sorted(set(seen))
    assert data(fetch(engine, "servers", order_by="id"))[-1]["text"] == "v700 699"
