"""One retry policy per request, resolved from defaults, the connection and the endpoint's error_handler.

:class:`RetryPolicy` is a plain value; :class:`RetryOverrides` is an endpoint's ``error_handler``,
validated when the config is parsed and applied with :meth:`RetryPolicy.with_overrides`;
:meth:`RetryPolicy.to_urllib3` turns a policy into the :class:`RestSyncRetry` that the hook's
``HTTPAdapter`` runs. Nothing else decides about retries.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import ConnectTimeoutError, InvalidHeader, MaxRetryError, ReadTimeoutError
from urllib3.util.retry import RequestHistory, Retry

from airflow_provider_restsync.coerce import as_bool, as_float, as_int
from airflow_provider_restsync.errors import ApiRequestError, ConfigError, did_you_mean
from airflow_provider_restsync.hooks.extras import as_statuses, plain_extra

if TYPE_CHECKING:
    import requests
    from typing_extensions import Self
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

#: What the reference APIs document: rate limiting and the transient server errors.
DEFAULT_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)

#: Methods retried on a retryable status or a broken connection. urllib3 leaves POST out because a
#: POST may create something; this provider only reads, and APIs that take a list query as a POST
#: body (search endpoints) are read-only, so repeating one is safe. PATCH stays out: it modifies.
RETRY_METHODS = frozenset(Retry.DEFAULT_ALLOWED_METHODS | {"POST"})

#: The keys of an endpoint's ``error_handler`` block (not a dlt key: reference API 003 documents it).
ERROR_HANDLER_KEYS = ("retry_on_status_codes", "max_retries", "backoff_factor", "backoff_max")

#: The port a URL of each scheme leaves out.
DEFAULT_PORTS = {"http": 80, "https": 443}


class RetryAfterTooLongError(ApiRequestError):
    """The server asked to wait longer (Retry-After) than the policy's ``backoff_max`` allows."""

    def __init__(self, message: str, *, retry_after: float, backoff_max: float, **kwargs: Any) -> None:
        self.retry_after = retry_after
        self.backoff_max = backoff_max
        super().__init__(message, **kwargs)


