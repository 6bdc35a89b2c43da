"""A sync's numbers as Airflow metrics, through Airflow's ``Stats`` (StatsD, Datadog or OpenTelemetry, as
``[metrics]`` configures; nothing is sent when metrics are off).

Per resource, when its task ends (failed ones too):

- counters ``restsync.records`` (records written), ``restsync.fetched`` (records the API sent),
  ``restsync.pages``, ``restsync.requests`` (retries included), ``restsync.retries``,
  ``restsync.rows.inserted``, ``restsync.rows.updated``, ``restsync.rows.unchanged``, and
  ``restsync.sync.success`` or ``restsync.sync.failed`` (1 per task);
- ``restsync.retries.by_cause`` per cause of retries (``429``, ``timeout``, ``incomplete body``, ...);
- the timer ``restsync.duration``: the sync's seconds.

Each is sent under its own name with the tags ``dag_id``, ``task_id``, ``resource`` and ``table`` (and
``cause``), which OpenTelemetry, Datadog and StatsD with InfluxDB-style tags keep; and again, for plain
StatsD, with the DAG and task in the name, as Airflow's own legacy metric names have them:
``restsync.records.<dag_id>.<task_id>``, ``restsync.retries_by_cause.<cause>.<dag_id>.<task_id>``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow_provider_restsync.runs import SyncSummary

log = logging.getLogger(__name__)

PREFIX = "restsync"


def emit_sync_metrics(summary: SyncSummary, *, dag_id: str, task_id: str, succeeded: bool) -> None:
    """Send ``summary``'s numbers (see the module docstring); a metrics backend's trouble is logged,
    never raised: metrics must not fail a sync."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # pragma: no cover - an Airflow without the SDK's stats module
        return
    tags = {"dag_id": dag_id, "task_id": task_id, "resource": summary.resource, "table": summary.table}
    counters = {
        "records": summary.records,
        "fetched": summary.fetched,
        "pages": summary.pages,
        "requests": summary.requests,
        "retries": summary.retries,
        "rows.inserted": summary.inserted,
        "rows.updated": summary.updated,
        "rows.unchanged": summary.unchanged,
        "sync.success" if succeeded else "sync.failed": 1,
    }
    where = f"{_part(dag_id)}.{_part(task_id)}"
    try:
        for name, count in counters.items():
            _send(Stats.incr, name, f"{name}.{where}", tags, count=count)
        for cause, count in summary.retries_by_cause.items():
            legacy = f"retries_by_cause.{_part(cause)}.{where}"
            _send(Stats.incr, "retries.by_cause", legacy, {**tags, "cause": cause}, count=count)
        _send(Stats.timing, "duration", f"duration.{where}", tags, dt=timedelta(seconds=summary.seconds))
    except Exception:
        log.warning("Resource %r: could not send its metrics", summary.resource, exc_info=True)


def _send(send: Any, name: str, legacy: str, tags: dict[str, str], **values: Any) -> None:
    send(f"{PREFIX}.{name}", tags=tags, **values)
    send(f"{PREFIX}.{legacy}", **values)


def _part(value: str) -> str:
    """One segment of a metric name: what StatsD allows, and no dot (a task group's ``group.task``)."""
    from airflow.sdk.observability.stats import normalize_name_for_stats

    return normalize_name_for_stats(value.replace(".", "__"), log_warning=False)


__all__ = ["PREFIX", "emit_sync_metrics"]
