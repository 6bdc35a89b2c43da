"""Cursor values of an incremental sync: comparing them, lagging them, and the window of one run.

Cursor values are what the API writes (ISO-8601 strings, dates, numbers) and are stored as they came, as
JSON. Two strings that both read as datetimes (or dates) compare as such, so ``...Z`` and ``...+00:00``
agree; anything else compares as itself, and values that cannot be compared are an error naming both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow_provider_restsync.errors import PagingError
from airflow_provider_restsync.incremental import IncrementalSpec
from airflow_provider_restsync.selecting import JsonPath

# Hashes of the records at the newest cursor value, kept so a closed range does not load them twice.
MAX_BOUNDARY_HASHES = 10_000


def comparable(value: Any) -> Any:
    """``value`` in a form that orders like the cursor it is: datetimes for ISO strings, else itself."""
    if isinstance(value, str):
        moment = _read_datetime(value)
        if moment is not None:
            return moment
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return value


def compare(left: Any, right: Any, what: str) -> int:
    """-1, 0 or 1 as ``left`` is before, equal to or after ``right``.

    :raises PagingError: the two cannot be ordered (a number and a date, say).
    """
    a, b = comparable(left), comparable(right)
    try:
        return (a > b) - (a < b)
    except TypeError:
        raise PagingError(
            f"{what}: cursor value {left!r} ({type(left).__name__}) cannot be compared with {right!r} "
            f"({type(right).__name__})"
        ) from None


def lagged(value: Any, lag: float, *, towards_past: bool = True) -> Any:
    """``value`` moved back by ``lag`` (seconds for datetimes, days for dates, units for numbers), in the
    form it came in (an ISO string stays an ISO string in the same style)."""
    amount = -lag if towards_past else lag
    if isinstance(value, bool):
        raise PagingError(f"lag does not apply to the boolean cursor value {value!r}")
    if isinstance(value, (int, float)):
        moved = value + amount
        try:
            return int(moved) if isinstance(value, int) else moved
        except (OverflowError, ValueError):  # an infinite lag
            raise PagingError(f"lag {lag!r} cannot move the cursor value {value!r}") from None
    if isinstance(value, str):
        # A lag reaching past year 1 (or 9999) opens the window at the calendar's end.
        if _is_date(value):
            try:
                return (date.fromisoformat(value) + timedelta(days=amount)).isoformat()
            except OverflowError:
                return (date.min if amount < 0 else date.max).isoformat()
        moment = _read_datetime(value)
        if moment is not None:
            try:
                return _write_datetime(moment + timedelta(seconds=amount), value)
            except OverflowError:
                edge = datetime.min if amount < 0 else datetime.max
                try:
                    return _write_datetime(edge.replace(tzinfo=timezone.utc), value)
                except OverflowError:  # the edge in the value's own offset is off the calendar too
                    return value
    raise PagingError(f"lag needs a number, a date or a datetime cursor, not {value!r}")


def moment_value(moment: datetime, like: Any) -> Any:
    """A data-interval bound in the form of the cursor values: an ISO string (``Z``), or a Unix timestamp
    when ``like`` (the initial value) is a number."""
    moment = moment.astimezone(timezone.utc)
    if isinstance(like, bool) or like is None or isinstance(like, str):
        if isinstance(like, str) and _is_date(like):
            return moment.date().isoformat()
        return _write_datetime(moment, like if isinstance(like, str) else "Z")
    if isinstance(like, int):
        return int(moment.timestamp())
    return moment.timestamp()


@dataclass
class CursorWindow:
    """The cursor range one request sequence asks for, and what its kept records showed.

    :param spec: the incremental setting.
    :param start_value: the start this sequence asks from (the stored cursor, lagged, or the initial value).
    :param end_value: the end, or None.
    :param last_value: the stored cursor (None on a first run).
    :param boundary: hashes of records already loaded at ``start_value`` (a closed start loads them once).
    """

    spec: IncrementalSpec
    start_value: Any
    end_value: Any = None
    last_value: Any = None
    boundary: frozenset[str] = frozenset()
    max_value: Any = None
    max_hashes: set[str] = field(default_factory=set)
    where: str = ""

    def __post_init__(self) -> None:
        self._path = JsonPath(self.spec.cursor_path)
        self._grows = self.spec.last_value_func == "max"

    def values(self) -> dict[str, Any]:
        """The ``{incremental.*}`` placeholder values, converted as the API takes them."""
        raw = {
            "start_value": self.start_value,
            "end_value": self.end_value,
            "initial_value": self.spec.initial_value,
            "last_value": self.start_value,
        }
        return {name: self.sent(value) for name, value in raw.items()}

    def request_params(self) -> dict[str, Any]:
        """``start_param`` / ``end_param`` with their values (a value that is None is not sent)."""
        params: dict[str, Any] = {}
        if self.spec.start_param and self.start_value is not None:
            params[self.spec.start_param] = self.sent(self.start_value)
        if self.spec.end_param and self.end_value is not None:
            params[self.spec.end_param] = self.sent(self.end_value)
        return params

    def sent(self, value: Any) -> Any:
        convert = self.spec.convert
        return convert(value) if convert is not None and value is not None else value

    def keeps(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` is inside the window; a kept record moves ``max_value``.

        :raises PagingError: a record without a cursor value under ``on_cursor_value_missing: raise``.
        """
        value = self._path.first(record)
        if value is None:
            action = self.spec.on_cursor_value_missing
            if action == "raise":
                raise PagingError(
                    f"{self.where}: a record has no value at the cursor_path {self.spec.cursor_path!r} "
                    "(set on_cursor_value_missing: include or exclude to load or skip such records); the "
                    f"record has: {', '.join(map(repr, list(record)[:20]))}"
                )
            return action == "include"
        sign = 1 if self._grows else -1
        if self.start_value is not None:
            order = sign * compare(value, self.start_value, self.where)
            if order < 0 or (order == 0 and self.spec.range_start == "open"):
                return False
            if order == 0 and self.boundary and record_hash(record) in self.boundary:
                return False
        if self.end_value is not None:
            order = sign * compare(value, self.end_value, self.where)
            if order > 0 or (order == 0 and self.spec.range_end == "open"):
                return False
        self._observe(value, record)
        return True

    def _observe(self, value: Any, record: Mapping[str, Any]) -> None:
        order = 1 if self.max_value is None else compare(value, self.max_value, self.where)
        if not self._grows and self.max_value is not None:
            order = -order
        if order > 0:
            self.max_value = value
            self.max_hashes = set()
        if order >= 0 and len(self.max_hashes) < MAX_BOUNDARY_HASHES:
            self.max_hashes.add(record_hash(record))

    def advanced(self) -> tuple[Any, list[str]]:
        """The cursor after this sequence (the newer of stored and seen) and the boundary hashes at it."""
        if self.max_value is None:
            return self.last_value, sorted(self.boundary)
        if self.last_value is None:
            return self.max_value, sorted(self.max_hashes)
        order = compare(self.max_value, self.last_value, self.where)
        order = order if self._grows else -order
        if order > 0:
            return self.max_value, sorted(self.max_hashes)
        if order == 0:
            return self.last_value, sorted(self.boundary | self.max_hashes)[:MAX_BOUNDARY_HASHES]
        return self.last_value, sorted(self.boundary)