class RetriesExhaustedError(MaxRetryError):
    """urllib3's ``MaxRetryError`` that also carries every failed attempt (``requests`` wraps it in its
    ``ConnectionError``, as ``exc.args[0]``).

    :param history: urllib3's record of each attempt, the last (failed) one included.
    """

    def __init__(
        self,
        pool: ConnectionPool | None,
        url: str | None,
        reason: Exception | None = None,
        history: tuple[RequestHistory, ...] = (),
    ) -> None:
        super().__init__(pool, url or "", reason)  # type: ignore[arg-type]
        self.history = history

    @property
    def attempts(self) -> int:
        """Requests sent before giving up."""
        return max(len(self.history), 1)


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen, as reported to the ``on_retry`` callback of :class:`RestSyncRetry`.

    ``url`` is what urllib3 saw (usually the path and query): redact it before showing it.
    """

    method: str
    url: str
    status: int | None
    reason: str | None
    error: Exception | None
    retry_number: int
    max_retries: int
    wait: float
    waited_for: str  # "Retry-After" or "backoff"
    cause: str | None = None  # set for retries of unusable bodies: BODY_BROKEN or BODY_REFUSED


@dataclass(frozen=True)
class RetryPolicy:
    """How a request is retried and how long each attempt may take.

    :param statuses: response statuses that are retried (nothing else is, not even a 503 that sends
        ``Retry-After`` when 503 is not listed).
    :param max_retries: retries after the first attempt; a request is sent at most ``max_retries + 1``
        times. Connection errors and read timeouts are retried too.
    :param backoff_factor: the n-th retry waits ``backoff_factor * 2 ** (n - 1)`` seconds (2, 4, 8 s
        for the default 2), as dlt's REST client does, unless the response says ``Retry-After``.
    :param backoff_max: the longest single wait. A ``Retry-After`` asking for more fails the request
        with :class:`RetryAfterTooLongError` instead of sleeping for an hour.
    :param connect_timeout: seconds to establish a connection, per attempt.
    :param read_timeout: seconds to wait for the server between bytes, per attempt.
    :param respect_retry_after: honour ``Retry-After`` (seconds or HTTP date) on every retried status.
    """

    statuses: tuple[int, ...] = DEFAULT_STATUSES
    max_retries: int = 3
    backoff_factor: float = 2.0
    backoff_max: float = 120.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    respect_retry_after: bool = True

    def __post_init__(self) -> None:
        # Validate code-built policies the same way as configured ones; keep the value hashable.
        normalized = {
            "statuses": as_statuses(list(self.statuses), "statuses"),
            "max_retries": as_int(self.max_retries, "max_retries", minimum=0),
            "backoff_factor": as_float(self.backoff_factor, "backoff_factor", minimum=0.0),
            "backoff_max": as_float(self.backoff_max, "backoff_max", positive=True),
            "connect_timeout": as_float(self.connect_timeout, "connect_timeout", positive=True),
            "read_timeout": as_float(self.read_timeout, "read_timeout", positive=True),
            "respect_retry_after": as_bool(self.respect_retry_after, "respect_retry_after"),
        }
        for name, value in normalized.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_extra(
        cls, extra: Mapping[str, Any], *, base: RetryPolicy | None = None, key_path: str = "extra"
    ) -> RetryPolicy:
        """Return ``base`` (or the defaults) with the retry settings of a connection's extras applied.

        Reads ``retry_on_status_codes``, ``max_retries``, ``backoff_factor``, ``backoff_max``,
        ``connect_timeout``, ``read_timeout`` and ``respect_retry_after``, plain or as
        ``extra__<conn_type>__<name>``; other keys are left to the hook.

        :param extra: the connection's ``extra_dejson``.
        :param base: the policy to start from.
        :param key_path: where the extras live, for error messages.
        """
        values = plain_extra(extra)
        changes: dict[str, Any] = {}
        if "retry_on_status_codes" in values:
            changes["statuses"] = as_statuses(
                values["retry_on_status_codes"], f"{key_path}.retry_on_status_codes"
            )
        if "max_retries" in values:
            changes["max_retries"] = as_int(values["max_retries"], f"{key_path}.max_retries")
        if "backoff_factor" in values:
            changes["backoff_factor"] = as_float(values["backoff_factor"], f"{key_path}.backoff_factor")
        for name in ("backoff_max", "connect_timeout", "read_timeout"):
            if name in values:
                changes[name] = as_float(values[name], f"{key_path}.{name}", positive=True)
        if "respect_retry_after" in values:
            changes["respect_retry_after"] = as_bool(
                values["respect_retry_after"], f"{key_path}.respect_retry_after"
            )
        return dataclasses.replace(base or cls(), **changes)

    def with_overrides(self, overrides: RetryOverrides | None) -> RetryPolicy:
        """Return this policy with an endpoint's overrides applied (None or no overrides: this policy).

        :param overrides: the endpoint's ``error_handler``, from :meth:`RetryOverrides.parse`.
        """
        if overrides is None:
            return self
        changes = {
            field.name: getattr(overrides, field.name)
            for field in dataclasses.fields(overrides)
            if getattr(overrides, field.name) is not None
        }
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def timeout(self) -> tuple[float, float]:
        """The ``(connect, read)`` timeout pair requests takes."""
        return (self.connect_timeout, self.read_timeout)

    def describe(self) -> str:
        """Return the policy in a few words, for error messages."""
        statuses = ", ".join(str(code) for code in self.statuses) or "no status"
        return (
            f"retry on {statuses} and broken connections up to {self.max_retries} times, "
            f"backoff factor {self.backoff_factor:g} s, longest wait {self.backoff_max:g} s"
        )

    def to_urllib3(self, *, on_retry: Callable[[RetryEvent], None] | None = None) -> RestSyncRetry:
        """Return the urllib3 ``Retry`` that carries out this policy.

        ``raise_on_status`` is off, so when retries run out the last response reaches the hook, which
        builds the error from its status and body.

        :param on_retry: called before each retry's wait (the hook counts and logs retries with it).
        """
        return RestSyncRetry(
            policy=self,
            total=self.max_retries,
            # Redirects are followed by requests, not urllib3; "other" errors (TLS, proxy) are not
            # transient, so the first one fails.
            other=0,
            allowed_methods=RETRY_METHODS,
            status_forcelist=frozenset(self.statuses),
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            raise_on_status=False,
            respect_retry_after_header=self.respect_retry_after,
            on_retry=on_retry,
        )


@dataclass(frozen=True)
class RetryOverrides:
    """What an endpoint's ``error_handler`` changes in the hook's retry policy; None leaves a setting be.

    Any value that passes :meth:`parse` (or the constructor) applies to any valid policy.

    :param statuses: ``retry_on_status_codes``: the statuses retried instead of the policy's.
    :param max_retries: retries after the first attempt.
    :param backoff_factor: the n-th retry waits ``backoff_factor * 2 ** (n - 1)`` seconds.
    :param backoff_max: the longest single wait, above zero.
    """

    statuses: tuple[int, ...] | None = None
    max_retries: int | None = None
    backoff_factor: float | None = None
    backoff_max: float | None = None

    def __post_init__(self) -> None:
        # Code-built overrides keep the policy's rules, so with_overrides() cannot fail later.
        if self.statuses is not None:
            object.__setattr__(self, "statuses", as_statuses(list(self.statuses), "statuses"))
        if self.max_retries is not None:
            object.__setattr__(self, "max_retries", as_int(self.max_retries, "max_retries"))
        if self.backoff_factor is not None:
            object.__setattr__(self, "backoff_factor", as_float(self.backoff_factor, "backoff_factor"))
        if self.backoff_max is not None:
            object.__setattr__(self, "backoff_max", as_float(self.backoff_max, "backoff_max", positive=True))

    @classmethod
    def parse(cls, raw: Any, key_path: str) -> RetryOverrides | None:
        """Validate an endpoint's ``error_handler`` block, strictly, as written in a source config.

        ``{"retry_on_status_codes": [429], "max_retries": 2, "backoff_factor": 5, "backoff_max": 60}``;
        a key set to None is not set. Nothing is coerced: ``"2"`` is not a number here.

        :param raw: the block, or None for none.
        :param key_path: where it lives (``resources[2].endpoint.error_handler``), for errors.
        :raises ConfigError: naming the key (``...error_handler.backoff_max``) or the list item.
        """
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"must be a mapping, not {type(raw).__name__}", key_path)
        for key in raw:
            if key not in ERROR_HANDLER_KEYS:
                raise ConfigError(
                    f"unknown key {key!r}{did_you_mean(key, ERROR_HANDLER_KEYS)}; "
                    f"known keys: {', '.join(ERROR_HANDLER_KEYS)}",
                    f"{key_path}.{key}",
                )
        statuses: tuple[int, ...] | None = None
        codes = raw.get("retry_on_status_codes")
        if codes is not None:
            if not isinstance(codes, list):
                raise ConfigError("must be a list of HTTP status codes", f"{key_path}.retry_on_status_codes")
            for index, code in enumerate(codes):
                if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                    raise ConfigError(
                        f"not an HTTP status code: {code!r}", f"{key_path}.retry_on_status_codes[{index}]"
                    )
            statuses = tuple(dict.fromkeys(codes))
        max_retries = raw.get("max_retries")
        if max_retries is not None and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise ConfigError(
                f"must be a whole number of at least 0, not {max_retries!r}", f"{key_path}.max_retries"
            )
        return cls(
            statuses=statuses,
            max_retries=max_retries,
            backoff_factor=_number(raw.get("backoff_factor"), f"{key_path}.backoff_factor", positive=False),
            backoff_max=_number(raw.get("backoff_max"), f"{key_path}.backoff_max", positive=True),
        )


def _number(value: Any, key_path: str, *, positive: bool) -> float | None:
    """A finite int or float, at least 0 (above 0 when ``positive``); None stays None."""
    if value is None:
        return None
    bound = "greater than 0" if positive else "at least 0"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        raise ConfigError(f"must be a number {bound}, not {value!r}", key_path)
    return float(value)


def backoff_seconds(factor: float, longest: float, number: int) -> float:
    """The wait before the ``number``-th retry in a row: ``factor * 2 ** (number - 1)``, at most
    ``longest`` (dlt's backoff); none before the first attempt."""
    if number <= 0:
        return 0.0
    return float(max(0.0, min(longest, factor * 2 ** (number - 1))))


class RestSyncRetry(Retry):
    """urllib3's ``Retry`` with this provider's rules.

    - only ``status_forcelist`` is retried (urllib3 also retries 413/429/503 carrying ``Retry-After``);
    - backoff as in dlt: ``backoff_factor * 2 ** (n - 1)`` before the n-th retry, the first one included;
    - ``Retry-After`` (seconds or HTTP date) replaces the backoff for any retried status; an invalid
      one falls back to the backoff; one longer than ``backoff_max`` raises
      :class:`RetryAfterTooLongError` rather than sleeping;
    - ``on_retry`` hears about every retry before its wait;
    - ``history`` records absolute URLs, and running out of retries on errors raises
      :class:`RetriesExhaustedError`, which keeps that history;
    - ``policy`` is the :class:`RetryPolicy` it carries out (urllib3 attaches the Retry to each response).
    """

    def __init__(
        self,
        *args: Any,
        on_retry: Callable[[RetryEvent], None] | None = None,
        policy: RetryPolicy | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry
        self.policy = policy

    def new(self, **kw: Any) -> Self:
        kw.setdefault("on_retry", self.on_retry)
        kw.setdefault("policy", self.policy)
        return super().new(**kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        url = _absolute(url, _pool)
        try:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exc:
            status = response.status if response is not None and error is None else None
            last = RequestHistory(method, url, error, status, None)
            raise RetriesExhaustedError(_pool, url, exc.reason, (*self.history, last)) from exc.reason

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if not self._is_method_retryable(method):
            return False
        return status_code in self.status_forcelist

    def get_backoff_time(self) -> float:
        consecutive = 0
        for entry in reversed(self.history):
            if entry.redirect_location is not None:
                break
            consecutive += 1
        return backoff_seconds(self.backoff_factor, self.backoff_max, consecutive)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            return self.parse_retry_after(value)
        except InvalidHeader:
            return None  # a malformed header must not turn a retryable answer into a crash

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wait: float | None = None
        waited_for = "backoff"
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after is not None:
                if retry_after > self.backoff_max:
                    raise RetryAfterTooLongError(
                        f"the server answered {response.status} {response.reason or ''} and asked to "
                        f"wait {retry_after:.0f} s before retrying (Retry-After: "
                        f"{response.headers.get('Retry-After')}), longer than backoff_max "
                        f"{self.backoff_max:g} s. Failing now instead of sleeping; raise backoff_max "
                        "(connection extra or the endpoint's error_handler) to wait that long.",
                        retry_after=retry_after,
                        backoff_max=self.backoff_max,
                        status=response.status,
                        reason=response.reason,
                        attempts=len(self.history),
                    )
                wait, waited_for = retry_after, "Retry-After"
        if wait is None:
            wait = self.get_backoff_time()
        if self.on_retry is not None and self.history:
            last = self.history[-1]
            self.on_retry(
                RetryEvent(
                    method=last.method or "",
                    url=last.url or "",
                    status=last.status,
                    reason=response.reason if response is not None else None,
                    error=last.error,
                    retry_number=len(self.history),
                    max_retries=len(self.history) + (self.total if isinstance(self.total, int) else 0),
                    wait=wait,
                    waited_for=waited_for,
                )
            )
        if wait > 0:
            time.sleep(wait)


def _absolute(url: str | None, pool: ConnectionPool | None) -> str | None:
    """urllib3 hands a pool the path only; the history (and the retry log line) want the whole URL."""
    if not url or not url.startswith("/") or pool is None or not pool.host:
        return url
    scheme = getattr(pool, "scheme", "http")
    host = f"[{pool.host}]" if ":" in pool.host else pool.host
    port = f":{pool.port}" if pool.port and pool.port != DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{host}{port}{url}"


#: Retry causes of answers whose body was unusable: it broke off mid-way, or the reader refused it.
BODY_BROKEN = "incomplete body"
BODY_REFUSED = "not JSON"

#: The attribute of a response holding what the request's ``accept`` function returned.
ACCEPTED = "restsync_accepted"

_NOTHING: Any = object()


def accepted_body(response: requests.Response, read: Callable[[requests.Response], Any]) -> Any:
    """What ``accept`` returned for ``response`` when it was received, else ``read(response)``."""
    value = getattr(response, ACCEPTED, _NOTHING)
    return read(response) if value is _NOTHING else value


def is_broken_body(exc: BaseException) -> bool:
    """Whether a ``requests`` error broke off an answer's body (its headers had arrived): the
    connection reset or closed early, the body cut short, undecodable, or stalled past the read
    timeout. urllib3 retries what fails before the headers; these the hook retries itself."""
    import requests

    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(cause, ReadTimeoutError)


def cause_of(event: RetryEvent) -> str:
    """What a retry is counted under: the HTTP status, "timeout", "connection", or the body's trouble."""
    if event.cause is not None:
        return event.cause
    if event.status is not None:
        return str(event.status)
    if isinstance(event.error, (ReadTimeoutError, ConnectTimeoutError)):
        return "timeout"
    return "connection"


def served_by(response: requests.Response) -> RestSyncRetry | None:
    """Return the Retry urllib3 attached to ``response`` (its ``history`` lists the retries), if ours."""
    retry = getattr(response.raw, "retries", None)
    return retry if isinstance(retry, RestSyncRetry) else None


def attempts_of(response: requests.Response) -> int:
    """Requests sent for ``response``'s final URL: the first attempt and its retries."""
    retry = getattr(response.raw, "retries", None)
    return len(retry.history) + 1 if isinstance(retry, Retry) else 1


def retries_of(response: requests.Response) -> int:
    """Retries made for ``response``, over every redirect hop (each hop has its own Retry)."""
    return sum(attempts_of(hop) - 1 for hop in (*response.history, response))


def failed_attempts(exc: BaseException) -> int:
    """Requests sent before ``exc`` (a ``requests`` error) gave up.

    The :class:`RetriesExhaustedError` inside it knows; an error urllib3 does not retry (a read error
    of a method it does not repeat) failed on the first attempt.
    """
    cause = exc.args[0] if exc.args else None
    return cause.attempts if isinstance(cause, RetriesExhaustedError) else 1
