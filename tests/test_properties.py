"""Properties that hold for any input: config parsing, data selection, names, types and cursor values.

Under ``CI`` the examples are derandomized, so a run fails or passes the same way every time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_restsync.config import MAX_NESTING, load_source
from airflow_provider_restsync.cursor import compare, lagged
from airflow_provider_restsync.errors import ConfigError, PagingError
from airflow_provider_restsync.selecting import compile_selector
from airflow_provider_restsync.sql.convert import MISFIT, converter
from airflow_provider_restsync.sql.naming import ColumnNames, FieldKey, NamingConvention
from airflow_provider_restsync.sql.schema import RESERVED
from airflow_provider_restsync.sql.types import DATA_TYPES, infer_column_type, infer_type, parse_timestamp
from tests.support.reference_configs import REFERENCE_CONFIGS, reference_config

settings.register_profile(
    "restsync",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "restsync-ci", parent=settings.get_profile("restsync"), derandomize=True, database=None
)
settings.load_profile("restsync-ci" if os.environ.get("CI") else "restsync")

DIALECTS = ("postgresql", "mysql", "sqlite")
STYLES = ("snake_case", "direct")

# --- JSON-like values -------------------------------------------------------------------------------

# Words the config module gives meaning to, so that random structures reach past the first check.
CONFIG_WORDS = [
    "type", "name", "path", "params", "resource", "field", "cursor_path", "initial_value", "limit",
    "offset", "status_code", "action", "content", "data_type", "primary_key", "disposition", "strategy",
    "retry_on_status_codes", "max_retries", "backoff_factor", "backoff_max", "location", "username",
    "start_param", "end_param", "endpoint", "json", "headers", "paginator", "incremental", "error_handler",
    "response_actions", "data_selector", "columns", "method", "auth", "base_url", "client", "resources",
    "resource_defaults", "write_disposition", "table_name", "selected", "precision", "scale", "nullable",
    "lag", "range_start", "range_end", "on_cursor_value_missing", "last_value_func", "end_value",
    "next_url_path", "cursor_param", "total_path", "maximum_page", "page", "page_param", "base_page",
    "stop_after_empty_page", "has_more_path", "include_from_parent", "max_table_nesting",
    "processing_steps", "merge_key", "session", "allow_external_schedulers", "offset_param", "limit_param",
]  # fmt: skip
CONFIG_VALUES = [
    "offset", "page_number", "json_link", "cursor", "header_link", "single_page", "auto", "merge",
    "append", "replace", "upsert", "delete-insert", "scd2", "resolve", "incremental", "ignore", "bearer",
    "api_key", "http_basic", "basic", "oauth2_client_credentials", "query", "header", "cookie", "id",
    "{id}", "{account_id}", "{resources.accounts.id}", "{resources.nope.id}", "{incremental.start_value}",
    "{incremental.bogus}", "{", "}", "{{x}}", "$.data[*]", "$..x", "$.data[?(", "data.items", "GET",
    "POST", "PUT", "429", "2024-01-01", "2024-01-01T00:00:00Z", "text", "bigint", "max", "min",
    "http://127.0.0.1:9", "ftp://x", "", " ",
]  # fmt: skip
# No '.', '[' or ']': a key path naming such a key could not be read back unambiguously.
SAFE_TEXT = st.text(st.characters(blacklist_characters=".[]", blacklist_categories=("Cs",)), max_size=6)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 700),
    st.integers(),
    st.floats(),
    st.sampled_from(CONFIG_VALUES),
    SAFE_TEXT,
)
# Not empty either: an empty key leaves no trace in a key path (``json.[0]``; reported).
KEYS = st.one_of(st.sampled_from(CONFIG_WORDS), SAFE_TEXT.filter(bool))
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=20,
)
# What YAML also produces: timestamps, dates, binary, integer keys.
YAML_LIKE = st.recursive(
    st.one_of(SCALARS, st.dates(), st.datetimes(), st.binary(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.integers(0, 3), st.booleans(), st.none()), inner, max_size=5),
    ),
    max_leaves=20,
)

# --- config parsing -----------------------------------------------------------------------------------

# Every key the config module reads, each with a valid value, so that a change at one place is checked there.
VALID_CONFIG: dict[str, Any] = {
    "client": {
        "base_url": "http://127.0.0.1:9",
        "auth": {"type": "bearer"},
        "headers": {"X-Client": "1"},
        "paginator": {"type": "offset", "limit": 10},
    },
    "resource_defaults": {
        "primary_key": "id",
        "write_disposition": "merge",
        "endpoint": {"params": {"per_page": 5}, "error_handler": {"max_retries": 2, "backoff_factor": 1}},
    },
    "resources": [
        {
            "name": "accounts",
            "endpoint": {
                "path": "/accounts",
                "data_selector": "data",
                "paginator": {"type": "page_number", "base_page": 1},
                "incremental": {
                    "cursor_path": "updated_at",
                    "start_param": "since",
                    "initial_value": "2024-01-01T00:00:00Z",
                },
            },
        },
        {
            "name": "inboxes",
            "endpoint": {
                "path": "/accounts/{account_id}/inboxes/{box}",
                "method": "POST",
                "params": {
                    "q": "{resources.accounts.name}",
                    "box": {"type": "resolve", "resource": "accounts", "field": "id"},
                },
                "json": {"account": "{resources.accounts.id}", "tags": ["a", 1]},
                "response_actions": [{"status_code": 404, "action": "ignore"}],
            },
            "columns": {"id": {"data_type": "bigint", "nullable": False}},
            "include_from_parent": ["name"],
        },
        {
            "name": "messages",
            "table_name": "msgs",
            "selected": True,
            "max_table_nesting": 1,
            "write_disposition": {"disposition": "merge", "strategy": "upsert"},
            "endpoint": {
                "path": "/inboxes/{resources.inboxes.id}/messages",
                "paginator": "json_link",
                "headers": {"Accept": "application/json"},
            },
        },
    ],
}


def _places(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_places(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_places(value, (*prefix, index)))
    return found


def _at(raw: Any, place: tuple[Any, ...]) -> Any:
    node = raw
    for step in place:
        node = node[step]
    return node


PLACES = _places(VALID_CONFIG)
_KEY_PATH_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def names_a_place_in(raw: Any, key_path: str) -> bool:
    """``key_path`` leads into ``raw``: every step but the last exists (the last may be a missing key),
    and a string reached on the way is dlt's shorthand (a resource name, an endpoint path)."""
    node = raw
    steps = [int(index) if index else key for key, index in _KEY_PATH_TOKEN.findall(key_path)]
    for position, step in enumerate(steps):
        if isinstance(node, str):
            return True
        found = isinstance(node, dict) and step in node
        found = found or (isinstance(node, list) and isinstance(step, int) and step < len(node))
        if found:
            node = node[step]
        else:
            return position == len(steps) - 1
    return True


