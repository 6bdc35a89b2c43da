"""Write dispositions on each real database: append, merge (upsert, delete-insert), replace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.errors import ConfigError, LoadError, MissingPrimaryKeyError
from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.disposition import WriteDisposition, parse_write_disposition
from airflow_provider_restsync.sql.write import TableWriter
from tests.support.state import checkpoint, read_checkpoint
from tests.test_sql_support import count, data, fetch, model, table_exists


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_destination_engine(url=database_url)
    yield engine
    engine.dispose()


def messages(ids: range, subject: str = "hello") -> list[dict[str, object]]:
    return [{"MessageID": f"m{i:05d}", "Subject": f"{subject} {i}", "Size": i} for i in ids]


def test_append_adds_every_batch(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="events", table="events", run_id="run-1") as writer:
        first = writer.write([{"id": 1, "kind": "a"}, {"id": 1, "kind": "a"}])
        second = writer.write([{"id": 2, "kind": "b"}])
    assert (first.rows, first.inserted, first.updated) == (2, 2, 0)
    assert second.inserted == 1
    rows = fetch(engine, "events", order_by="id")
    assert data(rows) == [{"id": 1, "kind": "a"}, {"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}]
    assert {row["_restsync_run_id"] for row in rows} == {"run-1"}


def test_merge_first_load_then_remerge_changed_and_new_rows(engine: sa.Engine) -> None:
    with TableWriter(
        engine, resource="messages", table="messages", primary_key="MessageID", disposition="merge"
    ) as w:
        first = w.write(messages(range(100)))
    assert (first.inserted, first.updated) == (100, 0)
    assert model(engine, "messages").primary_key == ("message_id",)

    changed = messages(range(50, 150), subject="changed")
    with TableWriter(
        engine,
        resource="messages",
        table="messages",
        primary_key="message_id",
        disposition="merge",
        run_id="r2",
    ) as w:
        second = w.write(changed)
    assert (second.rows, second.inserted, second.updated) == (100, 50, 50)
    rows = fetch(engine, "messages", order_by="message_id")
    assert len(rows) == 150
    assert rows[0]["subject"] == "hello 0" and rows[0]["_restsync_run_id"] == "manual"
    assert rows[50]["subject"] == "changed 50" and rows[50]["_restsync_run_id"] == "r2"
    assert rows[149]["subject"] == "changed 149"


def test_merge_replaces_the_whole_row_and_clears_stale_variants(engine: sa.Engine) -> None:
    key = {"primary_key": "id", "disposition": "merge"}
    with TableWriter(engine, resource="r", table="t", **key) as w:  # type: ignore[arg-type]
        w.write([{"id": 1, "n": 5, "note": "x"}])
        w.write([{"id": 1, "n": "five"}])
    assert data(fetch(engine, "t")) == [{"id": 1, "n": None, "note": None, "n__v_text": "five"}]
    with TableWriter(engine, resource="r", table="t", **key) as w:  # type: ignore[arg-type]
        w.write([{"id": 1, "n": 6}])
    assert data(fetch(engine, "t")) == [{"id": 1, "n": 6, "note": None, "n__v_text": None}]


def test_merge_with_composite_key(engine: sa.Engine) -> None:
    def inbox(account: int, inbox_id: str, name: str) -> dict[str, object]:
        return {"account_id": account, "inbox_id": inbox_id, "name": name}

    options = {"primary_key": ["account_id", "InboxID"], "disposition": "merge"}
    with TableWriter(engine, resource="inboxes", table="inboxes", **options) as w:  # type: ignore[arg-type]
        w.write([inbox(1, "a", "one-a"), inbox(1, "b", "one-b"), inbox(2, "a", "two-a")])
    with TableWriter(engine, resource="inboxes", table="inboxes", **options) as w:  # type: ignore[arg-type]
        result = w.write([inbox(2, "a", "two-a v2"), inbox(2, "b", "two-b")])
    assert (result.inserted, result.updated) == (1, 1)
    assert set(model(engine, "inboxes").primary_key) == {"account_id", "inbox_id"}
    rows = sorted((r["account_id"], r["inbox_id"], r["name"]) for r in fetch(engine, "inboxes"))
    assert rows == [(1, "a", "one-a"), (1, "b", "one-b"), (2, "a", "two-a v2"), (2, "b", "two-b")]


def test_merge_keeps_the_last_of_in_batch_duplicates(engine: sa.Engine) -> None:
    batch = [
        {"id": 1, "v": "first"},
        {"id": 2, "v": "only"},
        {"id": 1, "v": "last"},
        {"id": "1", "v": "text key"},
    ]
    with TableWriter(engine, resource="r", table="dups", primary_key="id", disposition="merge") as w:
        result = w.write(batch)
    assert result.rows == 2
    assert data(fetch(engine, "dups", order_by="id")) == [{"id": 1, "v": "text key"}, {"id": 2, "v": "only"}]


def test_merge_keys_are_case_sensitive_everywhere(engine: sa.Engine) -> None:
    # MySQL's default collation would call "abc" and "ABC" the same key.
    with TableWriter(engine, resource="r", table="codes", primary_key="code", disposition="merge") as w:
        w.write([{"code": "abc", "n": 1}, {"code": "ABC", "n": 2}])
        w.write([{"code": "ABC", "n": 3}])
    assert sorted((r["code"], r["n"]) for r in fetch(engine, "codes")) == [("ABC", 3), ("abc", 1)]


@pytest.mark.parametrize("strategy", ["delete-insert", "upsert"])
def test_merge_strategies_leave_the_same_rows(engine: sa.Engine, strategy: str) -> None:
    disposition = WriteDisposition("merge", strategy)
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition=disposition) as w:
        w.write([{"id": i, "v": "a"} for i in range(10)])
        result = w.write([{"id": i, "v": "b"} for i in range(5, 15)])
    assert (result.inserted, result.updated) == (5, 5)
    rows = fetch(engine, "t", order_by="id")
    assert [r["v"] for r in rows] == ["a"] * 5 + ["b"] * 10


@pytest.mark.parametrize("ids", [(1, 2, 3), ("k1", "k2", "k3")])
def test_merge_onto_an_appended_table_adds_a_unique_index(engine: sa.Engine, ids: tuple[object, ...]) -> None:
    one, two, three = ids
    with TableWriter(engine, resource="r", table="t", primary_key="id") as w:  # append: no key constraint
        w.write([{"id": one, "v": "a"}, {"id": two, "v": "b"}])
    assert model(engine, "t").unique_keys == ()
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as w:
        result = w.write([{"id": two, "v": "B"}, {"id": three, "v": "c"}])
    assert (result.inserted, result.updated) == (1, 1)
    assert model(engine, "t").unique_keys == (("id",),) and model(engine, "t").primary_key == ()
    assert [r["v"] for r in fetch(engine, "t", order_by="id")] == ["a", "B", "c"]
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as w:
        w.write([{"id": three, "v": "C"}])  # a later run finds the index it made
    assert [r["v"] for r in fetch(engine, "t", order_by="id")] == ["a", "B", "C"]


def test_merge_onto_a_table_with_duplicate_keys_says_why_it_cannot(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t") as w:
        w.write([{"id": 1}, {"id": 1}])
    with (
        pytest.raises(LoadError, match="unique index"),
        TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as w,
    ):
        w.write([{"id": 1}])
    assert count(engine, "t") == 2


def test_replace_streams_batches_and_swaps_on_finish(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="servers", disposition="replace") as w:
        w.write([{"id": i, "name": f"old {i}", "legacy": True} for i in range(10)])
    with TableWriter(engine, resource="r", table="servers", disposition="replace") as w:
        w.write([{"id": 1, "name": "new 1"}])
        w.write([{"id": 2, "name": "new 2"}])
        assert count(engine, "servers") == 10  # readers still see the old table
        result = w.finish()
    assert result is not None and result.rows == 2
    rows = fetch(engine, "servers", order_by="id")
    assert data(rows) == [
        {"id": 1, "name": "new 1", "legacy": None},
        {"id": 2, "name": "new 2", "legacy": None},
    ]
    assert not table_exists(engine, "servers__restsync_new")


def test_replace_with_a_primary_key_deduplicates_across_batches(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="replace") as w:
        w.write([{"id": 1, "v": "a"}, {"id": 2, "v": "a"}])
        w.write([{"id": 2, "v": "b"}])
        result = w.finish()
    assert result is not None and result.rows == 2
    assert [r["v"] for r in fetch(engine, "t", order_by="id")] == ["a", "b"]
    assert model(engine, "t").primary_key == ("id",)
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="replace") as w:
        w.write([{"id": 3, "v": "c"}])  # a second swap: the key's name is free again (PostgreSQL)
    assert [r["id"] for r in fetch(engine, "t")] == [3]


def test_empty_replace_leaves_an_empty_table_with_the_columns(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write([{"id": 1, "v": "a"}])
    with TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write([])
    assert count(engine, "t") == 0
    assert {"id", "v", "_restsync_loaded_at"} <= set(model(engine, "t").columns)
    assert "replaced by an empty table" in caplog.text
    with TableWriter(engine, resource="r", table="never_loaded", disposition="replace"):
        pass
    assert table_exists(engine, "never_loaded") and count(engine, "never_loaded") == 0


def test_abort_leaves_the_table_and_drops_the_staging(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write([{"id": 1}])
    with (
        pytest.raises(RuntimeError),
        TableWriter(engine, resource="r", table="t", disposition="replace") as w,
    ):
        w.write([{"id": 2}])
        raise RuntimeError("the API failed on page 2")
    assert [r["id"] for r in fetch(engine, "t")] == [1]
    assert not table_exists(engine, "t__restsync_new")


def test_bookkeeping_columns_on_every_row(engine: sa.Engine) -> None:
    moment = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
    with TableWriter(engine, resource="r", table="t", run_id="scheduled__2024-06-01", loaded_at=moment) as w:
        w.write([{"a": 1}, {"a": 2}])
    rows = fetch(engine, "t")
    assert all(r["_restsync_run_id"] == "scheduled__2024-06-01" for r in rows)
    assert all(r["_restsync_loaded_at"] == moment for r in rows)


def test_checkpoint_is_committed_with_the_batch(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="msgs", table="t", primary_key="id", disposition="merge") as w:
        assert read_checkpoint(engine, resource="msgs") is None
        w.write(
            [{"id": 1}],
            in_transaction=checkpoint(engine, {"cursor": "2024-01-01", "page": 1}, resource="msgs"),
        )
        assert read_checkpoint(engine, resource="msgs") == {"cursor": "2024-01-01", "page": 1}
        w.write([], in_transaction=checkpoint(engine, {"cursor": "2024-01-02", "page": 2}, resource="msgs"))
    assert read_checkpoint(engine, resource="msgs") == {"cursor": "2024-01-02", "page": 2}
    assert read_checkpoint(engine, resource="other") is None


def test_replace_state_written_at_finish_commits_with_the_swap(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write([{"id": 1}])
        w.finish(in_transaction=checkpoint(engine, {"page": 1}))
    assert read_checkpoint(engine) == {"page": 1}
    assert [r["id"] for r in fetch(engine, "t")] == [1]


def test_missing_primary_key_fails_before_anything_is_written(engine: sa.Engine) -> None:
    # Reference API 001: primary_key "id" as written, but messages carry MessageID.
    records = [{"MessageID": "m1", "Subject": "hi", "To": ["a@example.com"]}]
    writer = TableWriter(engine, resource="messages", table="messages", primary_key="id", disposition="merge")
    with pytest.raises(MissingPrimaryKeyError) as raised:
        writer.write(records)
    message = str(raised.value)
    assert "'messages'" in message and "id" in message and "MessageID" in message and "Subject" in message
    assert not table_exists(engine, "messages")


def test_primary_key_matches_api_names_after_normalization(engine: sa.Engine) -> None:
    # Reference API 001's servers carry ID: the configured "id" matches it once normalized.
    with TableWriter(engine, resource="servers", table="servers", primary_key="id", disposition="merge") as w:
        w.write([{"ID": 1, "Name": "a"}, {"ID": 2, "Name": "b"}])
        result = w.write([{"ID": 2, "Name": "B"}])
    assert result.updated == 1
    assert model(engine, "servers").primary_key == ("id",)


def test_one_record_without_its_key_fails_the_whole_batch(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as w:
        w.write([{"id": 0, "v": "kept"}])
        batch = [{"id": i, "v": "new"} for i in range(1, 100)]
        batch[57] = {"v": "no key", "other": 1}
        with pytest.raises(MissingPrimaryKeyError, match="record 57"):
            w.write(batch)
    assert data(fetch(engine, "t")) == [{"id": 0, "v": "kept"}]


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="unknown write disposition 'upsert'") as caught:
        parse_write_disposition("upsert", "resources[0].write_disposition")
    assert caught.value.key_path == "resources[0].write_disposition"
    with pytest.raises(ConfigError, match="not supported yet") as caught:
        parse_write_disposition({"disposition": "merge", "strategy": "scd2"}, "w")
    assert caught.value.key_path == "w.strategy"
    assert parse_write_disposition({"disposition": "replace"}, "w") == WriteDisposition("replace", "upsert")
    with pytest.raises(ConfigError, match="unknown write disposition"):
        WriteDisposition("upsert")


def test_merge_without_a_primary_key_is_refused_not_appended(engine: sa.Engine) -> None:
    with pytest.raises(ConfigError, match="needs a primary key") as caught:
        TableWriter(engine, resource="r", table="t", disposition="merge")
    assert caught.value.key_path == "primary_key"
    assert not table_exists(engine, "t")


def test_replace_keeps_old_columns_nullable_and_makes_the_key_again(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as w:
        w.write([{"id": 1, "v": "a"}])
    with TableWriter(engine, resource="r", table="t", disposition="replace") as w:
        w.write([{"v": "no id any more"}])
    assert data(fetch(engine, "t")) == [{"id": None, "v": "no id any more"}]
    assert model(engine, "t").primary_key == ()


def test_a_snake_case_primary_key_finds_its_field_under_direct_naming(engine: sa.Engine) -> None:
    # primary_key: id with records carrying "ID": under direct naming the column is "ID", and the key too.
    with TableWriter(
        engine, resource="r", table="t", primary_key="id", disposition="merge", naming="direct"
    ) as w:
        w.write([{"ID": 1, "Name": "a"}, {"ID": 2, "Name": "b"}])
        result = w.write([{"ID": 2, "Name": "renamed"}, {"ID": 3, "Name": "c"}])
    assert (result.inserted, result.updated) == (1, 1)
    assert sorted((r["ID"], r["Name"]) for r in fetch(engine, "t")) == [(1, "a"), (2, "renamed"), (3, "c")]
    assert model(engine, "t").primary_key == ("ID",)


def test_a_primary_key_matching_two_fields_says_so(engine: sa.Engine) -> None:
    with (
        TableWriter(
            engine, resource="r", table="t", primary_key="id", disposition="merge", naming="direct"
        ) as w,
        pytest.raises(LoadError, match="matches the fields 'ID', 'Id'"),
    ):
        w.write([{"ID": 1, "Id": 2}])
    assert not table_exists(engine, "t")


def test_a_key_hinted_in_columns_merges(engine: sa.Engine) -> None:
    from airflow_provider_restsync.config import load_source

    config = {
        "resources": [{"name": "t", "write_disposition": "merge", "columns": {"uid": {"primary_key": True}}}]
    }
    resource = load_source(config).resource("t")
    with TableWriter(
        engine,
        resource="t",
        table="t",
        primary_key=resource.primary_key,
        disposition=resource.write_disposition,
        columns=resource.columns,
    ) as w:
        w.write([{"uid": "a", "v": 1}])
        result = w.write([{"uid": "a", "v": 2}])
    assert (result.inserted, result.updated) == (0, 1)
    assert data(fetch(engine, "t")) == [{"uid": "a", "v": 2}]


@pytest.mark.parametrize(
    "disposition", ["append", "merge", WriteDisposition("merge", "delete-insert"), "replace"]
)
def test_batches_of_one_shape_reuse_their_compiled_statements(engine: sa.Engine, disposition: object) -> None:
    """Memory stays flat however many batches a sync writes: once the first batches have compiled
    the statements (the table's, the run state's), later batches of the same columns find them in
    SQLAlchemy's statement cache instead of adding copies to it."""

    def batch(number: int) -> None:
        rows = [{"id": number * 10 + i, "kind": "a", "tags": [i]} for i in range(10)]
        writer.write(rows, in_transaction=checkpoint(engine, {"page": number}))

    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition=disposition) as writer:
        for number in range(3):
            batch(number)
        compiled = len(engine._compiled_cache)  # type: ignore[attr-defined]
        for number in range(3, 12):
            batch(number)
        assert len(engine._compiled_cache) == compiled  # type: ignore[attr-defined]
    assert count(engine, "t") == 120
    assert read_checkpoint(engine) == {"page": 11}


