"""Fault injection that is deterministic per request and always lets a retrying client through.

Whether a request faults is a hash of (seed, method, path with query, how often that request was seen),
so two runs of the same sync meet the same faults. A request is never faulted more than
``max_consecutive`` times in a row, so a client with that many retries always gets its page.

Two families of kinds: status and transport faults (:data:`DEFAULT_FAULT_KINDS`), which any client
with an HTTP-level retry gets through, and body faults (:data:`BODY_FAULT_KINDS`): a 200 whose body
breaks off, is cut short or is not JSON, which only a client that checks the body and retries the GET
gets through. Only the first family is injected unless the kinds name the second.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import threading
import time
from dataclasses import dataclass

#: Status and transport faults: a retrying HTTP client (urllib3's ``Retry``) gets through them.
DEFAULT_FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "504", "drop", "slow")
#: A 200 whose body is broken: only GET requests get them (a client retries a GET whose body it cannot
#: use; it cannot know whether repeating another method is safe).
BODY_FAULT_KINDS: tuple[str, ...] = ("reset", "truncated", "html")
#: Every kind: the defaults, a 429 with ``Retry-After`` as an HTTP date, and the body faults.
FAULT_KINDS: tuple[str, ...] = (*DEFAULT_FAULT_KINDS, "429-date", *BODY_FAULT_KINDS)
#: Methods whose requests may get a body fault.
BODY_FAULT_METHODS = frozenset({"GET"})


@dataclass(frozen=True)
class FaultConfig:
    """Which faults to inject and how often.

    :param rate: the share of requests that fault, 0.0 to 1.0.
    :param kinds: fault kinds to choose from (default :data:`DEFAULT_FAULT_KINDS`): HTTP statuses
        ``429``, ``500``, ``502``, ``503``, ``504``; ``429-date`` (a 429 whose ``Retry-After`` is an HTTP
        date ``retry_after`` seconds ahead); ``drop`` (close the connection without a response);
        ``slow`` (answer after ``slow_seconds``); and the body faults of a 200 answer to a GET:
        ``reset`` (headers and half the body, then the connection is reset), ``truncated`` (the JSON
        body cut in the middle, its Content-Length matching what is sent) and ``html`` (an HTML error
        page, as a proxy in front of an API sends). Per API only the kinds its reference document
        retries are used (:func:`retried_kinds`; inbox_testing: 429, 429-date, drop, slow, body faults).
    :param retry_after: the ``Retry-After`` of a 429, in seconds (sent rounded up to whole seconds); for
        ``429-date`` the date that far ahead, rounded up to the next whole second.
    :param slow_seconds: the delay of a ``slow`` fault.
    :param seed: seeds the fault decisions (independent of the data seed).
    :param max_consecutive: the most times in a row the same request faults.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
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

    def retry_after_date(self, now: float | None = None) -> str:
        """The ``Retry-After`` of a ``429-date``: an IMF-fixdate ``retry_after`` seconds from ``now``.

        Rounded up to the next whole second (a date has no fractions), so it is never in the past.
        """
        moment = math.ceil((time.time() if now is None else now) + self.retry_after)
        return email.utils.formatdate(moment, usegmt=True)

    @staticmethod
    def parse_kinds(text: str) -> tuple[str, ...]:
        """``"429,500,drop"`` -> ``("429", "500", "drop")``; ``"all"`` -> every kind."""
        kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
        return FAULT_KINDS if kinds == ("all",) else kinds


def retried_kinds(api_kinds: frozenset[str], method: str) -> frozenset[str]:
    """The kinds a request may get, from the kinds an API's clients retry (``Api.fault_kinds``).

    A ``429-date`` is a 429, so it goes wherever 429 does; body faults go to GET requests of every API,
    since a client retries a GET whose body it could not use whatever statuses it retries.

    :param api_kinds: the API's retried statuses and transport faults (``{"429", "drop", "slow"}``).
    :param method: the request's method.
    """
    kinds = set(api_kinds)
    if "429" in kinds:
        kinds.add("429-date")
    if method.upper() in BODY_FAULT_METHODS:
        kinds.update(BODY_FAULT_KINDS)
    return frozenset(kinds)


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
        :param allowed: the kinds the request's clients retry (:func:`retried_kinds`); others are never
            injected for it.
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