def assert_parses_or_names_the_place(raw: Any) -> None:
    """The one property of ``load_source``: a result, or a ConfigError whose key path leads into ``raw``."""
    try:
        load_source(raw)
    except ConfigError as error:
        assert error.key_path, f"no key path in {error}"
        assert str(error).startswith(f"{error.key_path}: ")
        assert names_a_place_in(raw, error.key_path), f"{error.key_path!r} is not a place in the config"


def test_the_valid_config_parses() -> None:
    parsed = load_source(VALID_CONFIG)
    assert [resource.parent for resource in parsed.resources] == [None, "accounts", "inboxes"]
    assert len(PLACES) > 50


@settings(max_examples=400)
@given(st.sampled_from(PLACES), JSON_LIKE)
def test_any_value_at_any_config_key_parses_or_names_the_key(place: tuple[Any, ...], value: Any) -> None:
    raw = copy.deepcopy(VALID_CONFIG)
    node = raw
    for step in place[:-1]:
        node = node[step]
    node[place[-1]] = value
    assert_parses_or_names_the_place(raw)


@settings(max_examples=300)
@given(
    st.sampled_from([place for place in PLACES if isinstance(_at(VALID_CONFIG, place), dict)]),
    KEYS,
    JSON_LIKE,
)
def test_any_key_added_to_any_config_mapping_parses_or_names_the_key(
    place: tuple[Any, ...], key: str, value: Any
) -> None:
    raw = copy.deepcopy(VALID_CONFIG)
    _at(raw, place)[key] = value
    assert_parses_or_names_the_place(raw)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["client", "resource_defaults", "resources"]), YAML_LIKE))
