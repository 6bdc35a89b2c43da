"""dlt's ``incremental`` setting, from the config to the cursor committed by real Airflow runs.

What this file proves, against real parts only (a real HTTP server, real SQLite and PostgreSQL, real
``dag.test()`` runs; nothing of requests, urllib3 or the databases is mocked):

1. Config: both of dlt's forms (``endpoint.incremental`` and a param of ``type: incremental``) parse into
   the same :class:`IncrementalSpec`; every dlt key lands in it; every mistake is a ``ConfigError`` whose
   ``key_path`` names the key. dlt's own test configs with an incremental parse, and a sync of them against a
   loopback server sends ``since`` (and, without an ``end_value``, no ``until``) as dlt would.
2. :mod:`cursor`: how cursor values compare (``Z`` = ``+00:00``, dates, numbers, errors naming both values),
   how lag moves them, and which records one run's window keeps (ranges, missing cursors, the boundary
   hashes that stop a closed start from loading a record twice), and where the cursor ends up.
3. Airflow runs of the DAGs of tests/dags/incremental_checks.py against the sandbox's mutable ``changing``
   API, on SQLite and PostgreSQL: the first run loads everything; the next asks from the committed cursor
   (seen in ``_restsync_state`` and in the sandbox's request log) and fetches only what changed; a quiet run
   costs one request; ``full_refresh`` reloads from ``initial_value`` and resets the state; both config forms
   behave the same; ``range_start: open`` and ``on_cursor_value_missing`` act in real runs.
4. Data-interval windows (``allow_external_schedulers``): two adjacent hourly runs of
   ``inc_interval_hourly`` ask for exactly their data interval, the windows are disjoint, and the table ends
   up with the items of both. ``dag.test(logical_date=L)`` on a ``DeltaDataIntervalTimetable(1h)`` runs the
   interval ``[L - 1h, L)`` (its ``infer_manual_data_interval``). ``inc_interval``'s
   ``schedule=timedelta(hours=1)`` is a DeltaTriggerTimetable in Airflow 3: every run's interval is empty,
   and such runs must still not reload everything from ``initial_value`` each time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.cursor import (
    CursorWindow,
    compare,
    lagged,
    moment_value,
    open_window,
    record_hash,
)
from airflow_provider_restsync.errors import ConfigError, PagingError
from airflow_provider_restsync.incremental import IncrementalSpec
from airflow_provider_restsync.runs import RunInfo
from airflow_provider_restsync.sandbox import SandboxServer
from airflow_provider_restsync.sandbox.auth import SANDBOX_CREDENTIALS
from airflow_provider_restsync.sql import state as run_state
from airflow_provider_restsync.sql.write import TableWriter
from airflow_provider_restsync.sync import ResourceSync
from tests.support.api_client import SessionApiClient
from tests.support.databases import airflow_connection
from tests.support.http import Request, Response, serve
from tests.support.tables import by_key, expected_rows, table_rows
from tests.test_operator import xcom_summary

DAG_FILE = Path(__file__).parent / "dags" / "incremental_checks.py"
INITIAL = "2024-01-01T00:00:00Z"  # the initial_value of the DAGs of incremental_checks.py
SINCE = "2024-01-25T11:21:28Z"  # the initial_value of dlt's test configs
Starter = Callable[[int], SandboxServer]


# =====================================================================================================
# 1. Config: both forms, every key, every error, dlt's own configs
# =====================================================================================================


def one_endpoint(**endpoint: Any) -> dict[str, Any]:
    return {
        "client": {"base_url": "https://api.example.com"},
        "resources": [{"name": "posts", "endpoint": {"path": "posts", **endpoint}}],
    }


def spec_of(config: Mapping[str, Any], resource: str = "posts") -> IncrementalSpec | None:
    return load_source(config).resource(resource).endpoint.incremental


def config_error(config: Mapping[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_source(config)
    return caught.value


# dlt's own test configs with an incremental (dlt-hub/dlt tests/sources/rest_api/configurations).
DLT_PARAM_FORM: dict[str, Any] = {
    "client": {"base_url": "https://api.example.com"},
    "resources": [
        {
            "name": "posts",
            "endpoint": {
                "path": "posts",
                "params": {
                    "limit": 100,
                    "since": {"type": "incremental", "cursor_path": "updated_at", "initial_value": SINCE},
                },
                "paginator": "json_link",
            },
        }
    ],
}
DLT_ENDPOINT_FORM: dict[str, Any] = {
    "client": {"base_url": "https://api.example.com"},
    "resources": [
        {
            "name": "posts",
            "endpoint": {
                "path": "posts",
                "params": {"limit": 100},
                "paginator": "json_link",
                "incremental": {
                    "start_param": "since",
                    "end_param": "until",
                    "cursor_path": "updated_at",
                    "initial_value": SINCE,
                },
            },
        }
    ],
}


def test_both_dlt_forms_parse_into_the_same_spec() -> None:
    param_form = one_endpoint(
        params={
            "limit": 10,
            "since": {"type": "incremental", "cursor_path": "meta.updated_at", "initial_value": SINCE},
        }
    )
    endpoint_form = one_endpoint(
        params={"limit": 10},
        incremental={"start_param": "since", "cursor_path": "meta.updated_at", "initial_value": SINCE},
    )
    expected = IncrementalSpec(cursor_path="meta.updated_at", initial_value=SINCE, start_param="since")
    assert spec_of(param_form) == expected
    assert spec_of(endpoint_form) == expected
    # The incremental param is no static param: it goes out only as the window's start.
    for config in (param_form, endpoint_form):
        assert dict(load_source(config).resource("posts").endpoint.params) == {"limit": 10}


def test_every_dlt_key_lands_in_the_spec() -> None:
    def convert(value: Any) -> str:
        return f"<{value}>"

    spec = spec_of(
        one_endpoint(
            incremental={
                "cursor_path": "updated_at",
                "initial_value": "2024-01-01T00:00:00Z",
                "end_value": "2024-02-01T00:00:00Z",
                "start_param": "from",
                "end_param": "to",
                "lag": 3600,
                "on_cursor_value_missing": "include",
                "range_start": "open",
                "range_end": "closed",
                "convert": convert,
                "allow_external_schedulers": True,
                "last_value_func": "min",
            }
        )
    )
    assert spec == IncrementalSpec(
        cursor_path="updated_at",
        initial_value="2024-01-01T00:00:00Z",
        end_value="2024-02-01T00:00:00Z",
        start_param="from",
        end_param="to",
        lag=3600,
        on_cursor_value_missing="include",
        range_start="open",
        range_end="closed",
        convert=convert,
        allow_external_schedulers=True,
        last_value_func="min",
    )
    assert spec.convert is convert
    # The defaults are dlt's: closed start, open end, raise on a missing cursor, a growing cursor.
    default = spec_of(one_endpoint(incremental={"cursor_path": "updated_at"}))
    assert default is not None
    assert (default.range_start, default.range_end) == ("closed", "open")
    assert (default.on_cursor_value_missing, default.last_value_func) == ("raise", "max")
    assert default.keeps_state(interval=True) and default.keeps_state(interval=False)
    # A fixed end keeps no cursor; a data-interval window neither, but a run without an interval does.
    assert not spec.keeps_state(interval=True) and not spec.keeps_state(interval=False)
    windowed = spec_of(one_endpoint(incremental={"cursor_path": "u", "allow_external_schedulers": True}))
    assert windowed is not None
    assert not windowed.keeps_state(interval=True) and windowed.keeps_state(interval=False)


def test_convert_in_the_param_form_and_transform_as_dlt_s_older_name() -> None:
    def convert(value: Any) -> Any:
        return value

    param = one_endpoint(
        params={"since": {"type": "incremental", "cursor_path": "updated_at", "convert": convert}}
    )
    older = one_endpoint(incremental={"cursor_path": "updated_at", "transform": convert})
    assert spec_of(param).convert is convert  # type: ignore[union-attr]
    assert spec_of(older).convert is convert  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("config", "key_path", "message"),
    [
        pytest.param(
            one_endpoint(incremental={"initial_value": SINCE}),
            "resources[0].endpoint.incremental.cursor_path",
            "needs a cursor_path",
            id="missing-cursor_path",
        ),
        pytest.param(
            one_endpoint(params={"since": {"type": "incremental", "initial_value": SINCE}}),
            "resources[0].endpoint.params.since.cursor_path",
            "needs a cursor_path",
            id="missing-cursor_path-param-form",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at", "range_strat": "open"}),
            "resources[0].endpoint.incremental.range_strat",
            "did you mean 'range_start'?",
            id="unknown-key",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at", "range_start": "half"}),
            "resources[0].endpoint.incremental.range_start",
            "one of open, closed",
            id="bad-range_start",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at", "range_end": "opened"}),
            "resources[0].endpoint.incremental.range_end",
            "did you mean 'open'?",
            id="bad-range_end",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at", "on_cursor_value_missing": "skip"}),
            "resources[0].endpoint.incremental.on_cursor_value_missing",
            "one of raise, include, exclude",
            id="bad-on_cursor_value_missing",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at", "lag": -5}),
            "resources[0].endpoint.incremental.lag",
            "non-negative",
            id="negative-lag",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at", "allow_external_schedulers": "yes"}),
            "resources[0].endpoint.incremental.allow_external_schedulers",
            "true or false",
            id="non-bool-allow_external_schedulers",
        ),
        pytest.param(
            one_endpoint(
                params={"since": {"type": "incremental", "cursor_path": "updated_at", "end_value": SINCE}}
            ),
            "resources[0].endpoint.params.since.end_value",
            "set end_value and end_param in endpoint.incremental",
            id="end_value-in-param-form",
        ),
        pytest.param(
            one_endpoint(
                params={"since": {"type": "incremental", "cursor_path": "updated_at", "end_param": "to"}}
            ),
            "resources[0].endpoint.params.since.end_param",
            "set end_value and end_param in endpoint.incremental",
            id="end_param-in-param-form",
        ),
        pytest.param(
            one_endpoint(
                params={
                    "since": {"type": "incremental", "cursor_path": "updated_at"},
                    "after": {"type": "incremental", "cursor_path": "created_at"},
                }
            ),
            "resources[0].endpoint.params.after",
            "only one param of type incremental",
            id="two-incremental-params",
        ),
        pytest.param(
            one_endpoint(
                params={"since": {"type": "incremental", "cursor_path": "updated_at"}},
                incremental={"cursor_path": "updated_at", "start_param": "from"},
            ),
            "resources[0].endpoint.incremental",
            "both an incremental setting and a param of type incremental",
            id="both-forms",
        ),
        pytest.param(
            one_endpoint(params={"since": "{incremental.start_value}"}),
            "resources[0].endpoint.params.since",
            "needs an incremental setting",
            id="placeholder-in-params-without-incremental",
        ),
        pytest.param(
            one_endpoint(path="posts/{incremental.start_value}/all"),
            "resources[0].endpoint.path",
            "needs an incremental setting",
            id="placeholder-in-path-without-incremental",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at"}, params={"since": "{incremental.nope}"}),
            "resources[0].endpoint.params.since",
            "{incremental.nope} is not an incremental value",
            id="unknown-placeholder",
        ),
        pytest.param(
            one_endpoint(incremental={"cursor_path": "updated_at"}, path="posts/{incremental.start_valu}/x"),
            "resources[0].endpoint.path",
            "did you mean 'start_value'?",
            id="misspelt-placeholder",
        ),
    ],
)
def test_config_errors_name_the_key_path(config: dict[str, Any], key_path: str, message: str) -> None:
    error = config_error(config)
    assert error.key_path == key_path
    assert message in str(error)


def test_convert_given_as_a_string_in_yaml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "source.yaml"
    path.write_text(
        "client:\n"
        "  base_url: https://api.example.com\n"
        "resources:\n"
        "  - name: posts\n"
        "    endpoint:\n"
        "      path: posts\n"
        "      incremental:\n"
        "        cursor_path: updated_at\n"
        "        start_param: since\n"
        "        convert: int\n"
    )
    error = config_error(path)  # type: ignore[arg-type]
    assert error.key_path == "resources[0].endpoint.incremental.convert"
    assert "Python callable" in str(error)


def test_dlt_s_own_incremental_configs_parse() -> None:
    assert spec_of(DLT_PARAM_FORM) == IncrementalSpec(
        cursor_path="updated_at", initial_value=SINCE, start_param="since"
    )
    # dlt accepts an end_param without an end_value and sends nothing for it
    # (dlt-hub/dlt tests/sources/rest_api/configurations/test_incremental_config.py,
    # test_constructs_incremental_from_endpoint_config_incremental).
    assert spec_of(DLT_ENDPOINT_FORM) == IncrementalSpec(
        cursor_path="updated_at", initial_value=SINCE, start_param="since", end_param="until"
    )


class PostsApi:
    """json_link paging over ``posts``; it ignores ``since``, so the window's own filter shows too."""

    def __init__(self) -> None:
        self.posts = [
            {"id": 1, "updated_at": "2024-01-01T00:00:00Z"},  # before initial_value: filtered
            {"id": 2, "updated_at": SINCE},  # at initial_value: kept (closed start)
            {"id": 3, "updated_at": "2024-01-26T00:00:00Z"},
        ]
        self.url = ""

    def __call__(self, request: Request) -> Response:
        if request.path != "/posts":
            return Response(404, {"error": "no such path"})
        page = int(request.param("page", "1") or 1)
        chunk = self.posts[(page - 1) * 2 : page * 2]
        more = page * 2 < len(self.posts)
        return Response(200, {"data": chunk, "next": f"{self.url}/posts?page={page + 1}" if more else None})


