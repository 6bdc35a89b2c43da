"""What the sandbox saw: counters and a bounded request log, safe to read while requests arrive."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

LOG_SIZE = 10_000


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the sandbox saw it; ``target`` has every secret query parameter removed."""

    method: str
    target: str
    status: int | None  # None: the connection was dropped
    fault: str | None


@dataclass(frozen=True)
class SandboxStats:
    """A snapshot of the counters: requests per path (no query), faults per kind, responses per status."""

    requests: dict[str, int]
    faults: dict[str, int]
    statuses: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.requests.values())


class Recorder:
    """Thread-safe counters and a bounded request log (bounded: long benchmark runs must not grow it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._statuses: Counter[int] = Counter()
            self._log: deque[LoggedRequest] = deque(maxlen=LOG_SIZE)

    def count_fault(self, kind: str) -> None:
        """Count one fault as it is injected.

        A ``slow`` one is counted before its wait, so a client that timed out and retried finds it counted.
        """
        with self._lock:
            self._faults[kind] += 1

    def record(self, method: str, path: str, target: str, status: int | None, fault: str | None) -> None:
        """Log one answered request (its fault was counted by :meth:`count_fault`)."""
        with self._lock:
            self._requests[path] += 1
            if status is not None:
                self._statuses[status] += 1
            self._log.append(LoggedRequest(method, target, status, fault))

    def stats(self) -> SandboxStats:
        with self._lock:
            return SandboxStats(dict(self._requests), dict(self._faults), dict(self._statuses))

    def log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)