def test_any_structure_under_the_top_keys_parses_or_names_the_key(raw: dict[str, Any]) -> None:
    try:
        load_source(raw)
    except ConfigError as error:
        assert error.key_path


@settings(max_examples=100)
@given(YAML_LIKE)
def test_any_value_as_a_whole_config_fails_only_with_a_config_error(raw: Any) -> None:
    with contextlib.suppress(ConfigError):
        load_source(raw)


@settings(max_examples=300)
@given(st.sampled_from(sorted(REFERENCE_CONFIGS)), st.data())
def test_mutations_of_the_reference_configs_parse_or_name_the_key(name: str, data: st.DataObject) -> None:
    raw = reference_config(name)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        place = data.draw(st.sampled_from(_places(raw)), label="place")
        parent = _at(raw, place[:-1])
        operation = data.draw(st.sampled_from(["replace", "delete", "insert"]), label="operation")
        if operation == "replace":
            parent[place[-1]] = data.draw(JSON_LIKE, label="value")
        elif operation == "delete":
            del parent[place[-1]]
        elif isinstance(parent[place[-1]], dict):
            parent[place[-1]][data.draw(KEYS, label="key")] = data.draw(JSON_LIKE, label="value")
        elif isinstance(parent[place[-1]], list):
            parent[place[-1]].append(data.draw(JSON_LIKE, label="value"))
        if not _places(raw):
            break
    assert_parses_or_names_the_place(raw)


def _nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


@pytest.mark.parametrize(
    ("place", "key_path"),
    [
        (("resources", 0, "endpoint", "json"), "resources[0].endpoint.json"),
        (("resources", 1, "endpoint", "params", "q"), "resources[1].endpoint.params.q"),
        (("resource_defaults", "endpoint", "json"), "resource_defaults.endpoint.json"),
        (("client", "headers"), "client.headers"),
    ],
)
def test_a_config_nested_thousands_deep_is_a_config_error_not_a_recursion_error(
    place: tuple[Any, ...], key_path: str
) -> None:
    raw = copy.deepcopy(VALID_CONFIG)
    _at(raw, place[:-1])[place[-1]] = _nested(5000)
    with pytest.raises(ConfigError, match=f"nested more than {MAX_NESTING} levels") as caught:
        load_source(raw)
    assert caught.value.key_path is not None and caught.value.key_path.startswith(key_path)


def test_a_config_that_holds_itself_is_a_config_error() -> None:
    raw = copy.deepcopy(VALID_CONFIG)
    body: dict[str, Any] = {}
    body["again"] = body
    raw["resources"][0]["endpoint"]["json"] = body
    with pytest.raises(ConfigError, match="holds itself") as caught:
        load_source(raw)
    assert caught.value.key_path is not None
    assert caught.value.key_path.startswith("resources[0].endpoint.json.again.again")