def open_window(
    spec: IncrementalSpec,
    stored: Mapping[str, Any] | None,
    *,
    interval: tuple[datetime, datetime] | None,
    where: str,
) -> CursorWindow:
    """The window of a new sequence from the stored cursor state (``{"last_value", "boundary"}``).

    With ``allow_external_schedulers`` and a data interval the window is the interval; with an
    ``end_value`` it is ``[initial_value, end_value)``; else (a run without a data interval included: a
    trigger timetable gives none) it starts at the stored cursor (lagged, never before ``initial_value``)
    or at ``initial_value`` on a first run.
    """
    if spec.allow_external_schedulers and interval is not None:
        start, end = interval
        return CursorWindow(
            spec,
            moment_value(start, spec.initial_value),
            moment_value(end, spec.initial_value),
            where=where,
        )
    if not spec.keeps_state(interval=interval is not None) or not stored or stored.get("last_value") is None:
        return CursorWindow(spec, spec.initial_value, spec.end_value, where=where)
    last = stored["last_value"]
    start = last
    boundary = frozenset(stored.get("boundary") or ())
    if spec.lag:
        start = lagged(last, spec.lag, towards_past=spec.last_value_func == "max")
        boundary = frozenset()  # records re-fetched inside the lag merge again; nothing to skip
        if spec.initial_value is not None:
            order = compare(start, spec.initial_value, where)
            if (order < 0) == (spec.last_value_func == "max") and order != 0:
                start = spec.initial_value
    return CursorWindow(spec, start, None, last_value=last, boundary=boundary, where=where)


def record_hash(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def window_state(window: CursorWindow) -> dict[str, Any]:
    """What a sync in progress stores of its window, so a resumed sequence asks for the same range."""
    return {
        "start_value": window.start_value,
        "end_value": window.end_value,
        "last_value": window.last_value,
        "boundary": sorted(window.boundary),
        "max_value": window.max_value,
        "max_hashes": sorted(window.max_hashes),
    }


def restore_window(spec: IncrementalSpec, saved: Mapping[str, Any], *, where: str) -> CursorWindow:
    window = CursorWindow(
        spec,
        saved.get("start_value"),
        saved.get("end_value"),
        last_value=saved.get("last_value"),
        boundary=frozenset(saved.get("boundary") or ()),
        where=where,
    )
    window.max_value = saved.get("max_value")
    window.max_hashes = set(saved.get("max_hashes") or ())
    return window


def _is_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-" and _read_date(text) is not None


def _read_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _read_datetime(text: str) -> datetime | None:
    if len(text) < 10 or not text[:4].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _write_datetime(moment: datetime, like: str) -> str:
    """``moment`` written in the style of ``like``: ``Z`` or an offset, with or without fractions."""
    if like.endswith(("Z", "z")) or like == "Z":
        text = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
        if "." not in like and moment.microsecond == 0:
            text = text.split(".")[0]
        return text + "Z"
    original = _read_datetime(like)
    if original is not None and original.tzinfo is not None and ("+" in like[10:] or "-" in like[10:]):
        return moment.astimezone(original.tzinfo).isoformat()
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
