"""Provider metadata Airflow reads at start-up, built from the auth-style table.

Keep this module (and :mod:`~airflow_provider_restsync.auth_styles`) free of airflow.sdk imports.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_restsync import __version__
from airflow_provider_restsync.auth_styles import AUTH_STYLES, AuthStyle, FormField
from airflow_provider_restsync.hooks.retry import RetryPolicy


def get_provider_info() -> dict[str, Any]:
    """What Airflow needs to know about the provider: its hooks, operator and connection types."""
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
                    *(style.hook_class.rpartition(".")[0] for style in AUTH_STYLES),
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
        "connection-types": [_connection_type(style) for style in AUTH_STYLES],
    }


_BASE_URL_PLACEHOLDER = "https://api.example.com"

# The form shows the retry policy's own defaults: they are decided once, in RetryPolicy.
_DEFAULTS = RetryPolicy()

#: Extras every auth style reads: TLS, timeouts, retries, test path, headers.
COMMON_FIELDS: dict[str, FormField] = {
    "verify": FormField(
        "Verify TLS certificate",
        "Check the server's certificate (a CA bundle path also works in the JSON extra).",
        "boolean",
        True,
    ),
    "connect_timeout": FormField(
        "Connect timeout (s)", "Seconds to open a connection.", "number", _DEFAULTS.connect_timeout
    ),
    "read_timeout": FormField(
        "Read timeout (s)", "Seconds to wait for the server to answer.", "number", _DEFAULTS.read_timeout
    ),
    "max_retries": FormField(
        "Max retries",
        "Retries after the first attempt, on the statuses below, broken connections and timeouts.",
        "integer",
        _DEFAULTS.max_retries,
    ),
    "backoff_factor": FormField(
        "Backoff factor (s)",
        "The n-th retry waits factor * 2^(n-1) seconds.",
        "number",
        _DEFAULTS.backoff_factor,
    ),
    "backoff_max": FormField(
        "Longest wait (s)",
        "Cap on any single wait; a Retry-After asking for longer fails the request.",
        "number",
        _DEFAULTS.backoff_max,
    ),
    "retry_on_status_codes": FormField(
        "Retry on status codes",
        "Comma-separated HTTP statuses to retry.",
        "string",
        ", ".join(map(str, _DEFAULTS.statuses)),
    ),
    "test_path": FormField(
        "Test path", "Path the Test button requests (default: the base URL), e.g. /v1/servers.", "string"
    ),
    "headers": FormField("Headers", "Extra headers sent with every request, as a JSON object.", "object"),
}


def _field(form_field: FormField) -> dict[str, Any]:
    """One connection-form field: label, help text and a JSON Schema (nullable: fields are optional)."""
    schema: dict[str, Any] = {"type": [form_field.json_type, "null"]}
    if form_field.enum is not None:
        schema["enum"] = list(form_field.enum)
    if form_field.default is not None:
        schema["default"] = form_field.default
    return {"label": form_field.label, "description": form_field.description, "schema": schema}


def _connection_type(style: AuthStyle) -> dict[str, Any]:
    fields = {**style.form_fields, **COMMON_FIELDS}
    return {
        "connection-type": style.conn_type,
        "hook-class-name": style.hook_class,
        "hook-name": style.hook_name,
        "conn-fields": {name: _field(form_field) for name, form_field in fields.items()},
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", *style.hidden_fields],
            "relabeling": {"host": "Base URL", **style.labels},
            "placeholders": {"host": _BASE_URL_PLACEHOLDER, **style.placeholders},
        },
    }
