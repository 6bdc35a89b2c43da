"""Everything a piece of code lets out, as one text to search for secrets, and the spellings of a secret.

``capture_output()`` records, while it is open, every stdlib log record of the process at DEBUG (the root
logger, which requests' and urllib3's loggers propagate to, plus any logger that does not propagate) and
every structlog event (Airflow's hooks and tasks log through structlog). ``spellings(secret)`` gives the
forms a secret takes on the wire and in response bodies, so a search misses none of them.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from structlog.testing import capture_logs


def _lower_escapes(text: str) -> str:
    """``text`` with every ``%XX`` escape in lower case (``%2B`` -> ``%2b``)."""
    return re.sub(r"%[0-9A-F]{2}", lambda match: match.group(0).lower(), text)


def spellings(secret: str) -> dict[str, str]:
    """The forms of ``secret`` to look for: raw, percent-encoded (upper and lower case), plus-encoded,
    JSON-escaped (``/`` as ``\\/``)."""
    return {
        "raw": secret,
        "percent-encoded": quote(secret, safe=""),
        "percent-encoded lower-case": _lower_escapes(quote(secret, safe="")),
        "plus-encoded": quote_plus(secret),
        "plus-encoded lower-case": _lower_escapes(quote_plus(secret)),
        "JSON-escaped": json.dumps(secret)[1:-1].replace("/", "\\/"),
    }


def basic_header_spellings(login: str, password: str) -> dict[str, str]:
    """The HTTP basic credentials as they travel: base64 of ``login:password``."""
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"basic-auth base64": token}


def find_secrets(text: str, secrets: dict[str, str]) -> list[str]:
    """Every ``<secret name> as <spelling>`` of ``secrets`` (name -> value) found in ``text``."""
    found = []
    for name, value in secrets.items():
        for spelling, form in spellings(value).items():
            if form in text:
                found.append(f"{name} as {spelling} ({form!r})")
    return found


def exception_text(exc: BaseException) -> str:
    """All an exception shows: str, repr, the formatted traceback (chained causes too), its attributes."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc), *map(repr, vars(exc).values())])


@dataclass
class Captured:
    records: list[logging.LogRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        """Every record formatted (traceback included) and every structlog event, rendered and as a repr."""
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        lines = []
        for record in self.records:
            lines.append(formatter.format(record))
            lines.append(repr(record.args))
        for event in self.events:
            lines.append(repr(event))
            args = event.get("positional_args")
            if args:
                with suppress(TypeError, ValueError):
                    lines.append(str(event.get("event")) % tuple(args))
        return "\n".join(lines)

    def library_lines(self, prefix: str) -> list[str]:
        return [record.getMessage() for record in self.records if record.name.startswith(prefix)]

    def warnings(self) -> list[str]:
        """Every WARNING-or-worse message, stdlib and structlog."""
        lines = [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]
        for event in self.events:
            if str(event.get("log_level", "")).lower() in ("warning", "error", "critical"):
                args = event.get("positional_args") or ()
                message = str(event.get("event"))
                with suppress(TypeError, ValueError):
                    message = message % tuple(args) if args else message
                lines.append(message)
        return lines


@contextmanager
def capture_output() -> Iterator[Captured]:
    """Record every log record at DEBUG and every structlog event while open."""
    import airflow.settings  # noqa: F401  # Airflow sets up logging on import: capture after that

    captured = Captured()

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.records.append(record)

    handler = _Keep(level=logging.DEBUG)
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    levels = {name: logging.getLogger(name).level for name in ("", "urllib3", "requests")}
    for logger in loggers:
        logger.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        with capture_logs() as events:
            captured.events = events
            yield captured
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for logger in loggers:
            logger.removeHandler(handler)
