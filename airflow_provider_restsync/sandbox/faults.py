"""Fault injection that is deterministic per request and always lets a retrying client through.

Whether a request faults is a hash of (seed, method, path with query, how often that request was seen),
so two runs of the same sync meet the same faults. A request is never faulted more than
``max_consecutive`` times in a row, so a client with that many retries always gets its page.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass

FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "504", "drop", "slow")


@dataclass(frozen=True)
class FaultConfig:
    """Which faults to inject and how often.

    :param rate: the share of requests that fault, 0.0 to 1.0.
    :param kinds: fault kinds to choose from: HTTP statuses ``429``, ``500``, ``502``, ``503``, ``504``;
        ``drop`` (close the connection without a response); ``slow`` (answer after ``slow_seconds``).
        Per API only the kinds its reference document retries are used (inbox_testing: 429, drop, slow).
    :param retry_after: the ``Retry-After`` of a 429, in seconds (sent rounded up to whole seconds).
    :param slow_seconds: the delay of a ``slow`` fault.
    :param seed: seeds the fault decisions (independent of the data seed).
    :param max_consecutive: the most times in a row the same request faults.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: float = 1
    slow_seconds: float = 0.5
    seed: int = 7
    max_consecutive: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {self.rate}")
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; the kinds are {', '.join(FAULT_KINDS)}")
        if self.retry_after < 0 or self.slow_seconds < 0 or self.max_consecutive < 0:
            raise ValueError("retry_after, slow_seconds and max_consecutive must be 0 or more")

    @property
    def retry_after_header(self) -> str:
        # HTTP allows whole seconds only, and urllib3 rejects anything else.
        return str(math.ceil(self.retry_after))

    @staticmethod
    def parse_kinds(text: str) -> tuple[str, ...]:
        """``"429,500,drop"`` -> ``("429", "500", "drop")``."""
        return tuple(kind.strip() for kind in text.split(",") if kind.strip())


class FaultInjector:
    """Decides, thread-safely, which fault (if any) a request gets."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._streak: dict[str, int] = {}

    def decide(self, method: str, target: str, allowed: frozenset[str]) -> str | None:
        """The fault kind for this request, or None.

        :param target: the request target, path and query, exactly as received.
        :param allowed: the kinds the API's clients retry; others are never injected for it.
        """
        config = self.config
        kinds = [kind for kind in config.kinds if kind in allowed]
        if config.rate <= 0 or not kinds or config.max_consecutive == 0:
            return None
        key = f"{method} {target}"
        with self._lock:
            seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
            streak = self._streak.get(key, 0)
            if streak >= config.max_consecutive:
                self._streak.pop(key, None)
                return None
            digest = hashlib.blake2b(f"{config.seed}\0{key}\0{seen}".encode(), digest_size=16).digest()
            if int.from_bytes(digest[:8], "big") / 2**64 >= config.rate:
                self._streak.pop(key, None)
                return None
            self._streak[key] = streak + 1
        return kinds[int.from_bytes(digest[8:], "big") % len(kinds)]
