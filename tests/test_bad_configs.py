"""Every malformed config fails when Airflow parses the DAG file: one import error naming the key path.

Each case changes one key of a valid config (built like the example DAGs: a YAML file beside the DAG file,
or the config as a Python dict in it). The config's ``base_url`` is a loopback server that must receive
no request: parsing a DAG touches no network.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_restsync import rest_sync_dag
from airflow_provider_restsync.config import MAX_NESTING
from airflow_provider_restsync.errors import ConfigError
from tests.support.http import LoopbackServer, Request, Response, serve

SECRET = "s3cr3t-token-value"


def valid_config(base_url: str) -> dict[str, Any]:
    """A config using most keys, that parses: each case breaks one thing in it."""
    return {
        "client": {
            "base_url": base_url,
            "auth": {"type": "bearer"},
            "headers": {"Accept": "application/json"},
            "paginator": {"type": "offset", "limit": 50},
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {
                "params": {"per_page": 50},
                "error_handler": {"retry_on_status_codes": [429], "max_retries": 2},
            },
        },
        "resources": [
            {
                "name": "accounts",
                "endpoint": {
                    "path": "/v1/accounts",
                    "data_selector": "data",
                    "incremental": {
                        "cursor_path": "updated_at",
                        "start_param": "since",
                        "initial_value": "2024-01-01T00:00:00Z",
                    },
                },
            },
            {
                "name": "inboxes",
                "endpoint": {"path": "/v1/accounts/{account_id}/inboxes", "data_selector": "data"},
                "include_from_parent": ["name"],
            },
            {
                "name": "messages",
                "endpoint": {
                    "path": "/v1/inboxes/{resources.inboxes.id}/messages",
                    "data_selector": "$.data[*]",
                    "response_actions": [{"status_code": 404, "action": "ignore"}],
                },
                "columns": {"size": {"data_type": "bigint"}},
            },
        ],
    }


# --- changing one place of the config -----------------------------------------------------------------

_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")
Change = Callable[[dict[str, Any]], None]


def _steps(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _STEP.findall(path)]


def _parent(config: dict[str, Any], path: str) -> tuple[Any, str | int]:
    *head, last = _steps(path)
    node: Any = config
    for step in head:
        node = node.setdefault(step, {}) if isinstance(node, dict) else node[step]
    return node, last


def put(path: str, value: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        node, last = _parent(config, path)
        node[last] = copy.deepcopy(value)

    return change


def drop(path: str) -> Change:
    def change(config: dict[str, Any]) -> None:
        node, last = _parent(config, path)
        del node[last]

    return change


def both(*changes: Change) -> Change:
    def change(config: dict[str, Any]) -> None:
        for each in changes:
            each(config)

    return change


@dataclass(frozen=True)
class Case:
    id: str
    change: Change
    key_path: str
    fragment: str


def case(id: str, change: Change, key_path: str, fragment: str) -> Any:
    return pytest.param(Case(id, change, key_path, fragment), id=id)


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


R0, R1, R2 = "resources[0]", "resources[1]", "resources[2]"
E0, E1, E2 = f"{R0}.endpoint", f"{R1}.endpoint", f"{R2}.endpoint"

CASES = [
    # top level
    case("top-unknown-key", put("resource", []), "resource", "did you mean 'resources'"),
    case("top-resources-empty", put("resources", []), "resources", "non-empty list"),
    case("top-resources-not-a-list", put("resources", "accounts"), "resources", "non-empty list"),
    case("top-client-not-a-mapping", put("client", ["x"]), "client", "must be a mapping"),
    case("top-client-empty-list", put("client", []), "client", "must be a mapping, not list"),
    case("top-defaults-false", put("resource_defaults", False), "resource_defaults", "must be a mapping"),
    # client
    case(
        "client-unknown-key", put("client.baseurl", "http://x"), "client.baseurl", "did you mean 'base_url'"
    ),
    case(
        "client-base-url-scheme", put("client.base_url", "ftp://x"), "client.base_url", "http:// or https://"
    ),
    case("client-base-url-type", put("client.base_url", 5), "client.base_url", "non-empty string"),
    case("client-session", put("client.session", {"verify": False}), "client.session", "not support yet"),
    case("client-headers-type", put("client.headers", ["Accept"]), "client.headers", "must be a mapping"),
    case("client-headers-zero", put("client.headers", 0), "client.headers", "must be a mapping, not int"),
    case(
        "client-header-value", put("client.headers.Accept", {"a": 1}), "client.headers.Accept", "header value"
    ),
    case(
        "client-header-brace", put("client.headers.Accept", "{x"), "client.headers.Accept", "unbalanced '{'"
    ),
    case("client-paginator-typo", put("client.paginator", "json_lnk"), "client.paginator", "'json_link'"),
    # auth
    case("auth-type-typo", put("client.auth.type", "bearr"), "client.auth.type", "did you mean 'bearer'"),
    case("auth-not-a-mapping", put("client.auth", 5), "client.auth", "a mapping or an auth type"),
    case("auth-literal-secret", put("client.auth.token", SECRET), "client.auth.token", "holds a secret"),
    case("auth-unknown-key", put("client.auth.tokn_url", "x"), "client.auth.tokn_url", "'token_url'"),
    case(
        "auth-key-of-another-type",
        put("client.auth.username", "u"),
        "client.auth.username",
        "auth type bearer",
    ),
    case(
        "auth-api-key-location",
        put("client.auth", {"type": "api_key", "name": "key", "location": "body"}),
        "client.auth.location",
        "unknown api key location 'body'",
    ),
    # resource_defaults
    case("defaults-name", put("resource_defaults.name", "x"), "resource_defaults.name", "unknown key 'name'"),
    case(
        "defaults-path",
        put("resource_defaults.endpoint.path", "/x"),
        "resource_defaults.endpoint.path",
        "no effect",
    ),
    case(
        "defaults-write-disposition",
        put("resource_defaults.write_disposition", "upsert"),
        "resource_defaults.write_disposition",
        "unknown write disposition",
    ),
    case(
        "defaults-paginator",
        put("resource_defaults.endpoint.paginator", {"type": "ofset"}),
        "resource_defaults.endpoint.paginator.type",
        "did you mean 'offset'",
    ),
    case(
        "defaults-column-hint",
        put("resource_defaults.columns", {"id": {"data_type": "integer"}}),
        "resource_defaults.columns.id.data_type",
        "unsupported data_type 'integer'",
    ),
    # a resource's own keys
    case("resource-not-a-mapping", put(R0, 5), R0, "a resource name or a mapping"),
    case("resource-no-name", drop(f"{R0}.name"), f"{R0}.name", "non-empty string"),
    case("resource-defined-twice", put(f"{R1}.name", "accounts"), f"{R1}.name", "defined twice"),
    case(
        "resource-name-not-a-task-id", put(f"{R2}.name", "all messages"), f"{R2}.name", "cannot be a task id"
    ),
    case("resource-unknown-key", put(f"{R0}.primry_key", "id"), f"{R0}.primry_key", "'primary_key'"),
    case("resource-not-yet-key", put(f"{R0}.merge_key", "id"), f"{R0}.merge_key", "not support yet"),
    case(
        "resource-processing-steps",
        put(f"{R0}.processing_steps", [{"filter": "x"}]),
        f"{R0}.processing_steps",
        "not support yet",
    ),
    case("primary-key-type", put(f"{R0}.primary_key", 5), f"{R0}.primary_key", "string or a list"),
    case(
        "primary-key-item", put(f"{R0}.primary_key", ["id", ""]), f"{R0}.primary_key[1]", "non-empty string"
    ),
    case(
        "primary-key-missing-for-merge",
        put(f"{R0}.primary_key", []),
        f"{R0}.write_disposition",
        "primary key",
    ),
    case(
        "write-disposition-typo", put(f"{R0}.write_disposition", "mrge"), f"{R0}.write_disposition", "'merge'"
    ),
    case(
        "write-disposition-strategy",
        put(f"{R0}.write_disposition", {"disposition": "merge", "strategy": "scd2"}),
        f"{R0}.write_disposition.strategy",
        "not supported",
    ),
    case(
        "write-disposition-strategy-typo",
        put(f"{R0}.write_disposition", {"disposition": "merge", "strategy": "upsrt"}),
        f"{R0}.write_disposition.strategy",
        "did you mean 'upsert'",
    ),
    case("table-name-type", put(f"{R0}.table_name", 5), f"{R0}.table_name", "non-empty string"),
    case("columns-type", put(f"{R0}.columns", "id"), f"{R0}.columns", "column hints"),
    case(
        "column-data-type",
        put(f"{R2}.columns.size.data_type", "money"),
        f"{R2}.columns.size.data_type",
        "money",
    ),
    case(
        "column-hint-typo",
        put(f"{R2}.columns.size.nullabel", True),
        f"{R2}.columns.size.nullabel",
        "'nullable'",
    ),
    case("selected-type", put(f"{R0}.selected", "yes"), f"{R0}.selected", "true or false"),
    case("max-table-nesting", put(f"{R0}.max_table_nesting", -1), f"{R0}.max_table_nesting", "at least 0"),
    case(
        "include-from-parent-root",
        put(f"{R0}.include_from_parent", ["id"]),
        f"{R0}.include_from_parent",
        "parent",
    ),
    # endpoint
    case("endpoint-type", put(E0, 5), E0, "a path or a mapping"),
    case("endpoint-unknown-key", put(f"{E0}.pth", "/x"), f"{E0}.pth", "did you mean 'path'"),
    case("endpoint-auth", put(f"{E0}.auth", {"type": "bearer"}), f"{E0}.auth", "not support yet"),
    case("endpoint-method", put(f"{E0}.method", "PUT"), f"{E0}.method", "GET or POST"),
    case("endpoint-method-empty", put(f"{E0}.method", ""), f"{E0}.method", "non-empty string"),
    case("endpoint-path-brace", put(f"{E0}.path", "/v1/{id"), f"{E0}.path", "unbalanced"),
    case("endpoint-params-type", put(f"{E0}.params", ["per_page"]), f"{E0}.params", "must be a mapping"),
    case(
        "endpoint-params-empty-list", put(f"{E0}.params", []), f"{E0}.params", "must be a mapping, not list"
    ),
    case(
        "endpoint-param-mapping",
        put(f"{E0}.params.x", {"type": "magic"}),
        f"{E0}.params.x.type",
        "type: resolve",
    ),
    case(
        "endpoint-param-placeholder",
        put(f"{E0}.params.q", "{not_a_placeholder}"),
        f"{E0}.params.q",
        "not a placeholder a param can take",
    ),
    case("endpoint-headers-type", put(f"{E0}.headers", "Accept"), f"{E0}.headers", "must be a mapping"),
    case(
        "endpoint-json-placeholder",
        both(put(f"{E0}.method", "POST"), put(f"{E0}.json", {"q": "{bogus}"})),
        f"{E0}.json.q",
        "not a placeholder a JSON body can take",
    ),
    case(
        "data-selector-jsonpath",
        put(f"{E0}.data_selector", "$.data[?("),
        f"{E0}.data_selector",
        "invalid JSONPath",
    ),
    case("data-selector-type", put(f"{E0}.data_selector", 5), f"{E0}.data_selector", "non-empty string"),
    # paginators
    case(
        "paginator-type-typo",
        put(f"{E0}.paginator", {"type": "ofset", "limit": 5}),
        f"{E0}.paginator.type",
        "offset",
    ),
    case(
        "paginator-no-limit",
        put(f"{E0}.paginator", {"type": "offset"}),
        f"{E0}.paginator.limit",
        "needs 'limit'",
    ),
    case(
        "paginator-setting-typo",
        put(f"{E0}.paginator", {"type": "offset", "limit": 5, "limt": 5}),
        f"{E0}.paginator.limt",
        "did you mean 'limit'",
    ),
    case(
        "paginator-setting-type",
        put(f"{E0}.paginator", {"type": "offset", "limit": "ten"}),
        f"{E0}.paginator.limit",
        "whole",
    ),
    case("paginator-not-a-mapping", put(f"{E0}.paginator", 5), f"{E0}.paginator", "a type name or a mapping"),
    case("paginator-without-type", put(f"{E0}.paginator", {"limit": 5}), f"{E0}.paginator.type", "no 'type'"),
    # incremental
    case(
        "incremental-type", put(f"{E0}.incremental", 5), f"{E0}.incremental", "a mapping with a cursor_path"
    ),
    case(
        "incremental-no-cursor",
        drop(f"{E0}.incremental.cursor_path"),
        f"{E0}.incremental.cursor_path",
        "needs a cursor_path",
    ),
    case(
        "incremental-key-typo",
        put(f"{E0}.incremental.cursor_pth", "x"),
        f"{E0}.incremental.cursor_pth",
        "'cursor_path'",
    ),
    case(
        "incremental-start-param",
        put(f"{E0}.incremental.start_param", 5),
        f"{E0}.incremental.start_param",
        "parameter",
    ),
    case(
        "incremental-lag", put(f"{E0}.incremental.lag", "x"), f"{E0}.incremental.lag", "non-negative number"
    ),
    case(
        "incremental-range",
        put(f"{E0}.incremental.range_start", "opened"),
        f"{E0}.incremental.range_start",
        "'open'",
    ),
    case(
        "incremental-twice",
        put(f"{E0}.params.since", {"type": "incremental", "cursor_path": "updated_at"}),
        f"{E0}.incremental",
        "keep one",
    ),
    case(
        "incremental-placeholder-without-incremental",
        put(f"{E1}.params.since", "{incremental.start_value}"),
        f"{E1}.params.since",
        "incremental",
    ),
    # response actions
    case(
        "response-actions-type",
        put(f"{E2}.response_actions", {"status_code": 404}),
        f"{E2}.response_actions",
        "a list",
    ),
    case(
        "response-action-unknown",
        put(f"{E2}.response_actions[0].action", "skip"),
        f"{E2}.response_actions[0].action",
        "one of: ignore",
    ),
    case(
        "response-action-status",
        put(f"{E2}.response_actions[0].status_code", 99),
        f"{E2}.response_actions[0].status_code",
        "HTTP status",
    ),
    case(
        "response-action-no-match",
        drop(f"{E2}.response_actions[0].status_code"),
        f"{E2}.response_actions[0]",
        "a status_code, a content",
    ),
    # retry rules
    case("error-handler-type", put(f"{E0}.error_handler", 5), f"{E0}.error_handler", "must be a mapping"),
    case(
        "error-handler-typo",
        put(f"{E0}.error_handler", {"max_retry": 2}),
        f"{E0}.error_handler.max_retry",
        "did you mean 'max_retries'",
    ),
    case(
        "error-handler-status",
        put(f"{E0}.error_handler", {"retry_on_status_codes": [429, "x"]}),
        f"{E0}.error_handler.retry_on_status_codes[1]",
        "status code",
    ),
    case(
        "error-handler-backoff",
        put(f"{E0}.error_handler", {"backoff_factor": -1}),
        f"{E0}.error_handler.backoff_factor",
        "",
    ),
    case(
        "error-handler-in-defaults",
        put("resource_defaults.endpoint.error_handler.max_retries", 1.5),
        "resource_defaults.endpoint.error_handler.max_retries",
        "",
    ),
    # parents and bindings
    case(
        "parent-does-not-exist",
        put(f"{E2}.path", "/v1/inboxes/{resources.inboxs.id}/messages"),
        f"{E2}.path",
        "did you mean 'inboxes'",
    ),
    case(
        "inferred-parent-does-not-exist",
        put(f"{E1}.path", "/v1/users/{user_id}/inboxes"),
        f"{E1}.path",
        "no resource named 'users'",
    ),
    case(
        "cycle",
        put(f"{E0}.path", "/v1/messages/{resources.messages.id}/accounts"),
        R0,
        "cycle: accounts -> messages -> inboxes -> accounts",
    ),
    case("self-reference", put(f"{E0}.path", "/v1/{resources.accounts.id}/x"), f"{E0}.path", "itself"),
    case(
        "not-one-line-of-ancestors",
        put(f"{E2}.path", "/v1/{resources.inboxes.id}/{resources.sibling.id}"),
        f"{E2}.path",
        "which is not defined",
    ),
    case("malformed-reference", put(f"{E2}.path", "/v1/{resources.inboxes}/x"), f"{E2}.path", "of the form"),
    case(
        "resolve-param-unused",
        put(f"{E1}.params.p", {"type": "resolve", "resource": "accounts", "field": "id"}),
        f"{E1}.params.p",
        "not used in the path",
    ),
    case(
        "resolve-param-unknown-resource",
        both(
            put(f"{E1}.path", "/v1/accounts/{acct}/inboxes"),
            put(f"{E1}.params.acct", {"type": "resolve", "resource": "acounts", "field": "id"}),
        ),
        f"{E1}.params.acct.resource",
        "did you mean 'accounts'",
    ),
    # a body nested past what the parser takes (``resources[0].endpoint.json`` is at depth 4)
    case(
        "nested-too-deep",
        both(put(f"{E0}.method", "POST"), put(f"{E0}.json", _deep(MAX_NESTING + 10))),
        f"{E0}.json" + ".a" * (MAX_NESTING - 3),
        f"nested more than {MAX_NESTING} levels",
    ),
]
CASE_VALUES: list[Case] = [param.values[0] for param in CASES]


@pytest.fixture(scope="module")
def api() -> Iterator[LoopbackServer]:
    """The config's base_url: a server counting requests (none may arrive)."""

    def handler(request: Request) -> Response:
        return Response(200, {"data": []})

    with serve(handler) as server:
        yield server


