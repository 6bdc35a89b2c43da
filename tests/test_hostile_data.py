"""Hostile API data through the real pipeline (a loopback API, RestToSqlOperator, a real database): each
value lands without loss (in its column, a variant column, or the overflow JSON column), or the resource
fails with an error naming it and its URL, leaving the table exactly as it was."""

from __future__ import annotations

import json
import math
import resource
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.errors import PagingError
from tests.support.databases import airflow_connection, mysql_database, postgres_database
from tests.support.http import Request, Response, serve

TOKEN = "hostile-token-77c1a2"
OVERFLOW = "_restsync_overflow"


# --- the pipeline ---------------------------------------------------------------------------------


class PagedApi:
    """``/items?page=N`` serves ``pages[N-1]`` (bytes as they are, the rest as JSON), then empty pages."""

    def __init__(self, pages: Sequence[Any]) -> None:
        self.pages = list(pages)

    def __call__(self, request: Request) -> Response:
        number = int(request.param("page", "1") or 1)
        if number > len(self.pages):
            return Response(200, {"data": []})
        page = self.pages[number - 1]
        if isinstance(page, bytes):
            return Response(200, page)
        return Response(200, json.dumps(page).encode())


def source(url: str, *, selector: str = "data") -> dict[str, Any]:
    return {
        "client": {"base_url": url, "auth": {"type": "bearer"}},
        "resources": [
            {
                "name": "items",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "/items",
                    "data_selector": selector,
                    "error_handler": {"backoff_factor": 0.01},
                    "paginator": {
                        "type": "page_number",
                        "base_page": 1,
                        "page_param": "page",
                        "total_path": None,
                    },
                },
            }
        ],
    }


def destination(url: str) -> dict[str, Any]:
    parts = sa.make_url(url)
    if parts.get_backend_name() == "mysql":
        return {"conn_type": "mysql", "host": parts.host, "port": parts.port, "login": parts.username,
                "schema": parts.database}  # fmt: skip
    return airflow_connection(url)


def sync(db: str, pages: Sequence[Any], monkeypatch: pytest.MonkeyPatch, **options: Any) -> dict[str, Any]:
    """One run of the ``items`` resource of a loopback API serving ``pages``, into ``db``."""
    from airflow.sdk import DAG

    from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator

    monkeypatch.setenv("AIRFLOW_CONN_HOSTILE_DB", json.dumps(destination(db)))
    with serve(PagedApi(pages)) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HOSTILE_API",
            json.dumps({"conn_type": "restsync_bearer", "host": server.url, "password": TOKEN}),
        )
        with DAG(f"hostile_{uuid.uuid4().hex[:8]}", schedule=None):
            task = RestToSqlOperator(
                task_id="items",
                conn_id="hostile_api",
                source=source(server.url, **options),
                resource="items",
                destination_conn_id="hostile_db",
            )
        return task.execute({"run_id": f"run-{uuid.uuid4().hex[:6]}", "params": {}})  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, airflow_home: Path) -> Iterator[str]:
    yield from _database(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def db3(request: pytest.FixtureRequest, tmp_path: Path, airflow_home: Path) -> Iterator[str]:
    """The three databases, for cases that touch storage limits or types."""
    yield from _database(request.param, tmp_path)


def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'hostile.db'}"
    elif kind == "postgres":
        with postgres_database() as url:
            yield url
    else:
        with mysql_database() as url:
            yield url


def read(db: str, table: str = "items") -> list[dict[str, Any]]:
    """Every row of ``table`` by id, bookkeeping columns left out (the overflow column kept)."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            quoted = engine.dialect.identifier_preparer.quote(table)
            rows = conn.exec_driver_sql(f"SELECT * FROM {quoted}").mappings().all()
    finally:
        engine.dispose()
    kept = [{k: v for k, v in row.items() if not k.startswith("_restsync_") or k.startswith(OVERFLOW)}
            for row in rows]  # fmt: skip
    return sorted(kept, key=lambda row: row["id"])


def tables(db: str) -> dict[str, int]:
    """Every table of the database with its row count."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            quote = engine.dialect.identifier_preparer.quote
            return {n: conn.exec_driver_sql(f"SELECT count(*) FROM {quote(n)}").scalar_one() for n in names}
    finally:
        engine.dispose()


def landed(row: dict[str, Any], column: str) -> Any:
    """A field's value as the API sent it: its column's, else its variant column's, decoded."""
    if row.get(column) is not None:
        return _plain(row[column])
    if row.get(f"{column}__v_json_text") is not None:
        return json.loads(row[f"{column}__v_json_text"])
    for name, value in row.items():
        if name.startswith(f"{column}__v_") and value is not None:
            return _plain(_text_variant(value) if name.endswith("__v_text") else value)
    return None