def sync_once(
    config: Mapping[str, Any], base_url: str, engine: sa.Engine, run_id: str, resource: str = "posts"
) -> Any:
    """One ResourceSync of ``resource`` through a real requests session into ``engine``."""
    source = load_source(config)
    plan = source.resource(resource)
    writer = TableWriter(
        engine,
        resource=plan.name,
        table=plan.table_name,
        primary_key=plan.primary_key,
        disposition=plan.write_disposition,
        columns=plan.columns,
        run_id=run_id,
    )
    run = RunInfo(
        source="dlt_configs", run_id=run_id, owner=f"dlt_configs/{resource}/{run_id}", holder="test"
    )
    client = SessionApiClient(base_url)
    try:
        return ResourceSync(client, source, plan, writer, run).run_sync()
    finally:
        client.close()


@pytest.mark.parametrize("config", [DLT_PARAM_FORM, DLT_ENDPOINT_FORM], ids=["params", "endpoint"])
def test_dlt_s_configs_send_since_from_the_cursor_against_a_loopback_server(
    config: dict[str, Any], sqlite_url: str
) -> None:
    """Neither config has an end_value: ``until`` (the endpoint form's end_param) is never sent."""
    api = PostsApi()
    engine = sa.create_engine(sqlite_url)
    try:
        with serve(api) as server:
            api.url = server.url
            config = {**config, "client": {"base_url": server.url}}
            first = sync_once(config, server.url, engine, "run-1")
            first_requests = list(server.requests)
            api.posts.append({"id": 4, "updated_at": "2024-01-27T00:00:00Z"})
            server.requests.clear()
            second = sync_once(config, server.url, engine, "run-2")
            second_requests = list(server.requests)
        landed = sorted(row["id"] for row in table_rows(engine, "posts"))
    finally:
        engine.dispose()
    # The first run asks from initial_value; the next from the committed cursor.
    assert first_requests[0].param("since") == SINCE
    assert first_requests[0].param("limit") == "100"
    assert second_requests[0].param("since") == "2024-01-26T00:00:00Z"
    for request in first_requests + second_requests:
        assert "until" not in request.query, request.query
    assert [r.param("page") for r in first_requests] == [None, "2"]
    assert (first.records, first.filtered, first.cursor) == (2, 1, "2024-01-26T00:00:00Z")
    # Post 3, at the cursor, was loaded already: the closed start does not load it twice.
    assert (second.records, second.cursor) == (1, "2024-01-27T00:00:00Z")
    assert landed == [2, 3, 4]


