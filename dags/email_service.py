"""Bounces, messages, delivery stats, servers and domains of an email service API.

Reference API 004: API key in the query string, offset paging.
Its config is ``email_service.yaml`` beside this file.
Expects the Airflow connection ``email_service_api`` (see docs/connections.md). Tables land in schema
``email_service`` of the embedded SQLite database, or of the destination connection that
``RESTSYNC_DESTINATION_CONN_ID`` names.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

dag = rest_sync_dag(
    Path(__file__).with_name("email_service.yaml"),
    dag_id="email_service",
    conn_id="email_service_api",
    destination_conn_id=os.environ.get("RESTSYNC_DESTINATION_CONN_ID") or None,
    destination_schema="email_service",
    schedule="@daily",
    description="Bounces, messages, delivery stats, servers and domains of an email service API.",
    tags=["restsync", "example"],
)
