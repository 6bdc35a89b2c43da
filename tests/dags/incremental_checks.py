"""DAGs the incremental, resume and lock tests run against the sandbox's ``changing`` API.

The tests set the connections ``changing_api`` (restsync_bearer, the sandbox's changing token) and
``changing_db`` (the destination), and ``RESTSYNC_TEST_BATCH_SIZE`` / ``RESTSYNC_TEST_LIMIT`` where a test
needs other checkpoint or page sizes.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG

from airflow_provider_restsync import RestToSqlOperator

LIMIT = int(os.environ.get("RESTSYNC_TEST_LIMIT") or 100)
BATCH_SIZE = int(os.environ.get("RESTSYNC_TEST_BATCH_SIZE") or 5000)
LOCK_TIMEOUT = float(os.environ.get("RESTSYNC_TEST_LOCK_TIMEOUT") or 300)
SOURCE = {"client": {"auth": {"type": "bearer"}}}


def items(**incremental: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "path": "/v1/items",
        "data_selector": "data",
        "paginator": {"type": "offset", "limit": LIMIT, "total_path": "total"},
    }
    if incremental:
        endpoint["incremental"] = incremental
    return {"name": "items", "endpoint": endpoint, "primary_key": "id", "write_disposition": "merge"}


def items_dag(dag_id: str, resource: dict[str, Any], **dag_kwargs: Any) -> DAG:
    dag_kwargs.setdefault("schedule", None)
    with DAG(
        dag_id, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=False, **dag_kwargs
    ) as dag:
        RestToSqlOperator(
            task_id="items",
            conn_id="changing_api",
            destination_conn_id="changing_db",
            source=SOURCE,
            resource=resource,
            batch_size=BATCH_SIZE,
            lock_timeout=LOCK_TIMEOUT,
        )
    return dag


# The cursor from the last committed run goes out as updated_since.
inc_cursor = items_dag(
    "inc_cursor",
    items(cursor_path="updated_at", start_param="updated_since", initial_value="2024-01-01T00:00:00Z"),
)
# dlt's older form: a param of type incremental.
inc_param_form = items_dag(
    "inc_param_form",
    {
        **items(),
        "endpoint": {
            **items()["endpoint"],
            "params": {
                "updated_since": {
                    "type": "incremental",
                    "cursor_path": "updated_at",
                    "initial_value": "2024-01-01T00:00:00Z",
                }
            },
        },
    },
)
# The run's data interval is the window: [data_interval_start, data_interval_end).
inc_interval = items_dag(
    "inc_interval",
    items(
        cursor_path="updated_at",
        start_param="updated_since",
        end_param="updated_until",
        allow_external_schedulers=True,
        initial_value="2024-01-01T00:00:00Z",
    ),
    schedule=timedelta(hours=1),
)
# No incremental: a full merge each run, checkpointed and resumable.
full_merge = items_dag("full_merge", items())
