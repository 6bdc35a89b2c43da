from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_restsync.config import (
    Binding,
    ResponseAction,
    SourceConfig,
    load_source,
    plural,
)
from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.hooks.retry import RetryOverrides
from airflow_provider_restsync.paging import PaginatorSpec
from airflow_provider_restsync.placeholders import parse_template
from airflow_provider_restsync.sql.disposition import WriteDisposition
from airflow_provider_restsync.sql.hints import ColumnHint
from tests.support.reference_configs import DOCUMENTS, REFERENCE_CONFIGS, reference_config

REFERENCE_DIR = Path("/work/shared/reference-apis")


def source(*resources: Any, **top: Any) -> SourceConfig:
    return load_source({"client": {"base_url": "https://api.test"}, "resources": list(resources), **top})


def config_error(raw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_source(raw)
    return caught.value


def document_config(name: str) -> Any:
    """The dict a reference document passes to ``rest_api_source``, secrets as ``None``."""
    text = (REFERENCE_DIR / DOCUMENTS[name]).read_text()
    code = text.split("```python", 1)[1].split("```", 1)[0]
    argument = code.split("rest_api_source(", 1)[1].rsplit(")", 1)[0]
    return ast.literal_eval(re.sub(r"dlt\.secrets\[[^\]]*\]", "None", argument))


# --- the five reference configs -----------------------------------------------------------------------


@pytest.mark.skipif(not REFERENCE_DIR.exists(), reason="reference documents not available")
@pytest.mark.parametrize("name", sorted(REFERENCE_CONFIGS))
def test_reference_configs_are_the_documents_configs(name: str) -> None:
    assert REFERENCE_CONFIGS[name] == document_config(name)


@pytest.mark.parametrize("name", sorted(REFERENCE_CONFIGS))
def test_reference_configs_parse(name: str) -> None:
    parsed = load_source(reference_config(name))
    raw_names = [resource["name"] for resource in REFERENCE_CONFIGS[name]["resources"]]
    assert [resource.name for resource in parsed.resources] == raw_names
    for resource in parsed.resources:
        assert resource.primary_key == ("id",)
        assert resource.write_disposition == WriteDisposition("merge", "upsert")
        assert resource.table_name == resource.name
    assert parsed.client.auth is not None and parsed.client.auth["type"]


def test_reference_secrets_are_dropped_from_auth() -> None:
    assert load_source(reference_config("mail_testing")).client.auth == {"type": "basic", "username": None}
    assert load_source(reference_config("email_delivery")).client.auth == {
        "type": "api_key",
        "name": "api_key",
        "location": "header",
    }


def test_inbox_testing_binds_parents_by_naming_rule(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_restsync.bindings"):
        parsed = load_source(reference_config("inbox_testing"))
    messages = parsed.resource("messages")
    assert messages.parent == "inboxes"
    assert messages.bindings == (
        Binding("account_id", "accounts", "id", "path", inferred=True),
        Binding("inbox_id", "inboxes", "id", "path", inferred=True),
    )
    assert [resource.name for resource in parsed.lineage("messages")] == ["accounts", "inboxes", "messages"]
    assert {r.name for r in parsed.children_of("accounts")} == {
        "billing_usage",
        "resources",
        "sending_domains",
        "inboxes",
        "projects",
    }
    assert parsed.resource("accounts").parent is None
    assert parsed.resource("billing_usage").endpoint.retry == RetryOverrides(
        statuses=(429,), max_retries=2, backoff_factor=5
    )
    inferred = [record.getMessage() for record in caplog.records if "inferred" in record.getMessage()]
    assert len(inferred) == 7  # once per binding: five {account_id}, and messages has two
    assert any("{inbox_id} bound to inboxes.id" in message for message in inferred)


def test_offset_reference_paginators_are_kept_as_given() -> None:
    parsed = load_source(reference_config("email_delivery"))
    assert parsed.resource("bounces").endpoint.paginator == PaginatorSpec(
        "offset", {"limit": 500, "offset_param": "offset"}
    )
    assert parsed.resource("deliverystats").endpoint.data_selector == "Bounces"


# --- resources, endpoints, defaults -------------------------------------------------------------------


def test_a_resource_may_be_a_name_and_an_endpoint_a_path() -> None:
    parsed = source("users", {"name": "teams", "endpoint": "/v2/teams"}, {"name": "orgs"})
    assert [str(r.endpoint.path) for r in parsed.resources] == ["users", "/v2/teams", "orgs"]
    users = parsed.resource("users")
    assert users.endpoint.method == "GET"
    assert users.primary_key == () and users.write_disposition == WriteDisposition("append")
    assert users.selected
    assert users.key_path == "resources[0]"


def test_defaults_merge_like_dlt() -> None:
    parsed = source(
        {
            "name": "issues",
            "endpoint": {
                "path": "issues",
                "params": {"state": "open"},
                "json": {"b": 2},
                "headers": {"X-B": "2"},
            },
            "columns": {"id": {"nullable": False}, "title": {"data_type": "text"}},
        },
        {"name": "pulls", "primary_key": ["repo", "number"], "write_disposition": "append"},
        resource_defaults={
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {
                "params": {"per_page": 100, "state": "all"},
                "json": {"a": 1},
                "headers": {"X-A": "1"},
                "data_selector": "items",
            },
            "columns": {"id": {"data_type": "bigint"}},
        },
    )
    issues = parsed.resource("issues")
    assert issues.endpoint.params == {"per_page": 100, "state": "open"}
    assert issues.endpoint.json == {"a": 1, "b": 2}
    assert issues.endpoint.headers == {"X-B": "2"}  # dlt replaces headers, it does not merge them
    assert issues.endpoint.data_selector == "items"
    assert issues.columns == {
        "id": ColumnHint(data_type="bigint", nullable=False),
        "title": ColumnHint(data_type="text"),
    }
    assert (issues.primary_key, issues.write_disposition) == (("id",), WriteDisposition("merge"))
    pulls = parsed.resource("pulls")
    assert (pulls.primary_key, pulls.write_disposition) == (("repo", "number"), WriteDisposition())
    assert pulls.endpoint.params == {"per_page": 100, "state": "all"}
    assert pulls.columns == {"id": ColumnHint(data_type="bigint")}


def test_write_disposition_mapping_form() -> None:
    parsed = source(
        {
            "name": "a",
            "primary_key": "id",
            "write_disposition": {"disposition": "merge", "strategy": "upsert"},
        },
        {"name": "b", "primary_key": "id", "write_disposition": "merge"},
        {"name": "c", "write_disposition": "replace"},
    )
    assert parsed.resource("a").write_disposition == WriteDisposition("merge", "upsert")
    # One default strategy in code and docs: upsert (dlt's is delete-insert; the rows come out the same).
    assert parsed.resource("b").write_disposition == WriteDisposition("merge", "upsert")
    assert parsed.resource("c").write_disposition == WriteDisposition("replace")


def test_columns_list_form_and_other_hints() -> None:
    parsed = source(
        {
            "name": "a",
            "table_name": "table_a",
            "columns": [{"name": "id", "data_type": "bigint"}],
            "selected": False,
            "max_table_nesting": 1,
        }
    )
    resource = parsed.resource("a")
    assert resource.columns == {"id": ColumnHint(data_type="bigint")}
    assert (resource.table_name, resource.selected, resource.max_table_nesting) == ("table_a", False, 1)
    assert parsed.selected_resources() == ()


def test_a_path_ending_in_a_placeholder_is_a_single_entity() -> None:
    parsed = source("accounts", {"name": "account", "endpoint": "accounts/{resources.accounts.id}"})
    endpoint = parsed.resource("account").endpoint
    assert (endpoint.data_selector, endpoint.paginator) == ("$", PaginatorSpec("single_page"))


def test_static_params_named_in_the_path_are_bound_and_encoded() -> None:
    parsed = source(
        {"name": "repo", "endpoint": {"path": "repos/{owner}/issues", "params": {"owner": "a b/c", "x": 1}}}
    )
    endpoint = parsed.resource("repo").endpoint
    assert str(endpoint.path) == "repos/a%20b%2Fc/issues"
    assert endpoint.params == {"x": 1}


def test_post_with_json_and_response_actions() -> None:
    parsed = source(
        {
            "name": "search",
            "endpoint": {
                "path": "search",
                "method": "post",
                "json": {"query": "x"},
                "response_actions": [
                    {"status_code": 404, "action": "ignore"},
                    {"status_code": "204", "action": "ignore"},
                    {"content": "no results", "action": "ignore"},
                ],
            },
        }
    )
    endpoint = parsed.resource("search").endpoint
    assert (endpoint.method, endpoint.json) == ("POST", {"query": "x"})
    assert endpoint.response_actions == (
        ResponseAction("ignore", status_code=404),
        ResponseAction("ignore", status_code=204),
        ResponseAction("ignore", content="no results"),
    )


def test_load_from_yaml_and_json_files(tmp_path: Path) -> None:
    raw = reference_config("email_service")
    (tmp_path / "source.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "source.json").write_text(json.dumps(raw))
    from_yaml = load_source(tmp_path / "source.yaml")
    assert from_yaml == load_source(str(tmp_path / "source.json")) == load_source(raw)


def test_bad_files(tmp_path: Path) -> None:
    assert "ends in .yaml" in str(config_error(tmp_path / "source.txt"))
    assert "cannot read" in str(config_error(tmp_path / "missing.yaml"))
    (tmp_path / "broken.yaml").write_text("resources: [\n")
    assert "not valid YAML" in str(config_error(tmp_path / "broken.yaml"))
    (tmp_path / "list.yaml").write_text("- a\n")
    assert "a mapping" in str(config_error(tmp_path / "list.yaml"))


# --- errors with key paths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "key_path", "message"),
    [
        ({"resource": []}, "resource", "did you mean 'resources'"),
        ({"resources": []}, "resources", "non-empty list"),
        ({"client": {"baseurl": "x"}, "resources": ["a"]}, "client.baseurl", "did you mean 'base_url'"),
        ({"client": {"base_url": "ftp://x"}, "resources": ["a"]}, "client.base_url", "http"),
        ({"client": {"session": object()}, "resources": ["a"]}, "client.session", "not support yet"),
        ({"resources": ["a", {"name": "b", "primry_key": "id"}]}, "resources[1].primry_key", "'primary_key'"),
        ({"resources": [{"name": "a", "merge_key": "id"}]}, "resources[0].merge_key", "not support yet"),
        ({"resources": [{"name": "a", "endpoint": {"pth": "x"}}]}, "resources[0].endpoint.pth", "'path'"),
        (
            {"resources": [{"name": "a", "endpoint": {"auth": {}}}]},
            "resources[0].endpoint.auth",
            "not support yet",
        ),
        ({"resources": [{"endpoint": "x"}]}, "resources[0].name", "non-empty string"),
        ({"resources": ["a", "a"]}, "resources[1].name", "defined twice"),
        (
            {"resources": [{"name": "a", "endpoint": {"method": "PUT"}}]},
            "resources[0].endpoint.method",
            "GET or POST",
        ),
        (
            {"resources": [{"name": "a", "write_disposition": "merge"}]},
            "resources[0].write_disposition",
            "needs a primary key",
        ),
        (
            {"resources": [{"name": "a", "write_disposition": "mrge"}]},
            "resources[0].write_disposition",
            "'merge'",
        ),
        (
            {
                "resources": [
                    {
                        "name": "a",
                        "primary_key": "id",
                        "write_disposition": {"disposition": "merge", "strategy": "scd2"},
                    }
                ]
            },
            "resources[0].write_disposition.strategy",
            "not supported",
        ),
        ({"resources": [{"name": "a", "primary_key": 5}]}, "resources[0].primary_key", "string"),
        ({"resources": [{"name": "a", "selected": "yes"}]}, "resources[0].selected", "true or false"),
        (
            {"resources": [{"name": "a", "max_table_nesting": -1}]},
            "resources[0].max_table_nesting",
            "at least 0",
        ),
        ({"resources": [{"name": "a", "columns": "id"}]}, "resources[0].columns", "column hints"),
        (
            {"resources": [{"name": "a", "endpoint": {"paginator": {"type": "ofset", "limit": 1}}}]},
            "resources[0].endpoint.paginator.type",
            "did you mean 'offset'",
        ),
        (
            {"resources": ["a", {"name": "b", "endpoint": {"paginator": {"type": "offset"}}}]},
            "resources[1].endpoint.paginator.limit",
            "needs 'limit'",
        ),
        (
            {"client": {"paginator": "json_lnk"}, "resources": ["a"]},
            "client.paginator",
            "did you mean 'json_link'",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"data_selector": "$.data[?("}}]},
            "resources[0].endpoint.data_selector",
            "invalid JSONPath",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"incremental": {"initial_value": 1}}}]},
            "resources[0].endpoint.incremental.cursor_path",
            "needs a cursor_path",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"params": {"since": {"type": "incremental"}}}}]},
            "resources[0].endpoint.params.since.cursor_path",
            "needs a cursor_path",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"params": {"x": {"type": "magic"}}}}]},
            "resources[0].endpoint.params.x.type",
            "type: resolve",
        ),
        (
            {
                "resources": [
                    {"name": "a", "endpoint": {"response_actions": [{"status_code": 404, "action": "skip"}]}}
                ]
            },
            "resources[0].endpoint.response_actions[0].action",
            "one of: ignore",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"response_actions": [{"action": "ignore"}]}}]},
            "resources[0].endpoint.response_actions[0]",
            "status_code, a content",
        ),
        (
            {
                "resources": [
                    {"name": "a", "endpoint": {"response_actions": [{"status_code": 99, "action": "ignore"}]}}
                ]
            },
            "resources[0].endpoint.response_actions[0].status_code",
            "HTTP status",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"error_handler": {"max_retry": 2}}}]},
            "resources[0].endpoint.error_handler.max_retry",
            "did you mean 'max_retries'",
        ),
        (
            {
                "resources": [
                    {"name": "a", "endpoint": {"error_handler": {"retry_on_status_codes": [429, "x"]}}}
                ]
            },
            "resources[0].endpoint.error_handler.retry_on_status_codes[1]",
            "status code",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"json": {"id": "{resources.c.id}"}}}, "b"]},
            "resources[0].endpoint.json.id",
            "which is not defined",
        ),
        ({"resources": [{"name": "a", "endpoint": "x/{id"}]}, "resources[0].endpoint.path", "unbalanced"),
        (
            {"resource_defaults": {"endpoint": {"path": "x"}}, "resources": ["a"]},
            "resource_defaults.endpoint.path",
            "no effect",
        ),
        (
            {"resource_defaults": {"write_disposition": "upsert"}, "resources": ["a"]},
            "resource_defaults.write_disposition",
            "unknown write disposition",
        ),
        ({"resource_defaults": {"name": "x"}, "resources": ["a"]}, "resource_defaults.name", "unknown key"),
    ],
)
def test_config_errors_name_the_key_path(config: dict[str, Any], key_path: str, message: str) -> None:
    error = config_error(config)
    assert error.key_path == key_path
    assert message in str(error)
    assert str(error).startswith(f"{key_path}: ")