def test_a_json_body_as_deep_as_allowed_parses() -> None:
    raw = copy.deepcopy(VALID_CONFIG)
    depth = MAX_NESTING - 4  # resources[0].endpoint.json is four levels down
    raw["resources"][0]["endpoint"]["json"] = _nested(depth)
    assert load_source(raw).resources[0].endpoint.json == _nested(depth)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_config_file_nested_too_deep_to_read_is_a_config_error(tmp_path: Path, suffix: str) -> None:
    file = tmp_path / f"deep{suffix}"
    file.write_text('{"resources": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_source(file)


def test_a_long_chain_of_children_declared_child_first_binds() -> None:
    """Each resource takes its parent's id; declared child first, settling parents must not recurse."""
    length = 1500
    resources = [{"name": "r0", "endpoint": "/r0"}] + [
        {"name": f"r{i}", "endpoint": f"/r/{{resources.r{i - 1}.id}}/x"} for i in range(1, length)
    ]
    parsed = load_source({"resources": resources[::-1]})
    assert parsed.resource("r1499").parent == "r1498"
    assert [resource.name for resource in parsed.lineage("r1499")] == [f"r{i}" for i in range(length)]
    assert len(parsed.resource("r1499").bindings) == length - 1


def test_a_long_cycle_is_reported_as_a_cycle() -> None:
    resources = [
        {"name": f"r{i}", "endpoint": f"/r/{{resources.r{(i + 1) % 1200}.id}}/x"} for i in range(1200)
    ]
    with pytest.raises(ConfigError, match="cycle: r0 -> r1 -> r2") as caught:
        load_source({"resources": resources})
    assert caught.value.key_path == "resources[0]"


# --- data selection -----------------------------------------------------------------------------------

BODY_KEYS = st.one_of(
    st.sampled_from(["data", "items", "a", "b", "meta", "x y", "$", "*", "0", "@"]), SAFE_TEXT
)
BODIES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(BODY_KEYS, inner, max_size=4)),
    max_leaves=25,
)
SELECTOR_PIECES = [
    "$", ".", "..", "data", "items", "a", "b", "[0]", "[*]", "[-1]", "[1:2]", "[?(@.a)]", "[?(@.a > 1)]",
    "*", "'x y'", "['a']", "[", "]", "(", ")", "@", ",", ":", "|", "`this`", "`len`", " ", '"', "0", "-",
    "~", "+", "=", "[?a]", "&", "`sorted`", "[/a]", "[\\a]", "`sub(/x/, y)`", "`parent`", "`str()`",
]  # fmt: skip
SELECTORS = st.one_of(
    st.lists(st.sampled_from(SELECTOR_PIECES), min_size=1, max_size=6).map("".join),
    st.text(max_size=8),
)


@settings(max_examples=500)
@given(SELECTORS, BODIES)
def test_a_selector_returns_a_list_or_raises_the_projects_error(selector: str, body: Any) -> None:
    try:
        compiled = compile_selector(selector)
    except ValueError:
        return  # documented: not a JSONPath; the config reports it as a ConfigError (next test)
    try:
        records = compiled.select(body, resource="r", url="http://127.0.0.1/x")
    except (PagingError, ConfigError):
        return
    assert isinstance(records, list)


@settings(max_examples=100)
@given(SELECTORS)
def test_an_invalid_selector_in_a_config_is_a_config_error_at_its_key(selector: str) -> None:
    raw = {"resources": [{"name": "a", "endpoint": {"path": "/a", "data_selector": selector}}]}
    try:
        load_source(raw)
    except ConfigError as error:
        assert error.key_path == "resources[0].endpoint.data_selector"


RECORD_LISTS = st.lists(st.dictionaries(SAFE_TEXT, BODIES, max_size=3), max_size=4)
PLAIN_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)


@settings(max_examples=200)
@given(st.lists(PLAIN_KEYS, min_size=1, max_size=3), RECORD_LISTS, st.sampled_from(["{}", "$.{}", "$.{}[*]"]))
def test_a_selector_returns_the_list_at_its_path(keys: list[str], records: Any, form: str) -> None:
    body: Any = records
    for key in reversed(keys):
        body = {key: body, "meta": {"total": 1}}
    selector = form.format(".".join(keys))
    assert compile_selector(selector).select(body, resource="r", url="u") == records


