"""RestToSqlOperator in a real Airflow run: templated params, XCom summary, full refresh, secrets."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.http import Request, Response, serve

TOKEN = "op-test-token-5b1c9e"


class ItemsApi:
    """A bearer-token API with offset paging whose items can change between runs."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Response(401, {"error": "unauthorized"})
        offset = int(request.param("offset", "0") or 0)
        limit = int(request.param("limit", "2") or 2)
        with self.lock:
            page = self.items[offset : offset + limit]
        return Response(200, {"data": page, "total": len(self.items)})


def use_items_api(url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``items_api`` connection the DAGs of tests/dags/operator_checks.py call."""
    conn = {"conn_type": "restsync_bearer", "host": url, "password": token}
    monkeypatch.setenv("AIRFLOW_CONN_ITEMS_API", json.dumps(conn))


def xcom_summary(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=run.run_id, key="return_value", task_ids=task_id, dag_ids=run.dag_id
        )
        (row,) = session.scalars(query).all()
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def example(dag_id: str) -> Any:
    """A DAG of tests/dags/operator_checks.py, parsed as Airflow parses it."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).parent / "dags" / "operator_checks.py"))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


@pytest.fixture
def items_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_home: Path) -> Path:
    db = tmp_path / "items.db"
    monkeypatch.setenv("AIRFLOW_CONN_ITEMS_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return db


def rows(db: Path) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        result = conn.execute(sa.text("SELECT id, name FROM items ORDER BY id")).all()
    engine.dispose()
    return [tuple(r) for r in result]


@pytest.mark.airflow
def test_templated_params_reach_the_api_and_xcom_gets_a_summary_not_records(
    items_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = ItemsApi([{"id": i, "name": f"item {i}"} for i in range(1, 6)])
    with serve(api) as server:
        use_items_api(server.url, TOKEN, monkeypatch)
        run = example("op_templated").test(logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
        seen = [r.param("since") for r in server.requests]
    assert str(run.state) == "success"
    assert seen and set(seen) == {"2026-03-04"}
    summary = xcom_summary(run, "items")
    assert summary["records"] == 5
    assert summary["pages"] == 3
    assert summary["inserted"] == 5
    assert summary["requests"] == 3
    assert "data" not in summary and "name" not in json.dumps(summary)
    assert rows(items_env) == [(i, f"item {i}") for i in range(1, 6)]


@pytest.mark.airflow
def test_config_braces_are_sent_as_dlt_sends_them_and_only_request_params_are_rendered(
    items_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = ItemsApi([{"id": 1, "name": "one"}])
    with serve(api) as server:
        use_items_api(server.url, TOKEN, monkeypatch)
        dag = example("op_braces")
        run = dag.test(logical_date=datetime(2026, 3, 4, tzinfo=timezone.utc))
        (request,) = server.requests
    assert str(run.state) == "success"
    assert request.param("q") == "{ds}"
    assert request.param("literal") == "{not_this}"
    assert request.param("nested") == "{not_this {and} {not_that}}"
    assert request.param("undefined") == "{ no_such_variable }"
    assert request.param("since") == "2026-03-04"
    task = dag.get_task("items")
    assert set(task.template_fields) == {"source_path", "table_name", "request_params", "destination_schema"}


@pytest.mark.airflow
def test_merge_keeps_rows_the_api_dropped_and_full_refresh_replaces_them(
    items_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = ItemsApi([{"id": i, "name": f"item {i}"} for i in range(1, 5)])
    with serve(api) as server:
        use_items_api(server.url, TOKEN, monkeypatch)
        assert str(example("op_merge").test().state) == "success"
        api.items = [{"id": 2, "name": "renamed"}, {"id": 3, "name": "item 3"}]
        assert str(example("op_merge").test().state) == "success"
        assert rows(items_env) == [(1, "item 1"), (2, "renamed"), (3, "item 3"), (4, "item 4")]
        refresh = example("op_refresh").test()
    assert str(refresh.state) == "success"
    assert rows(items_env) == [(2, "renamed"), (3, "item 3")]
    assert xcom_summary(refresh, "items")["disposition"] == "replace"


@pytest.mark.airflow
def test_a_wrong_token_fails_the_task_without_writing_or_leaking(
    items_env: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-token-77c2d1aa"
    with serve(ItemsApi([{"id": 1, "name": "x"}])) as server:
        use_items_api(server.url, wrong, monkeypatch)
        run = example("op_unauthorized").test()
    assert str(run.state) == "failed"
    captured = capfd.readouterr()
    task_log = captured.out + captured.err
    assert "HTTP 401 Unauthorized after 1 attempt" in task_log
    assert wrong not in task_log
    engine = sa.create_engine(f"sqlite:///{items_env}")
    assert "items" not in sa.inspect(engine).get_table_names()
    engine.dispose()