def test_not_yet_supported_keys_set_to_null_are_accepted() -> None:
    parsed = source({"name": "a", "merge_key": None, "endpoint": {"incremental": None, "auth": None}})
    assert parsed.resource("a").endpoint.path == parse_template("a", "path")


def test_unknown_resource_has_a_did_you_mean() -> None:
    with pytest.raises(ConfigError, match="did you mean 'messages'"):
        load_source(reference_config("mail_testing")).resource("mesages")


def test_merge_default_without_primary_key_is_completed_by_the_resource() -> None:
    parsed = source({"name": "a", "primary_key": "uuid"}, resource_defaults={"write_disposition": "merge"})
    assert parsed.resource("a").primary_key == ("uuid",)


# --- secrets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        ({"type": "bearer", "token": "s3cr3t-token-value"}, "token"),
        ({"type": "http_basic", "username": "api", "password": "s3cr3t-token-value"}, "password"),
        ({"type": "api_key", "name": "key", "api_key": "s3cr3t-token-value", "location": "query"}, "api_key"),
        (
            {"type": "oauth2_client_credentials", "client_id": "c", "client_secret": "s3cr3t-token-value"},
            "client_secret",
        ),
    ],
)
def test_a_secret_in_the_config_is_an_error_that_does_not_show_it(auth: dict[str, Any], key: str) -> None:
    error = config_error({"client": {"auth": auth}, "resources": ["a"]})
    assert error.key_path == f"client.auth.{key}"
    assert "Airflow connection" in str(error)
    assert "s3cr3t" not in str(error) and "s3cr3t" not in repr(error.args)


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_secrets_are_accepted(empty: str | None) -> None:
    parsed = load_source({"client": {"auth": {"type": "bearer", "token": empty}}, "resources": ["a"]})
    assert parsed.client.auth == {"type": "bearer"}


