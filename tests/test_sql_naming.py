"""Names: dlt's snake_case, dlt's shortening, deterministic collisions, hostile input."""

from __future__ import annotations

import pytest

from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.sql.naming import (
    ColumnNames,
    NamingConvention,
    name_tag,
    normalize_identifier,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MessageID", "message_id"),
        ("ServerID", "server_id"),
        ("ID", "id"),
        ("SubscriptionManagementConfiguration", "subscription_management_configuration"),
        ("camelCase", "camel_case"),
        ("HTTPResponse", "http_response"),
        ("already_snake", "already_snake"),
        ("  padded  ", "padded"),
        ("123abc", "_123abc"),
        ("a-b", "a_b"),
        ("a__b", "a_b"),
        ("trailing_", "trailingx"),
        ("e-mail@home", "e_mailahome"),
        ("a+b*c|d", "axbxcld"),
        ('x"; drop table y; --', "x_drop_table_yxxx"),
        ("", "_empty"),
    ],
)
def test_snake_case_matches_dlt(name: str, expected: str) -> None:
    assert normalize_identifier(name) == expected


def test_long_names_are_shortened_with_dlts_tag_per_database() -> None:
    long_name = "Very" + "LongFieldName" * 10
    for dialect, limit in [("postgresql", 63), ("mysql", 64)]:
        shortened = NamingConvention.for_dialect("snake_case", dialect).normalize(long_name)
        assert len(shortened) == limit
        assert name_tag(long_name) in shortened
        assert shortened.startswith("very_long_field_name") and shortened.endswith("long_field_name")
    # SQLite is generous: the full name stays.
    assert NamingConvention.for_dialect("snake_case", "sqlite").normalize(long_name) == normalize_identifier(
        long_name
    )


def test_postgres_limit_counts_bytes_for_direct_names() -> None:
    name = "ü" * 40  # 80 bytes
    shortened = NamingConvention.for_dialect("direct", "postgresql").normalize(name)
    assert len(shortened.encode()) <= 63
    assert shortened == NamingConvention.for_dialect("direct", "postgresql").normalize(name)


def test_direct_keeps_api_names_and_cleans_quotes() -> None:
    convention = NamingConvention("direct")
    assert convention.normalize("MessageID") == "MessageID"
    assert convention.normalize('x"; drop') == "x_; drop"
    assert convention.normalize_field(("Metadata", "Key")) == "Metadata__Key"


def test_unknown_naming_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="naming"):
        NamingConvention("camel")


def test_collisions_are_deterministic_whatever_the_order() -> None:
    fields = ["a-b", "A B", "a_b", "a.b"]
    first = ColumnNames(NamingConvention("snake_case")).assign(fields)
    second = ColumnNames(NamingConvention("snake_case")).assign(list(reversed(fields)))
    assert dict(first) == dict(second)
    assert first["a_b"] == "a_b"  # the field already in normal form keeps the name
    assert len(set(first.values())) == 4
    assert all(name.startswith("a_b_") for field, name in first.items() if field != "a_b")


def test_collisions_compare_case_insensitively_in_direct_mode() -> None:
    names = ColumnNames(NamingConvention("direct")).assign(["id", "ID", "Id"])
    assert names["ID"] == "ID"  # all three are already "normal": the first in sort order keeps its name
    assert len({name.casefold() for name in names.values()}) == 3


def test_bookkeeping_names_are_reserved() -> None:
    names = ColumnNames(NamingConvention("snake_case"), reserved=["_restsync_run_id"])
    assigned = names.assign(["_restsync_run_id"])
    assert assigned["_restsync_run_id"] != "_restsync_run_id"


def test_variant_columns_follow_dlt_and_avoid_taken_names() -> None:
    names = ColumnNames(NamingConvention("snake_case"))
    names.assign(["count", ("count", "v_text")])  # a flattened field that looks like a variant
    assert names.get(("count", "v_text")) == "count__v_text"
    variant = names.variant("count", "text")
    assert variant != "count__v_text" and variant.startswith("count__v_text_")
    assert names.variant("count", "bigint") == "count__v_bigint"
    assert names.variant("count", "text") == variant
