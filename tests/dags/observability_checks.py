"""The DAG test_observability runs with the OpenLineage provider hidden: one resource of the sandbox's
``changing`` API (connection ``changing_api``) into the ``obs_db`` destination."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_restsync import RestToSqlOperator
from airflow_provider_restsync.assets import table_asset

ITEMS = {
    "name": "items",
    "primary_key": "id",
    "write_disposition": "merge",
    "endpoint": {
        "path": "/v1/items",
        "data_selector": "data",
        "paginator": {"type": "offset", "limit": 100, "total_path": "total"},
    },
}

with DAG("obs_without_lineage", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
    RestToSqlOperator(
        task_id="items",
        conn_id="changing_api",
        destination_conn_id="obs_db",
        source={"client": {"auth": {"type": "bearer"}}},
        resource=ITEMS,
        outlets=[table_asset("items", "obs_db", None)],
        retries=0,
    )