def test_convert_and_placeholders_reach_the_api_and_a_fixed_window_keeps_its_range(sqlite_url: str) -> None:
    """Numbers as cursor, ``convert`` on every value sent, the four placeholders in path and params."""
    records = [{"id": i, "seq": seq} for i, seq in enumerate((999, 1000, 1500, 4999, 5000), start=1)]

    def handler(request: Request) -> Response:
        return Response(200, {"data": records})

    config = {
        "client": {"base_url": "http://placeholder"},
        "resources": [
            {
                "name": "events",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "feed/{incremental.initial_value}/events",
                    "data_selector": "data",
                    "paginator": "single_page",
                    "params": {
                        "from": "{incremental.start_value}",
                        "to": "{incremental.end_value}",
                        "last": "{incremental.last_value}",
                    },
                    "incremental": {
                        "cursor_path": "seq",
                        "initial_value": 1000,
                        "end_value": 5000,
                        "start_param": "gte",
                        "end_param": "lt",
                        "convert": lambda value: f"n{value}",
                    },
                },
            }
        ],
    }
    engine = sa.create_engine(sqlite_url)
    try:
        with serve(handler) as server:
            summary = sync_once(config, server.url, engine, "run-1", resource="events")
            (request,) = server.requests
        landed = sorted(row["id"] for row in table_rows(engine, "events"))
    finally:
        engine.dispose()
    assert request.path == "/feed/n1000/events"
    assert {name: values[0] for name, values in request.query.items()} == {
        "gte": "n1000",
        "lt": "n5000",
        "from": "n1000",
        "to": "n5000",
        "last": "n1000",
    }
    # [1000, 5000): 999 before the start, 5000 at the open end.
    assert landed == [2, 3, 4]
    assert summary.filtered == 2
    # A fixed end_value is a backfill: no cursor is stored.
    assert summary.cursor is None


