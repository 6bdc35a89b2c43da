"""Messages, servers and usage transactions of a communication-testing platform.

Reference API 000: basic auth, one page per resource.
Its config is ``mail_testing.yaml`` beside this file.
Expects the Airflow connection ``mail_testing_api`` (see docs/connections.md). Tables land in schema
``mail_testing`` of the embedded SQLite database, or of the destination connection that
``RESTSYNC_DESTINATION_CONN_ID`` names.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

dag = rest_sync_dag(
    Path(__file__).with_name("mail_testing.yaml"),
    dag_id="mail_testing",
    conn_id="mail_testing_api",
    destination_conn_id=os.environ.get("RESTSYNC_DESTINATION_CONN_ID") or None,
    destination_schema="mail_testing",
    schedule="@hourly",
    description="Messages, servers and usage transactions of a communication-testing platform.",
    tags=["restsync", "example"],
)