def _text_variant(text: str) -> Any:
    """A text variant holds strings as they are and other values as their JSON text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def overflowed(row: dict[str, Any]) -> dict[str, Any]:
    text = row.get(OVERFLOW) or row.get(f"{OVERFLOW}__v_text")
    if text is None:
        return {}
    return json.loads(text) if isinstance(text, str) else text


def columns_hold(rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    """One data column per field, and each field's values in one of them (whatever its name)."""
    data = [c for c in rows[0] if c != "id"]
    assert len(data) == len(records[0]) - 1
    by_column = sorted(repr([row[c] for row in rows]) for c in data)
    by_field = sorted(repr([record[f] for record in records]) for f in records[0] if f != "id")
    assert by_column == by_field


# --- bodies that are not a list of records: the resource fails, the table stays -------------------

GOOD = {"data": [{"id": 1, "name": "kept"}, {"id": 2, "name": "kept too"}]}
BROKEN = {
    "non_json_body": b"<html><body>502 Bad Gateway</body></html>",
    "json_without_the_list": {"items": [{"id": 9}], "meta": {}},
    "object_instead_of_list": {"data": {"id": 9, "name": "one"}},
    "list_of_scalars": {"data": [1, 2, 3]},
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_body_without_records_fails_the_resource_and_keeps_the_table(
    db: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(db, [GOOD], monkeypatch)
    before, everything = read(db), tables(db)
    # The hostile page is the second: the first page's batch must not land either.
    page_one = {"data": [{"id": 1, "name": "changed"}, {"id": 3, "name": "new"}]}
    with pytest.raises(PagingError) as raised:
        sync(db, [page_one, BROKEN[case]], monkeypatch)
    message = str(raised.value)
    assert "'items'" in message and "/items?page=2" in message
    assert TOKEN not in message
    assert read(db) == before and tables(db) == everything


# --- wide records ---------------------------------------------------------------------------------


def wide(number: int, tag: str) -> dict[str, Any]:
    record: dict[str, Any] = {"id": number}
    for field in range(2000):
        kind = field % 4
        value: Any = [field * number, f"{tag} {field} {'x' * 30}", field / 7 + number, field % 2 == 0][kind]
        record[f"field_{field}"] = value
    return record


def test_a_record_of_2000_fields_lands_whole_with_the_rest_in_the_overflow_column(
    db3: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    records = [wide(n, "first") for n in range(1, 4)]
    with caplog.at_level("WARNING"):
        sync(db3, [{"data": records}], monkeypatch)
    warnings = [r.getMessage() for r in caplog.records if OVERFLOW in r.getMessage()]
    assert len(warnings) == 1 and "'items'" in warnings[0]
    rows = read(db3)
    width = len([c for c in rows[0] if not c.startswith("_restsync_")])
    assert width <= 501  # the family's width, the key included
    assert {"id", "field_0", "field_1"} <= set(rows[0])

    def whole(row: dict[str, Any]) -> dict[str, Any]:
        columns = {k: _plain(v) for k, v in row.items() if not k.startswith("_restsync_")}
        extra = overflowed(row)
        assert not set(columns) & set(extra)
        return {k: bool(v) if isinstance(records[0][k], bool) else v for k, v in {**columns, **extra}.items()}

    assert [whole(row) for row in rows] == records
    assert int(warnings[0].split(": ")[1].split()[0]) == 2001 - width

    # A merge of a changed record rewrites its overflow too; the fields keep their places.
    changed = [wide(2, "second"), wide(4, "second")]
    sync(db3, [{"data": changed}], monkeypatch)
    again = read(db3)
    assert set(again[0]) == set(rows[0])
    assert [whole(row) for row in again] == [records[0], changed[0], records[2], changed[1]]


# --- big pages and deep values --------------------------------------------------------------------


def test_a_30_mb_page_lands_whole(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [{"id": n, "text": f"{n:06d}" + "y" * 10_000} for n in range(3_000)]
    page = json.dumps({"data": records}).encode()
    assert len(page) > 30_000_000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = sync(db, [page], monkeypatch)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert summary["records"] == 3_000
    assert grown_mb < 1_000  # a few copies of the page at most, not one per record
    rows = read(db)
    assert [(row["id"], row["text"]) for row in rows] == [(r["id"], r["text"]) for r in records]


def nested(depth: int) -> Any:
    value: Any = {"leaf": "bottom", "list": [1, None]}
    for level in range(depth - 1):
        value = {"level": level, "next": value} if level % 2 else [value]
    return value


def test_a_value_nested_200_deep_lands_in_its_json_column(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = nested(200)
    sync(db, [{"data": [{"id": 1, "deep": deep}]}], monkeypatch)
    assert landed(read(db)[0], "deep") == deep


# --- values ---------------------------------------------------------------------------------------


def test_unicode_in_values_and_field_names_lands_as_sent(db3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [
        {"id": 1, "emoji 🙂": "🙂🚀 ok", "שם": "שלום עולם", "café": "e\u0301 a\u0308", "名前": "東京"},
        {"id": 2, "emoji 🙂": "👩‍👩‍👧", "שם": "\u202eRTL\u202c", "café": "Z\u0351\u0352", "名前": "大阪"},
    ]
    sync(db3, [{"data": records}], monkeypatch)
    columns_hold(read(db3), records)


def test_nul_characters_land_without_loss(db3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [
        {"id": 1, "text": "a\x00b", "doc": {"k": "x\x00y", "list": ["\x00"]}, "list": ["n\x00", 1]},
        {"id": 2, "text": "plain", "doc": {"k": "plain"}, "list": ["plain"]},
    ]
    sync(db3, [{"data": records}], monkeypatch)
    rows = read(db3)
    for row, record in zip(rows, records, strict=True):
        assert {f: landed(row, f) for f in ("text", "doc", "list")} == {
            f: record[f] for f in ("text", "doc", "list")
        }


def test_lone_surrogates_land_without_loss(db3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Written by hand: a JSON writer would refuse them, and APIs send them all the same.
    body = (
        b'{"data": [{"id": 1, "text": "a\\ud800b", "doc": {"k": "\\udfff"}},'
        b' {"id": 2, "text": "ok", "doc": {}}]}'
    )
    sync(db3, [body], monkeypatch)
    rows = read(db3)
    assert [landed(row, "text") for row in rows] == ["a\ud800b", "ok"]
    assert [landed(row, "doc") for row in rows] == [{"k": "\udfff"}, {}]


def test_huge_integers_1e308_and_negative_zero_keep_their_values(
    db3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        b'{"data": [{"id": 1, "big": 123456789012345678901234567890, "huge": 1e308,'
        b' "zero": -0.0, "neg": -0.0},'
        b' {"id": 2, "big": -18446744073709551617, "huge": -1e308, "zero": 0.5, "neg": 0}]}'
    )
    sync(db3, [body], monkeypatch)
    rows = read(db3)
    # Past what a decimal column holds: the exact digits, as text.
    assert [int(landed(row, "big")) for row in rows] == [
        123456789012345678901234567890,
        -18446744073709551617,
    ]
    assert [landed(row, "huge") for row in rows] == [1e308, -1e308]
    zero = landed(rows[0], "zero")
    assert zero == 0 and math.copysign(1, float(zero)) == -1  # -0.0, not 0.0
    neg = landed(rows[0], "neg")
    assert neg == 0 and math.copysign(1, float(neg)) == -1
    assert landed(rows[1], "neg") == 0


def test_a_field_with_another_type_on_each_page_keeps_every_value(
    db3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values: list[Any] = [7, "seven", {"n": 7}, 7.5, True, [7], "2024-05-01T12:00:00Z"]
    pages = [{"data": [{"id": n, "mixed": value}]} for n, value in enumerate(values, 1)]
    sync(db3, pages, monkeypatch)
    rows = read(db3)
    got = [landed(row, "mixed") for row in rows]
    assert got[:4] == values[:4] and got[5] == [7]
    assert got[4] in (True, 1, "true")  # a bool in a bigint table's text variant reads "true"
    assert str(got[6]).startswith("2024-05-01")


# --- field names ----------------------------------------------------------------------------------

NAMES = {
    "differ_by_case": ["name", "Name", "NAME", "nAmE"],
    "sql_keywords": ["select", "from", "order", "group", "table", "user"],
    "quotes_and_semicolons": ['a"; DROP TABLE x; --', "b'c", "d`e", "f]g; DELETE FROM x", "h\\i"],
    "too_long": [
        "a_field_name_that_is_far_longer_than_any_database_allows_for_a_column_first",
        "a_field_name_that_is_far_longer_than_any_database_allows_for_a_column_second",
        "ü" * 40,
        "ü" * 39 + "x",
    ],
}


@pytest.mark.parametrize("case", sorted(NAMES))
def test_hostile_field_names_get_one_column_each_and_run_nothing(
    db3: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sa.create_engine(db3)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE x (v INTEGER)")
        conn.exec_driver_sql("INSERT INTO x VALUES (1)")
    engine.dispose()
    before = tables(db3)
    fields = NAMES[case]
    records = [{"id": n, **{f: f"{n}:{i}" for i, f in enumerate(fields)}} for n in range(1, 3)]
    sync(db3, [{"data": records}], monkeypatch)
    after = tables(db3)
    assert {k: v for k, v in after.items() if not k.startswith("_restsync") and k != "items"} == before
    assert after["items"] == 2
    columns_hold(read(db3), records)