def test_auth_settings_are_checked() -> None:
    assert "did you mean 'bearer'" in str(
        config_error({"client": {"auth": {"type": "bearr"}}, "resources": ["a"]})
    )
    error = config_error({"client": {"auth": {"type": "bearer", "secret": "s3cr3t"}}, "resources": ["a"]})
    assert error.key_path == "client.auth.secret" and "s3cr3t" not in str(error)
    error = config_error({"client": {"auth": {"type": "api_key", "location": "body"}}, "resources": ["a"]})
    assert error.key_path == "client.auth.location"
    assert load_source({"client": {"auth": "bearer"}, "resources": ["a"]}).client.auth == {"type": "bearer"}


# --- parents and bindings -----------------------------------------------------------------------------


def test_declared_bindings_in_path_and_params() -> None:
    parsed = source(
        "accounts",
        {
            "name": "inboxes",
            "endpoint": "accounts/{resources.accounts.id}/inboxes",
            "include_from_parent": ["name"],
        },
        {
            "name": "messages",
            "endpoint": {
                "path": "accounts/{resources.accounts.id}/inboxes/{resources.inboxes.id}/messages",
                "params": {"owner": "{resources.inboxes.owner.email}", "limit": 10},
            },
        },
    )
    inboxes, messages = parsed.resource("inboxes"), parsed.resource("messages")
    assert inboxes.parent == "accounts" and inboxes.include_from_parent == ("name",)
    assert messages.parent == "inboxes"
    assert messages.bindings == (
        Binding("resources.accounts.id", "accounts", "id"),
        Binding("resources.inboxes.id", "inboxes", "id"),
        Binding("resources.inboxes.owner.email", "inboxes", "owner.email", "param"),
    )
    assert messages.endpoint.params == {"limit": 10}
    assert {name: str(t) for name, t in messages.endpoint.param_templates.items()} == {
        "owner": "{resources.inboxes.owner.email}"
    }