@pytest.mark.parametrize(
    ("selector", "body"),
    [
        ("a&b", {"a": [{"x": 1}], "b": [{"x": 2}]}),
        ("$.a.`sorted`", {"a": [{"x": 1}, {"x": 2}]}),
        ("$.a[/x]", {"a": [{"x": 1}, {"x": "s"}]}),
        ("$.a.`sub(/x/, y)`", {"a": [{"x": 1}]}),
        ("`parent`", {"a": [{"x": 1}]}),
    ],
)
def test_jsonpath_extensions_fail_with_the_projects_error(selector: str, body: Any) -> None:
    """jsonpath-ng's extensions that raise its own errors on a page fail with the project's errors."""
    with contextlib.suppress(PagingError, ValueError):
        compile_selector(selector).select(body, resource="r", url="u")


# --- names --------------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "ID", "id", "Id", "iD", "select", "SELECT", "from", "order", "'", '"', ";", "; drop table x;--", "",
    " ", "_", "__", "a-b", "a_b", "A_B", "a.b", "Ä", "ä", "ß", "SS", "ss", "ǅ", "ǆ", "k", "\u212a", "İ",
    "\u0131", "ﬀ", "ff", "\x00", "`", "x" * 70, "é" * 40, "😀" * 20, "a😀b", "_empty", "__v_text", "a__b",
    "_restsync_loaded_at", "_RESTSYNC_RUN_ID", "trailing ", "tab\t", "new\nline",
]  # fmt: skip
NAMES = st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=12), st.text(min_size=50, max_size=80))
FIELDS: st.SearchStrategy[FieldKey] = st.one_of(NAMES, st.tuples(NAMES, NAMES))
LIMITS: dict[str, Callable[[str], bool]] = {
    "postgresql": lambda name: len(name.encode("utf-8")) <= 63,
    "mysql": lambda name: len(name) <= 64 and all(ord(char) <= 0xFFFF for char in name),
    "sqlite": lambda name: True,
}


def assert_valid_columns(columns: list[str], dialect: str) -> None:
    folded = [name.casefold() for name in columns]
    assert all(columns), columns
    assert len(set(folded)) == len(folded), columns
    assert not set(folded) & {name.casefold() for name in RESERVED}
    assert all(LIMITS[dialect](name) for name in columns), columns
    assert all(name == name.strip() and "\x00" not in name for name in columns), columns


@settings(max_examples=400)
@given(NAMES, st.sampled_from(STYLES), st.sampled_from(DIALECTS))
def test_normalize_is_idempotent(name: str, style: str, dialect: str) -> None:
    convention = NamingConvention.for_dialect(style, dialect)
    once = convention.normalize(name)
    assert once and convention.normalize(once) == once
    assert LIMITS[dialect](once)


@settings(max_examples=300)
@given(
    st.lists(FIELDS, unique=True, max_size=12),
    st.sampled_from(STYLES),
    st.sampled_from(DIALECTS),
    st.randoms(),
)
def test_distinct_fields_get_distinct_columns_whatever_their_order(
    fields: list[FieldKey], style: str, dialect: str, random: Any
) -> None:
    convention = NamingConvention.for_dialect(style, dialect)
    assigned = dict(ColumnNames(convention, reserved=RESERVED).assign(fields))
    assert_valid_columns([assigned[field] for field in fields], dialect)
    shuffled = list(fields)
    random.shuffle(shuffled)
    assert dict(ColumnNames(convention, reserved=RESERVED).assign(shuffled)) == assigned