# =====================================================================================================
# 2. cursor.py: comparing, lag, the window of one run
# =====================================================================================================


@pytest.mark.parametrize(
    ("left", "right", "order"),
    [
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00+00:00", 0),
        ("2024-01-01T00:00:00z", "2024-01-01T00:00:00.000+00:00", 0),
        ("2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", 0),
        ("2024-01-01T00:00:01Z", "2024-01-01T00:00:00+00:00", 1),
        ("2023-12-31T23:59:59Z", "2024-01-01T00:00:00+00:00", -1),
        ("2024-01-02", "2024-01-01", 1),
        (date(2024, 1, 1), "2024-01-01", 0),
        (date(2024, 1, 1), "2024-01-01T00:00:01Z", -1),
        (datetime(2024, 1, 1, tzinfo=timezone.utc), "2024-01-01T00:00:00Z", 0),
        (1, 2.5, -1),
        (3, 3.0, 0),
        (10, 9, 1),
        ("b", "a", 1),
    ],
)
def test_compare_orders_cursor_values_as_what_they_are(left: Any, right: Any, order: int) -> None:
    assert compare(left, right, "test") == order
    assert compare(right, left, "test") == -order


@pytest.mark.parametrize(("left", "right"), [(1, "2024-01-01T00:00:00Z"), ("abc", 5), ({"a": 1}, {"a": 2})])
def test_uncomparable_cursor_values_are_a_paging_error_naming_both(left: Any, right: Any) -> None:
    with pytest.raises(PagingError) as caught:
        compare(left, right, "resource 'items'")
    message = str(caught.value)
    assert message.startswith("resource 'items':")
    assert repr(left) in message and repr(right) in message


@pytest.mark.parametrize(
    ("value", "lag", "expected"),
    [
        ("2024-01-01T00:00:10Z", 10, "2024-01-01T00:00:00Z"),
        ("2024-01-01T00:00:00Z", 3600, "2023-12-31T23:00:00Z"),
        ("2024-01-01T00:00:10+00:00", 10, "2024-01-01T00:00:00+00:00"),
        ("2024-01-01T02:00:10+02:00", 3600, "2024-01-01T01:00:10+02:00"),
        ("2024-01-10", 2, "2024-01-08"),
        ("2024-03-01", 1, "2024-02-29"),
        (100, 5, 95),
        (1.5, 0.5, 1.0),
    ],
)
def test_lag_moves_a_cursor_back_in_its_own_units_and_style(value: Any, lag: float, expected: Any) -> None:
    moved = lagged(value, lag)
    assert moved == expected
    assert type(moved) is type(expected)


def test_lag_keeps_z_and_fractions_and_goes_forward_for_a_shrinking_cursor() -> None:
    moved = lagged("2024-01-01T00:00:10.500Z", 1)
    assert moved.endswith("Z") and compare(moved, "2024-01-01T00:00:09.5Z", "test") == 0
    assert lagged("2024-01-01T00:00:00Z", 60, towards_past=False) == "2024-01-01T00:01:00Z"
    assert lagged(100, 5, towards_past=False) == 105


@pytest.mark.parametrize("value", [True, "not a time", None])
def test_lag_on_a_value_that_is_no_time_or_number_is_a_paging_error(value: Any) -> None:
    with pytest.raises(PagingError, match="lag"):
        lagged(value, 1)


def test_moment_value_writes_an_interval_bound_like_the_initial_value() -> None:
    moment = datetime(2024, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))  # 00:00 UTC
    assert moment_value(moment, "2024-01-01T00:00:00Z") == "2024-03-01T00:00:00Z"
    assert moment_value(moment, None) == "2024-03-01T00:00:00Z"
    assert moment_value(moment, "2024-01-01") == "2024-03-01"
    assert moment_value(moment, 0) == 1709251200
    assert moment_value(moment, 0.0) == 1709251200.0


def window(start: Any = None, end: Any = None, **settings: Any) -> CursorWindow:
    """A window of a spec with ``settings`` (``boundary``: the hashes loaded at ``start``)."""
    boundary = settings.pop("boundary", frozenset())
    spec = IncrementalSpec(cursor_path=settings.pop("cursor_path", "updated_at"), **settings)
    return CursorWindow(spec, start, end, boundary=boundary, where="resource 'items'")


def at(value: Any, **fields: Any) -> dict[str, Any]:
    return {"id": fields.pop("id", 1), "updated_at": value, **fields}


@pytest.mark.parametrize(
    ("range_start", "kept_at_start"), [("closed", True), ("open", False)], ids=["closed", "open"]
)
def test_range_start(range_start: str, kept_at_start: bool) -> None:
    w = window("2024-01-01T00:00:00Z", range_start=range_start)
    assert w.keeps(at("2024-01-01T00:00:00+00:00")) is kept_at_start  # the same instant, another style
    assert w.keeps(at("2024-01-01T00:00:01Z")) is True
    assert w.keeps(at("2023-12-31T23:59:59Z")) is False


@pytest.mark.parametrize(
    ("range_end", "kept_at_end"), [("open", False), ("closed", True)], ids=["open", "closed"]
)
def test_range_end(range_end: str, kept_at_end: bool) -> None:
    w = window("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", range_end=range_end)
    assert w.keeps(at("2024-01-02T00:00:00Z")) is kept_at_end
    assert w.keeps(at("2024-01-01T23:59:59Z")) is True
    assert w.keeps(at("2024-01-02T00:00:01Z")) is False


