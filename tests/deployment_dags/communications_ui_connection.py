"""The communications example on a connection made in the UI: the deployment tests' extra DAG bundle.

``tests/test_deployment_e2e.py`` creates the connection ``communications_ui`` through the REST API as the
connection form saves it; the environment does not define it. Tables land in schema ``communications_ui``.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

EXAMPLE_DAGS = Path(__file__).resolve().parent.parent.parent / "dags"

dag = rest_sync_dag(
    EXAMPLE_DAGS / "communications.yaml",
    dag_id="communications_ui_connection",
    conn_id="communications_ui",
    destination_conn_id=os.environ.get("RESTSYNC_DESTINATION_CONN_ID") or None,
    destination_schema="communications_ui",
    schedule=None,
    description="The communications example on a connection created the way the UI form saves it.",
    tags=["restsync", "deployment-test"],
)
