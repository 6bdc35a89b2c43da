"""Operators of the provider."""

from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator

__all__ = ["RestToSqlOperator"]
