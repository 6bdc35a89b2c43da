"""Accounts, inboxes, messages, projects, domains and billing of an inbox-testing API.

Reference API 003: bearer token, paths nested under parent resources.
Its config is ``inbox_testing.yaml`` beside this file.
Expects the Airflow connection ``inbox_testing_api`` (see docs/connections.md). Tables land in schema
``inbox_testing`` of the embedded SQLite database, or of the destination connection that
``RESTSYNC_DESTINATION_CONN_ID`` names.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

dag = rest_sync_dag(
    Path(__file__).with_name("inbox_testing.yaml"),
    dag_id="inbox_testing",
    conn_id="inbox_testing_api",
    destination_conn_id=os.environ.get("RESTSYNC_DESTINATION_CONN_ID") or None,
    destination_schema="inbox_testing",
    schedule="@daily",
    description="Accounts, inboxes, messages, projects, domains and billing of an inbox-testing API.",
    tags=["restsync", "example"],
)
