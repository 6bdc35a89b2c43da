"""rest_sync_dag: a source config -> an Airflow DAG with one task per resource."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Param

from airflow_provider_restsync.assets import table_asset
from airflow_provider_restsync.config import ResourceConfig, SourceConfig, load_source
from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator

TASK_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
DEFAULT_START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: A sync is safe to run again (a merge rewrites nothing twice, a retry resumes from its last checkpoint),
#: so a transient failure is retried rather than failing the run.
DEFAULT_RETRIES = {"retries": 2, "retry_delay": timedelta(minutes=1)}


def rest_sync_dag(
    config: Mapping[str, Any] | str | os.PathLike[str],
    *,
    dag_id: str,
    conn_id: str,
    destination_conn_id: str | None = None,
    destination_schema: str | None = None,
    schedule: Any = None,
    naming: str = "snake_case",
    batch_size: int | None = None,
    operator_kwargs: Mapping[str, Any] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """
    Build a DAG that syncs every selected resource of ``config`` into its own table, one task each.

    The config is validated here, at parse time, without touching the network, a connection or a
    database; a broken config raises :class:`~airflow_provider_restsync.errors.ConfigError` naming the
    key path. A child resource's task runs after its parent's task.

    :param config: dlt ``rest_api_source`` config as a mapping, or a path to a YAML/JSON file.
    :param dag_id: the DAG id.
    :param conn_id: Airflow connection of the API.
    :param destination_conn_id: Airflow connection of the destination database; ``None`` for the
        embedded SQLite file in ``$AIRFLOW_HOME``.
    :param destination_schema: PostgreSQL schema / MySQL database of the tables.
    :param schedule: the DAG's schedule.
    :param naming: ``snake_case`` (as dlt names columns) or ``direct``.
    :param batch_size: records per write transaction.
    :param operator_kwargs: extra arguments for every task (``retries``, ``pool``, ...).
    :param dag_kwargs: anything else ``DAG`` takes (``tags``, ``description``, ``start_date``, ...).
        ``default_args`` are added to :data:`DEFAULT_RETRIES` (two retries, a minute apart), which
        they (or ``operator_kwargs``) override.
    """
    source = load_source(config)
    task_config: Any = os.fspath(config) if isinstance(config, os.PathLike) else config
    resources = source.selected_resources()
    _check_task_ids(source)
    names = [resource.name for resource in resources]
    dag_kwargs.setdefault("start_date", DEFAULT_START_DATE)
    dag_kwargs.setdefault("catchup", False)
    dag_kwargs.setdefault("tags", ["restsync"])
    dag_kwargs["default_args"] = {**DEFAULT_RETRIES, **dag_kwargs.get("default_args", {})}
    # Both params may be left empty: "null" in their types keeps the Trigger form from marking them
    # required (it does so for a type without "null"); the operator reads empty as "no" and "all".
    params = {
        "full_refresh": Param(
            False,
            type=["boolean", "null"],
            title="Full refresh",
            description=(
                "Forget the stored cursors and positions and reload every table from scratch, swapped in "
                "atomically, instead of syncing what changed."
            ),
        ),
        "resources": Param(
            [],
            type=["array", "null"],
            items={"type": "string", "enum": names},
            examples=names,  # the Trigger form offers them in a multi-select (it reads examples, not items)
            title="Resources",
            description="Run only these resources; the others are skipped. Empty runs all.",
        ),
        **dag_kwargs.pop("params", {}),
    }
    extra = dict(operator_kwargs or {})
    if batch_size is not None:
        extra["batch_size"] = batch_size
    with DAG(dag_id=dag_id, schedule=schedule, params=params, **dag_kwargs) as dag:
        tasks: dict[str, RestToSqlOperator] = {}
        for resource in resources:
            tasks[resource.name] = RestToSqlOperator(
                task_id=resource.name,
                conn_id=conn_id,
                source=task_config,
                resource=resource.name,
                destination_conn_id=destination_conn_id,
                destination_schema=destination_schema,
                naming=naming,
                outlets=[table_asset(resource.table_name, destination_conn_id, destination_schema)],
                # A parent skipped by the run's resource selection must not skip its children.
                trigger_rule="none_failed" if resource.parent else "all_success",
                doc_md=_task_doc(resource),
                **extra,
            )
        for resource in resources:
            if resource.parent and resource.parent in tasks:
                tasks[resource.parent] >> tasks[resource.name]
    return dag


def _check_task_ids(source: SourceConfig) -> None:
    for resource in source.resources:
        if not TASK_ID.match(resource.name):
            raise ConfigError(
                f"resource name {resource.name!r} cannot be a task id: use letters, digits, '_', '-' or '.'",
                key_path=f"{resource.key_path}.name",
            )


def _task_doc(resource: ResourceConfig) -> str:
    endpoint = resource.endpoint
    lines = [
        f"Syncs `{endpoint.method} {endpoint.path}` into table `{resource.table_name}`",
        f"({resource.write_disposition.disposition}"
        + (f" on {', '.join(resource.primary_key)}" if resource.primary_key else "")
        + ").",
    ]
    if resource.parent:
        lines.append(f"\n\nFor each record of `{resource.parent}`.")
    return " ".join(lines)
