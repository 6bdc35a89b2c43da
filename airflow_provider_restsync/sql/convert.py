"""Converters: one JSON value into what its column stores, ready for the database driver.

A converter returns ``MISFIT`` when its column cannot hold the value without loss; the writer then
puts the value in a variant column, as dlt does. Coercions are only the lossless ones (``"42"`` into a
bigint column, ``42`` into a text column).

What a database cannot hold is a misfit too: text with a lone surrogate (no driver encodes it as
UTF-8), text with a NUL character on PostgreSQL, JSON with ``\\u0000`` (PostgreSQL's jsonb) or a
surrogate escape (jsonb, MariaDB's ``json_valid``), and ``-0.0`` where the column would store ``0``
(SQLite's REAL, MySQL's DOUBLE, every bigint and decimal column). Such values end in a text variant
column, as JSON text where plain text cannot hold them (:func:`json_text`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_restsync import json_codec
from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.sql.types import DEFAULT_DECIMAL, INT64_MAX, INT64_MIN, parse_timestamp

MISFIT: Any = object()
"""Returned by a converter for a value its column cannot hold."""

Converter = Callable[[Any], Any]

_MAX_EXACT_FLOAT_INT = 2**53
_ZERO = timedelta(0)
_INT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
_json_dumps = _JSON.encode  # one encoder for every value: json.dumps would build one per call


def text_holder(dialect_name: str) -> Callable[[str], bool]:
    """Whether a text column of this database holds a string as it is (PostgreSQL: no NUL; none: a
    lone surrogate)."""
    if dialect_name == "postgresql":
        return lambda text: "\x00" not in text and not json_codec.has_surrogate(text)
    return lambda text: not json_codec.has_surrogate(text)


def holds_texts(values: list[Any], dialect_name: str) -> bool:
    """Whether a text column of this database holds every one of ``values`` (strings) as it is."""
    return text_holder(dialect_name)("".join(values))  # one scan for the batch's column, not one per value


def json_text(value: Any) -> str:
    """``value`` as JSON text with NUL and lone surrogates escaped: what any text column holds."""
    try:
        return json_codec.dumps(value)
    except ValueError:  # NaN and infinities
        return json.dumps(value, default=str)


def lossless_text(dialect_name: str) -> Converter:
    """A text variant column's converter: any value as text, except a string the column cannot hold
    (that one goes on to a JSON text variant)."""
    holds = text_holder(dialect_name)

    def convert(value: Any) -> Any:
        if type(value) is str and not holds(value):
            return MISFIT
        return to_text_lossless(value)

    return convert


def to_text_lossless(value: Any) -> str:
    """Any value as text; the fallback that always fits."""
    if type(value) is str:
        return value
    try:
        return json_codec.dumps(value) if isinstance(value, (dict, list)) else _json_dumps(value)
    except ValueError:  # NaN and infinities
        return json.dumps(value, default=str)


def _to_bigint(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return value if INT64_MIN <= value <= INT64_MAX else MISFIT
    if kind is str:
        if len(value) < 20 and _INT_TEXT.fullmatch(value):
            number = int(value)
            return number if INT64_MIN <= number <= INT64_MAX else MISFIT
        return MISFIT
    if kind is float and value.is_integer() and abs(value) <= _MAX_EXACT_FLOAT_INT:
        return MISFIT if _negative_zero(value) else int(value)
    return MISFIT


def _negative_zero(number: float) -> bool:
    return number == 0 and math.copysign(1.0, number) < 0


def _to_double(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else MISFIT
    if kind is int:
        return float(value) if abs(value) <= _MAX_EXACT_FLOAT_INT else MISFIT
    if kind is str:
        try:
            number = float(value)
        except ValueError:
            return MISFIT
        return number if math.isfinite(number) and repr(number) == value else MISFIT
    if isinstance(value, Decimal) and value.is_finite():
        number = float(value)
        return number if Decimal(repr(number)) == value else MISFIT
    return MISFIT


def _to_double_unsigned_zero(value: Any) -> Any:
    """SQLite's REAL (an integral float is stored as an integer) and MySQL's DOUBLE keep ``-0.0`` as
    ``0``: there it is a misfit."""
    number = _to_double(value)
    return MISFIT if number is not MISFIT and _negative_zero(number) else number


def _to_bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    if value == "true" or value == "false":
        return value == "true"
    return MISFIT


def strict_variant(convert: Converter) -> Converter:
    """The converter to use for values that came from strict JSON (no NaN or infinity anywhere)."""
    return _STRICT_JSON.get(convert, convert)


# Escapes a JSON type refuses, not preceded by an escaped backslash: \u0000 (PostgreSQL's jsonb) and
# surrogates (jsonb and MariaDB's json_valid; only lone ones are ever escaped by json_codec).
_NUL_OR_SURROGATE_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_SURROGATE_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _json_converter(dumps: Callable[[Any], str], refused: re.Pattern[str] | None) -> Converter:
    def to_json(value: Any) -> Any:
        # Objects and arrays only, as dlt: a scalar keeps its own type in a variant column (and SQLite's
        # NUMERIC affinity of a JSON column would turn a bare number into a float).
        kind = type(value)
        if (kind is list or kind is dict) and not value:
            return "[]" if kind is list else "{}"  # most often met of all: no call at all
        if not isinstance(value, (dict, list)):
            return MISFIT
        try:
            text = dumps(value)
        except ValueError:
            return MISFIT
        if refused is not None and "\\u" in text and refused.search(text):
            return MISFIT  # the JSON type refuses it: the JSON text goes to a text variant
        return text

    return to_json


_JSON_REFUSED = {"postgresql": _NUL_OR_SURROGATE_ESCAPE, "mysql": _SURROGATE_ESCAPE, "sqlite": None}
_TO_JSON = {name: _json_converter(json_codec.dumps, refused) for name, refused in _JSON_REFUSED.items()}
_STRICT_JSON = {
    _TO_JSON[name]: _json_converter(json_codec.dumps_strict, refused)
    for name, refused in _JSON_REFUSED.items()
}


def _to_date(value: Any) -> Any:
    if type(value) is str:
        if _ISO_DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                return MISFIT
        return MISFIT
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return MISFIT


def _to_time(value: Any) -> Any:
    if type(value) is str and _ISO_TIME.fullmatch(value):
        try:
            return time.fromisoformat(value)
        except ValueError:
            return MISFIT
    if isinstance(value, time):
        return value
    return MISFIT


def _text_converter(precision: int | None, dialect_name: str) -> Converter:
    holds = text_holder(dialect_name)

    def convert(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            if not holds(value):
                return MISFIT
            text = value
        elif kind is dict or kind is list:
            return MISFIT  # keeps its structure in a JSON variant column
        elif kind is bool:
            text = "true" if value else "false"
        else:
            text = to_text_lossless(value)
        return text if precision is None or len(text) <= precision else MISFIT

    return convert


def _timestamp_converter(form: str) -> Converter:
    """``form``: ``aware`` UTC datetimes (PostgreSQL), ``naive`` UTC (MySQL), or ``text`` (SQLite)."""

    def convert(value: Any) -> Any:
        if type(value) is str and len(value) == 20 and value[10] == "T" and value[19] == "Z":
            # The most common form by far, 2024-05-01T12:00:00Z: UTC, whole seconds.
            try:
                moment = datetime.fromisoformat(value)  # validates; Python 3.10 does not read "Z"
            except ValueError:
                moment = None
            if moment is not None and moment.utcoffset() == _ZERO:
                if form == "text":
                    return f"{value[:10]} {value[11:19]}.000000"
                if form == "aware":
                    return moment
                return moment.replace(tzinfo=None)
        if type(value) is str:
            parsed = parse_timestamp(value)
            if parsed is None:
                if _ISO_DATE.fullmatch(value):
                    try:
                        parsed = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
                    except ValueError:
                        return MISFIT
                else:
                    return MISFIT
        elif isinstance(value, datetime):
            parsed = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        else:
            return MISFIT
        if form == "aware":
            return parsed
        naive = parsed.replace(tzinfo=None)
        return naive if form == "naive" else sqlite_timestamp(naive)

    return convert


def sqlite_timestamp(value: datetime) -> str:
    """A naive UTC datetime in the text form SQLAlchemy's SQLite DATETIME stores and reads."""
    return value.isoformat(" ", "microseconds")