def test_legacy_resolve_params() -> None:
    parsed = source(
        "accounts",
        {
            "name": "inboxes",
            "endpoint": {
                "path": "accounts/{account}/inboxes",
                "params": {"account": {"type": "resolve", "resource": "accounts", "field": "uuid"}, "x": 1},
            },
        },
    )
    inboxes = parsed.resource("inboxes")
    assert inboxes.bindings == (Binding("account", "accounts", "uuid"),)
    assert inboxes.endpoint.params == {"x": 1}
    assert str(inboxes.endpoint.path) == "accounts/{account}/inboxes"


def test_a_grandchild_inherits_its_ancestors_bindings() -> None:
    parsed = source(
        "accounts",
        {"name": "inboxes", "endpoint": "accounts/{account_id}/inboxes"},
        {"name": "messages", "endpoint": "inboxes/{resources.inboxes.id}/messages"},
    )
    messages = parsed.resource("messages")
    assert messages.parent == "inboxes"
    assert messages.bindings == (
        Binding("resources.inboxes.id", "inboxes", "id"),
        Binding("account_id", "accounts", "id", inferred=True),
    )


def test_parent_may_be_declared_after_the_child() -> None:
    parsed = source({"name": "categories_items", "endpoint": "categories/{category_id}/items"}, "categories")
    assert parsed.resource("categories_items").bindings == (
        Binding("category_id", "categories", "id", inferred=True),
    )


