"""Types: inference from JSON values, dlt hints, lossless converters and misfits."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.sql.convert import MISFIT, converter
from airflow_provider_restsync.sql.types import canonical_type, infer_column_type, infer_type


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello", "text"),
        ("2024-05-01T12:30:00Z", "timestamp"),
        ("2024-05-01 12:30:00+02:00", "timestamp"),
        ("2024-05-01T12:30:00.123456", "timestamp"),
        ("2024-05-01T12:30:00.123456789Z", "text"),  # finer than microseconds would be truncated
        ("2024-05-01", "text"),  # dates stay text unless hinted, as dlt does by default
        ("2024-13-45T99:99:00Z", "text"),
        (True, "bool"),
        (7, "bigint"),
        (2**63, "decimal"),
        (10**40, "text"),
        (1.5, "double"),
        (float("nan"), "text"),
        ({"a": 1}, "json"),
        ([1, 2], "json"),
    ],
)
def test_infer_type(value: object, expected: str) -> None:
    assert infer_type(value) == expected


def test_infer_column_type_widens_within_a_batch() -> None:
    assert infer_column_type([None, 1, 2.5]) == "double"
    assert infer_column_type([1, 2**70]) == "decimal"
    assert infer_column_type(["2024-01-01T00:00:00Z", "soon"]) == "text"
    assert infer_column_type([1, "x"]) == "bigint"  # "x" becomes a variant
    assert infer_column_type([None, None]) is None


def test_hint_names_are_dlts() -> None:
    assert canonical_type("complex") == "json"
    with pytest.raises(ConfigError, match="unsupported data_type 'varchar'"):
        canonical_type("varchar", "columns.x.data_type")


@pytest.mark.parametrize(
    ("data_type", "value", "expected"),
    [
        ("bigint", 5, 5),
        ("bigint", "42", 42),
        ("bigint", "042", MISFIT),  # not lossless
        ("bigint", "abc", MISFIT),
        ("bigint", 3.0, 3),
        ("bigint", 3.5, MISFIT),
        ("bigint", True, MISFIT),
        ("bigint", 2**64, MISFIT),
        ("double", 2, 2.0),
        ("double", "2.5", 2.5),
        ("double", "2.50", MISFIT),
        ("double", float("inf"), MISFIT),
        ("double", 2**60 + 1, MISFIT),
        ("bool", "true", True),
        ("bool", 1, MISFIT),
        ("text", 5, "5"),
        ("text", False, "false"),
        ("text", {"a": 1}, MISFIT),  # keeps its structure in a JSON variant
        ("json", {"a": [1, None]}, '{"a":[1,null]}'),
        ("json", "plain", MISFIT),  # a scalar keeps its type in a variant column, as dlt
        ("json", {"x": float("nan")}, MISFIT),
        ("date", "2024-02-29", date(2024, 2, 29)),
        ("date", "2024-02-30", MISFIT),
        ("decimal", "12.345", Decimal("12.345")),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", "1.0000000001", MISFIT),  # scale 9
    ],
)
def test_converters_are_lossless(data_type: str, value: object, expected: object) -> None:
    result = converter(data_type, "postgresql")(value)
    if expected is MISFIT:
        assert result is MISFIT
    else:
        assert result == expected
        assert type(result) is type(expected)


def test_timestamps_are_utc_aware_on_postgres_naive_on_mysql_text_on_sqlite() -> None:
    moment = datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)
    assert converter("timestamp", "postgresql")("2024-05-01T12:30:00+02:00") == moment
    assert converter("timestamp", "mysql")("2024-05-01T12:30:00+02:00") == moment.replace(tzinfo=None)
    assert converter("timestamp", "sqlite")("2024-05-01T10:30:00Z") == "2024-05-01 10:30:00.000000"
    assert converter("timestamp", "sqlite")("not a time") is MISFIT
    assert converter("timestamp", "sqlite")(1714559400) is MISFIT


def test_text_with_a_length_limit_refuses_longer_values() -> None:
    convert = converter("text", "mysql", precision=3)
    assert convert("abc") == "abc"
    assert convert("abcd") is MISFIT