@pytest.mark.parametrize("disposition", ["merge", "append", "replace"])
def test_colliding_fields_keep_their_columns_across_runs(database_url: str, disposition: str) -> None:
    """A field seen alone in one run (``a-b`` -> ``a_b``) keeps that column in a later run that also
    brings the field whose API name is ``a_b``: the table's recorded map decides, not arrival order."""
    engine = create_destination_engine(url=database_url)
    try:
        options: dict[str, Any] = {
            "resource": "r",
            "table": "t",
            "primary_key": "id",
            "disposition": disposition,
        }
        with TableWriter(engine, **options) as first:
            first.write([{"id": 1, "a-b": "dash 1"}])
        with TableWriter(engine, **options) as second:
            second.write([{"id": 2, "a_b": "underscore 2", "a-b": "dash 2"}])
        with TableWriter(engine, **options) as third:  # the underscore field's tagged column holds too
            third.write([{"id": 3, "a_b": "underscore 3"}])
        rows = {row["id"]: row for row in data(fetch(engine, "t", order_by="id"))}
        tagged = next(column for column in rows[3] if column.startswith("a_b_"))
        assert rows[3]["a_b"] is None and rows[3][tagged] == "underscore 3"
        if disposition != "replace":
            assert rows[1]["a_b"] == "dash 1" and rows[1][tagged] is None
            assert rows[2]["a_b"] == "dash 2" and rows[2][tagged] == "underscore 2"
    finally:
        engine.dispose()
