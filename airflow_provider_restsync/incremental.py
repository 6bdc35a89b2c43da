"""dlt's ``incremental`` setting: which records a run asks for and keeps, checked at config time.

Two forms, as dlt writes them:

- ``endpoint.incremental: {cursor_path, initial_value, end_value, start_param, end_param, lag,
  on_cursor_value_missing, range_start, range_end, convert, allow_external_schedulers}``;
- a param of type incremental, ``params: {since: {type: incremental, cursor_path, initial_value}}``,
  which is the same with ``start_param: since`` (and, as in dlt, no ``end_value``).

The values reach the API through ``start_param`` / ``end_param`` or through the placeholders
``{incremental.start_value}``, ``{incremental.end_value}``, ``{incremental.initial_value}`` and
``{incremental.last_value}`` in the path and params. ``allow_external_schedulers: true`` takes the window
from the Airflow run's data interval instead of the stored cursor, as dlt does under Airflow.
The values themselves (comparing, lag, the window of one run) live in :mod:`cursor`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_restsync.errors import ConfigError, did_you_mean
from airflow_provider_restsync.selecting import JsonPath

PLACEHOLDERS = ("start_value", "end_value", "initial_value", "last_value")
PLACEHOLDER_PREFIX = "incremental."
MISSING_CURSOR_ACTIONS = ("raise", "include", "exclude")
RANGES = ("open", "closed")
_KEYS = (
    "cursor_path",
    "initial_value",
    "end_value",
    "start_param",
    "end_param",
    "lag",
    "on_cursor_value_missing",
    "range_start",
    "range_end",
    "convert",
    "transform",
    "allow_external_schedulers",
    "last_value_func",
)
_NOT_YET = ("primary_key", "row_order")
_PARAM_FORM_KEYS = tuple(key for key in _KEYS if key not in ("end_value", "end_param", "start_param"))


@dataclass(frozen=True)
class IncrementalSpec:
    """A checked ``incremental`` setting.

    :param cursor_path: where a record's cursor value sits (a field name or a JSONPath).
    :param initial_value: the start of the first run (and the floor of every lagged start).
    :param end_value: a fixed end; with it the stored cursor is neither read nor advanced (dlt's backfill).
    :param start_param: the query parameter that carries the start value.
    :param end_param: the query parameter that carries the end value (not sent while there is none).
    :param lag: re-fetch this far behind the cursor (seconds for datetimes, days for dates, units for
        numbers).
    :param on_cursor_value_missing: ``raise``, ``include`` or ``exclude`` a record without a cursor value.
    :param range_start: ``closed`` keeps records at the start value, ``open`` drops them.
    :param range_end: ``open`` drops records at the end value, ``closed`` keeps them.
    :param convert: a callable applied to each value sent to the API (Python configs only).
    :param allow_external_schedulers: take start and end from the Airflow run's data interval.
    :param last_value_func: ``max`` (the cursor grows) or ``min`` (it shrinks).
    """

    cursor_path: str
    initial_value: Any = None
    end_value: Any = None
    start_param: str | None = None
    end_param: str | None = None
    lag: float | None = None
    on_cursor_value_missing: str = "raise"
    range_start: str = "closed"
    range_end: str = "open"
    convert: Callable[[Any], Any] | None = None
    allow_external_schedulers: bool = False
    last_value_func: str = "max"

    @property
    def cursor(self) -> JsonPath:
        return JsonPath(self.cursor_path)

    def keeps_state(self, *, interval: bool) -> bool:
        """Whether a run reads and advances the stored cursor: not with a fixed end, nor when it takes its
        window from a data interval (``interval``: the run has a non-empty one)."""
        return self.end_value is None and not (self.allow_external_schedulers and interval)


def parse_incremental(raw: Any, key_path: str, *, param: str | None = None) -> IncrementalSpec:
    """Check one ``incremental`` setting (or, with ``param``, a param of type incremental).

    :raises ConfigError: an unknown or unsupported key, a missing ``cursor_path``, a bad value.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"incremental is a mapping with a cursor_path, not {type(raw).__name__}", key_path)
    settings = {str(key): value for key, value in raw.items() if not (param and key == "type")}
    allowed = _PARAM_FORM_KEYS if param else _KEYS
    for key in settings:
        if key in _NOT_YET:
            raise ConfigError(f"incremental setting {key!r} is not supported yet", f"{key_path}.{key}")
        if key not in allowed:
            hint = (
                "; a param of type incremental takes start values only: set end_value and end_param "
                "in endpoint.incremental"
                if param and key in _KEYS
                else did_you_mean(key, allowed)
            )
            raise ConfigError(f"unknown incremental setting {key!r}{hint}", f"{key_path}.{key}")
    cursor_path = settings.get("cursor_path")
    if not isinstance(cursor_path, str) or not cursor_path:
        raise ConfigError(
            "incremental needs a cursor_path: the record field it follows", f"{key_path}.cursor_path"
        )
    try:
        JsonPath(cursor_path)
    except ValueError as exc:
        raise ConfigError(str(exc), f"{key_path}.cursor_path") from None
    convert = settings.get("convert", settings.get("transform"))
    if convert is not None and not callable(convert):
        raise ConfigError(
            "convert is a Python callable (a Python config); in YAML send the value as it is stored",
            f"{key_path}.convert",
        )
    spec = IncrementalSpec(
        cursor_path=cursor_path,
        initial_value=_scalar(settings.get("initial_value"), f"{key_path}.initial_value"),
        end_value=_scalar(settings.get("end_value"), f"{key_path}.end_value"),
        start_param=param or _name(settings.get("start_param"), f"{key_path}.start_param"),
        end_param=_name(settings.get("end_param"), f"{key_path}.end_param"),
        lag=_lag(settings.get("lag"), f"{key_path}.lag"),
        on_cursor_value_missing=_choice(
            settings.get("on_cursor_value_missing"),
            "raise",
            MISSING_CURSOR_ACTIONS,
            key_path,
            "on_cursor_value_missing",
        ),
        range_start=_choice(settings.get("range_start"), "closed", RANGES, key_path, "range_start"),
        range_end=_choice(settings.get("range_end"), "open", RANGES, key_path, "range_end"),
        convert=convert,
        allow_external_schedulers=_flag(
            settings.get("allow_external_schedulers"), f"{key_path}.allow_external_schedulers"
        ),
        last_value_func=_choice(
            settings.get("last_value_func"), "max", ("max", "min"), key_path, "last_value_func"
        ),
    )
    return spec


