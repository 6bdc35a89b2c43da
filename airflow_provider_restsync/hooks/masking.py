"""Keep hook secrets out of log lines, including the ones urllib3 and requests write themselves.

urllib3 logs every request line (``"GET /v1/resource?api_key=... HTTP/1.1" 200``) at DEBUG and the URL
of every connection retry at WARNING. Airflow's secrets masker only sees task logs, and only values it
was told about, so a filter on those library loggers redacts what every live hook registered: its
secret values and the names of query parameters that carry one. The redaction rules themselves live
in :mod:`airflow_provider_restsync.redaction`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable

from airflow_provider_restsync.redaction import redact_secrets

# The loggers that write request URLs. A logger filter only sees records created on that very
# logger (not its children), hence each module's logger by name.
LIBRARY_LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
)


class SecretRegistry:
    """The secrets of every live hook in this process, counted so one hook's close() keeps another's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()
        self._params: Counter[str] = Counter()

    def register(self, values: Iterable[str] = (), param_names: Iterable[str] = ()) -> None:
        """Add secret values and secret query parameter names."""
        with self._lock:
            self._values.update(value for value in values if value)
            self._params.update(name.lower() for name in param_names if name)

    def unregister(self, values: Iterable[str] = (), param_names: Iterable[str] = ()) -> None:
        """Forget what :meth:`register` added (once per registration)."""
        with self._lock:
            self._values.subtract(value for value in values if value)
            self._params.subtract(name.lower() for name in param_names if name)
            self._values = +self._values  # drop counts that reached zero
            self._params = +self._params

    def redact(self, text: str) -> str:
        """Redact every registered secret (and the usual secret query parameters) from ``text``."""
        with self._lock:
            values = list(self._values)
            params = list(self._params)
        return redact_secrets(text, values, params)


REGISTRY = SecretRegistry()


class SecretRedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) with :data:`REGISTRY`'s secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; let logging report it
            return True
        redacted = REGISTRY.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the traceback gets redacted once, here.
            record.exc_text = REGISTRY.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = REGISTRY.redact(record.exc_text)
        return True


_FILTER = SecretRedactingFilter()
_install_lock = threading.Lock()


def install_log_filter() -> SecretRedactingFilter:
    """Attach the redacting filter to the library loggers (idempotent) and return it."""
    with _install_lock:
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
    return _FILTER


_forward: Callable[[str], None] | None = None


def forward_masks(forward: Callable[[str], None]) -> None:
    """From now on, :func:`mask_with_airflow` hands values to ``forward`` instead of Airflow.

    A fetch process (:mod:`airflow_provider_restsync.forked`) does not own the task's channel to
    Airflow's supervisor. The process that owns it registers the values the fetch process passes on.
    """
    global _forward
    _forward = forward


def mask_with_airflow(value: str) -> None:
    """Register ``value`` with Airflow's secrets masker; outside a task (or without Airflow) do nothing."""
    if not value:
        return
    if _forward is not None:
        _forward(value)
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    except Exception:  # masking is best effort; the hook's own redaction still applies
        logging.getLogger(__name__).debug("Airflow's secrets masker is not available here")
