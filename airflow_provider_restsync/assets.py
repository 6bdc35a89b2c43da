"""The Airflow Asset a synced table stands for (light: DAG files import it).

A task syncing into the table emits its events (the operator puts the run's counts and cursor in their
``extra``: :func:`report.asset_extra`); downstream DAGs schedule on it and read them.
"""

from __future__ import annotations

from airflow.sdk import Asset


def table_asset(table: str, destination_conn_id: str | None, schema: str | None) -> Asset:
    """The Asset of ``table`` (in ``schema``) of the destination ``destination_conn_id`` (None: the
    embedded SQLite file): ``restsync://<conn id or embedded>/<schema>/<table>``."""
    where = destination_conn_id or "embedded"
    path = f"{schema}/{table}" if schema else table
    return Asset(name=f"restsync.{where}.{path.replace('/', '.')}", uri=f"restsync://{where}/{path}")


__all__ = ["table_asset"]
