"""What a finished sync tells people: the task log's summary line and the table asset event's extra.

Both are made of the :class:`~airflow_provider_restsync.runs.SyncSummary` the task returns as its XCom,
so the log, the XCom and the asset event never disagree::

    Synced contacts into contacts (merge) in 3.2 s: 1,000 records fetched in 10 pages and 12 requests;
    rows 990 inserted, 10 updated, 0 unchanged; 12 columns added (1 variant); 2 retries (429: 1, 503: 1)
"""

from __future__ import annotations

from typing import Any

from airflow_provider_restsync.progress import counted
from airflow_provider_restsync.runs import SyncSummary


def summary_line(summary: SyncSummary, *, schema: str | None = None) -> str:
    """The summary line of a completed sync, as the module docstring shows it."""
    table = f"{schema}.{summary.table}" if schema else summary.table
    fetched = f"{summary.fetched:,} records fetched"
    if summary.filtered:
        fetched += f" ({summary.filtered:,} before the incremental window's start, not written)"
    parts = [
        f"Synced {summary.resource} into {table} ({summary.disposition}) in {summary.seconds:.1f} s: "
        f"{fetched} in {counted(summary.pages, 'page')} and {counted(summary.requests, 'request')}",
        f"rows {summary.inserted:,} inserted, {summary.updated:,} updated, {summary.unchanged:,} unchanged",
        f"{counted(summary.columns_added, 'column')} added ({summary.variant_columns:,} variant)",
        retries_text(summary),
    ]
    line = "; ".join(parts)
    if summary.resumed:
        line += "; resumed an interrupted sync"
    return line


def failure_line(summary: SyncSummary, error: BaseException) -> str:
    """What a failed sync had done: the batches it committed stay, and a retry resumes after them."""
    return (
        f"Resource {summary.resource!r} failed after {summary.seconds:.1f} s ({type(error).__name__}); "
        f"committed before that, and kept: {counted(summary.records, 'record')} in "
        f"{counted(summary.pages, 'page')} into {summary.table} ({summary.inserted:,} inserted, "
        f"{summary.updated:,} updated); {counted(summary.requests, 'request')}, {retries_text(summary)}"
    )


def retries_text(summary: SyncSummary) -> str:
    """``3 retries (429: 2, timeout: 1)``, or ``0 retries``."""
    text = counted(summary.retries, "retry", "retries")
    if summary.retries_by_cause:
        text += " (" + ", ".join(f"{cause}: {n}" for cause, n in summary.retries_by_cause.items()) + ")"
    return text


def asset_extra(summary: SyncSummary, *, run_id: str, schema: str | None = None) -> dict[str, Any]:
    """The ``extra`` of the table asset's event: what this run changed, for downstream DAGs
    (``triggering_asset_events`` / ``inlet_events``). JSON-safe; no records, no secrets."""
    return {
        "resource": summary.resource,
        "table": summary.table,
        "schema": schema,
        "disposition": summary.disposition,
        "run_id": run_id,
        "records": summary.records,
        "rows": {"inserted": summary.inserted, "updated": summary.updated, "unchanged": summary.unchanged},
        "columns_added": summary.columns_added,
        "cursor": summary.cursor,
        "resumed": summary.resumed,
    }


__all__ = ["asset_extra", "failure_line", "retries_text", "summary_line"]