def test_plural() -> None:
    assert [plural(word) for word in ("account", "inbox", "category", "day", "address", "match")] == [
        "accounts",
        "inboxes",
        "categories",
        "days",
        "addresses",
        "matches",
    ]


@pytest.mark.parametrize(
    ("resources", "key_path", "message"),
    [
        (
            ["a", {"name": "b", "endpoint": "a/{a_id}/b"}],
            "resources[1].endpoint.path",
            "no resource named 'as'",
        ),
        (["a", {"name": "b", "endpoint": "x/{slug}"}], "resources[1].endpoint.path", "type: resolve"),
        (
            ["a", {"name": "b", "endpoint": "x/{resources.aa.id}/y"}],
            "resources[1].endpoint.path",
            "did you mean 'a'",
        ),
        (["a", {"name": "b", "endpoint": "x/{resources.a}/y"}], "resources[1].endpoint.path", "of the form"),
        ([{"name": "a", "endpoint": "x/{resources.a.id}/y"}], "resources[0].endpoint.path", "itself"),
        (
            [
                {"name": "a", "endpoint": "x/{resources.b.id}/y"},
                {"name": "b", "endpoint": "x/{resources.a.id}/y"},
            ],
            "resources[0]",
            "cycle: a -> b -> a",
        ),
        (
            ["a", "c", {"name": "b", "endpoint": "{resources.a.id}/{resources.c.id}/y"}],
            "resources[2].endpoint",
            "not one line",
        ),
        (
            [
                "a",
                {
                    "name": "b",
                    "endpoint": {
                        "path": "x",
                        "params": {"p": {"type": "resolve", "resource": "a", "field": "id"}},
                    },
                },
            ],
            "resources[1].endpoint.params.p",
            "not used in the path",
        ),
        (
            ["a", {"name": "b", "include_from_parent": ["id"]}],
            "resources[1].include_from_parent",
            "needs a parent",
        ),
        (
            ["a", {"name": "b", "endpoint": "x/{incremental.start_value}/y"}],
            "resources[1].endpoint.path",
            "needs an incremental setting",
        ),
    ],
)
def test_binding_errors(resources: list[Any], key_path: str, message: str) -> None:
    error = config_error({"resources": resources})
    assert error.key_path == key_path
    assert message in str(error)


