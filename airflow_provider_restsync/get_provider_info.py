"""Provider metadata Airflow reads at start-up. Keep this module free of airflow.sdk imports."""

from __future__ import annotations

from typing import Any

from airflow_provider_restsync import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-restsync",
        "name": "REST Sync",
        "description": "Sync paginated REST APIs into SQL tables from dlt-style rest_api_source configs.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "REST Sync",
                "python-modules": [
                    "airflow_provider_restsync.hooks.base",
                    "airflow_provider_restsync.hooks.basic",
                    "airflow_provider_restsync.hooks.api_key",
                    "airflow_provider_restsync.hooks.bearer",
                    "airflow_provider_restsync.hooks.oauth2",
                    "airflow_provider_restsync.hooks.noauth",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "REST Sync",
                "python-modules": ["airflow_provider_restsync.operators.rest_to_sql"],
            }
        ],
        # Filled in by the hooks: one entry per auth style, with its connection form.
        "connection-types": [],
    }
