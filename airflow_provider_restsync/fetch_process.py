"""A sync's pages packed for the pipe from its fetch process (:mod:`.forked`) and unpacked on the other end.

A page crosses as two parts. Its records are written by orjson, the fastest way to rebuild them on
the loading side; a page that is not strict JSON is pickled instead, because orjson would turn a NaN
into null. The rest is pickled: whether the page starts a new request sequence, its redacted URL, the
parent values, the paginator's position and progress, and which request sequence it belongs to. The
fetch process's request and retry counts ride along, so the hook on the loading side reports what was
sent.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from typing import Any

import orjson

from airflow_provider_restsync.fetch import Page

_SIZE = struct.Struct("!I")
_JSON, _PICKLE = b"j", b"p"

Sequenced = tuple[bool, Page]  # (the page starts a request sequence, the page)


def stats_of(client: Any) -> Any:
    """The client's request counters (:class:`hooks.base.RequestStats`), or None if it keeps none."""
    return getattr(client, "stats", None)


def _counts(stats: Any) -> Any:
    return (stats.requests, stats.retries, dict(stats.by_cause)) if stats is not None else None


def _take_counts(stats: Any, counts: Any) -> None:
    if counts is not None and stats is not None:
        stats.requests, stats.retries, stats.by_cause = counts


def counts_reporter(stats: Any) -> tuple[Callable[[], bytes], Callable[[bytes], None]]:
    """The fetch process's last word (``Forked(report=...)``): its request and retry counts, so a fetch
    that fails before its first page still reports the requests it sent."""

    def make() -> bytes:
        return pickle.dumps(_counts(stats), protocol=pickle.HIGHEST_PROTOCOL)

    def take(data: bytes) -> None:
        _take_counts(stats, pickle.loads(data))

    return make, take


def page_packer(stats: Any) -> Callable[[Sequenced], bytes]:
    """Packs pages in the fetch process; ``stats`` is the client's counters there."""

    def pack(item: Sequenced) -> bytes:
        new, page = item
        counts = _counts(stats)
        meta = (new, page.resource, page.number, page.url, page.parent, page.context, page.position)
        head = pickle.dumps(
            (*meta, page.last, page.strict, page.progress, page.sequence, counts),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        body = None
        if page.strict:
            try:
                body = _JSON + orjson.dumps(page.records)
            except (TypeError, orjson.JSONEncodeError):  # e.g. a string with a lone surrogate
                body = None
        if body is None:
            body = _PICKLE + pickle.dumps(page.records, protocol=pickle.HIGHEST_PROTOCOL)
        return _SIZE.pack(len(head)) + head + body

    return pack


def page_unpacker(stats: Any) -> Callable[[bytes], Sequenced]:
    """Unpacks pages on the loading side; ``stats`` (the client's counters here) takes the counts."""

    def unpack(data: bytes) -> Sequenced:
        (size,) = _SIZE.unpack_from(data)
        start = _SIZE.size + size
        new, resource, number, url, parent, context, position, last, strict, progress, sequence, counts = (
            pickle.loads(data[_SIZE.size : start])
        )
        body = memoryview(data)[start + 1 :]
        records = orjson.loads(body) if data[start : start + 1] == _JSON else pickle.loads(body)
        _take_counts(stats, counts)
        return new, Page(
            resource, number, url, records, parent, context, position, last, strict, progress, sequence
        )

    return unpack


__all__ = ["Sequenced", "counts_reporter", "page_packer", "page_unpacker", "stats_of"]
