"""Airflow connections for the sandbox's APIs, as ``AIRFLOW_CONN_<ID>`` JSON values."""

from __future__ import annotations

import json
from collections.abc import Mapping

from airflow_provider_restsync.sandbox.apis import get_api
from airflow_provider_restsync.sandbox.auth import SANDBOX_CREDENTIALS

# Connection type per API, after the auth style its reference document names.
CONNECTION_TYPES: Mapping[str, str] = {
    "mail_testing": "restsync_basic",
    "email_delivery": "restsync_api_key",
    "communications": "restsync_api_key",
    "inbox_testing": "restsync_bearer",
    "email_service": "restsync_api_key",
}


def connection_id(api: str) -> str:
    """The connection id the example DAG of ``api`` expects."""
    return f"{api}_api"


def sandbox_connection(
    api: str, base_url: str, credentials: Mapping[str, Mapping[str, str]] = SANDBOX_CREDENTIALS
) -> dict[str, object]:
    """The connection of one sandbox API: its type, the API's base URL as host, and its secret.

    An API key connection also says where the key goes (``key_name``, ``key_location``), as its form
    would: the connection then works on its own (the UI's Test button has no source config to fall
    back on), and it agrees with the example DAG's ``client.auth``.
    """
    secrets = credentials[api]
    conn: dict[str, object] = {"conn_type": CONNECTION_TYPES[api], "host": base_url}
    if "username" in secrets:
        conn["login"] = secrets["username"]
    conn["password"] = next(value for key, value in secrets.items() if key != "username")
    auth = get_api(api).auth
    if auth.kind in ("header", "query"):
        conn["extra"] = {"key_name": auth.name, "key_location": auth.kind}
    return conn


def sandbox_environment(base_urls: Mapping[str, str]) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` variables for every API in ``base_urls`` (api -> base URL)."""
    return {
        f"AIRFLOW_CONN_{connection_id(api).upper()}": json.dumps(sandbox_connection(api, url))
        for api, url in base_urls.items()
    }