def test_parsing_leaves_the_raw_config_unchanged() -> None:
    import copy

    raw = reference_config("inbox_testing")
    raw["resource_defaults"]["endpoint"] = {"params": {"per_page": 50}}
    raw["resources"].append({"name": "repo", "endpoint": {"path": "r/{owner}", "params": {"owner": "me"}}})
    before = copy.deepcopy(raw)
    assert load_source(raw) == load_source(raw)
    assert raw == before


# --- one rule, one owner, checked at parse time (issue: one validated plan) -------------------------


def test_merge_strategy_has_one_default_in_code_config_writer_and_docs() -> None:
    from airflow_provider_restsync.sql.disposition import DEFAULT_MERGE_STRATEGY

    parsed = source({"name": "a", "primary_key": "id", "write_disposition": "merge"})
    assert parsed.resource("a").write_disposition.strategy == DEFAULT_MERGE_STRATEGY == "upsert"
    assert WriteDisposition("merge").strategy == DEFAULT_MERGE_STRATEGY
    reference = (Path(__file__).parent.parent / "docs" / "config-reference.md").read_text()
    assert f"`{DEFAULT_MERGE_STRATEGY}` (the default" in reference
    assert "`delete-insert` (the default" not in reference


def test_a_primary_key_given_only_as_a_column_hint_is_the_key() -> None:
    parsed = source(
        {"name": "a", "write_disposition": "merge", "columns": {"uid": {"primary_key": True}}},
        {"name": "b", "primary_key": "id", "columns": {"region": {"primary_key": True}}},
    )
    assert parsed.resource("a").primary_key == ("uid",)
    assert parsed.resource("b").primary_key == ("id", "region")


@pytest.mark.parametrize(
    ("columns", "key_path", "message"),
    [
        (
            {"amount": {"data_type": "money"}},
            "resources[0].columns.amount.data_type",
            "unsupported data_type",
        ),
        (
            {"amount": {"data_typ": "bigint"}},
            "resources[0].columns.amount.data_typ",
            "did you mean 'data_type'",
        ),
        ({"amount": {"nullable": "false"}}, "resources[0].columns.amount.nullable", "true or false"),
        ({"amount": {"primary_key": 1}}, "resources[0].columns.amount.primary_key", "true or false"),
        ({"amount": {"precision": 0}}, "resources[0].columns.amount.precision", "at least 1"),
        ({"amount": {"precision": 4, "scale": 6}}, "resources[0].columns.amount.scale", "larger than"),
        ({"amount": {"merge_key": True}}, "resources[0].columns.amount.merge_key", "not supported yet"),
        ({"amount": "bigint"}, "resources[0].columns.amount", "a mapping"),
        ([{"data_type": "bigint"}], "resources[0].columns[0].name", "needs a 'name'"),
    ],
)
def test_column_hints_are_checked_at_parse_time(columns: Any, key_path: str, message: str) -> None:
    error = config_error({"resources": [{"name": "a", "endpoint": "/a", "columns": columns}]})
    assert error.key_path == key_path
    assert message in str(error)


def test_a_bad_column_hint_in_the_defaults_is_reported_where_it_is_written() -> None:
    error = config_error(
        {"resource_defaults": {"columns": {"id": {"data_type": "integer"}}}, "resources": ["a"]}
    )
    assert error.key_path == "resource_defaults.columns.id.data_type"


