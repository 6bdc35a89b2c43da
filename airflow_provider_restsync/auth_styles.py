"""The auth styles a source's ``client.auth`` block can name: one table that config and hooks share.

No Airflow imports here: config validates against this table at DAG parse time, and each hook class
takes its type names and keys from its entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthStyle:
    """One auth style: its connection type, the ``client.auth.type`` names, and the keys it reads.

    :param settings: keys of ``client.auth`` that configure it (never secret).
    :param secrets: keys dlt puts secrets under; here they must be empty, the values live in the connection.
    """

    conn_type: str
    types: tuple[str, ...]
    settings: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()


BASIC = AuthStyle("restsync_basic", ("basic", "http_basic"), frozenset({"username"}), frozenset({"password"}))
API_KEY = AuthStyle(
    "restsync_api_key", ("api_key", "apikey"), frozenset({"name", "location"}), frozenset({"api_key"})
)
BEARER = AuthStyle("restsync_bearer", ("bearer",), secrets=frozenset({"token"}))
OAUTH2 = AuthStyle(
    "restsync_oauth2",
    ("oauth2_client_credentials", "oauth2"),
    frozenset(
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
    frozenset({"client_secret", "access_token"}),
)
NO_AUTH = AuthStyle("restsync_noauth", ("none", "noauth", "no_auth"))

AUTH_STYLES: tuple[AuthStyle, ...] = (BASIC, API_KEY, BEARER, OAUTH2, NO_AUTH)
AUTH_TYPES: tuple[str, ...] = tuple(name for style in AUTH_STYLES for name in style.types)
AUTH_SETTING_KEYS: tuple[str, ...] = ("type", *sorted(set().union(*(s.settings for s in AUTH_STYLES))))
AUTH_SECRET_KEYS: tuple[str, ...] = tuple(sorted(set().union(*(s.secrets for s in AUTH_STYLES))))
API_KEY_LOCATIONS = ("header", "query", "param", "cookie")

#: The keys of an endpoint's ``error_handler`` block (not a dlt key: reference API 003 documents it).
ERROR_HANDLER_KEYS = ("retry_on_status_codes", "max_retries", "backoff_factor", "backoff_max")