def broken(case: Case, base_url: str) -> dict[str, Any]:
    config = valid_config(base_url)
    case.change(config)
    return config


def test_the_valid_config_builds_a_dag(api: LoopbackServer) -> None:
    dag = rest_sync_dag(valid_config(api.url), dag_id="valid", conn_id="bad_configs_api")
    assert set(dag.task_ids) == {"accounts", "inboxes", "messages"}
    assert api.requests == []


def test_every_case_has_its_own_id_and_key_path() -> None:
    assert len({case.id for case in CASE_VALUES}) == len(CASE_VALUES)
    assert all(case.key_path for case in CASE_VALUES)


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_config_fails_with_one_message_naming_the_key_path(
    case: Case, api: LoopbackServer
) -> None:
    with pytest.raises(ConfigError) as caught:
        rest_sync_dag(broken(case, api.url), dag_id=f"bad_{case.id}", conn_id="bad_configs_api")
    error = caught.value
    assert error.key_path == case.key_path
    assert str(error).startswith(f"{case.key_path}: ")
    assert case.fragment in str(error)
    assert str(error).count(f"{case.key_path}:") == 1
    assert SECRET not in str(error)
    assert api.requests == []


# --- through Airflow's DagBag, as the DAG processor parses DAG files --------------------------------

_YAML_DAG = """from pathlib import Path

from airflow_provider_restsync import rest_sync_dag

dag = rest_sync_dag(Path(__file__).with_name("{name}.yaml"), dag_id="{dag_id}", conn_id="bad_configs_api")
"""
_DICT_DAG = """from airflow_provider_restsync import rest_sync_dag

CONFIG = {config!r}
dag = rest_sync_dag(CONFIG, dag_id="{dag_id}", conn_id="bad_configs_api")
"""


