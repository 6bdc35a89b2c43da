"""Bearer token (``restsync_bearer``): ``Authorization: Bearer <token>`` (reference API 003)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import requests
from requests.auth import AuthBase

from airflow_provider_restsync.auth_styles import BEARER
from airflow_provider_restsync.hooks.base import RestSyncHook

if TYPE_CHECKING:
    from airflow.sdk import Connection


class BearerAuth(AuthBase):
    """Adds ``Authorization: Bearer <token>``.

    :param token: the token.
    """

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


class BearerTokenHook(RestSyncHook):
    """Signs requests with a static bearer token, the connection's password."""

    style = BEARER
    secret_label = "token (Password field)"

    def build_auth(self, conn: Connection | None) -> AuthBase | None:
        token = self._require_secret(conn)
        self._add_secret(token)
        return BearerAuth(token)

    def describe_auth(self) -> str:
        return "a bearer token in the Authorization header"
