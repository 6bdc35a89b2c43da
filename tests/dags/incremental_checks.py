"""DAGs the incremental, resume and lock tests run against the sandbox's ``changing`` API.

The tests set the connections ``changing_api`` (restsync_bearer, the sandbox's changing token) and
``changing_db`` (the destination), ``loopback_api`` (restsync_bearer, a test's own loopback server) for
``inc_missing_cursor``, and ``RESTSYNC_TEST_BATCH_SIZE`` / ``RESTSYNC_TEST_LIMIT`` where a test needs other
checkpoint or page sizes.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, DeltaDataIntervalTimetable, Param

from airflow_provider_restsync import RestToSqlOperator

LIMIT = int(os.environ.get("RESTSYNC_TEST_LIMIT") or 100)
BATCH_SIZE = int(os.environ.get("RESTSYNC_TEST_BATCH_SIZE") or 5000)
LOCK_TIMEOUT = float(os.environ.get("RESTSYNC_TEST_LOCK_TIMEOUT") or 300)
SOURCE = {"client": {"auth": {"type": "bearer"}}}


# The incremental of inc_cursor and the DAGs like it.
CURSOR = {
    "cursor_path": "updated_at",
    "start_param": "updated_since",
    "initial_value": "2024-01-01T00:00:00Z",
}


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
    items(**CURSOR),
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
# As inc_interval on a timetable with data intervals. Airflow 3 turns schedule=timedelta(...) into a
# DeltaTriggerTimetable ([scheduler] create_delta_data_intervals = False), whose runs all have an empty
# data interval (start == end); DeltaDataIntervalTimetable gives [L - 1h, L) to a run with logical date L.
inc_interval_hourly = items_dag(
    "inc_interval_hourly",
    items(
        cursor_path="updated_at",
        start_param="updated_since",
        end_param="updated_until",
        allow_external_schedulers=True,
        initial_value="2024-01-01T00:00:00Z",
    ),
    schedule=DeltaDataIntervalTimetable(timedelta(hours=1)),
)
# No incremental: a full merge each run, checkpointed and resumable.
full_merge = items_dag("full_merge", items())

# As inc_cursor, with the run param the operator reads: run_conf={"full_refresh": True} reloads everything.
inc_refresh = items_dag("inc_refresh", items(**CURSOR), params={"full_refresh": Param(False, type="boolean")})
# As inc_cursor with range_start open: a record at exactly the stored cursor is not asked for again.
inc_open_start = items_dag("inc_open_start", items(**CURSOR, range_start="open"))

# on_cursor_value_missing, one task per action, against the records of a test's loopback server.
with DAG(
    "inc_missing_cursor", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None, catchup=False
) as inc_missing_cursor:
    for action in ("raise", "include", "exclude"):
        RestToSqlOperator(
            task_id=f"missing_{action}",
            conn_id="loopback_api",
            destination_conn_id="changing_db",
            source=SOURCE,
            resource={
                "name": "records",
                "endpoint": {
                    "path": "/records",
                    "data_selector": "data",
                    "paginator": "single_page",
                    "incremental": {
                        "cursor_path": "updated_at",
                        "start_param": "since",
                        "initial_value": "2024-01-01T00:00:00Z",
                        "on_cursor_value_missing": action,
                    },
                },
                "primary_key": "id",
                "write_disposition": "merge",
            },
            table_name=f"records_{action}",
            lock_timeout=LOCK_TIMEOUT,
        )
