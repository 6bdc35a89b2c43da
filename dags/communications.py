"""Communications data of a communications API.

Reference API 002: API key in the query string, offset paging without totals.
Its config is ``communications.yaml`` beside this file.
Expects the Airflow connection ``communications_api`` (see docs/connections.md). Tables land in schema
``communications`` of the embedded SQLite database, or of the destination connection that
``RESTSYNC_DESTINATION_CONN_ID`` names.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

dag = rest_sync_dag(
    Path(__file__).with_name("communications.yaml"),
    dag_id="communications",
    conn_id="communications_api",
    destination_conn_id=os.environ.get("RESTSYNC_DESTINATION_CONN_ID") or None,
    destination_schema="communications",
    schedule="@hourly",
    description="Communications data of a communications API.",
    tags=["restsync", "example"],
)