def test_a_window_without_a_start_keeps_everything_before_its_end() -> None:
    w = window(None, 10, cursor_path="seq")
    assert w.keeps({"seq": -1000}) and w.keeps({"seq": 9}) and not w.keeps({"seq": 10})


@pytest.mark.parametrize("record", [{"id": 1}, {"id": 1, "updated_at": None}], ids=["absent", "null"])
def test_on_cursor_value_missing(record: dict[str, Any]) -> None:
    assert window(INITIAL, on_cursor_value_missing="include").keeps(record) is True
    assert window(INITIAL, on_cursor_value_missing="exclude").keeps(record) is False
    with pytest.raises(PagingError) as caught:
        window(INITIAL).keeps(record)
    message = str(caught.value)
    assert "resource 'items'" in message and "'updated_at'" in message
    assert "on_cursor_value_missing" in message


def test_a_record_without_a_cursor_does_not_move_the_cursor() -> None:
    w = window(INITIAL, on_cursor_value_missing="include")
    assert w.keeps({"id": 1})
    assert w.advanced() == (None, [])


def test_a_nested_cursor_path() -> None:
    w = window(5, cursor_path="meta.seq")
    assert w.keeps({"meta": {"seq": 5}}) and not w.keeps({"meta": {"seq": 4}})
    assert w.advanced()[0] == 5


def test_boundary_hashes_keep_a_closed_start_from_loading_a_record_twice() -> None:
    loaded = at("2024-01-01T00:10:00Z", id=7, status="active")
    changed_at_the_same_second = at("2024-01-01T00:10:00Z", id=8, status="closed")
    w = window("2024-01-01T00:10:00Z", boundary=frozenset({record_hash(loaded)}))
    assert w.keeps(loaded) is False
    assert w.keeps(changed_at_the_same_second) is True
    # The same record, changed since it was loaded (another hash), is loaded again.
    assert w.keeps({**loaded, "status": "closed"}) is True
    # An open start keeps neither, hashes or not.
    open_start = window("2024-01-01T00:10:00Z", range_start="open")
    assert not open_start.keeps(changed_at_the_same_second)


def test_advanced_on_a_first_run_is_the_newest_value_with_every_record_at_it() -> None:
    w = window(INITIAL)
    records = [
        at("2024-01-01T00:05:00Z", id=1),
        at("2024-01-01T00:09:00Z", id=2),
        at("2024-01-01T00:09:00+00:00", id=3),
        at("2024-01-01T00:07:00Z", id=4),
    ]
    assert all(w.keeps(record) for record in records)
    last_value, boundary = w.advanced()
    assert last_value == "2024-01-01T00:09:00Z"  # the first seen of the two equal values, as the API wrote it
    assert boundary == sorted({record_hash(records[1]), record_hash(records[2])})


def test_advanced_keeps_the_stored_cursor_unless_something_newer_was_kept() -> None:
    stored = "2024-01-01T00:10:00Z"
    old = at(stored, id=1)
    same_second = at(stored, id=2)
    newer = at("2024-01-01T00:11:00Z", id=3)
    # Nothing kept: the stored cursor and its boundary stay.
    quiet = CursorWindow(window().spec, stored, last_value=stored, boundary=frozenset({record_hash(old)}))
    assert not quiet.keeps(old)
    assert quiet.advanced() == (stored, [record_hash(old)])
    # A new record at the same value: the boundary grows.
    tie = CursorWindow(window().spec, stored, last_value=stored, boundary=frozenset({record_hash(old)}))
    assert tie.keeps(same_second)
    assert tie.advanced() == (stored, sorted({record_hash(old), record_hash(same_second)}))
    # A newer record: the cursor moves and the boundary is the newer value's records only.
    moved = CursorWindow(window().spec, stored, last_value=stored, boundary=frozenset({record_hash(old)}))
    assert moved.keeps(same_second) and moved.keeps(newer)
    assert moved.advanced() == ("2024-01-01T00:11:00Z", [record_hash(newer)])


def test_a_shrinking_cursor_with_last_value_func_min() -> None:
    w = window(100, cursor_path="seq", last_value_func="min")
    assert w.keeps({"seq": 100}) and w.keeps({"seq": 40}) and not w.keeps({"seq": 101})
    assert w.advanced()[0] == 40


def test_open_window_starts_at_the_stored_cursor_lagged_but_never_before_initial_value() -> None:
    spec = IncrementalSpec(cursor_path="updated_at", initial_value=INITIAL, start_param="since")
    first = open_window(spec, None, interval=None, where="w")
    assert (first.start_value, first.end_value, first.last_value) == (INITIAL, None, None)
    stored = {"last_value": "2024-01-01T00:10:00Z", "boundary": ["abc"]}
    again = open_window(spec, stored, interval=None, where="w")
    assert (again.start_value, again.boundary) == ("2024-01-01T00:10:00Z", frozenset({"abc"}))
    assert again.request_params() == {"since": "2024-01-01T00:10:00Z"}
    lag = IncrementalSpec(cursor_path="updated_at", initial_value=INITIAL, lag=300)
    behind = open_window(lag, stored, interval=None, where="w")
    # Records inside the lag are fetched again and merge again: no boundary to skip.
    assert (behind.start_value, behind.boundary) == ("2024-01-01T00:05:00Z", frozenset())
    floored = open_window(
        IncrementalSpec(cursor_path="updated_at", initial_value=INITIAL, lag=3600),
        stored,
        interval=None,
        where="w",
    )
    assert floored.start_value == INITIAL


