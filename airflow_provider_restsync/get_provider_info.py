"""Provider metadata Airflow reads at start-up. Keep this module free of airflow.sdk imports."""

from __future__ import annotations

from typing import Any

from airflow_provider_restsync import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-restsync",
        "name": "REST Sync",
        "description": "Sync paginated REST APIs into SQL tables from dlt-style rest_api_source configs.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "REST Sync",
                "python-modules": [
                    "airflow_provider_restsync.hooks.base",
                    "airflow_provider_restsync.hooks.basic",
                    "airflow_provider_restsync.hooks.api_key",
                    "airflow_provider_restsync.hooks.bearer",
                    "airflow_provider_restsync.hooks.oauth2",
                    "airflow_provider_restsync.hooks.noauth",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "REST Sync",
                "python-modules": ["airflow_provider_restsync.operators.rest_to_sql"],
            }
        ],
        # One entry per auth style, with its connection form (Airflow 3.2+ reads conn-fields and
        # ui-field-behaviour from here without importing the hooks).
        "connection-types": _connection_types(),
    }


_HOOKS = "airflow_provider_restsync.hooks"
_BASE_URL_PLACEHOLDER = "https://api.example.com"


def _field(
    label: str, description: str, json_type: str, default: Any = None, **schema: Any
) -> dict[str, Any]:
    """One connection-form field: label, help text and a JSON Schema (nullable: fields are optional)."""
    field_schema: dict[str, Any] = {"type": [json_type, "null"], **schema}
    if default is not None:
        field_schema["default"] = default
    return {"label": label, "description": description, "schema": field_schema}


def _common_fields() -> dict[str, dict[str, Any]]:
    """Extras every auth style reads: TLS, timeouts, retries, test path, headers."""
    return {
        "verify": _field(
            "Verify TLS certificate",
            "Check the server's certificate (a CA bundle path also works in the JSON extra).",
            "boolean",
            True,
        ),
        "connect_timeout": _field("Connect timeout (s)", "Seconds to open a connection.", "number", 10),
        "read_timeout": _field("Read timeout (s)", "Seconds to wait for the server to answer.", "number", 60),
        "max_retries": _field(
            "Max retries",
            "Retries after the first attempt, on the statuses below, broken connections and timeouts.",
            "integer",
            3,
        ),
        "backoff_factor": _field(
            "Backoff factor (s)", "The n-th retry waits factor * 2^(n-1) seconds.", "number", 2
        ),
        "backoff_max": _field(
            "Longest wait (s)",
            "Cap on any single wait; a Retry-After asking for longer fails the request.",
            "number",
            120,
        ),
        "retry_on_status_codes": _field(
            "Retry on status codes",
            "Comma-separated HTTP statuses to retry.",
            "string",
            "429, 500, 502, 503, 504",
        ),
        "test_path": _field(
            "Test path", "Path the Test button requests (default: the base URL), e.g. /v1/servers.", "string"
        ),
        "headers": _field("Headers", "Extra headers sent with every request, as a JSON object.", "object"),
    }


def _connection_types() -> list[dict[str, Any]]:
    hidden_url_parts = ["schema", "port"]
    base_url = {"host": "Base URL"}
    return [
        {
            "connection-type": "restsync_basic",
            "hook-class-name": f"{_HOOKS}.basic.BasicAuthHook",
            "hook-name": "REST Sync: HTTP basic auth",
            "conn-fields": _common_fields(),
            "ui-field-behaviour": {
                "hidden-fields": hidden_url_parts,
                "relabeling": {**base_url, "login": "Username", "password": "Password"},
                "placeholders": {
                    "host": _BASE_URL_PLACEHOLDER,
                    "login": "api",
                    "password": "the password, or the API key for APIs that take it as password",
                },
            },
        },
        {
            "connection-type": "restsync_api_key",
            "hook-class-name": f"{_HOOKS}.api_key.ApiKeyHook",
            "hook-name": "REST Sync: API key",
            "conn-fields": {
                "key_name": _field(
                    "Key name",
                    "Header or query parameter that carries the key (e.g. api_key).",
                    "string",
                    "Authorization",
                ),
                "key_location": _field(
                    "Key location",
                    "header, query (query string) or cookie.",
                    "string",
                    "header",
                    enum=["header", "query", "cookie", None],
                ),
                **_common_fields(),
            },
            "ui-field-behaviour": {
                "hidden-fields": [*hidden_url_parts, "login"],
                "relabeling": {**base_url, "password": "API key"},
                "placeholders": {
                    "host": _BASE_URL_PLACEHOLDER,
                    "password": "the API key",
                    "key_name": "api_key",
                    "key_location": "header",
                },
            },
        },
        {
            "connection-type": "restsync_bearer",
            "hook-class-name": f"{_HOOKS}.bearer.BearerTokenHook",
            "hook-name": "REST Sync: bearer token",
            "conn-fields": _common_fields(),
            "ui-field-behaviour": {
                "hidden-fields": [*hidden_url_parts, "login"],
                "relabeling": {**base_url, "password": "Token"},
                "placeholders": {"host": _BASE_URL_PLACEHOLDER, "password": "sent as Authorization: Bearer"},
            },
        },
        {
            "connection-type": "restsync_oauth2",
            "hook-class-name": f"{_HOOKS}.oauth2.OAuth2ClientCredentialsHook",
            "hook-name": "REST Sync: OAuth2 client credentials",
            "conn-fields": {
                "token_url": _field(
                    "Token URL", "The authorization server's token endpoint (required).", "string"
                ),
                "scopes": _field("Scopes", "Space- or comma-separated scopes to ask for.", "string"),
                "audience": _field("Audience", "Sent as 'audience' when the server wants one.", "string"),
                "client_auth": _field(
                    "Client authentication",
                    "basic: client id and secret as HTTP basic auth; body: in the form body.",
                    "string",
                    "basic",
                    enum=["basic", "body", None],
                ),
                **_common_fields(),
            },
            "ui-field-behaviour": {
                "hidden-fields": hidden_url_parts,
                "relabeling": {**base_url, "login": "Client ID", "password": "Client secret"},
                "placeholders": {
                    "host": _BASE_URL_PLACEHOLDER,
                    "login": "client id",
                    "password": "client secret",
                    "token_url": "https://auth.example.com/oauth/token",
                    "scopes": "read:messages read:servers",
                },
            },
        },
        {
            "connection-type": "restsync_noauth",
            "hook-class-name": f"{_HOOKS}.noauth.NoAuthHook",
            "hook-name": "REST Sync: no auth (public API)",
            "conn-fields": _common_fields(),
            "ui-field-behaviour": {
                "hidden-fields": [*hidden_url_parts, "login", "password"],
                "relabeling": base_url,
                "placeholders": {"host": _BASE_URL_PLACEHOLDER},
            },
        },
    ]
