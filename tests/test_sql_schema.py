"""Schema on each real database: inferred and hinted types, evolution, variants, names, JSON, nesting."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.hints import parse_column_hints
from airflow_provider_restsync.sql.naming import NamingConvention
from airflow_provider_restsync.sql.write import TableWriter
from tests.support.state import checkpoint, read_checkpoint
from tests.test_sql_support import column_types, data, fetch, model


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_destination_engine(url=database_url)
    yield engine
    engine.dispose()


def test_types_are_inferred_from_the_data(engine: sa.Engine) -> None:
    record = {
        "id": 1,
        "name": "Ada",
        "score": 9.5,
        "active": True,
        "created_at": "2024-05-01T12:30:00+02:00",
        "day": "2024-05-01",
        "meta": {"plan": "pro", "tags": ["a", "b"]},
        "items": [{"sku": "x", "qty": 2}],
        "nothing": None,
    }
    with TableWriter(engine, resource="r", table="people") as w:
        w.write([record])
    types = column_types(engine, "people")
    assert {k: v for k, v in types.items() if not k.startswith("_restsync_")} == {
        "id": "bigint",
        "name": "text",
        "score": "double",
        "active": "bool",
        "created_at": "timestamp",
        "day": "text",
        "meta": "json",
        "items": "json",
    }  # "nothing" has no type yet, so no column (as dlt)
    (row,) = fetch(engine, "people")
    assert row["created_at"] == datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)
    assert row["meta"] == {"plan": "pro", "tags": ["a", "b"]} and row["items"] == [{"sku": "x", "qty": 2}]
    assert row["active"] is True and row["score"] == 9.5


def test_column_hints_set_types(engine: sa.Engine) -> None:
    hints = {
        "Amount": {"data_type": "decimal", "precision": 12, "scale": 2},
        "day": {"data_type": "date"},
        "code": {"data_type": "text"},
        "count": {"data_type": "bigint"},
        "payload": {"data_type": "complex"},
        "declared_only": {"data_type": "bool"},
    }
    record = {"Amount": "12.50", "day": "2024-02-29", "code": 7, "count": "42", "payload": "just text"}
    columns = parse_column_hints(hints, "columns")
    with TableWriter(engine, resource="r", table="hinted", columns=columns) as w:
        w.write([record])
    types = column_types(engine, "hinted")
    assert types["amount"] == "decimal" and types["day"] == "date" and types["code"] == "text"
    assert types["count"] == "bigint" and types["payload"] == "json" and types["declared_only"] == "bool"
    (row,) = fetch(engine, "hinted")
    assert row["amount"] == Decimal("12.50") and row["day"] == date(2024, 2, 29)
    assert row["code"] == "7" and row["count"] == 42
    assert row["payload"] is None and row["payload__v_text"] == "just text"


def test_new_fields_add_columns_and_vanished_fields_stay_nullable(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as w:
        w.write([{"id": i, "a": i} for i in range(3)])
        result = w.write([{"id": 10, "b": "new"}])
    assert result.new_columns == ["b"]
    rows = {r["id"]: r for r in data(fetch(engine, "t"))}
    assert rows[0] == {"id": 0, "a": 0, "b": None}  # existing rows untouched by ALTER TABLE
    assert rows[10] == {"id": 10, "a": None, "b": "new"}
    assert all(spec.nullable for name, spec in model(engine, "t").columns.items() if name != "id")


def test_values_that_do_not_fit_go_to_variant_columns_and_nothing_is_lost(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    first = [{"id": 1, "n": 5, "when": "2024-01-01T00:00:00Z", "flag": True, "meta": {"a": 1}}]
    later = [
        {"id": 2, "n": "not a number", "when": "someday", "flag": "maybe", "meta": 7},
        {"id": 3, "n": 2.5, "when": 1700000000, "flag": 1, "meta": None},
        {"id": 4, "n": {"nested": True}, "when": None, "flag": False, "meta": [1]},
        {"id": 5, "n": "2024-02-02T00:00:00Z"},
        {"id": 6, "n": 2**70},
    ]
    with TableWriter(engine, resource="typed", table="t", primary_key="id", disposition="merge") as w:
        w.write(first)
        result = w.write(later)
    assert "variant column" in caplog.text and "'typed'" in caplog.text
    assert result.variant_values == 10
    rows = {r["id"]: r for r in fetch(engine, "t")}
    assert rows[2]["n"] is None and rows[2]["n__v_text"] == "not a number"
    assert rows[3]["n__v_double"] == 2.5
    assert rows[4]["n__v_json"] == {"nested": True}
    assert rows[5]["n__v_timestamp"] == datetime(2024, 2, 2, tzinfo=timezone.utc)
    if engine.dialect.name == "sqlite":  # 22 digits: more than SQLite's NUMERIC keeps
        assert rows[6]["n__v_text"] == str(2**70)
    else:
        assert rows[6]["n__v_decimal"] == Decimal(2**70)
    assert rows[2]["when__v_text"] == "someday" and rows[3]["when__v_bigint"] == 1700000000
    assert rows[2]["flag__v_text"] == "maybe" and rows[3]["flag__v_bigint"] == 1 and rows[4]["flag"] is False
    assert rows[2]["meta__v_bigint"] == 7 and rows[4]["meta"] == [1]
    types = column_types(engine, "t")
    assert types["n"] == "bigint" and types["n__v_text"] == "text" and types["n__v_json"] == "json"


def test_lossless_coercions_do_not_make_variants(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="t") as w:
        w.write([{"n": 1, "s": "a"}])
        result = w.write([{"n": "2", "s": 3}])
    assert result.variant_values == 0
    assert [(r["n"], r["s"]) for r in fetch(engine, "t", order_by="n")] == [(1, "a"), (2, "3")]


HOSTILE = [
    'x"; drop table y; --',
    "Robert'); DROP TABLE students;--",
    "a b",
    "A-B",
    "a_b",
    "with%percent",
    "colon:name",
    "select",
    "ünïcödé",
    "",
    "_restsync_run_id",
    "back`tick",
    "back\\slash",
    "tab\tand\nnewline",
    "Very" + "LongFieldName" * 8,
    "Very" + "LongFieldName" * 8 + "2",
]


@pytest.mark.parametrize("naming", ["snake_case", "direct"])
def test_hostile_and_colliding_names_become_safe_columns(engine: sa.Engine, naming: str) -> None:
    record = {name: f"value {i}" for i, name in enumerate(HOSTILE)}
    record["id"] = "k"
    with TableWriter(engine, resource="r", table="hostile; drop", naming=naming) as w:
        w.write([record])
    tables = sa.inspect(engine).get_table_names()
    table = next(name for name in tables if name.startswith("hostile"))
    (row,) = fetch(engine, table)
    stored = sorted(value for name, value in row.items() if not name.startswith("_restsync_l"))
    assert stored == sorted([*record.values(), "manual"])  # every value, each in its own column
    limit = {"postgresql": 63, "mysql": 64}.get(engine.dialect.name, 10_000)
    assert all(len(name.encode()) <= limit for name in row)
    # The same input gives the same names in a later run.
    with TableWriter(engine, resource="r", table="hostile; drop", naming=naming) as w:
        w.write([record])
    assert len(fetch(engine, table)) == 2
    assert set(model(engine, table).columns) == set(row)


def test_json_round_trip(engine: sa.Engine) -> None:
    nested = {
        "text": 'ünïcödé ✓ "quoted" \\ back',
        "numbers": [0, -1, 1.5, 12345678901234567890, 1e-7],
        "flags": [True, False, None],
        "empty": {"obj": {}, "arr": []},
        "deep": {"a": {"b": {"c": {"d": [1, {"e": "f"}]}}}},
    }
    with TableWriter(engine, resource="r", table="docs") as w:
        w.write([{"id": 1, "doc": nested, "list": [nested, nested]}])
    (row,) = fetch(engine, "docs")
    assert row["doc"] == nested and row["list"] == [nested, nested]


def test_max_table_nesting_flattens_objects_like_dlt(engine: sa.Engine) -> None:
    record = {
        "ID": 1,
        "Metadata": {"Plan": "pro", "Limits": {"Daily": 10}},
        "Tags": ["a"],
        "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "Custom"},
    }
    with TableWriter(engine, resource="r", table="flat", max_table_nesting=1) as w:
        w.write([record])
    (row,) = data(fetch(engine, "flat"))
    # 66 characters: PostgreSQL (63) gets dlt's shortened form.
    long_name = NamingConvention.for_dialect("snake_case", engine.dialect.name).normalize_field(
        ("SubscriptionManagementConfiguration", "UnsubscribeHandlingType")
    )
    assert long_name.startswith("subscription_management_conf")
    assert row == {
        "id": 1,
        "metadata__plan": "pro",
        "metadata__limits": {"Daily": 10},  # deeper than the nesting level: JSON
        "tags": ["a"],
        long_name: "Custom",
    }
    with TableWriter(engine, resource="r", table="nested") as w:  # default: nested data stays JSON
        w.write([record])
    assert data(fetch(engine, "nested"))[0]["metadata"] == record["Metadata"]


def test_schema_is_created_and_used(engine: sa.Engine) -> None:
    name = f"restsync_schema_{uuid.uuid4().hex[:8]}"
    try:
        with TableWriter(
            engine, resource="r", table="t", schema=name, primary_key="id", disposition="merge"
        ) as w:
            w.write([{"id": 1}], in_transaction=checkpoint(engine, {"page": 1}, schema=name))
            assert read_checkpoint(engine, schema=name) == {"page": 1}
        assert [r["id"] for r in fetch(engine, "t", schema=name)] == [1]
        assert "t" not in sa.inspect(engine).get_table_names()
    finally:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(sa.schema.DropSchema(name, cascade=True, if_exists=True))
        elif engine.dialect.name == "mysql":
            with engine.begin() as conn:
                conn.execute(sa.schema.DropSchema(name, if_exists=True))


def test_scalar_records_land_in_a_value_column_as_dlt(engine: sa.Engine) -> None:
    with TableWriter(engine, resource="r", table="tags") as w:
        w.write(["red", "green"])  # type: ignore[list-item]
    assert [r["value"] for r in fetch(engine, "tags", order_by="value")] == ["green", "red"]


def test_a_schema_on_sqlite_is_an_attached_database_beside_the_main_file(tmp_path: Path) -> None:
    from airflow_provider_restsync.sql.destination import attach_sqlite_schema

    engine = create_destination_engine(url=f"sqlite:///{tmp_path / 'main.db'}")
    for schema in ("first", "second"):
        writer = TableWriter(engine, resource="items", table="items", primary_key=["id"], schema=schema)
        writer.write([{"id": 1, "source": schema}])
        writer.finish()
    engine.dispose()
    assert (tmp_path / "main__first.db").exists() and (tmp_path / "main__second.db").exists()
    reader = create_destination_engine(url=f"sqlite:///{tmp_path / 'main.db'}")
    attach_sqlite_schema(reader, "first")
    attach_sqlite_schema(reader, "second")
    with reader.connect() as conn:
        for schema in ("first", "second"):
            rows = conn.execute(sa.text(f'SELECT id, source FROM "{schema}".items')).all()
            assert [tuple(r) for r in rows] == [(1, schema)]
        assert "items" not in sa.inspect(conn).get_table_names()
    reader.dispose()