@settings(max_examples=300)
@given(
    st.lists(st.lists(FIELDS, max_size=6), min_size=2, max_size=4),
    st.sampled_from(STYLES),
    st.sampled_from(DIALECTS),
)
def test_a_field_keeps_its_column_across_batches(
    batches: list[list[FieldKey]], style: str, dialect: str
) -> None:
    convention = NamingConvention.for_dialect(style, dialect)
    names = ColumnNames(convention, reserved=RESERVED)
    kept: dict[FieldKey, str] = {}
    for batch in batches:
        assigned = dict(names.assign(batch))
        assert all(assigned[field] == column for field, column in kept.items())
        kept = assigned
    assert_valid_columns(list(kept.values()), dialect)
    # Fields whose names do not collide get the same column however they arrive: their normalized name.
    bases = [convention.normalize_field(field) for field in kept]
    alone = [
        field
        for field, base in zip(kept, bases, strict=True)
        if [b.casefold() for b in bases].count(base.casefold()) == 1
    ]
    fresh = dict(ColumnNames(convention).assign(alone))
    assert all(kept[field] == fresh[field] for field in alone if fresh[field].casefold() not in _reserved())


def _reserved() -> set[str]:
    return {name.casefold() for name in RESERVED}


@pytest.mark.parametrize("style", STYLES)
def test_the_database_takes_every_column_name_assigned_to_hostile_fields(
    database_url: str, style: str
) -> None:
    engine = sa.create_engine(database_url)
    dialect = "postgresql" if engine.dialect.name == "postgresql" else engine.dialect.name
    convention = NamingConvention.for_dialect(style, "mysql" if dialect == "mariadb" else dialect)
    fields: list[FieldKey] = [*HOSTILE_NAMES, ("Metadata", "Key"), ("metadata", "key"), ("😀", "x")]
    columns = list(ColumnNames(convention, reserved=RESERVED).assign(fields).values())
    assert_valid_columns(columns, "mysql" if dialect == "mariadb" else dialect)
    table = sa.Table(
        convention.normalize("Hostile 😀 Table"),
        sa.MetaData(),
        *(sa.Column(name, sa.Integer) for name in columns),
    )
    try:
        with engine.begin() as conn:
            table.create(conn)
            reflected = [column["name"] for column in sa.inspect(conn).get_columns(table.name)]
            assert reflected == columns
            table.drop(conn)
    finally:
        engine.dispose()


def test_direct_names_on_mysql_replace_characters_beyond_the_bmp() -> None:
    mysql = NamingConvention.for_dialect("direct", "mysql")
    assert mysql.normalize("a😀b") == "a_b"
    assert mysql.normalize_field(("😀", "x")) == "___x"
    assert NamingConvention.for_dialect("direct", "postgresql").normalize("a😀b") == "a😀b"


# --- types --------------------------------------------------------------------------------------------

ISO_TEXTS = st.one_of(
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(lambda moment: moment.isoformat()),
    st.dates().map(str),
    st.from_regex(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?", fullmatch=True
    ),
    st.sampled_from(
        [
            "9999-12-31T23:59:59.999999-01:00",
            "0001-01-01T00:00:00+01:00",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+99:99",
            "2024-02-30T00:00:00",
            "true",
            "false",
            "42",
            "-0",
            "1e5",
            "NaN",
            "inf",
            "0.1",
            "12:30",
            "12:30:00.5",
        ]
    ),
)
JSON_SCALARS = st.one_of(
    st.booleans(), st.integers(), st.integers(-(2**130), 2**130), st.floats(), st.text(max_size=10), ISO_TEXTS
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=500)
@given(JSON_VALUES)
def test_every_json_value_has_a_type(value: Any) -> None:
    assert infer_type(value) in DATA_TYPES
    assert infer_column_type([None, value, None]) == infer_type(value)


@settings(max_examples=300)
@given(st.lists(st.one_of(st.none(), JSON_VALUES), max_size=6))
def test_every_batch_of_values_has_a_column_type(values: list[Any]) -> None:
    kind = infer_column_type(values)
    assert kind is None if all(value is None for value in values) else kind in DATA_TYPES


def _expected(kind: str, value: Any, dialect: str) -> Any:
    """What a lossless conversion of ``value`` into a ``kind`` column gives, per database."""
    if kind == "timestamp":
        moment = parse_timestamp(value)
        assert moment is not None
        if dialect == "postgresql":
            return moment
        naive = moment.replace(tzinfo=None)
        return naive if dialect == "mysql" else naive.isoformat(" ", "microseconds")
    return value


