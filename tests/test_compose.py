"""docker-compose.yaml, checked by structure (no Docker engine runs here): it wires what the demo wires."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_restsync.sandbox import API_NAMES, SANDBOX_CREDENTIALS
from airflow_provider_restsync.sandbox.connections import CONNECTION_TYPES, connection_id

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_stack_has_the_sandbox_a_database_and_airflow(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "sandbox", "airflow"} <= set(services)
    assert "airflow_provider_restsync.sandbox" in services["sandbox"]["command"]
    assert set(services["airflow"]["depends_on"]) == {"postgres", "sandbox"}
    assert services["airflow"]["image"].startswith("apache/airflow:3.")


def test_airflow_gets_every_example_connection_pointing_at_the_sandbox(compose: dict[str, Any]) -> None:
    env = compose["services"]["airflow"]["environment"]
    sandbox_port = compose["services"]["sandbox"]["command"][-3]
    for api in API_NAMES:
        conn = json.loads(env[f"AIRFLOW_CONN_{connection_id(api).upper()}"])
        assert conn["conn_type"] == CONNECTION_TYPES[api]
        assert conn["host"] == f"http://sandbox:{sandbox_port}/{api}"
        assert conn["password"] in SANDBOX_CREDENTIALS[api].values()
    destination = json.loads(env[f"AIRFLOW_CONN_{env['RESTSYNC_DESTINATION_CONN_ID'].upper()}"])
    assert destination["conn_type"] == "postgres"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("/dags")
