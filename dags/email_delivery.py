"""Delivery stats, streams, domains, messages, bounces and servers of an email delivery API.

Reference API 001: API key in a header, offset paging.
Its config is ``email_delivery.yaml`` beside this file.
Expects the Airflow connection ``email_delivery_api`` (see docs/connections.md). Tables land in schema
``email_delivery`` of the embedded SQLite database, or of the destination connection that
``RESTSYNC_DESTINATION_CONN_ID`` names.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

dag = rest_sync_dag(
    Path(__file__).with_name("email_delivery.yaml"),
    dag_id="email_delivery",
    conn_id="email_delivery_api",
    destination_conn_id=os.environ.get("RESTSYNC_DESTINATION_CONN_ID") or None,
    destination_schema="email_delivery",
    schedule="@daily",
    description="Delivery stats, streams, domains, messages, bounces and servers of an email delivery API.",
    tags=["restsync", "example"],
)
