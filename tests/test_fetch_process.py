"""A sync through RestToSqlOperator with its fetch side in a process of its own lands what a sync with a
fetch thread lands, reports the same requests and retries, logs the fetch process's lines in the task
log, fails the same way, and leaves no process behind."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.errors import ApiRequestError, ConfigError
from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator
from tests.support.http import Request, Response, serve

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform does not fork")

TOTAL = 230
TOKEN = "fp-token-31c8a0"


class PagedApi:
    """Offset paging over TOTAL items; the second page answers 503 once; ``extra`` goes into item 7."""

    def __init__(self, extra: str = "", fail: int | None = None) -> None:
        self.extra = extra
        self.fail = fail
        self.failed_once = False

    def __call__(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Response(401, {"error": "unauthorized"})
        offset = int(request.param("offset") or 0)
        limit = int(request.param("limit") or 50)
        if offset == limit and not self.failed_once:
            self.failed_once = True
            return Response(503, {"error": "busy"})
        if self.fail is not None and offset >= self.fail:
            return Response(404, {"error": "gone"})
        items = [
            {"id": n, "name": f"item {n}", "tags": ["a", {"n": n}], "score": n / 4}
            for n in range(offset, min(offset + limit, TOTAL))
        ]
        body = json.dumps({"data": items, "total": TOTAL})
        if self.extra and offset == 0:
            body = body.replace('"score": 1.75', f'"score": 1.75, "odd": {self.extra}')
        return Response(200, body.encode(), headers={"Content-Type": "application/json"})


def source(url: str) -> dict[str, Any]:
    return {
        "client": {"base_url": url},
        "resources": [
            {
                "name": "items",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "/items",
                    "data_selector": "data",
                    "error_handler": {"backoff_factor": 0.01},
                    "paginator": {"type": "offset", "limit": 50, "total_path": "total"},
                },
            }
        ],
    }


def sync(url: str, db: Path, monkeypatch: pytest.MonkeyPatch, *, fetch_process: bool) -> dict[str, Any]:
    from airflow.sdk import DAG

    monkeypatch.setenv(
        "AIRFLOW_CONN_FP_API", json.dumps({"conn_type": "restsync_bearer", "host": url, "password": TOKEN})
    )
    monkeypatch.setenv("AIRFLOW_CONN_FP_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    with DAG("fetch_process_checks", schedule=None):
        task = RestToSqlOperator(
            task_id="items",
            conn_id="fp_api",
            source=source(url),
            resource="items",
            destination_conn_id="fp_db",
            fetch_process=fetch_process,
        )
    return task.execute({"run_id": f"run-{fetch_process}", "params": {}})  # type: ignore[arg-type]


def table(db: Path) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql("SELECT * FROM items ORDER BY id")
            data = [i for i, name in enumerate(result.keys()) if not name.startswith("_restsync")]
            return [tuple(row[i] for i in data) for row in result]
    finally:
        engine.dispose()


def children() -> list[int]:
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listed:
            pids.extend(int(pid) for pid in listed.read().split())
    return pids


def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: Any) -> dict[bool, tuple[Any, Any]]:
    """The summary and table of a sync with a fetch process and of one with a fetch thread."""
    results = {}
    for fetch_process in (True, False):
        api.failed_once = False
        db = tmp_path / f"process-{fetch_process}.db"
        with serve(api) as server:
            summary = sync(server.url, db, monkeypatch, fetch_process=fetch_process)
            assert len(server.requests) == summary["requests"] + summary["retries"]
        results[fetch_process] = (summary, table(db))
    return results


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_a_fetch_process_lands_and_reports_what_a_fetch_thread_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = set(children())
    with caplog.at_level(logging.INFO):
        results = both(tmp_path, monkeypatch, PagedApi())
    (process_summary, process_rows), (thread_summary, thread_rows) = results[True], results[False]
    assert len(process_rows) == TOTAL
    assert process_rows == thread_rows
    for key in ("records", "pages", "inserted", "requests", "retries"):
        assert process_summary[key] == thread_summary[key], key
    assert (process_summary["requests"], process_summary["retries"]) == (5, 1)
    # The hook's retry line was written in the fetch process and logged here (through stdlib logging;
    # with a fetch thread the hook logs through structlog, which caplog does not see).
    retried = [r for r in caplog.records if "retry 1 of" in r.getMessage()]
    assert [r.processName for r in retried] == ["restsync-fetch"]
    assert TOKEN not in caplog.text
    assert set(children()) == before  # the fetch process is gone


def test_values_that_are_not_strict_json_land_as_with_a_fetch_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_home: Path
) -> None:
    results = both(tmp_path, monkeypatch, PagedApi(extra="123456789012345678901234567890"))
    (_, process_rows), (_, thread_rows) = results[True], results[False]
    assert len(process_rows) == TOTAL
    assert process_rows == thread_rows
    assert any(len(row) == 5 and row[4] is not None for row in process_rows)  # the odd value landed


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_an_http_error_in_the_fetch_process_fails_the_task_as_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_home: Path
) -> None:
    before = set(children())
    messages = {}
    for fetch_process in (True, False):
        with serve(PagedApi(fail=150)) as server, pytest.raises(ApiRequestError) as raised:
            sync(server.url, tmp_path / f"fail-{fetch_process}.db", monkeypatch, fetch_process=fetch_process)
        messages[fetch_process] = str(raised.value).replace(server.url, "URL")
        assert raised.value.status == 404
    assert messages[True] == messages[False]
    assert set(children()) == before


def test_the_operator_refuses_a_fetch_process_that_is_not_true_or_false() -> None:
    with pytest.raises(ConfigError, match=r"t\.fetch_process: fetch_process must be true or false"):
        RestToSqlOperator(
            task_id="t", conn_id="c", source=source("http://api"), resource="items", fetch_process="yes"
        )