def test_open_window_with_an_end_value_or_a_data_interval_ignores_the_stored_cursor() -> None:
    stored = {"last_value": "2024-06-01T00:00:00Z", "boundary": []}
    fixed = IncrementalSpec(cursor_path="updated_at", initial_value=INITIAL, end_value="2024-02-01T00:00:00Z")
    backfill = open_window(fixed, stored, interval=None, where="w")
    assert (backfill.start_value, backfill.end_value) == (INITIAL, "2024-02-01T00:00:00Z")
    external = IncrementalSpec(
        cursor_path="updated_at",
        initial_value=INITIAL,
        start_param="since",
        end_param="until",
        allow_external_schedulers=True,
    )
    interval = (datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 3, 1, 1, tzinfo=timezone.utc))
    hour = open_window(external, stored, interval=interval, where="w")
    assert hour.request_params() == {"since": "2024-03-01T00:00:00Z", "until": "2024-03-01T01:00:00Z"}


def test_convert_applies_to_every_value_sent_and_not_to_none() -> None:
    spec = IncrementalSpec(
        cursor_path="seq", initial_value=1, start_param="gte", end_param="lt", convert=lambda v: v * 10
    )
    w = CursorWindow(spec, 5, None)
    assert w.request_params() == {"gte": 50}
    assert w.values() == {"start_value": 50, "end_value": None, "initial_value": 10, "last_value": 50}


# =====================================================================================================
# 3. Airflow runs against the sandbox's changing API, on SQLite and PostgreSQL
# =====================================================================================================


