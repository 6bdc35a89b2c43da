"""DAGs the operator tests run: one inline-resource task each, against the test's own loopback API.

The tests set the connections ``items_api`` (restsync_bearer) and ``items_db`` (sqlite).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG

from airflow_provider_restsync import RestToSqlOperator

ITEMS = {
    "name": "items",
    "endpoint": {"path": "/v1/items", "data_selector": "data", "paginator": {"type": "offset", "limit": 2}},
    "primary_key": "id",
    "write_disposition": "merge",
}


def items_dag(dag_id: str, resource: dict[str, Any] = ITEMS, **operator_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
        RestToSqlOperator(
            task_id="items",
            conn_id="items_api",
            destination_conn_id="items_db",
            source={"client": {"auth": {"type": "bearer"}}},
            resource=resource,
            **operator_kwargs,
        )
    return dag


op_templated = items_dag("op_templated", request_params={"since": "{{ ds }}"})
# Braces in the source config are dlt's, never Jinja's: only request_params is rendered.
op_braces = items_dag(
    "op_braces",
    resource={
        **ITEMS,
        "endpoint": {
            **ITEMS["endpoint"],
            "params": {
                "q": "{{ds}}",
                "literal": "{{not_this}}",
                "nested": "{{not_this {{and}} {{not_that}}}}",
                "undefined": "{{ no_such_variable }}",
            },
        },
    },
    request_params={"since": "{{ ds }}"},
)
op_merge = items_dag("op_merge")
op_refresh = items_dag("op_refresh", full_refresh=True)
op_unauthorized = items_dag("op_unauthorized")
