"""One retry policy per request, resolved from defaults, the connection and the endpoint's error_handler.

:class:`RetryPolicy` is a plain value; :meth:`RetryPolicy.to_urllib3` turns it into the
:class:`RestSyncRetry` that the hook's ``HTTPAdapter`` runs. Nothing else decides about retries.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from airflow_provider_restsync.auth_styles import ERROR_HANDLER_KEYS
from airflow_provider_restsync.errors import ApiRequestError, ConfigError
from airflow_provider_restsync.hooks.extras import as_bool, as_float, as_int, as_statuses, plain_extra

if TYPE_CHECKING:
    from typing_extensions import Self
    from urllib3.response import BaseHTTPResponse

#: What the reference APIs document: rate limiting and the transient server errors.
DEFAULT_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)

#: Methods retried on a retryable status or a broken connection. urllib3 leaves POST out because a
#: POST may create something; this provider only reads, and APIs that take a list query as a POST
#: body (search endpoints) are read-only, so repeating one is safe. PATCH stays out: it modifies.
RETRY_METHODS = frozenset(Retry.DEFAULT_ALLOWED_METHODS | {"POST"})


class RetryAfterTooLongError(ApiRequestError):
    """The server asked to wait longer (Retry-After) than the policy's ``backoff_max`` allows."""

    def __init__(self, message: str, *, retry_after: float, backoff_max: float, **kwargs: Any) -> None:
        self.retry_after = retry_after
        self.backoff_max = backoff_max
        super().__init__(message, **kwargs)


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

    def with_error_handler(
        self, error_handler: Mapping[str, Any] | None, key_path: str = "error_handler"
    ) -> RetryPolicy:
        """Return this policy overridden by an endpoint's ``error_handler`` block.

        :param error_handler: ``{"retry_on_status_codes": [429], "max_retries": 2, "backoff_factor": 5}``
            (``backoff_max`` is accepted too); None or empty changes nothing.
        :param key_path: where the block lives in the source config, for error messages
            (``resources[0].endpoint.error_handler``).
        """
        if not error_handler:
            return self
        if not isinstance(error_handler, Mapping):
            raise ConfigError(f"expected a mapping with {', '.join(ERROR_HANDLER_KEYS)}", key_path)
        unknown = sorted(set(error_handler) - set(ERROR_HANDLER_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r}; an error_handler takes {', '.join(ERROR_HANDLER_KEYS)}",
                f"{key_path}.{unknown[0]}",
            )
        changes: dict[str, Any] = {}
        if error_handler.get("retry_on_status_codes") is not None:
            changes["statuses"] = as_statuses(
                error_handler["retry_on_status_codes"], f"{key_path}.retry_on_status_codes"
            )
        if error_handler.get("max_retries") is not None:
            changes["max_retries"] = as_int(error_handler["max_retries"], f"{key_path}.max_retries")
        if error_handler.get("backoff_factor") is not None:
            changes["backoff_factor"] = as_float(
                error_handler["backoff_factor"], f"{key_path}.backoff_factor"
            )
        if error_handler.get("backoff_max") is not None:
            changes["backoff_max"] = as_float(
                error_handler["backoff_max"], f"{key_path}.backoff_max", positive=True
            )
        return dataclasses.replace(self, **changes)

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


class RestSyncRetry(Retry):
    """urllib3's ``Retry`` with this provider's rules.

    - only ``status_forcelist`` is retried (urllib3 also retries 413/429/503 carrying ``Retry-After``);
    - backoff as in dlt: ``backoff_factor * 2 ** (n - 1)`` before the n-th retry, the first one included;
    - ``Retry-After`` (seconds or HTTP date) replaces the backoff for any retried status; an invalid
      one falls back to the backoff; one longer than ``backoff_max`` raises
      :class:`RetryAfterTooLongError` rather than sleeping;
    - ``on_retry`` hears about every retry before its wait.
    """

    def __init__(self, *args: Any, on_retry: Callable[[RetryEvent], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry

    def new(self, **kw: Any) -> Self:
        kw.setdefault("on_retry", self.on_retry)
        return super().new(**kw)

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
        if consecutive == 0:
            return 0.0
        return float(max(0.0, min(self.backoff_max, self.backoff_factor * 2 ** (consecutive - 1))))

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
