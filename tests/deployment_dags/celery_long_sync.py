"""A long sync for tests/test_deployment_celery.py: the communications example, checkpointing as it goes.

The sandbox serves the communications API slowly (``--latency``), one page of 100 records per request
and no total, so the pages come one after the other; every ``batch_size`` records are a committed
checkpoint. A killed try is retried two seconds later, on whichever Celery worker is left. Tables land
in schema ``celery_long_sync``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

EXAMPLE_DAGS = Path(__file__).resolve().parent.parent.parent / "dags"
BATCH_SIZE = 300  # three pages per checkpoint

dag = rest_sync_dag(
    EXAMPLE_DAGS / "communications.yaml",
    dag_id="celery_long_sync",
    conn_id="communications_api",
    destination_conn_id=os.environ.get("RESTSYNC_DESTINATION_CONN_ID") or None,
    destination_schema="celery_long_sync",
    schedule=None,
    batch_size=BATCH_SIZE,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    description="A slow sync of many pages, for killing its Celery worker half-way.",
    tags=["restsync", "deployment-test"],
)
