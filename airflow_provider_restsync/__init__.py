"""Sync paginated REST APIs into SQL tables from Airflow, with dlt-style source configs.

The package root stays light: Airflow imports the provider info while it starts, so the public names
below are imported only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["RestToSqlOperator", "__version__", "rest_sync_dag"]

if TYPE_CHECKING:
    from airflow_provider_restsync.dags import rest_sync_dag
    from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator


def __getattr__(name: str) -> Any:
    if name == "rest_sync_dag":
        from airflow_provider_restsync.dags import rest_sync_dag

        return rest_sync_dag
    if name == "RestToSqlOperator":
        from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator

        return RestToSqlOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
