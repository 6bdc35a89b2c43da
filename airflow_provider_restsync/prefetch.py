"""``prefetched``: run an iterator in a thread of its own, a bounded amount ahead of its consumer.

A sync fetches pages (network I/O, JSON parsing) and loads batches (database I/O). Done in turns, the
API idles while the database commits and the other way round; with the fetch side in a thread the two
overlap (the GIL is released while either waits). The bound keeps memory flat: the fetch side stops
while ``limit`` units (records) wait for the loader.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_JOIN_SECONDS = 10.0


class _Buffer(Generic[T]):
    """Items between the two threads, bounded by their total weight (one item always fits)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[tuple[T, int]] = deque()
        self.weight = 0
        self.done = False
        self.error: BaseException | None = None
        self.stopped = False
        self.changed = threading.Condition()

    def put(self, item: T, weight: int) -> bool:
        """Add ``item``; False once the consumer stopped listening."""
        with self.changed:
            while self.items and self.weight + weight > self.limit and not self.stopped:
                self.changed.wait()
            if self.stopped:
                return False
            self.items.append((item, weight))
            self.weight += weight
            self.changed.notify_all()
            return True

    def finish(self, error: BaseException | None) -> None:
        with self.changed:
            self.done = True
            self.error = error
            self.changed.notify_all()

    def take(self) -> tuple[bool, Any]:
        """(True, item), or (False, None) at the end; raises what the producer raised."""
        with self.changed:
            while not self.items and not self.done:
                self.changed.wait()
            if self.items:
                item, weight = self.items.popleft()
                self.weight -= weight
                self.changed.notify_all()
                return True, item
            if self.error is not None:
                raise self.error
            return False, None

    def stop(self) -> None:
        with self.changed:
            self.stopped = True
            self.items.clear()
            self.weight = 0
            self.changed.notify_all()


def prefetched(
    items: Iterable[T], *, limit: int, weight: Callable[[T], int] = lambda item: 1, name: str = "prefetch"
) -> Generator[T, None, None]:
    """Yield the items of ``items`` in order, produced by a background thread.

    :param limit: how much weight may wait for the consumer before the producer pauses.
    :param weight: the weight of one item (a page's record count); at least one item always waits.
    :param name: the thread's name, for thread dumps and logs.

    An exception of the producer is raised in the consumer, after the items produced before it. When the
    consumer stops early (an error of its own, ``close()``), the producer stops at its next item and
    its iterator is closed in its own thread.
    """
    buffer: _Buffer[T] = _Buffer(limit)

    def produce() -> None:
        iterator = iter(items)
        error: BaseException | None = None
        try:
            for item in iterator:
                if not buffer.put(item, max(weight(item), 0)):
                    break
        except BaseException as exc:
            error = exc
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # an error while cleaning up after an error: keep the first
                    error = error or exc
            buffer.finish(error)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            more, item = buffer.take()
            if not more:
                return
            yield item
    finally:
        buffer.stop()
        thread.join(_JOIN_SECONDS)


__all__ = ["prefetched"]
