"""A mutable API for incremental-sync tests: records that tests add and change between sync runs.

The five reference APIs serve rows that are a pure function of their index. ``ChangingItems`` holds
state instead: ``add`` appends records, ``change`` bumps a record's version and status, and each mutated
record is stamped with the next tick of a logical clock (the latest ``updated_at`` in the store plus
``step_seconds``, never the wall clock), so a run is the same on every machine.

The server answers ``GET /changing/v1/items`` with ``page_body``: records with
``updated_since <= updated_at < updated_until``, ordered by ``(updated_at, id)``, in pages of
``{"data": [...], "total": N}``, which is what an incremental sync with a cursor on ``updated_at`` reads.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_restsync.sandbox import fake
from airflow_provider_restsync.sandbox.apis import page_window
from airflow_provider_restsync.sandbox.spec import Auth, HttpError, OffsetPaging, Record

NAME = "changing"
PATH = "/v1/items"
AUTH = Auth("bearer")
PAGING = OffsetPaging(max_limit=500, total_key="total")
# The faults a client of a plain JSON API retries.
FAULT_KINDS = frozenset({"429", "500", "503", "drop", "slow"})
STATUSES = ("pending", "active", "suspended", "closed")
_DATE_FIRST = re.compile(r"\d{4}-\d{2}-\d{2}([T ].*)?")
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
_LATEST = datetime.max.replace(tzinfo=timezone.utc)


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp (``Z`` or an offset; none means UTC) or a plain date, as an aware UTC datetime.

    :raises ValueError: if ``text`` is neither.
    """
    value = text.strip()
    if not _DATE_FIRST.fullmatch(value):
        raise ValueError(f"not an ISO-8601 timestamp or date: {text[:50]!r}")
    if value[-1] in "Zz":
        value = value[:-1] + "+00:00"  # Python 3.10's fromisoformat does not read Z
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def format_timestamp(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the form every sandbox timestamp has."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Item:
    id: int
    name: str
    status: str
    version: int
    updated_at: datetime

    def record(self) -> Record:
        return {**asdict(self), "updated_at": format_timestamp(self.updated_at)}


class ChangingItems:
    """A thread-safe in-memory store of records that change between sync runs, on a logical clock.

    Record ``i`` (id ``i + 1``) starts at version 1 with ``updated_at = start + i * step_seconds``;
    names and statuses depend only on (seed, id, version).

    :param count: how many records to start with.
    :param seed: the data seed.
    :param start: the ``updated_at`` of the first record.
    :param step_seconds: one tick of the logical clock.
    """

    def __init__(
        self, count: int = 0, *, seed: int = 42, start: str = "2024-01-01T00:00:00Z", step_seconds: int = 60
    ) -> None:
        if step_seconds < 1:
            raise ValueError(f"step_seconds must be 1 or more, got {step_seconds}")
        self.seed = seed
        self.start = parse_timestamp(start).replace(microsecond=0)
        self.step = timedelta(seconds=step_seconds)
        self._lock = threading.Lock()
        self._items: dict[int, _Item] = {}
        self._latest: datetime | None = None
        self.reset(count)

    def reset(self, count: int = 0) -> None:
        """Start over with ``count`` new records and the clock back at ``start``, as a new store would."""
        _non_negative(count, "the record count")
        with self._lock:
            self._items = {}
            self._latest = None
            self._append(count)

    def add(self, n: int) -> list[int]:
        """Append ``n`` records at version 1, each stamped with the next tick; returns their ids."""
        with self._lock:
            return self._append(n)

    def change(self, ids: Iterable[int] | None = None, *, count: int | None = None) -> list[int]:
        """Bump the version, move the status on and stamp the next tick, record by record.

        :param ids: the records to change, in this order; with neither ``ids`` nor ``count``, all of them.
        :param count: change the first ``count`` records by id instead.
        :returns: the changed ids, in the order they were stamped.
        :raises KeyError: for an id the store does not hold (then nothing changes).
        """
        if ids is not None and count is not None:
            raise ValueError("pass ids or count, not both")
        with self._lock:
            if ids is not None:
                chosen = list(dict.fromkeys(ids))
                missing = [item_id for item_id in chosen if item_id not in self._items]
                if missing:
                    raise KeyError(f"no records with ids {missing}")
            elif count is not None:
                chosen = sorted(self._items)[: _non_negative(count, "count")]
            else:
                chosen = sorted(self._items)
            for item_id in chosen:
                item = self._items[item_id]
                item.version += 1
                others = [status for status in STATUSES if status != item.status]
                item.status = fake.pick(fake.rng(self.seed, NAME, "status", item_id, item.version), others)
                item.updated_at = self._tick()
            return chosen

    def set_updated_at(self, item_id: int, value: str) -> None:
        """Set one record's ``updated_at`` (to build window and tie cases); the clock never goes back."""
        stamp = parse_timestamp(value).replace(microsecond=0)
        with self._lock:
            if item_id not in self._items:
                raise KeyError(f"no record with id {item_id}")
            self._items[item_id].updated_at = stamp
            self._latest = stamp if self._latest is None else max(self._latest, stamp)

    def records(self) -> list[Record]:
        """Copies of every record, ordered by id: what a table synced from this store must equal."""
        with self._lock:
            return [self._items[item_id].record() for item_id in sorted(self._items)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def query(
        self, updated_since: str | None, updated_until: str | None, offset: int, limit: int
    ) -> tuple[list[Record], int]:
        """One page of the records with ``updated_since <= updated_at < updated_until``, and their count.

        Either bound may be None (or empty). Pages follow ``(updated_at, id)``.

        :raises HttpError: 400 for a bound that is not a timestamp, a negative offset or a limit below 1.
        """
        low = _bound(updated_since, "updated_since", _EARLIEST)
        high = _bound(updated_until, "updated_until", _LATEST)
        if offset < 0 or limit < 1:
            raise HttpError(400, "bad_request", "offset must be 0 or more and limit 1 or more")
        with self._lock:
            matching = sorted(
                (item for item in self._items.values() if low <= item.updated_at < high),
                key=lambda item: (item.updated_at, item.id),
            )
            return [item.record() for item in matching[offset : offset + limit]], len(matching)

    def _append(self, n: int) -> list[int]:
        first = max(self._items, default=0) + 1
        ids = list(range(first, first + _non_negative(n, "the record count")))
        for item_id in ids:
            r = fake.rng(self.seed, NAME, "item", item_id)
            name = f"{fake.pick(r, fake.WORDS)} {fake.pick(r, fake.WORDS)} {item_id}"
            self._items[item_id] = _Item(item_id, name, fake.pick(r, STATUSES), 1, self._tick())
        return ids

    def _tick(self) -> datetime:
        self._latest = self.start if self._latest is None else self._latest + self.step
        return self._latest


def page_body(items: ChangingItems, path: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
    """The JSON body of ``GET /changing<path>``: one page, ``{"data": [...], "total": N}``.

    :raises HttpError: 404 for a path other than ``/v1/items``, 400 for a bad parameter.
    """
    if path.rstrip("/") != PATH:
        raise HttpError(404, "not_found", f"no resource at {path[:200]}; the changing API has {PATH}")
    offset, limit = page_window(PAGING, query)
    page, total = items.query(_param(query, "updated_since"), _param(query, "updated_until"), offset, limit)
    return {"data": page, "total": total}


def _param(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _bound(text: str | None, name: str, default: datetime) -> datetime:
    if not text:
        return default
    try:
        return parse_timestamp(text)
    except ValueError:
        raise HttpError(
            400, "bad_request", f"{name} must be an ISO-8601 timestamp like 2024-01-01T00:00:00Z or a date"
        ) from None


def _non_negative(value: int, what: str) -> int:
    if value < 0:
        raise ValueError(f"{what} must be 0 or more, got {value}")
    return value
