"""The overlapped pipeline: a bounded prefetch thread, pages requested ahead in parallel but taken in
order, merges that leave unchanged rows alone, and JSON written as the json module writes it."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync import json_codec
from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.errors import ApiRequestError, ConfigError
from airflow_provider_restsync.fetch import Fetcher
from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator
from airflow_provider_restsync.prefetch import prefetched
from airflow_provider_restsync.sql.write import TableWriter
from tests.support.api_client import SessionApiClient
from tests.support.http import Request, Response, serve
from tests.test_sql_support import fetch

# --- prefetched -----------------------------------------------------------------------------------


def test_prefetched_keeps_the_order_and_stays_within_its_bound() -> None:
    produced: list[int] = []
    taken: list[int] = []
    ahead: list[int] = []

    def items() -> Iterator[int]:
        for number in range(200):
            produced.append(number)
            ahead.append(len(produced) - len(taken))
            yield number

    for item in prefetched(items(), limit=10, weight=lambda item: 1):
        taken.append(item)
        time.sleep(0.0005)  # a slow consumer: the producer must wait for it
    assert taken == list(range(200))
    # At most `limit` items wait, plus the one being handed over and the one being made.
    assert max(ahead) <= 12


def test_prefetched_raises_the_producers_error_after_what_came_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("page 3 is broken")

    taken = []
    with pytest.raises(ValueError, match="page 3 is broken"):
        for item in prefetched(items(), limit=100):
            taken.append(item)
    assert taken == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer_and_closes_its_iterator() -> None:
    closed = threading.Event()
    made: list[int] = []

    def items() -> Iterator[int]:
        try:
            for number in range(1_000_000):
                made.append(number)
                yield number
        finally:
            closed.set()

    stream = prefetched(items(), limit=5)
    assert next(stream) == 0
    stream.close()
    assert closed.wait(5)
    assert len(made) < 20


def test_an_item_heavier_than_the_bound_still_passes() -> None:
    pages = [list(range(50)), list(range(3))]
    assert list(prefetched(iter(pages), limit=10, weight=len)) == pages


# --- pages requested ahead ------------------------------------------------------------------------

TOTAL = 1_000


class OffsetApi:
    """Offset pages of ``{"data": [...], "total": N}``, a little slow, counting requests in flight."""

    def __init__(self, total: int = TOTAL, *, delay: float = 0.02, fail_at: int | None = None) -> None:
        self.total = total
        self.delay = delay
        self.fail_at = fail_at
        self.in_flight = 0
        self.most_in_flight = 0
        self.offsets: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        offset, limit = int(request.param("offset", "0") or 0), int(request.param("limit", "100") or 100)
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.offsets.append(offset)
        try:
            time.sleep(self.delay)
            if offset == self.fail_at:
                return Response(500, {"error": "boom"})
            rows = [{"id": i} for i in range(offset, min(offset + limit, self.total))]
            return Response(200, {"data": rows, "total": self.total})
        finally:
            with self._lock:
                self.in_flight -= 1


def offset_source(url: str, limit: int = 100) -> Any:
    return load_source(
        {
            "client": {"base_url": url},
            "resources": [
                {
                    "name": "items",
                    "endpoint": {
                        "path": "/items",
                        "data_selector": "data",
                        "paginator": {"type": "offset", "limit": limit, "total_path": "total"},
                    },
                }
            ],
        }
    )


def walk_ids(url: str, concurrency: int, limit: int = 100) -> tuple[list[int], list[Any]]:
    fetcher = Fetcher(SessionApiClient(url), offset_source(url, limit), "items", concurrency=concurrency)
    try:
        pages = list(fetcher.walk({}))
    finally:
        fetcher.close()
    return [record["id"] for page in pages for record in page.records], pages


@pytest.mark.parametrize("concurrency", [2, 4])
def test_pages_below_a_known_total_are_requested_in_parallel_and_taken_in_order(concurrency: int) -> None:
    api = OffsetApi()
    with serve(api) as server:
        ids, pages = walk_ids(server.url, concurrency)
    assert ids == list(range(TOTAL))
    assert [page.position for page in pages] == [{"value": v} for v in range(100, TOTAL, 100)] + [None]
    assert pages[-1].last and not any(page.last for page in pages[:-1])
    # Each page exactly once, none past the total; never more than `concurrency` at once.
    assert sorted(api.offsets) == list(range(0, TOTAL, 100))
    assert 1 < api.most_in_flight <= concurrency


def test_one_request_at_a_time_without_concurrency() -> None:
    api = OffsetApi(delay=0.005)
    with serve(api) as server:
        ids, _ = walk_ids(server.url, 1)
    assert ids == list(range(TOTAL))
    assert api.offsets == list(range(0, TOTAL, 100))
    assert api.most_in_flight == 1


def test_pages_sent_ahead_that_the_paginator_does_not_reach_are_dropped() -> None:
    # The total says 1,000 but the rows end at 350: the empty page at 400 is the last one. Requests
    # already sent for 500 and 600 are answered, and nothing of them is taken.
    class ShrinkingApi(OffsetApi):
        def __call__(self, request: Request) -> Response:
            response = super().__call__(request)
            if response.status == 200:
                response.body["data"] = [row for row in response.body["data"] if row["id"] < 350]
            return response

    api = ShrinkingApi()
    with serve(api) as server:
        ids, pages = walk_ids(server.url, 3)
    assert ids == list(range(350))
    assert len(pages) == 5 and pages[-1].last and pages[-1].records == []
    assert set(range(0, 500, 100)) <= set(api.offsets) <= set(range(0, 700, 100))


def test_an_error_of_a_page_sent_ahead_is_raised_in_its_turn() -> None:
    api = OffsetApi(fail_at=300)
    with serve(api) as server:
        fetcher = Fetcher(SessionApiClient(server.url), offset_source(server.url), "items", concurrency=4)
        taken: list[int] = []
        with pytest.raises(ApiRequestError, match="500"):
            for page in fetcher.walk({}):
                taken.append(page.records[0]["id"])
        fetcher.close()
    assert taken == [0, 100, 200]


def test_a_resumed_sequence_asks_from_its_position_then_goes_parallel() -> None:
    api = OffsetApi()
    with serve(api) as server:
        fetcher = Fetcher(SessionApiClient(server.url), offset_source(server.url), "items", concurrency=4)
        pages = list(fetcher.walk({}, position={"value": 600}))
        fetcher.close()
    assert [r["id"] for page in pages for r in page.records] == list(range(600, TOTAL))
    assert sorted(api.offsets) == [600, 700, 800, 900]


@pytest.mark.parametrize("concurrency", [0, 11, True, 2.5])
def test_the_operator_refuses_a_concurrency_outside_1_to_10(concurrency: Any) -> None:
    source = {"client": {"base_url": "http://127.0.0.1:1"}, "resources": [{"name": "items"}]}
    with pytest.raises(ConfigError, match=r"concurrency must be a whole number from 1 to 10") as raised:
        RestToSqlOperator(task_id="t", conn_id="c", source=source, resource="items", concurrency=concurrency)
    assert "t.concurrency" in str(raised.value)


# --- merges that leave unchanged rows alone -------------------------------------------------------


def rows(count: int, subject: str = "hello") -> list[dict[str, Any]]:
    return [{"id": i, "subject": f"{subject} {i}", "tags": ["a", i], "meta": {}} for i in range(count)]


@pytest.fixture(params=["sqlite", "postgres"])
def merge_engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.Engine]:
    from airflow_provider_restsync.sql.destination import create_destination_engine
    from tests.support.databases import postgres_database

    if request.param == "sqlite":
        engine = create_destination_engine(url=f"sqlite:///{tmp_path}/merge.db")
        yield engine
        engine.dispose()
        return
    with postgres_database() as url:
        engine = create_destination_engine(url=url)
        yield engine
        engine.dispose()


def merge(engine: sa.Engine, records: list[dict[str, Any]], run_id: str) -> Any:
    with TableWriter(
        engine, resource="r", table="t", primary_key="id", disposition="merge", run_id=run_id
    ) as writer:
        return writer.write(records)


def test_a_resync_of_unchanged_rows_writes_nothing_and_says_so(merge_engine: sa.Engine) -> None:
    first = merge(merge_engine, rows(50), "run-1")
    assert (first.inserted, first.updated, first.unchanged) == (50, 0, 0)
    again = merge(merge_engine, rows(50), "run-2")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 50)
    # The rows are the ones the first run wrote: their run id says when they last changed.
    assert {row["_restsync_run_id"] for row in fetch(merge_engine, "t")} == {"run-1"}

    changed = rows(52)
    changed[3]["subject"] = "new"
    changed[7]["tags"] = ["b"]
    third = merge(merge_engine, changed, "run-3")
    assert (third.inserted, third.updated, third.unchanged) == (2, 2, 48)
    stored = {row["id"]: row for row in fetch(merge_engine, "t")}
    assert len(stored) == 52
    assert {i for i, row in stored.items() if row["_restsync_run_id"] == "run-3"} == {3, 7, 50, 51}
    assert stored[3]["subject"] == "new"


def test_a_value_set_to_null_is_a_change(merge_engine: sa.Engine) -> None:
    merge(merge_engine, rows(3), "run-1")
    cleared = rows(3)
    cleared[1]["subject"] = None
    result = merge(merge_engine, cleared, "run-2")
    assert (result.updated, result.unchanged) == (1, 2)
    assert {row["id"]: row["subject"] for row in fetch(merge_engine, "t")}[1] is None


# --- JSON text ------------------------------------------------------------------------------------

VALUES: list[Any] = [
    {"a": 1, "b": [1, "é", None, True, 1.5]},
    [],
    {},
    [{"email": "a@b.c", "name": None}],
    {"big": 2**70, "neg": -(2**64)},
    {1: "int key"},
    {"when": datetime(2024, 1, 2, 3, 4, 5), "day": date(2024, 1, 2)},
    {"control": "a\u0000b\x1f\n\"'\\/", "emoji": "🙂", "rtl": "שלום"},
    {"tuple": (1, 2)},
    {"float": 1e300, "small": 5e-324, "zero": -0.0},
    [[[[[]]]]],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_json_text_is_what_the_json_module_writes(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    for dumps in (json_codec.dumps, json_codec.dumps_strict):  # strict: for values from strict JSON
        assert json.loads(dumps(value)) == json.loads(expected)
        if not any(isinstance(v, float) for v in _leaves(value)):
            assert dumps(value) == expected


@pytest.mark.parametrize("strict", [False, True])
def test_json_columns_of_strict_and_other_batches_hold_the_same_text(strict: bool, tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'j.db'}")
    records = [
        {"id": n, "to": [{"email": f"{n}@b.c", "name": None}], "meta": {"n": n / 3}} for n in range(50)
    ]
    with TableWriter(engine, resource="r", table="t", primary_key="id", disposition="merge") as writer:
        writer.write(records, strict=strict)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql('SELECT id, "to", meta FROM t ORDER BY id').all()
    engine.dispose()
    assert [tuple(row) for row in stored] == [
        (n, json.dumps([{"email": f"{n}@b.c", "name": None}], separators=(",", ":")), f'{{"n":{n / 3!r}}}')
        for n in range(50)
    ]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_json_text_refuses_what_is_not_json(bad: float) -> None:
    with pytest.raises(ValueError):
        json_codec.dumps({"nested": [1, {"x": bad}]})


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value