@pytest.fixture(params=["sqlite", "postgres"])
def destination(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The ``changing_db`` connection (a SQLite file or a fresh PostgreSQL database); yields its URL."""
    if request.param == "sqlite":
        file = tmp_path / "warehouse.db"
        monkeypatch.setenv("AIRFLOW_CONN_CHANGING_DB", json.dumps({"conn_type": "sqlite", "host": str(file)}))
        yield f"sqlite:///{file}"
        return
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("AIRFLOW_CONN_CHANGING_DB", json.dumps(airflow_connection(url)))
    yield url


@pytest.fixture
def engine(destination: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(destination)
    yield engine
    engine.dispose()


@pytest.fixture
def changing_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Starter]:
    """``changing_api(n)`` starts a sandbox with ``n`` changing items and points ``changing_api`` at it."""
    started: list[SandboxServer] = []

    def start(items: int) -> SandboxServer:
        sandbox = SandboxServer(changing_items=items).start()
        started.append(sandbox)
        conn = {
            "conn_type": "restsync_bearer",
            "host": sandbox.base_url("changing"),
            "password": SANDBOX_CREDENTIALS["changing"]["token"],
        }
        monkeypatch.setenv("AIRFLOW_CONN_CHANGING_API", json.dumps(conn))
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


def run_dag(dag_id: str, **test_kwargs: Any) -> Any:
    """Parse incremental_checks.py as Airflow does and run one DAG once with ``dag.test()``."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id).test(**test_kwargs)


def task_states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def succeeded(run: Any) -> Any:
    assert str(run.state) == "success", task_states(run)
    return run


def item_queries(sandbox: SandboxServer) -> list[dict[str, str]]:
    """The query of every request to the changing items, in order (one value per parameter)."""
    queries = []
    for logged in sandbox.request_log():
        parts = urlsplit(logged.target)
        if parts.path == "/changing/v1/items":
            queries.append({name: values[0] for name, values in parse_qs(parts.query).items()})
    return queries


def own_state(engine: sa.Engine, dag_id: str, table: str = "items") -> dict[str, Any] | None:
    """The resource's own row of ``_restsync_state`` (partition "")."""
    return run_state.read_state(engine, None, run_state.StateKey(dag_id, "items", table))


def all_states(
    engine: sa.Engine, dag_id: str, resource: str = "items", table: str = "items"
) -> dict[str, Any]:
    return run_state.read_states(engine, None, run_state.StateKey(dag_id, resource, table))


def newest(sandbox: SandboxServer) -> str:
    return max(record["updated_at"] for record in sandbox.changing.records())


def landed(engine: sa.Engine, table: str = "items") -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = table_rows(engine, table)
    keyed = by_key(rows, ["id"])
    assert len(keyed) == len(rows), "duplicate ids in the table"
    return keyed


def assert_table_equals_source(engine: sa.Engine, sandbox: SandboxServer) -> None:
    """Every row equals its record (ids, names, versions, statuses, updated_at); no row more or less."""
    expected = by_key(expected_rows(sandbox.changing.records()), ["id"])
    rows = landed(engine)
    assert rows.keys() == expected.keys()
    for key, row in expected.items():
        assert rows[key] == row, f"row {key}"


@pytest.mark.airflow
@pytest.mark.parametrize("dag_id", ["inc_cursor", "inc_param_form"])
def test_each_run_asks_from_the_committed_cursor_and_fetches_only_what_changed(
    dag_id: str, destination: str, engine: sa.Engine, changing_api: Starter, airflow_home: Path
) -> None:
    sandbox = changing_api(250)
    # The first run: everything from initial_value, 250 items in three pages of 100.
    first = succeeded(run_dag(dag_id))
    assert [q["updated_since"] for q in item_queries(sandbox)] == [INITIAL] * 3
    # The pages after the first are requested in parallel (concurrency): in any order, each once.
    assert sorted(int(q["offset"]) for q in item_queries(sandbox)) == [0, 100, 200]
    summary = xcom_summary(first, "items")
    assert (summary["records"], summary["inserted"], summary["requests"]) == (250, 250, 3)
    assert_table_equals_source(engine, sandbox)
    state = own_state(engine, dag_id)
    assert state is not None
    cursor = state["cursor"]["last_value"]
    assert cursor == newest(sandbox) == summary["cursor"]
    assert len(state["cursor"]["boundary"]) == 1  # the one item at the newest second
    assert state["completed_sync"]["run_id"] == first.run_id

    # Three new items and two changed ones: the next run asks from the cursor and takes those five.
    added = sandbox.changing.add(3)
    changed = sandbox.changing.change(ids=[7, 120])
    sandbox.reset_stats()
    second = succeeded(run_dag(dag_id))
    queries = item_queries(sandbox)
    assert queries and all(q["updated_since"] == cursor for q in queries)
    summary = xcom_summary(second, "items")
    assert summary["records"] == len(added) + len(changed) == 5
    assert (summary["inserted"], summary["updated"]) == (3, 2)
    assert summary["filtered"] == 1  # the item at the old cursor, loaded by the first run
    assert summary["requests"] == len(queries) == 1
    assert_table_equals_source(engine, sandbox)
    state = own_state(engine, dag_id)
    assert state is not None
    assert state["cursor"]["last_value"] == newest(sandbox) == summary["cursor"] != cursor
    assert state["completed_sync"]["run_id"] == second.run_id

    # Nothing changed: one request for the item at the cursor, nothing loaded, the cursor stays.
    cursor = state["cursor"]["last_value"]
    sandbox.reset_stats()
    before = landed(engine)
    quiet = succeeded(run_dag(dag_id))
    queries = item_queries(sandbox)
    assert 1 <= len(queries) <= 2
    assert all(q["updated_since"] == cursor for q in queries)
    summary = xcom_summary(quiet, "items")
    assert (summary["records"], summary["inserted"], summary["updated"]) == (0, 0, 0)
    assert landed(engine) == before
    assert own_state(engine, dag_id)["cursor"]["last_value"] == cursor  # type: ignore[index]


STRAY_ID = 99_999


@pytest.mark.airflow
def test_full_refresh_reloads_from_initial_value_and_resets_the_state(
    destination: str, engine: sa.Engine, changing_api: Starter, airflow_home: Path
) -> None:
    sandbox = changing_api(120)
    dag_id = "inc_refresh"
    key = run_state.StateKey(dag_id, "items", "items")
    succeeded(run_dag(dag_id))
    assert_table_equals_source(engine, sandbox)
    sandbox.changing.change(ids=[5, 60])
    sandbox.changing.add(2)
    # Stale state a full refresh must drop: a cursor far ahead (an incremental run would now fetch
    # nothing) and a row of another partition; and a row the API does not serve.
    with engine.begin() as conn:
        stored = own_state(engine, dag_id)
        assert stored is not None
        run_state.write_states(
            conn,
            None,
            key,
            {
                run_state.ROOT: {**stored, "cursor": {"last_value": "2099-01-01T00:00:00Z", "boundary": []}},
                "stale-partition": {"cursor": {"last_value": "2099-01-01T00:00:00Z", "boundary": []}},
            },
            run_id="stale",
        )
        table = sa.Table("items", sa.MetaData(), autoload_with=conn)
        row = dict(conn.execute(sa.select(table).where(table.c.id == 1)).mappings().one())
        conn.execute(sa.insert(table).values({**row, "id": STRAY_ID, "name": "stray"}))
    assert set(all_states(engine, dag_id)) == {"", "stale-partition"}

    sandbox.reset_stats()
    refresh = succeeded(run_dag(dag_id, run_conf={"full_refresh": True}))
    queries = item_queries(sandbox)
    assert [q["updated_since"] for q in queries] == [INITIAL, INITIAL]  # 122 items in two pages
    summary = xcom_summary(refresh, "items")
    assert summary["disposition"] == "replace"
    assert (summary["records"], summary["inserted"]) == (122, 122)
    assert_table_equals_source(engine, sandbox)  # the stray row is gone, every change is in
    states = all_states(engine, dag_id)
    assert set(states) == {""}
    assert states[""]["cursor"]["last_value"] == newest(sandbox) == summary["cursor"]
    assert states[""]["completed_sync"]["run_id"] == refresh.run_id

    # The next run (full_refresh false, the param's default) asks from the refresh's cursor.
    sandbox.changing.change(ids=[1])
    sandbox.reset_stats()
    after = succeeded(run_dag(dag_id))
    assert [q["updated_since"] for q in item_queries(sandbox)] == [states[""]["cursor"]["last_value"]]
    assert xcom_summary(after, "items")["records"] == 1
    assert_table_equals_source(engine, sandbox)


@pytest.mark.airflow
@pytest.mark.parametrize(("dag_id", "range_start"), [("inc_cursor", "closed"), ("inc_open_start", "open")])
def test_a_record_changed_at_exactly_the_cursor_under_a_closed_and_an_open_start(
    dag_id: str,
    range_start: str,
    destination: str,
    engine: sa.Engine,
    changing_api: Starter,
    airflow_home: Path,
) -> None:
    sandbox = changing_api(30)
    succeeded(run_dag(dag_id))
    cursor = newest(sandbox)
    assert own_state(engine, dag_id)["cursor"]["last_value"] == cursor  # type: ignore[index]
    # Item 3 changes within the cursor's second: the API answers it with item 30, loaded already.
    sandbox.changing.set_updated_at(3, cursor)
    sandbox.reset_stats()
    second = succeeded(run_dag(dag_id))
    assert [q["updated_since"] for q in item_queries(sandbox)] == [cursor]
    summary = xcom_summary(second, "items")
    assert summary["cursor"] == cursor
    row_3 = landed(engine)[(3,)]
    if range_start == "closed":
        # The boundary hashes skip item 30 and keep item 3, whose content is new.
        assert (summary["records"], summary["updated"], summary["filtered"]) == (1, 1, 1)
        assert_table_equals_source(engine, sandbox)
    else:
        # dlt's open start drops both: item 3's change at the cursor's second is not loaded.
        assert (summary["records"], summary["filtered"]) == (0, 2)
        assert row_3["updated_at"] != expected_rows([sandbox.changing.records()[2]])[0]["updated_at"]


MISSING_RECORDS = [
    {"id": 1, "updated_at": "2024-01-01T00:00:00Z"},
    {"id": 2},
    {"id": 3, "updated_at": None},
    {"id": 4, "updated_at": "2024-01-02T00:00:00Z"},
]


@pytest.mark.airflow
def test_on_cursor_value_missing_raise_include_exclude_in_a_real_run(
    destination: str,
    engine: sa.Engine,
    airflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"data": MISSING_RECORDS})

    with serve(handler) as server:
        conn = {"conn_type": "restsync_bearer", "host": server.url, "password": "loopback-token"}
        monkeypatch.setenv("AIRFLOW_CONN_LOOPBACK_API", json.dumps(conn))
        run = run_dag("inc_missing_cursor")
        sent = [request.param("since") for request in server.requests]
    assert task_states(run) == {
        "missing_raise": "failed",
        "missing_include": "success",
        "missing_exclude": "success",
    }
    assert sent == [INITIAL] * 3
    output = capfd.readouterr()
    assert "has no value at the cursor_path 'updated_at'" in output.out + output.err
    assert sorted(key[0] for key in landed(engine, "records_include")) == [1, 2, 3, 4]
    assert sorted(key[0] for key in landed(engine, "records_exclude")) == [1, 4]
    for action in ("include", "exclude"):
        state = run_state.read_state(
            engine, None, run_state.StateKey("inc_missing_cursor", "records", f"records_{action}")
        )
        assert state is not None and state["cursor"]["last_value"] == "2024-01-02T00:00:00Z"
    raised = run_state.read_state(
        engine, None, run_state.StateKey("inc_missing_cursor", "records", "records_raise")
    )
    assert raised is None or "cursor" not in raised
    names = sa.inspect(engine).get_table_names()
    assert "records_raise" not in names or not table_rows(engine, "records_raise")


