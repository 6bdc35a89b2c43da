"""Data types: inferred from JSON values or named by dlt ``data_type`` hints; their SQL type per database.

And back: the data type of a column reflected from an existing table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine, UserDefinedType

from airflow_provider_restsync.errors import ConfigError

DATA_TYPES = frozenset({"text", "bigint", "double", "bool", "timestamp", "date", "time", "json", "decimal"})
TYPE_ALIASES = {"complex": "json"}  # dlt's old name
DEFAULT_DECIMAL = (38, 9)  # dlt's default precision and scale

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# ISO-8601 date and time with at least minutes and at most microseconds (finer would be truncated).
_ISO_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?"
)


def canonical_type(data_type: str, where: str = "data_type") -> str:
    """Validate a dlt ``data_type`` hint and return its canonical name."""
    name = TYPE_ALIASES.get(data_type, data_type)
    if name not in DATA_TYPES:
        raise ConfigError(
            f"unsupported data_type {data_type!r}; expected one of {', '.join(sorted(DATA_TYPES))}", where
        )
    return name


def parse_timestamp(text: str) -> datetime | None:
    """An ISO-8601 timestamp string as an aware UTC datetime (naive ones taken as UTC), or None."""
    match = _ISO_TIMESTAMP.fullmatch(text) if 16 <= len(text) <= 35 else None
    if match is None:
        return None
    value: datetime | None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:  # Python 3.10 reads fewer forms ("Z", "+0530", 4-digit fractions)
        value = _from_parts(match)
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is after the last datetime in UTC: not a timestamp
        return None


def _from_parts(match: re.Match[str]) -> datetime | None:
    year, month, day, hour, minute, second, fraction, zulu, sign, tz_hours, tz_minutes = match.groups()
    offset = timezone.utc if zulu else None
    try:
        if sign:
            minutes = int(tz_hours) * 60 + int(tz_minutes or 0)
            offset = timezone(timedelta(minutes=-minutes if sign == "-" else minutes))  # under 24 h
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=offset,
        )
    except ValueError:
        return None


def infer_type(value: Any) -> str:
    """The data type a (non-null) value would get in a new column."""
    kind = type(value)
    if kind is str:
        return "timestamp" if parse_timestamp(value) is not None else "text"
    if kind is bool:
        return "bool"
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return "bigint"
        return "decimal" if abs(value) < 10 ** (DEFAULT_DECIMAL[0] - DEFAULT_DECIMAL[1]) else "text"
    if kind is float:
        return "double" if math.isfinite(value) else "text"
    if kind is dict or kind is list:
        return "json"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    if isinstance(value, Decimal):
        return "decimal" if value.is_finite() else "text"
    if isinstance(value, (dict, list)):
        return "json"
    return "text"


def infer_column_type(values: Iterable[Any]) -> str | None:
    """The type of a new column from its values in a batch; None if they are all null.

    Integers mixed with floats make ``double``, with huge integers ``decimal``, and ISO timestamps
    mixed with other strings ``text``; any other mix takes the first value's type (the rest become
    variants).
    """
    first: str | None = None
    seen: set[str] = set()
    for value in values:
        if value is None:
            continue
        kind = infer_type(value)
        if first is None:
            first = kind
        seen.add(kind)
    if first is None or len(seen) == 1:
        return first
    if seen <= {"bigint", "double"}:
        return "double"
    if seen <= {"bigint", "decimal"}:
        return "decimal"
    if seen <= {"text", "timestamp"}:
        return "text"
    return first


# --- SQL types ---------------------------------------------------------------------------------


class JsonText(UserDefinedType[str]):
    """A JSON column that is bound as already serialized text: one serialization, NaN refused early."""

    cache_ok = True

    def __init__(self, ddl: str = "JSON") -> None:
        self.ddl = ddl

    def get_col_spec(self, **kw: Any) -> str:
        return self.ddl


class DecimalText(UserDefinedType[str]):
    """SQLite's DECIMAL(p, s): bound as text so no float rounding happens on the way in."""

    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        self.precision = precision
        self.scale = scale

    def get_col_spec(self, **kw: Any) -> str:
        return f"DECIMAL({self.precision}, {self.scale})"


MYSQL_MAX_VARCHAR = 16383  # utf8mb4 characters in a VARCHAR


def sql_type(
    data_type: str,
    dialect_name: str,
    *,
    precision: int | None = None,
    scale: int | None = None,
    collation: str | None = None,
) -> TypeEngine[Any]:
    """The column type for a data type on one database family."""
    is_mysql = dialect_name in ("mysql", "mariadb")
    if data_type == "text":
        if precision is not None and not (is_mysql and precision > MYSQL_MAX_VARCHAR):
            return sa.String(precision, collation=collation)
        return mysql.LONGTEXT() if is_mysql else sa.Text()
    if data_type == "bigint":
        return sa.BigInteger()
    if data_type == "double":
        return sa.Double(asdecimal=False)
    if data_type == "bool":
        return sa.Boolean()
    if data_type == "timestamp":
        return mysql.DATETIME(fsp=6) if is_mysql else sa.DateTime(timezone=True)
    if data_type == "date":
        return sa.Date()
    if data_type == "time":
        return mysql.TIME(fsp=6) if is_mysql else sa.Time()
    if data_type == "json":
        return JsonText("JSONB" if dialect_name == "postgresql" else "JSON")
    if data_type == "decimal":
        p, s = precision or DEFAULT_DECIMAL[0], DEFAULT_DECIMAL[1] if scale is None else scale
        return DecimalText(p, s) if dialect_name == "sqlite" else sa.Numeric(p, s, asdecimal=True)
    raise ConfigError(f"unsupported data_type {data_type!r}")


def logical_type(
    column_type: TypeEngine[Any], *, json_check: bool = False
) -> tuple[str | None, int | None, int | None]:
    """(data type, precision, scale) of a reflected column; data type None for one this writer did not make.

    :param json_check: MariaDB reflects JSON as LONGTEXT; True when a ``json_valid`` check guards it.
    """
    if json_check or isinstance(column_type, (sa.JSON, JsonText)):
        return "json", None, None
    if isinstance(column_type, mysql.TINYINT) and getattr(column_type, "display_width", None) == 1:
        return "bool", None, None
    simple = (
        (sa.Boolean, "bool"),
        (sa.Integer, "bigint"),
        (sa.Float, "double"),
        (sa.DateTime, "timestamp"),
        (sa.Date, "date"),
        (sa.Time, "time"),
    )
    for kind, name in simple:
        if isinstance(column_type, kind):
            return name, None, None
    if isinstance(column_type, (sa.Numeric, DecimalText)):
        return "decimal", getattr(column_type, "precision", None), getattr(column_type, "scale", None)
    if isinstance(column_type, sa.String):
        length = None if isinstance(column_type, sa.Text) else column_type.length
        return "text", length, None
    return None, None, None
