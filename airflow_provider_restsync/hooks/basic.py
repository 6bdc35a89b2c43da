"""HTTP basic auth (``restsync_basic``): login and password, e.g. user ``api`` and the API key (API 000)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from requests.auth import AuthBase, HTTPBasicAuth

from airflow_provider_restsync.auth_styles import BASIC
from airflow_provider_restsync.errors import AuthConfigError
from airflow_provider_restsync.hooks.base import RestSyncHook

if TYPE_CHECKING:
    from airflow.sdk import Connection


def basic_token(username: str, password: str) -> str:
    """The base64 token of an HTTP basic Authorization header, as requests builds it."""
    return base64.b64encode(f"{username}:{password}".encode("latin-1", "replace")).decode("ascii")


class BasicAuthHook(RestSyncHook):
    """Signs requests with HTTP basic auth.

    The user name is the connection's login (else ``client.auth.username``); the password is the
    connection's password. An API that takes the key as the user name and no password works too:
    leave the password empty and the login is treated as the secret.
    """

    style = BASIC
    secret_label = "password"

    username: str = ""

    def build_auth(self, conn: Connection | None) -> AuthBase | None:
        username = str(self._setting(conn_value=conn.login if conn else None, config="username") or "")
        password = (conn.password if conn else None) or ""
        if not username and not password:
            raise AuthConfigError(
                f"{self.connection_name} ({self.conn_type}) has neither login nor password: "
                "put the user name in Login and the password (or API key) in Password",
                "client.auth",
            )
        # Without a password the user name is the key (some APIs work that way): keep it secret too.
        self._add_secret(password or username)
        # The Authorization header's token decodes to the password: a server echoing it back leaks it.
        self._add_secret(basic_token(username, password))
        self.username = username
        return HTTPBasicAuth(username, password)

    def describe_auth(self) -> str:
        return f"HTTP basic auth as user {self.username!r}" if self.username else "HTTP basic auth"
