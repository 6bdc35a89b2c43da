"""What a sync is asked to do for an Airflow run, and what it reports (light: DAG files import it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_BATCH_SIZE = 5_000
# Page requests in flight at once where the paginator knows the next pages (offset or page number
# with a total): enough to hide an API's latency, few enough for its rate limits.
DEFAULT_CONCURRENCY = 4


@dataclass
class SyncSummary:
    """What one task did; small enough for XCom (never records).

    ``fetched`` counts the records the API sent, ``records`` those written (the fetched ones less those
    the incremental window ``filtered``); ``inserted + updated + unchanged`` are the rows they made.
    ``columns_added`` counts the table's new columns, ``variant_columns`` those of them that hold values
    of another type than their field's column.
    """

    resource: str
    table: str
    disposition: str
    records: int = 0
    pages: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    fetched: int = 0
    columns_added: int = 0
    variant_columns: int = 0
    requests: int = 0
    retries: int = 0
    #: retries by cause: the HTTP status ("429"), "timeout", "connection", "incomplete body", "not JSON".
    retries_by_cause: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    filtered: int = 0
    resumed: bool = False
    parents_from: str = ""
    cursor: Any = None


@dataclass(frozen=True)
class RunInfo:
    """The Airflow run a sync belongs to.

    :param source: what the state is kept under (the DAG id).
    :param owner: the task instance, stable across its retries (``dag/task/run/map_index``).
    :param holder: the same for people (who holds the lock).
    :param interval: the run's data interval, for ``allow_external_schedulers``.
    """

    source: str
    run_id: str
    owner: str
    holder: str
    interval: tuple[datetime, datetime] | None = None