def test_column_hint_values_are_typed() -> None:
    parsed = source(
        {
            "name": "a",
            "columns": {
                "amount": {"data_type": "decimal", "precision": 12, "scale": 0, "nullable": False},
                "payload": {"data_type": "complex", "description": "the raw event"},
            },
        }
    )
    assert parsed.resource("a").columns == {
        "amount": ColumnHint(data_type="decimal", precision=12, scale=0, nullable=False),
        "payload": ColumnHint(data_type="json"),
    }


@pytest.mark.parametrize(
    ("handler", "key_path", "message"),
    [
        ({"backoff_max": 0}, "backoff_max", ""),
        ({"backoff_factor": -1}, "backoff_factor", ""),
        ({"max_retries": 1.5}, "max_retries", ""),
        ({"retry_on_status_codes": [429, 99]}, "retry_on_status_codes[1]", ""),
        ({"max_retrys": 2}, "max_retrys", "did you mean 'max_retries'"),
    ],
)
def test_error_handler_problems_fail_at_parse_time(
    handler: dict[str, Any], key_path: str, message: str
) -> None:
    error = config_error({"resources": [{"name": "a", "endpoint": {"path": "/a", "error_handler": handler}}]})
    assert error.key_path == f"resources[0].endpoint.error_handler.{key_path}"
    assert message in str(error)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "{{ds}}"}, {"q": "{ds}"}),
        ({"q": "{{not_this}}"}, {"q": "{not_this}"}),
        ({"q": "{{not_this {{and}} {{not_that}}}}"}, {"q": "{not_this {and} {not_that}}"}),
        ({"q": "{{ undefined_in_jinja }}"}, {"q": "{ undefined_in_jinja }"}),
        ({"q": ["{{a}}", "b"]}, {"q": ["{a}", "b"]}),
        ({"q": "no braces"}, {"q": "no braces"}),
    ],
)
def test_doubled_braces_in_params_are_literal_braces_as_in_dlt(
    params: dict[str, Any], expected: dict[str, Any]
) -> None:
    parsed = source({"name": "a", "endpoint": {"path": "/a", "params": params}})
    assert parsed.resource("a").endpoint.params == expected


@pytest.mark.parametrize(
    ("endpoint", "key_path", "message"),
    [
        ({"path": "/a", "params": {"q": "{ds}"}}, "resources[0].endpoint.params.q", "{{ and }}"),
        ({"path": "/a", "params": {"q": "{"}}, "resources[0].endpoint.params.q", "unbalanced"),
        ({"path": "/a/{", "params": {}}, "resources[0].endpoint.path", "unbalanced '{'"),
        ({"path": "/a/}x", "params": {}}, "resources[0].endpoint.path", "unbalanced '}'"),
        (
            {"path": "/a", "headers": {"X": "{resources.b.id}"}},
            "resources[0].endpoint.headers.X",
            "not supported",
        ),
        (
            {"path": "/a", "json": {"k": ["{x}"]}},
            "resources[0].endpoint.json.k[0]",
            "not a placeholder a JSON body",
        ),
    ],
)
def test_a_lone_brace_is_an_error_with_the_escape_in_the_message(
    endpoint: dict[str, Any], key_path: str, message: str
) -> None:
    error = config_error({"resources": [{"name": "a", "endpoint": endpoint}]})
    assert error.key_path == key_path
    assert message in str(error)


def test_doubled_braces_in_paths_headers_and_json_are_literal() -> None:
    parsed = source(
        {
            "name": "a",
            "endpoint": {
                "path": "/v1/{{literal}}/items",
                "headers": {"X-{{Name}}": "value {{escaped}}"},
                "json": {"filter": "{{not_this}}", "{{key}}": ["{{x}}", 1]},
                "method": "POST",
            },
        }
    )
    endpoint = parsed.resource("a").endpoint
    assert endpoint.path.literal == "/v1/{literal}/items" and str(endpoint.path) == "/v1/{{literal}}/items"
    assert endpoint.headers == {"X-{Name}": "value {escaped}"}
    assert endpoint.json == {"filter": "{not_this}", "{key}": ["{x}", 1]}


def test_an_auth_key_the_named_type_does_not_read_fails_at_parse_time() -> None:
    error = config_error({"client": {"auth": {"type": "bearer", "name": "X-Key"}}, "resources": ["a"]})
    assert error.key_path == "client.auth.name"
    assert "for auth type bearer" in str(error)
