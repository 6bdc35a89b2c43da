"""rest_sync_dag at parse time: the DAG's shape, its Params and Assets, and errors that name the key path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_restsync import RestToSqlOperator, rest_sync_dag
from airflow_provider_restsync.errors import ConfigError
from tests.support.reference_configs import REFERENCE_CONFIGS

INBOX = REFERENCE_CONFIGS["inbox_testing"]


def broken(change: Any) -> dict[str, Any]:
    config = copy.deepcopy(REFERENCE_CONFIGS["email_service"])
    change(config)
    return config


@pytest.mark.parametrize(
    ("change", "key_path", "words"),
    [
        (
            lambda c: c["resources"][2]["endpoint"]["paginator"].update(type="ofset"),
            "resources[2].endpoint.paginator.type",
            "offset",
        ),
        (lambda c: c["resources"][1].update(primary_keys="id"), "resources[1]", "primary_key"),
        (
            lambda c: c["resources"][0]["endpoint"].update(method="PATCH"),
            "resources[0].endpoint.method",
            "GET",
        ),
        (lambda c: c["resource_defaults"].update(write_disposition="upsert"), "write_disposition", "merge"),
        (lambda c: c["resources"][3].update(name="my servers"), "resources[3].name", "task id"),
        (lambda c: c.update(resources=[]), "resources", "resource"),
        (lambda c: c["client"]["auth"].update(type="bearr"), "client.auth.type", "bearer"),
    ],
)
def test_a_broken_config_fails_at_parse_time_naming_the_key_path(
    change: Any, key_path: str, words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        rest_sync_dag(broken(change), dag_id="broken", conn_id="api")
    assert key_path in str(raised.value)
    assert words in str(raised.value)


def test_a_secret_left_in_the_config_is_refused_without_printing_it() -> None:
    config = broken(lambda c: c["client"]["auth"].update(api_key="live-key-4f8a9c2e"))
    with pytest.raises(ConfigError) as raised:
        rest_sync_dag(config, dag_id="secret", conn_id="api")
    assert "client.auth.api_key" in str(raised.value)
    assert "live-key-4f8a9c2e" not in str(raised.value)


def test_parsing_touches_no_connection_network_or_database() -> None:
    # Neither connection exists and nothing listens: building the DAG must not care.
    dag = rest_sync_dag(INBOX, dag_id="inbox", conn_id="missing_api", destination_conn_id="missing_db")
    assert len(dag.task_ids) == 7


def test_one_task_per_resource_children_after_parents() -> None:
    dag = rest_sync_dag(INBOX, dag_id="inbox", conn_id="api", schedule="@daily")
    assert sorted(dag.task_ids) == sorted(r["name"] for r in INBOX["resources"])
    assert dag.get_task("messages").upstream_task_ids == {"inboxes"}
    assert dag.get_task("billing_usage").upstream_task_ids == {"accounts"}
    assert dag.get_task("messages").trigger_rule == "none_failed"
    assert dag.get_task("accounts").trigger_rule == "all_success"
    for task in dag.tasks:
        assert isinstance(task, RestToSqlOperator)
        assert task.conn_id == "api"


def test_trigger_form_params_and_outlet_assets() -> None:
    dag = rest_sync_dag(
        INBOX, dag_id="inbox", conn_id="api", destination_conn_id="warehouse", destination_schema="inbox"
    )
    params = dag.params
    assert params["full_refresh"] is False
    assert params["resources"] == []
    schema = params.get_param("resources").schema
    assert sorted(schema["items"]["enum"]) == sorted(r["name"] for r in INBOX["resources"])
    assert schema["examples"] == schema["items"]["enum"]  # what the Trigger form's multi-select offers
    (asset,) = dag.get_task("inboxes").outlets
    assert asset.uri == "restsync://warehouse/inbox/inboxes"


def _required_in_the_trigger_form(schema: dict[str, Any]) -> bool:
    """The Trigger form's rule (Airflow 3.3's UI): a field is required when its type has no "null"."""
    kind = schema.get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_the_trigger_form_marks_no_param_required_and_takes_them_empty() -> None:
    dag = rest_sync_dag(INBOX, dag_id="inbox", conn_id="api")
    for name in ("full_refresh", "resources"):
        assert not _required_in_the_trigger_form(dag.params.get_param(name).schema), name
    # What the form sends when a field is cleared validates, as do the defaults and a real choice.
    for conf in (
        {"full_refresh": None, "resources": None},
        {},
        {"full_refresh": True, "resources": ["inboxes"]},
    ):
        params = copy.deepcopy(dag.params)
        params.update(conf)  # __setitem__ validates each value against its Param's schema
        params.validate()
    with pytest.raises(Exception, match="no_such_resource"):
        copy.deepcopy(dag.params).update({"resources": ["no_such_resource"]})


def test_tasks_retry_by_default_and_the_author_can_say_otherwise() -> None:
    task = rest_sync_dag(INBOX, dag_id="inbox", conn_id="api").get_task("inboxes")
    assert (task.retries, task.retry_delay.total_seconds()) == (2, 60)
    custom = rest_sync_dag(INBOX, dag_id="inbox", conn_id="api", default_args={"retries": 0, "owner": "data"})
    assert (custom.get_task("inboxes").retries, custom.get_task("inboxes").owner) == (0, "data")
    kwargs = rest_sync_dag(INBOX, dag_id="inbox", conn_id="api", operator_kwargs={"retries": 5})
    assert kwargs.get_task("inboxes").retries == 5


def test_unselected_resources_get_no_task() -> None:
    config = copy.deepcopy(REFERENCE_CONFIGS["email_service"])
    config["resources"][0]["selected"] = False
    dag = rest_sync_dag(config, dag_id="svc", conn_id="api")
    assert config["resources"][0]["name"] not in dag.task_ids
    assert len(dag.task_ids) == len(config["resources"]) - 1


def test_an_inline_resource_makes_a_single_endpoint_task() -> None:
    task = RestToSqlOperator(
        task_id="bounces",
        conn_id="api",
        resource={"name": "bounces", "endpoint": {"path": "/v1/bounces", "data_selector": "data"}},
        request_params={"since": "{{ ds }}"},
    )
    assert task.resource_name == "bounces"
    assert task.source["resources"][0]["endpoint"]["path"] == "/v1/bounces"
    assert "request_params" in task.template_fields
    assert "source" not in task.template_fields  # the config is never Jinja-rendered


def test_an_operator_without_source_or_inline_resource_is_refused() -> None:
    with pytest.raises(ConfigError, match="source"):
        RestToSqlOperator(task_id="t", conn_id="api", resource="bounces")
