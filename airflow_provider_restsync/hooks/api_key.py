"""API key (``restsync_api_key``): in a header (API 001's ``api_key``) or the query string (002, 004)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from airflow_provider_restsync.auth_styles import API_KEY, API_KEY_LOCATIONS
from airflow_provider_restsync.errors import AuthConfigError
from airflow_provider_restsync.hooks.base import RestSyncHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_KEY_NAME = "Authorization"


def _without_param(url: str, name: str) -> str:
    """Drop ``name`` from the query, leaving the other parameters byte for byte."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [pair for pair in parts.query.split("&") if unquote_plus(pair.split("=", 1)[0]) != name]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


class ApiKeyAuth(AuthBase):
    """Sends an API key in a header, a query parameter or a cookie.

    :param name: the header, parameter or cookie name.
    :param key: the API key.
    :param location: ``header``, ``query`` or ``cookie``.
    """

    def __init__(self, name: str, key: str, location: str = "header") -> None:
        self.name = name
        self.key = key
        self.location = location

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.location == "query":
            # A next link may echo the key back; replace it rather than sending it twice.
            r.prepare_url(_without_param(r.url or "", self.name), {self.name: self.key})
        elif self.location == "cookie":
            cookie = f"{self.name}={self.key}"
            existing = r.headers.get("Cookie")
            r.headers["Cookie"] = f"{existing}; {cookie}" if existing else cookie
        else:
            r.headers[self.name] = self.key
        return r


class ApiKeyHook(RestSyncHook):
    """Signs requests with an API key, the connection's password.

    Where it goes: the ``key_name`` and ``key_location`` extras, else ``client.auth.name`` and
    ``client.auth.location``; by default the ``Authorization`` header.
    """

    style = API_KEY
    secret_label = "API key (Password field)"

    key_name: str = DEFAULT_KEY_NAME
    key_location: str = "header"

    def build_auth(self, conn: Connection | None) -> AuthBase | None:
        key = self._require_secret(conn)
        name = str(self._setting(extra="key_name", config="name", default=DEFAULT_KEY_NAME)).strip()
        raw_location = self._setting(extra="key_location", config="location", default="header")
        location = str(raw_location).strip().lower()
        location = "query" if location == "param" else location  # dlt's older name
        if location not in API_KEY_LOCATIONS:
            raise AuthConfigError(
                f"key location {raw_location!r} is not one of header, query, cookie "
                "(connection extra key_location or client.auth.location)",
                "client.auth.location",
            )
        if not name:
            raise AuthConfigError(
                "the API key needs a name (key_name extra or client.auth.name)", "client.auth.name"
            )
        self._add_secret(key)
        if location == "query":
            self._add_secret_param(name)
        self.key_name, self.key_location = name, location
        return ApiKeyAuth(name, key, location)

    def describe_auth(self) -> str:
        where = {"header": "header", "query": "query parameter", "cookie": "cookie"}[self.key_location]
        return f"the API key in {where} {self.key_name!r}"
