"""The auth styles a source's ``client.auth`` block can name: one table that config, hooks and Airflow share.

No Airflow imports here: config validates against this table at DAG parse time, Airflow builds the
connection forms from it at start-up (through ``get_provider_info``), and each hook class takes its
connection type, names and keys from its entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_restsync.errors import AuthConfigError

_HOOKS = "airflow_provider_restsync.hooks"


@dataclass(frozen=True)
class FormField:
    """One extra on a connection form (stored as ``extra__<conn_type>__<name>``).

    :param json_type: ``string``, ``number``, ``integer``, ``boolean`` or ``object``; the field may be empty.
    :param default: what the form shows before anyone types, and saves unless it is changed. Auth settings
        have none: a saved form must not override the source config's ``client.auth`` with a value
        nobody chose (their hints are placeholders instead).
    :param enum: the allowed values, None (empty) included.
    """

    label: str
    description: str
    json_type: str
    default: Any = None
    enum: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class AuthStyle:
    """One auth style: its connection type and hook, the ``client.auth.type`` names, keys and form.

    :param types: the ``client.auth.type`` names; the first is the canonical one.
    :param hook_class: the dotted path of the hook class that handles the connection type.
    :param hook_name: the name the Airflow UI shows for the connection type.
    :param settings: keys of ``client.auth`` that configure it (never secret).
    :param secrets: keys dlt puts secrets under; here they must be empty, the values live in the connection.
    :param form_fields: the style's own extras, shown before the ones every style has.
    :param hidden_fields: standard fields the form hides beyond schema and port (``login``, ``password``).
    :param labels: standard fields relabelled (``{"password": "API key"}``); host is always "Base URL".
    :param placeholders: hints inside empty fields, standard ones or the style's extras.
    """

    conn_type: str
    types: tuple[str, ...]
    hook_class: str
    hook_name: str
    settings: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()
    form_fields: Mapping[str, FormField] = field(default_factory=dict, hash=False)
    hidden_fields: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    placeholders: Mapping[str, str] = field(default_factory=dict, hash=False)


BASIC = AuthStyle(
    conn_type="restsync_basic",
    types=("basic", "http_basic"),
    hook_class=f"{_HOOKS}.basic.BasicAuthHook",
    hook_name="REST Sync: HTTP basic auth",
    settings=frozenset({"username"}),
    secrets=frozenset({"password"}),
    labels={"login": "Username", "password": "Password"},
    placeholders={
        "login": "api",
        "password": "the password, or the API key for APIs that take it as password",
    },
)
API_KEY = AuthStyle(
    conn_type="restsync_api_key",
    types=("api_key", "apikey"),
    hook_class=f"{_HOOKS}.api_key.ApiKeyHook",
    hook_name="REST Sync: API key",
    settings=frozenset({"name", "location"}),
    secrets=frozenset({"api_key"}),
    form_fields={
        "key_name": FormField(
            "Key name",
            "Header or query parameter that carries the key (e.g. api_key). Empty: the source config's "
            "client.auth.name, else Authorization.",
            "string",
        ),
        "key_location": FormField(
            "Key location",
            "header, query (query string) or cookie. Empty: the source config's client.auth.location, "
            "else header.",
            "string",
            enum=("header", "query", "cookie", None),
        ),
    },
    hidden_fields=("login",),
    labels={"password": "API key"},
    placeholders={
        "password": "the API key",
        "key_name": "from client.auth.name, else Authorization",
        "key_location": "from client.auth.location, else header",
    },
)
BEARER = AuthStyle(
    conn_type="restsync_bearer",
    types=("bearer",),
    hook_class=f"{_HOOKS}.bearer.BearerTokenHook",
    hook_name="REST Sync: bearer token",
    secrets=frozenset({"token"}),
    hidden_fields=("login",),
    labels={"password": "Token"},
    placeholders={"password": "sent as Authorization: Bearer"},
)
OAUTH2 = AuthStyle(
    conn_type="restsync_oauth2",
    types=("oauth2_client_credentials", "oauth2"),
    hook_class=f"{_HOOKS}.oauth2.OAuth2ClientCredentialsHook",
    hook_name="REST Sync: OAuth2 client credentials",
    settings=frozenset(
        {
            "token_url",
            "access_token_url",
            "client_id",
            "scopes",
            "scope",
            "audience",
            "client_auth",
            "access_token_request_data",
            "default_token_expiration",
        }
    ),
    secrets=frozenset({"client_secret", "access_token"}),
    form_fields={
        "token_url": FormField(
            "Token URL", "The authorization server's token endpoint (required).", "string"
        ),
        "scopes": FormField("Scopes", "Space- or comma-separated scopes to ask for.", "string"),
        "audience": FormField("Audience", "Sent as 'audience' when the server wants one.", "string"),
        "client_auth": FormField(
            "Client authentication",
            "basic: client id and secret as HTTP basic auth; body: in the form body. Empty: the source "
            "config's client.auth.client_auth, else basic.",
            "string",
            enum=("basic", "body", None),
        ),
    },
    labels={"login": "Client ID", "password": "Client secret"},
    placeholders={
        "login": "client id",
        "password": "client secret",
        "token_url": "https://auth.example.com/oauth/token",
        "scopes": "read:messages read:servers",
    },
)
NO_AUTH = AuthStyle(
    conn_type="restsync_noauth",
    types=("none", "noauth", "no_auth"),
    hook_class=f"{_HOOKS}.noauth.NoAuthHook",
    hook_name="REST Sync: no auth (public API)",
    hidden_fields=("login", "password"),
)

AUTH_STYLES: tuple[AuthStyle, ...] = (BASIC, API_KEY, BEARER, OAUTH2, NO_AUTH)
STYLES_BY_CONN_TYPE: Mapping[str, AuthStyle] = {style.conn_type: style for style in AUTH_STYLES}
AUTH_TYPES: tuple[str, ...] = tuple(name for style in AUTH_STYLES for name in style.types)
AUTH_SETTING_KEYS: tuple[str, ...] = ("type", *sorted(set().union(*(s.settings for s in AUTH_STYLES))))
AUTH_SECRET_KEYS: tuple[str, ...] = tuple(sorted(set().union(*(s.secrets for s in AUTH_STYLES))))
#: Where an API key can go; dlt's ``param`` is its older name for ``query``.
API_KEY_LOCATIONS = ("header", "query", "param", "cookie")


def style_for_type(auth_type: str) -> AuthStyle | None:
    """The style a ``client.auth.type`` names (any letter case), or None for an unknown type."""
    wanted = auth_type.strip().lower()
    return next((style for style in AUTH_STYLES if wanted in style.types), None)


def check_auth_keys(style: AuthStyle, auth: Mapping[str, Any], key_path: str = "client.auth") -> None:
    """Every key of a ``client.auth`` block must be one this style reads (or one of its secret keys).

    Config calls this at parse time when the block names its type; a hook calls it once the
    connection has decided the style.

    :raises AuthConfigError: the first key the style does not know, at ``<key_path>.<key>``.
    """
    allowed = {"type", *style.settings, *style.secrets}
    for key in auth:
        if key not in allowed:
            raise AuthConfigError(
                f"unknown key {key!r} for auth type {style.types[0]} (known: {', '.join(sorted(allowed))})",
                f"{key_path}.{key}",
            )
