"""The five connection types as Airflow sees them: providers manager, connection form, CLI, get_hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_restsync.get_provider_info import get_provider_info

TYPES = {
    "restsync_basic": "airflow_provider_restsync.hooks.basic.BasicAuthHook",
    "restsync_api_key": "airflow_provider_restsync.hooks.api_key.ApiKeyHook",
    "restsync_bearer": "airflow_provider_restsync.hooks.bearer.BearerTokenHook",
    "restsync_oauth2": "airflow_provider_restsync.hooks.oauth2.OAuth2ClientCredentialsHook",
    "restsync_noauth": "airflow_provider_restsync.hooks.noauth.NoAuthHook",
}
COMMON_FIELDS = {
    "verify",
    "connect_timeout",
    "read_timeout",
    "max_retries",
    "backoff_factor",
    "backoff_max",
    "retry_on_status_codes",
    "test_path",
    "headers",
}


def test_provider_info_declares_the_five_connection_types() -> None:
    declared = {item["connection-type"]: item for item in get_provider_info()["connection-types"]}
    assert {name: item["hook-class-name"] for name, item in declared.items()} == TYPES
    for item in declared.values():
        assert set(item["conn-fields"]) >= COMMON_FIELDS
        assert {"schema", "port"} <= set(item["ui-field-behaviour"]["hidden-fields"])


def test_hook_classes_match_their_declared_connection_types() -> None:
    from airflow_provider_restsync.hooks import hook_classes

    classes = hook_classes()
    assert {conn_type: f"{cls.__module__}.{cls.__qualname__}" for conn_type, cls in classes.items()} == TYPES
    names = {item["connection-type"]: item["hook-name"] for item in get_provider_info()["connection-types"]}
    for conn_type, cls in classes.items():
        assert cls.hook_name == names[conn_type]


def test_providers_manager_builds_the_connection_forms() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-restsync" in manager.providers
    widgets = manager.connection_form_widgets
    behaviours = manager.field_behaviours

    # API key: the key's name and location, relabelled password, login hidden.
    key_location = widgets["extra__restsync_api_key__key_location"]
    assert key_location.hook_class_name == TYPES["restsync_api_key"]
    assert key_location.field["schema"]["enum"] == ["header", "query", "cookie", None]
    # Auth settings start empty: a saved form must not override the source config's client.auth.
    assert key_location.field["value"] is None
    assert widgets["extra__restsync_api_key__key_name"].field["value"] is None
    assert widgets["extra__restsync_oauth2__client_auth"].field["value"] is None
    api_key = behaviours["restsync_api_key"]
    assert api_key["hidden_fields"] == ["schema", "port", "login"]
    assert api_key["relabeling"] == {"host": "Base URL", "password": "API key"}
    assert api_key["placeholders"]["extra__restsync_api_key__key_name"] == (
        "from client.auth.name, else Authorization"
    )

    assert behaviours["restsync_bearer"]["relabeling"]["password"] == "Token"
    assert behaviours["restsync_basic"]["relabeling"]["login"] == "Username"
    assert behaviours["restsync_oauth2"]["relabeling"] == {
        "host": "Base URL",
        "login": "Client ID",
        "password": "Client secret",
    }
    assert {"login", "password"} <= set(behaviours["restsync_noauth"]["hidden_fields"])
    for name in ("token_url", "scopes", "audience", "client_auth"):
        assert f"extra__restsync_oauth2__{name}" in widgets
    for conn_type in TYPES:
        for name in COMMON_FIELDS:
            assert f"extra__{conn_type}__{name}" in widgets
        assert widgets[f"extra__{conn_type}__max_retries"].field["value"] == 3
        assert widgets[f"extra__{conn_type}__verify"].field["schema"]["type"] == ["boolean", "null"]


def test_ui_hook_metadata_lists_the_five_types() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    metadata = {item.connection_type: item for item in HookMetaService.hook_meta_data()}
    for conn_type, class_name in TYPES.items():
        item = metadata[conn_type]
        assert item.hook_class_name == class_name
        assert item.hook_name.startswith("REST Sync: ")
        assert item.standard_fields is not None and item.standard_fields.host is not None
        assert item.standard_fields.host.title == "Base URL"
        assert item.extra_fields is not None and set(item.extra_fields) >= COMMON_FIELDS
    assert metadata["restsync_api_key"].standard_fields.password.title == "API key"  # type: ignore[union-attr]
    assert metadata["restsync_noauth"].standard_fields.password.hidden is True  # type: ignore[union-attr]


def test_get_hook_picks_the_class_by_connection_type(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import BaseHook

    from airflow_provider_restsync.hooks import ApiKeyHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_HP_GET_HOOK",
        json.dumps({"conn_type": "restsync_api_key", "host": "https://api.example.com", "password": "k"}),
    )
    hook = BaseHook.get_hook("hp_get_hook")
    assert isinstance(hook, ApiKeyHook)
    assert hook.restsync_conn_id == "hp_get_hook"
    assert hook.base_url == "https://api.example.com"


def test_airflow_providers_hooks_cli_lists_the_five_types(tmp_path: Path) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    started = time.monotonic()
    result = subprocess.run(
        [str(airflow), "providers", "hooks", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {row["connection_type"]: row for row in json.loads(result.stdout)}
    for conn_type, class_name in TYPES.items():
        assert rows[conn_type]["class"] == class_name
        assert rows[conn_type]["conn_id_attribute_name"] == "restsync_conn_id"
        assert rows[conn_type]["package_name"] == "airflow-provider-restsync"
    assert elapsed < 60  # about 3 s here; a hang would be a discovery problem worth a look