def _round_trips(kind: str, value: Any, stored: Any, dialect: str) -> bool:
    if kind == "json":
        return bool(json.loads(stored) == value)
    if kind == "decimal":
        return Decimal(stored) == value
    if kind == "text" and not isinstance(value, str):
        return bool(json.loads(stored) == value)  # a huge integer or a non-finite float kept as its text
    if kind == "double":
        return stored == value and math.copysign(1.0, stored) == math.copysign(1.0, value)
    return bool(stored == _expected(kind, value, dialect)) and type(stored) is type(
        _expected(kind, value, dialect)
    )


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    return True


@settings(max_examples=500)
@given(JSON_VALUES, st.sampled_from(DIALECTS))
def test_a_value_its_inferred_column_accepts_converts_without_loss(value: Any, dialect: str) -> None:
    kind = infer_type(value)
    stored = converter(kind, dialect)(value)
    if stored is MISFIT:
        return  # goes to a variant column instead
    if kind == "text" and isinstance(value, float):
        assert not math.isfinite(value)
        return  # NaN and infinities are kept as their text, "NaN"/"Infinity"
    assert _finite(value) or kind != "json"
    assert _round_trips(kind, value, stored, dialect), (kind, value, stored)


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59.999999-01:00",  # after the last datetime once in UTC
        "0001-01-01T00:00:00+01:00",  # before the first
        "2024-01-01T00:00:00+24:00",  # offsets are under 24 hours
        "2024-01-01T00:00:00+99:00",
    ],
)
def test_timestamps_outside_what_utc_can_hold_are_text(text: str) -> None:
    assert parse_timestamp(text) is None
    assert infer_type(text) == "text"
    for dialect in DIALECTS:
        assert converter("timestamp", dialect)(text) is MISFIT
        assert converter("text", dialect)(text) == text


# --- cursor values ------------------------------------------------------------------------------------

CURSOR_TEXTS = st.one_of(
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.dates().map(str),
    st.text(max_size=6),
)
CURSOR_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    CURSOR_TEXTS,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
LAGS = st.one_of(st.integers(0, 10**6), st.floats(0, 1e13), st.just(1e300))


@settings(max_examples=400)
@given(CURSOR_VALUES, CURSOR_VALUES)
def test_cursor_values_compare_both_ways_or_raise_the_projects_error(left: Any, right: Any) -> None:
    try:
        order = compare(left, right, "resource 'r'")
    except PagingError:
        with pytest.raises(PagingError):
            compare(right, left, "resource 'r'")
        return
    assert order in (-1, 0, 1)
    assert compare(right, left, "resource 'r'") == -order


@settings(max_examples=400)
@given(CURSOR_VALUES, LAGS, st.booleans())
def test_a_lag_moves_a_cursor_only_its_way_and_keeps_its_form(
    value: Any, lag: float, towards_past: bool
) -> None:
    try:
        moved = lagged(value, lag, towards_past=towards_past)
    except PagingError:
        return
    assert type(moved) is type(value)
    order = compare(moved, value, "resource 'r'")
    assert order <= 0 if towards_past else order >= 0


@pytest.mark.parametrize(
    ("value", "lag", "towards_past", "expected"),
    [
        ("0001-01-01T00:00:30Z", 60, True, "0001-01-01T00:00:00Z"),
        ("0001-01-01", 2, True, "0001-01-01"),
        ("9999-12-30", 5, False, "9999-12-31"),
        ("2024-01-01T00:00:00Z", 1e13, True, "0001-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00-05:00", 60, True, "0001-01-01T00:00:00-05:00"),
    ],
)
def test_a_lag_past_the_calendar_stops_at_its_end(
    value: str, lag: float, towards_past: bool, expected: str
) -> None:
    assert lagged(value, lag, towards_past=towards_past) == expected
