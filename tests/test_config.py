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
        assert resource.write_disposition == "merge"
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
    with caplog.at_level(logging.INFO, logger="airflow_provider_restsync.config"):
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
    assert parsed.resource("billing_usage").endpoint.error_handler == {
        "retry_on_status_codes": [429],
        "max_retries": 2,
        "backoff_factor": 5,
    }
    inferred = [record.getMessage() for record in caplog.records if "inferred" in record.getMessage()]
    assert len(inferred) == 7  # once per binding: five {account_id}, and messages has two
    assert any("{inbox_id} bound to inboxes.id" in message for message in inferred)


def test_offset_reference_paginators_are_kept_as_given() -> None:
    parsed = load_source(reference_config("email_delivery"))
    assert parsed.resource("bounces").endpoint.paginator == {
        "type": "offset",
        "limit": 500,
        "offset_param": "offset",
    }
    assert parsed.resource("deliverystats").endpoint.data_selector == "Bounces"


# --- resources, endpoints, defaults -------------------------------------------------------------------


def test_a_resource_may_be_a_name_and_an_endpoint_a_path() -> None:
    parsed = source("users", {"name": "teams", "endpoint": "/v2/teams"}, {"name": "orgs"})
    assert [r.endpoint.path for r in parsed.resources] == ["users", "/v2/teams", "orgs"]
    users = parsed.resource("users")
    assert users.endpoint.method == "GET"
    assert users.primary_key == () and users.write_disposition == "append" and users.selected
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
        "id": {"data_type": "bigint", "nullable": False},
        "title": {"data_type": "text"},
    }
    assert (issues.primary_key, issues.write_disposition) == (("id",), "merge")
    pulls = parsed.resource("pulls")
    assert (pulls.primary_key, pulls.write_disposition) == (("repo", "number"), "append")
    assert pulls.endpoint.params == {"per_page": 100, "state": "all"}
    assert pulls.columns == {"id": {"data_type": "bigint"}}


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
    assert parsed.resource("a").merge_strategy == "upsert"
    assert parsed.resource("b").merge_strategy == "delete-insert"
    assert parsed.resource("c").write_disposition == "replace"


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
    assert resource.columns == {"id": {"name": "id", "data_type": "bigint"}}
    assert (resource.table_name, resource.selected, resource.max_table_nesting) == ("table_a", False, 1)
    assert parsed.selected_resources() == ()


def test_a_path_ending_in_a_placeholder_is_a_single_entity() -> None:
    parsed = source("accounts", {"name": "account", "endpoint": "accounts/{resources.accounts.id}"})
    endpoint = parsed.resource("account").endpoint
    assert (endpoint.data_selector, endpoint.paginator) == ("$", "single_page")


def test_static_params_named_in_the_path_are_bound_and_encoded() -> None:
    parsed = source(
        {"name": "repo", "endpoint": {"path": "repos/{owner}/issues", "params": {"owner": "a b/c", "x": 1}}}
    )
    endpoint = parsed.resource("repo").endpoint
    assert endpoint.path == "repos/a%20b%2Fc/issues"
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
            "needs a primary_key",
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
            {"resources": [{"name": "a", "endpoint": {"incremental": {"cursor_path": "updated_at"}}}]},
            "resources[0].endpoint.incremental",
            "not supported yet",
        ),
        (
            {"resources": [{"name": "a", "endpoint": {"params": {"since": {"type": "incremental"}}}}]},
            "resources[0].endpoint.params.since",
            "not supported yet",
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
            {"resources": [{"name": "a", "endpoint": {"json": {"id": "{resources.b.id}"}}}, "b"]},
            "resources[0].endpoint.json.id",
            "not supported here yet",
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
    assert parsed.resource("a").endpoint.incremental is None


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
    assert messages.endpoint.bound_params == {"owner": "{resources.inboxes.owner.email}"}


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
    assert inboxes.endpoint.path == "accounts/{account}/inboxes"


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
            "not supported",
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