def _as_text(convert: Converter, form: Callable[[Any], str]) -> Converter:
    def converted(value: Any) -> Any:
        result = convert(value)
        return result if result is MISFIT else form(result)

    return converted


def _decimal_converter(precision: int, scale: int) -> Converter:
    integer_digits = precision - scale
    quantum = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Any:
        kind = type(value)
        if kind is bool:
            return MISFIT
        try:
            if kind is int or kind is str or isinstance(value, Decimal):
                number = Decimal(value)
            elif kind is float:
                number = Decimal(repr(value))
            else:
                return MISFIT
        except (InvalidOperation, ValueError):
            return MISFIT
        if not number.is_finite() or (number and number.adjusted() >= integer_digits):
            return MISFIT
        if number.is_zero() and number.is_signed():
            return MISFIT  # no database keeps a decimal's -0
        if kind is str and str(number) != value:
            return MISFIT  # " 5" or "5.": not the canonical form of a number
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -scale:
            rounded = number.quantize(quantum)
            if rounded != number:
                return MISFIT  # more fractional digits than the column keeps
            number = rounded
        return number

    return convert


def converter(
    data_type: str | None,
    dialect_name: str,
    *,
    precision: int | None = None,
    scale: int | None = None,
) -> Converter:
    """A function turning one non-null JSON value into what a column of ``data_type`` stores.

    Values come out ready for the driver: JSON serialized; timestamps in UTC, aware on PostgreSQL,
    naive on MySQL (DATETIME has no zone); on SQLite, dates, times and timestamps as the text
    SQLAlchemy uses there, and decimals as text, only those of up to 15 significant digits fitting
    (SQLite keeps NUMERIC values as 64-bit floats or integers).
    """
    sqlite = dialect_name == "sqlite"
    if data_type is None:
        return _identity
    if data_type == "text":
        return _text_converter(precision, dialect_name)
    if data_type == "bigint":
        return _to_bigint
    if data_type == "double":
        return _to_double if dialect_name == "postgresql" else _to_double_unsigned_zero
    if data_type == "bool":
        return _to_bool
    if data_type == "timestamp":
        return _timestamp_converter(
            "aware" if dialect_name == "postgresql" else "text" if sqlite else "naive"
        )
    if data_type == "date":
        return _as_text(_to_date, date.isoformat) if sqlite else _to_date
    if data_type == "time":
        return _as_text(_to_time, _time_text) if sqlite else _to_time
    if data_type == "json":
        return _TO_JSON.get(dialect_name, _TO_JSON["postgresql"])
    if data_type == "decimal":
        digits = precision or DEFAULT_DECIMAL[0]
        convert = _decimal_converter(digits, DEFAULT_DECIMAL[1] if scale is None else scale)
        if sqlite:
            return lambda value: _sqlite_decimal(convert(value))
        return convert
    raise ConfigError(f"unsupported data_type {data_type!r}")


def _time_text(value: time) -> str:
    return value.isoformat("microseconds")


def _identity(value: Any) -> Any:
    return value


_SQLITE_EXACT_DIGITS = 15


def _sqlite_decimal(value: Any) -> Any:
    """SQLite keeps 15 significant digits of a NUMERIC value; longer ones go to a text variant."""
    if value is MISFIT or len(value.as_tuple().digits) > _SQLITE_EXACT_DIGITS:
        return MISFIT
    return str(value)