def check_placeholder(name: str, spec: IncrementalSpec | None, key_path: str) -> None:
    """An ``{incremental.*}`` placeholder must name a known value of a configured incremental."""
    value = name[len(PLACEHOLDER_PREFIX) :]
    if value not in PLACEHOLDERS:
        raise ConfigError(
            f"{{{name}}} is not an incremental value{did_you_mean(value, PLACEHOLDERS)}; they are: "
            + ", ".join(f"{{incremental.{known}}}" for known in PLACEHOLDERS),
            key_path,
        )
    if spec is None:
        raise ConfigError(
            f"{{{name}}} needs an incremental setting on the endpoint (endpoint.incremental with a "
            "cursor_path)",
            key_path,
        )


def _scalar(value: Any, key_path: str) -> Any:
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return value
    if hasattr(value, "isoformat"):
        # A date or datetime YAML parsed from an unquoted value: back to ISO text, UTC written with Z.
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    raise ConfigError(f"must be a string or a number, not {type(value).__name__}", key_path)


def _name(value: Any, key_path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"must be a query parameter name, not {value!r}", key_path)
    return value


def _lag(value: Any, key_path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"lag is a non-negative number, not {value!r}", key_path)
    return value


def _flag(value: Any, key_path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, not {value!r}", key_path)
    return value


def _choice(value: Any, default: str, choices: tuple[str, ...], key_path: str, key: str) -> str:
    if value is None:
        return default
    if value not in choices:
        raise ConfigError(
            f"{key} is one of {', '.join(choices)}, not {value!r}{did_you_mean(str(value), choices)}",
            f"{key_path}.{key}",
        )
    return str(value)