def write_dag(folder: Path, name: str, config: dict[str, Any], *, as_yaml: bool) -> Path:
    """A DAG file built as the example DAGs are: the config in a YAML file beside it, or as a dict."""
    dag_file = folder / f"{name}.py"
    dag_id = name.replace("-", "_")
    if as_yaml:
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        dag_file.write_text(_YAML_DAG.format(name=name, dag_id=dag_id))
    else:
        dag_file.write_text(_DICT_DAG.format(config=config, dag_id=dag_id))
    return dag_file


@pytest.fixture(scope="module")
def dagbag_of_bad_configs(
    tmp_path_factory: pytest.TempPathFactory, api: LoopbackServer
) -> tuple[Any, dict[str, Path]]:
    """One DagBag over a folder holding one DAG file per case (half YAML, half dict), and a valid one."""
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path_factory.mktemp("bad_dags")
    files = {
        case.id: write_dag(folder, case.id, broken(case, api.url), as_yaml=index % 2 == 0)
        for index, case in enumerate(CASE_VALUES)
    }
    write_dag(folder, "valid-yaml", valid_config(api.url), as_yaml=True)
    write_dag(folder, "valid-dict", valid_config(api.url), as_yaml=False)
    return DagBag(dag_folder=str(folder)), files


def test_dagbag_loads_the_valid_configs_and_nothing_else(
    dagbag_of_bad_configs: tuple[Any, dict[str, Path]],
) -> None:
    bag, files = dagbag_of_bad_configs
    assert set(bag.dag_ids) == {"valid_yaml", "valid_dict"}
    assert set(bag.import_errors) == {str(path) for path in files.values()}


