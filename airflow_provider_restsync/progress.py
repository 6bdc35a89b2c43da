"""How far a running sync has come, told in the task log every few seconds.

A line says what was fetched (pages, records, records per second), what was committed, the retries so
far, and how far along the sync is when that is known: the share of the API's total (an offset or page
number paginator reading ``total_path``) or, for a child resource, the parents done of those known, with
an ETA from the pace of this run::

    Resource 'contacts': 12 pages, 1,200 records fetched (1,000 committed), 240 records/s, 3 retries;
    40% of the API's total, ETA 7 s

The lines come from a thread of their own (:class:`ProgressTicker`), so they keep coming while a slow
API keeps a page waiting; the sync only counts (:class:`SyncProgress`), which costs it nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_restsync.fetch import Page

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0
#: Never more than one line a second: a fast sync must not flood the task log.
MIN_INTERVAL = 1.0


class SyncProgress:
    """The counts of one running sync of one resource, and the progress line they make.

    :param resource: the resource's name, for the line.
    :param retries: the retries sent so far (the hook's counters).
    :param committed: the records committed so far.
    :param resumed: the sync goes on from an interrupted one: the pace (and so the ETA) is measured from
        the first page of this run, not from the share of the work done before it.
    :param clock: seconds, monotonic.
    """

    def __init__(
        self,
        resource: str,
        *,
        retries: Callable[[], int] = lambda: 0,
        committed: Callable[[], int] = lambda: 0,
        resumed: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resource = resource
        self._retries = retries
        self._committed = committed
        self._clock = clock
        self.started = clock()
        self.pages = 0
        self.records = 0
        #: the parents the sync will go through, when known up front (those its parent task committed)
        self.parents_total: int | None = None
        self.parents_done = 0
        self.parents_known = 0
        self._share: float | None = None  # of the API's total, for a resource without a parent
        self._child = False
        self._baseline: tuple[float, float] | None = None if resumed else (self.started, 0.0)

    def child_of_parents(self, total: int | None) -> None:
        """The resource runs once per parent record; ``total``: how many, when known up front."""
        self._child = True
        self.parents_total = total

    def took(self, page: Page) -> None:
        """Count one page the sync has taken from the API (before the incremental window)."""
        self.pages += 1
        self.records += len(page.records)
        if self._child:
            sequence = page.sequence
            self.parents_known = max(self.parents_known, sequence, self.parents_total or 0)
            self.parents_done = max(self.parents_done, sequence if page.last else sequence - 1)
        elif page.progress is not None:
            done, of = page.progress
            self._share = 1.0 if of <= 0 else min(done / of, 1.0)
        if self._baseline is None and (share := self.share()) is not None:
            self._baseline = (self._clock(), share)

    def share(self) -> float | None:
        """How much of the sync is done, 0 to 1, when that is known."""
        if not self._child:
            return self._share
        if self.parents_total is None:
            return None
        return 1.0 if self.parents_total == 0 else min(self.parents_done / self.parents_total, 1.0)

    def eta(self) -> float | None:
        """Seconds left at this run's pace, when the share done is known and has moved."""
        share = self.share()
        if share is None or self._baseline is None:
            return None
        since, at = self._baseline
        elapsed = self._clock() - since
        if share >= 1.0:
            return 0.0
        if share <= at or elapsed <= 0:
            return None
        return (1.0 - share) * elapsed / (share - at)

    def line(self) -> str:
        """The progress line, as the module docstring shows it."""
        elapsed = max(self._clock() - self.started, 1e-9)
        retries = self._retries()
        parts = [
            f"Resource {self.resource!r}: {counted(self.pages, 'page')}, {self.records:,} records fetched "
            f"({self._committed():,} committed), {self.records / elapsed:,.0f} records/s, "
            f"{counted(retries, 'retry', 'retries')}"
        ]
        share, eta = self.share(), self.eta()
        if self._child:
            known = f"parents {self.parents_done:,} done of {self.parents_known:,} known"
            parts.append(known + (f" ({_percent(share)})" if share is not None else ""))
        elif share is not None:
            parts.append(f"{_percent(share)} of the API's total")
        if eta is not None and eta > 0:  # no ETA once the share reaches 100%
            parts[-1] += f", ETA {duration(eta)}"
        return "; ".join(parts)


class ProgressTicker:
    """Logs ``progress.line()`` every ``interval`` seconds (at least :data:`MIN_INTERVAL`) from a daemon
    thread, from ``start()`` until ``stop()``; a sync shorter than ``interval`` logs none."""

    def __init__(
        self, progress: SyncProgress, interval: float, *, emit: Callable[[str], None] | None = None
    ) -> None:
        self.progress = progress
        self.interval = max(float(interval), MIN_INTERVAL)
        self._emit = emit or log.info
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ProgressTicker:
        self._thread = threading.Thread(
            target=self._run, name=f"restsync-progress-{self.progress.resource}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> ProgressTicker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self._emit(self.progress.line())
            except Exception:  # a progress line must never break a sync
                log.debug("progress line failed", exc_info=True)


def check_interval(value: object, *, key_path: str) -> float | None:
    """``progress_interval`` as given to the operator: seconds (at least one), or None for no lines."""
    from airflow_provider_restsync.errors import ConfigError

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= MIN_INTERVAL:
        raise ConfigError(
            f"progress_interval must be a number of seconds, {MIN_INTERVAL:g} or more (or None for no "
            f"progress lines), got {value!r}",
            key_path=key_path,
        )
    return float(value)


def duration(seconds: float) -> str:
    """``7 s``, ``2 min 05 s``, ``1 h 02 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{max(whole, 0)} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _percent(share: float) -> str:
    return f"{int(share * 100)}%" if share >= 0.01 or share == 0 else "<1%"  # 99.6% is not yet 100%


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """``1 page``, ``1,200 pages``; ``plural`` when adding an s will not do (``retries``)."""
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


__all__ = [
    "DEFAULT_INTERVAL",
    "MIN_INTERVAL",
    "ProgressTicker",
    "SyncProgress",
    "check_interval",
    "counted",
    "duration",
]
