"""DAGs the resume and lock tests (tests/test_resume.py) run as ``airflow tasks test`` subprocesses.

They sync the sandbox's ``changing`` API through the connections ``changing_api`` (restsync_bearer) and
``changing_db`` (the destination). The environment sets the page size (``RESTSYNC_RESUME_LIMIT``), the
checkpoint interval (``RESTSYNC_RESUME_BATCH_SIZE``) and the lock wait (``RESTSYNC_RESUME_LOCK_TIMEOUT``)
of each subprocess.

``RESTSYNC_RESUME_GATE`` (a file path) holds a task back, before it executes, until the file exists: the
tests start a retry's process while the try before it still runs (Airflow's start-up takes seconds), and
create the file once that try is killed, or once another run holds the resource's lock.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG

from airflow_provider_restsync import RestToSqlOperator

LIMIT = int(os.environ.get("RESTSYNC_RESUME_LIMIT") or 500)
BATCH_SIZE = int(os.environ.get("RESTSYNC_RESUME_BATCH_SIZE") or 5000)
LOCK_TIMEOUT = float(os.environ.get("RESTSYNC_RESUME_LOCK_TIMEOUT") or 300)
SOURCE = {"client": {"auth": {"type": "bearer"}}}
GATE_TIMEOUT = 600.0


def wait_for_gate(context: Any) -> None:
    """Wait for the file ``RESTSYNC_RESUME_GATE`` names (no variable: go on at once)."""
    gate = os.environ.get("RESTSYNC_RESUME_GATE")
    if not gate:
        return
    print(f"resume_checks: waiting for the gate {gate}", flush=True)
    deadline = time.monotonic() + GATE_TIMEOUT
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gate {gate} did not open in {GATE_TIMEOUT:g} s")
        time.sleep(0.01)
    print("resume_checks: the gate is open", flush=True)


def items(**incremental: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "path": "/v1/items",
        "data_selector": "data",
        "paginator": {"type": "offset", "limit": LIMIT, "total_path": "total"},
    }
    if incremental:
        endpoint["incremental"] = incremental
    return {"name": "items", "endpoint": endpoint, "primary_key": "id", "write_disposition": "merge"}


def items_dag(dag_id: str, resource: dict[str, Any]) -> DAG:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with DAG(dag_id, schedule=None, start_date=start, catchup=False) as dag:
        RestToSqlOperator(
            task_id="items",
            conn_id="changing_api",
            destination_conn_id="changing_db",
            source=SOURCE,
            resource=resource,
            batch_size=BATCH_SIZE,
            lock_timeout=LOCK_TIMEOUT,
            pre_execute=wait_for_gate,
        )
    return dag


# Incremental on updated_at: a resumed sync keeps its window and goes on from the next offset.
resume_cursor = items_dag(
    "resume_cursor",
    items(cursor_path="updated_at", start_param="updated_since", initial_value="2024-01-01T00:00:00Z"),
)
# No incremental: a full merge, checkpointed by the next offset alone.
resume_full_merge = items_dag("resume_full_merge", items())