@pytest.mark.parametrize("case", CASES)
def test_dagbag_reports_one_import_error_naming_the_key_path(
    case: Case, dagbag_of_bad_configs: tuple[Any, dict[str, Path]], api: LoopbackServer
) -> None:
    bag, files = dagbag_of_bad_configs
    errors = [text for path, text in bag.import_errors.items() if path == str(files[case.id])]
    assert len(errors) == 1
    message = errors[0].strip().splitlines()[-1]
    assert message.startswith("airflow_provider_restsync.errors.")
    assert f"Error: {case.key_path}: " in message
    assert case.fragment in message
    assert SECRET not in errors[0]
    assert api.requests == []


def test_a_config_file_that_is_not_yaml_fails_at_parse_time_naming_the_file(
    tmp_path: Path, api: LoopbackServer
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "broken.yaml").write_text(f"client:\n  base_url: {api.url}\nresources: [accounts\n")
    (tmp_path / "broken.py").write_text(_YAML_DAG.format(name="broken", dag_id="broken"))
    bag = DagBag(dag_folder=str(tmp_path))
    assert list(bag.import_errors) == [str(tmp_path / "broken.py")]
    message = next(iter(bag.import_errors.values())).strip().splitlines()
    assert any(f"the config file {tmp_path / 'broken.yaml'} is not valid YAML" in line for line in message)
    assert bag.dag_ids == []
    assert api.requests == []
