"""Hooks: one per auth style, all sharing :class:`~.base.RestSyncHook`; :func:`resolve_api_hook` picks one.

Importing this package is cheap: the hook classes (which import ``airflow.sdk``) load on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_restsync.auth_styles import AUTH_STYLES
from airflow_provider_restsync.errors import AuthConfigError
from airflow_provider_restsync.hooks.retry import RetryOverrides, RetryPolicy

if TYPE_CHECKING:
    from airflow_provider_restsync.hooks.api_key import ApiKeyHook
    from airflow_provider_restsync.hooks.base import RequestStats, RestSyncHook
    from airflow_provider_restsync.hooks.basic import BasicAuthHook
    from airflow_provider_restsync.hooks.bearer import BearerTokenHook
    from airflow_provider_restsync.hooks.noauth import NoAuthHook
    from airflow_provider_restsync.hooks.oauth2 import OAuth2ClientCredentialsHook

__all__ = [
    "ApiKeyHook",
    "BasicAuthHook",
    "BearerTokenHook",
    "NoAuthHook",
    "OAuth2ClientCredentialsHook",
    "RequestStats",
    "RestSyncHook",
    "RetryOverrides",
    "RetryPolicy",
    "hook_class_for_auth_type",
    "hook_classes",
    "resolve_api_hook",
]

_LAZY = {
    "RestSyncHook": "base",
    "RequestStats": "base",
    "BasicAuthHook": "basic",
    "ApiKeyHook": "api_key",
    "BearerTokenHook": "bearer",
    "OAuth2ClientCredentialsHook": "oauth2",
    "NoAuthHook": "noauth",
}

#: Connection types that say nothing about auth: the source config's client.auth.type decides.
GENERIC_CONN_TYPES = frozenset({"http", "https", "generic"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def hook_classes() -> dict[str, type[RestSyncHook]]:
    """Return the hook class of each of the five connection types, keyed by connection type."""
    classes: dict[str, type[RestSyncHook]] = {}
    for style in AUTH_STYLES:
        module, _, name = style.hook_class.rpartition(".")
        classes[style.conn_type] = getattr(importlib.import_module(module), name)
    return classes


def hook_class_for_auth_type(auth_type: str) -> type[RestSyncHook]:
    """Return the hook class for a ``client.auth.type`` (``basic``, ``http_basic``, ``api_key``, ...).

    :param auth_type: the type as written in the source config.
    """
    wanted = auth_type.strip().lower()
    classes = hook_classes().values()
    for cls in classes:
        if wanted in cls.auth_types:
            return cls
    known = ", ".join(name for cls in classes for name in cls.auth_types)
    raise AuthConfigError(f"unknown auth type {auth_type!r}; known types: {known}", "client.auth.type")


def resolve_api_hook(
    conn_id: str | None,
    *,
    auth_config: Mapping[str, Any] | None = None,
    base_url: str | None = None,
    retry: RetryPolicy | None = None,
    headers: Mapping[str, str] | None = None,
) -> RestSyncHook:
    """Return the hook for a source: the class from the connection type, checked against the config.

    - A ``restsync_*`` connection decides the auth style; a ``client.auth.type`` that says otherwise
      is an :class:`AuthConfigError` naming both.
    - An ``http``/``generic`` connection takes its style from ``client.auth.type``; without one,
      a connection with a login means basic auth and one without credentials means none.
    - ``conn_id=None`` is for public APIs only (``base_url`` required).

    Settings in ``auth_config`` fill in what the connection leaves empty; where both set a value the
    connection wins. Secrets only ever come from the connection. Reads the connection (no network).

    :param conn_id: the Airflow connection id, or None.
    :param auth_config: the source config's ``client.auth`` block.
    :param base_url: the source config's ``client.base_url`` (used when the connection has no host).
    :param retry: the hook's default retry policy (None: defaults plus the connection's extras).
    :param headers: the source config's ``client.headers``, sent with every request.
    """
    config = dict(auth_config or {})
    raw_type = config.get("type")
    auth_type = str(raw_type).strip().lower() if raw_type not in (None, "") else None
    wanted = hook_class_for_auth_type(auth_type) if auth_type else None
    classes = hook_classes()
    if conn_id is None:
        cls = wanted or classes["restsync_noauth"]
        if cls.requires_connection:
            raise AuthConfigError(
                f"auth type {auth_type!r} needs a secret, and secrets come from an Airflow connection: "
                f"pass the id of a {cls.conn_type} connection holding the {cls.secret_label}",
                "client.auth.type",
            )
        return cls(None, base_url=base_url, auth_config=config, retry=retry, headers=headers)

    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    conn_type = (conn.conn_type or "").lower()
    if conn_type in classes:
        cls = classes[conn_type]
        if wanted is not None and wanted is not cls:
            raise AuthConfigError(
                f"the source config says auth type {raw_type!r} ({wanted.hook_name}) but connection "
                f"{conn_id!r} is of type {conn_type} ({cls.hook_name}): make them agree, either a "
                f"{wanted.conn_type} connection or client.auth.type {cls.auth_types[0]!r} (or none)",
                "client.auth.type",
            )
    elif conn_type in GENERIC_CONN_TYPES or not conn_type:
        if wanted is not None:
            cls = wanted
        elif conn.login:
            cls = classes["restsync_basic"]
        elif conn.password:
            raise AuthConfigError(
                f"connection {conn_id!r} ({conn_type or 'no type'}) has a password but says nothing about "
                "how to send it: set client.auth.type (api_key, bearer, ...) or use a restsync_* "
                "connection type",
                "client.auth.type",
            )
        else:
            cls = classes["restsync_noauth"]
    else:
        raise AuthConfigError(
            f"connection {conn_id!r} is of type {conn_type!r}, not an HTTP API connection: use one of "
            f"{', '.join(sorted(classes))} (or http)",
            "client.auth.type",
        )
    hook = cls(conn_id, base_url=base_url, auth_config=config, retry=retry, headers=headers)
    hook._connection = conn  # already read: spare the hook a second lookup
    return hook