# =====================================================================================================
# 4. Data-interval windows: allow_external_schedulers under an hourly schedule
# =====================================================================================================

HOUR_1 = (datetime(2024, 3, 1, 0, tzinfo=timezone.utc), datetime(2024, 3, 1, 1, tzinfo=timezone.utc))
HOUR_2 = (datetime(2024, 3, 1, 1, tzinfo=timezone.utc), datetime(2024, 3, 1, 2, tzinfo=timezone.utc))
PLACED = {
    1: "2024-03-01T00:00:00Z",  # the first second of hour 1 (the start is inclusive)
    2: "2024-03-01T00:30:00Z",
    3: "2024-03-01T00:59:59Z",
    4: "2024-03-01T01:00:00Z",  # the end of hour 1 (exclusive): hour 2's first second
    5: "2024-03-01T01:59:59Z",
    6: "2024-03-01T02:00:00Z",  # the end of hour 2: in neither
    7: "2024-02-29T23:59:59Z",  # just before hour 1: in neither
    # 8-10 keep their updated_at of 2024-01-01: in neither.
}


def iso_z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.airflow
def test_adjacent_hourly_runs_ask_for_their_data_interval_and_load_exactly_its_items(
    destination: str, engine: sa.Engine, changing_api: Starter, airflow_home: Path
) -> None:
    sandbox = changing_api(10)
    for item_id, stamp in PLACED.items():
        sandbox.changing.set_updated_at(item_id, stamp)
    windows = []
    for hour, ids in ((HOUR_1, [1, 2, 3]), (HOUR_2, [1, 2, 3, 4, 5])):
        sandbox.reset_stats()
        # dag.test(logical_date=L) on an hourly timedelta schedule runs the interval [L - 1h, L).
        run = succeeded(run_dag("inc_interval_hourly", logical_date=hour[1]))
        assert (run.data_interval_start, run.data_interval_end) == hour
        queries = item_queries(sandbox)
        assert queries
        window = {(q["updated_since"], q.get("updated_until")) for q in queries}
        assert window == {(iso_z(hour[0]), iso_z(hour[1]))}
        windows.append(window.pop())
        summary = xcom_summary(run, "items")
        assert summary["records"] == {HOUR_1: 3, HOUR_2: 2}[hour]
        assert sorted(key[0] for key in landed(engine)) == ids
    # Adjacent and disjoint: hour 1 ends where hour 2 starts, and the end is exclusive.
    assert windows[0][1] == windows[1][0]
    assert windows == [
        ("2024-03-01T00:00:00Z", "2024-03-01T01:00:00Z"),
        ("2024-03-01T01:00:00Z", "2024-03-01T02:00:00Z"),
    ]
    expected = by_key(expected_rows(sandbox.changing.records()[:5]), ["id"])
    assert landed(engine) == expected
    # A window is no cursor: no run read or advanced one.
    states = all_states(engine, "inc_interval_hourly")
    assert states and all("cursor" not in state for state in states.values())


@pytest.mark.airflow
def test_a_timedelta_schedule_gives_no_data_interval_and_each_run_must_not_reload_everything(
    destination: str, engine: sa.Engine, changing_api: Starter, airflow_home: Path
) -> None:
    """``inc_interval`` (``schedule=timedelta(hours=1)``): Airflow 3 makes that a DeltaTriggerTimetable, whose
    runs, scheduled or not, all have an empty data interval. Then there is no window to take, and the next
    run must not ask from ``initial_value`` again: dlt asks from ``data_interval_start``
    (``Incremental._join_external_scheduler``), a stored cursor would do as well."""
    sandbox = changing_api(50)
    first = succeeded(run_dag("inc_interval", logical_date=HOUR_1[1]))
    assert first.data_interval_start == first.data_interval_end == HOUR_1[1]
    assert_table_equals_source(engine, sandbox)
    sandbox.reset_stats()
    second = succeeded(run_dag("inc_interval", logical_date=HOUR_2[1]))
    assert second.data_interval_start == second.data_interval_end == HOUR_2[1]
    queries = item_queries(sandbox)
    assert queries and all(q["updated_since"] != INITIAL for q in queries), queries
    assert xcom_summary(second, "items")["records"] < len(sandbox.changing)
