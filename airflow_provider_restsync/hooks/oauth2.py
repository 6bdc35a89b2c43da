"""OAuth2 client credentials (``restsync_oauth2``): a token fetched once, cached, refreshed in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from airflow_provider_restsync.auth_styles import OAUTH2
from airflow_provider_restsync.coerce import as_float
from airflow_provider_restsync.errors import ApiRequestError, AuthConfigError, ConfigError
from airflow_provider_restsync.hooks.base import RestSyncHook
from airflow_provider_restsync.hooks.basic import basic_token
from airflow_provider_restsync.hooks.extras import as_str_list, is_empty

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Token lifetime assumed when the token response has no ``expires_in`` (dlt's default too).
DEFAULT_TOKEN_EXPIRATION = 3600.0
#: Refresh this long before expiry (or a tenth of a short lifetime), so no request carries a token
#: that expires on the way.
REFRESH_MARGIN = 60.0


class _NoAuth(AuthBase):
    """Stops the session's own auth from signing the token request itself."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class OAuth2ClientCredentialsAuth(AuthBase):
    """Adds ``Authorization: Bearer <access token>``, fetching and caching the token.

    The token is fetched on first use, reused until shortly before it expires, and fetched again
    once when the API answers 401 (revoked or rotated early); the request is then sent once more.

    :param fetch_token: returns ``(access_token, lifetime in seconds or None)``.
    :param clock: a monotonic clock (tests may pass their own).
    """

    def __init__(
        self,
        fetch_token: Callable[[], tuple[str, float | None]],
        *,
        default_lifetime: float = DEFAULT_TOKEN_EXPIRATION,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch_token = fetch_token
        self.default_lifetime = default_lifetime
        self.clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def token(self, *, stale: str | None = None) -> str:
        """Return a valid access token, fetching one when none is cached, it is due, or it is ``stale``.

        :param stale: a token the API just refused; replaced unless another thread already did.
        """
        with self._lock:
            due = self._token is None or self.clock() >= self._refresh_at
            if due or (stale is not None and stale == self._token):
                token, lifetime = self.fetch_token()
                lifetime = lifetime if lifetime and lifetime > 0 else self.default_lifetime
                self._token = token
                self._refresh_at = self.clock() + lifetime - min(REFRESH_MARGIN, lifetime / 10)
            assert self._token is not None
            return self._token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        r.register_hook("response", self._refresh_on_401)
        return r

    def _refresh_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or response.request is None or response.connection is None:
            return response
        header = str(response.request.headers.get("Authorization", ""))
        used = header.removeprefix("Bearer ")
        fresh = self.token(stale=used)
        if fresh == used:
            return response
        # As requests' digest auth does: free the connection, resend a copy once through the same
        # adapter (which dispatches no response hooks, so this cannot loop).
        response.content  # noqa: B018  # read the body so the connection goes back to the pool
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {fresh}"
        second: requests.Response = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second


class OAuth2ClientCredentialsHook(RestSyncHook):
    """Signs requests with an OAuth2 access token from the client-credentials grant.

    Client id: the connection's login (else ``client.auth.client_id``); client secret: the
    connection's password. Token URL, scopes, audience: the ``token_url``, ``scopes``, ``audience``
    extras, else ``client.auth.token_url`` (dlt: ``access_token_url``), ``scopes``, ``audience``.
    The client authenticates with HTTP basic auth (RFC 6749 2.3.1), or with ``client_id`` and
    ``client_secret`` in the form body when ``client_auth`` is ``body`` (as dlt does).
    """

    style = OAUTH2
    secret_label = "client secret (Password field)"

    token_url: str = ""
    client_id: str = ""
    oauth: OAuth2ClientCredentialsAuth | None = None

    def build_auth(self, conn: Connection | None) -> AuthBase | None:
        client_secret = self._require_secret(conn)
        client_id = str(self._setting(conn_value=conn.login if conn else None, config="client_id") or "")
        token_url = str(self._setting(extra="token_url", config=("token_url", "access_token_url")) or "")
        if not client_id:
            raise AuthConfigError(
                f"{self.connection_name} ({self.conn_type}) has no client id: put it in Login",
                "client.auth.client_id",
            )
        if not token_url:
            raise AuthConfigError(
                f"{self.connection_name} ({self.conn_type}) has no token URL: set the "
                "token_url extra (or client.auth.token_url)",
                "client.auth.token_url",
            )
        scopes = as_str_list(
            self._setting(extra="scopes", config=("scopes", "scope"), default=[]), "client.auth.scopes"
        )
        audience = self._setting(extra="audience", config="audience")
        client_auth = str(self._setting(extra="client_auth", config="client_auth", default="basic")).lower()
        if client_auth not in ("basic", "body"):
            raise AuthConfigError(
                f"client_auth {client_auth!r} is not 'basic' or 'body'", "client.auth.client_auth"
            )
        extra_data = self._setting(extra="access_token_request_data", config="access_token_request_data")
        if extra_data is not None and not isinstance(extra_data, dict):
            raise ConfigError("expected a mapping of form fields", "client.auth.access_token_request_data")
        lifetime = as_float(
            self._setting(
                extra="default_token_expiration",
                config="default_token_expiration",
                default=DEFAULT_TOKEN_EXPIRATION,
            ),
            "client.auth.default_token_expiration",
            positive=True,
        )
        self._add_secret(client_secret)
        self.client_id, self.token_url = client_id, token_url

        form: dict[str, str] = {"grant_type": "client_credentials"}
        if scopes:
            form["scope"] = " ".join(scopes)
        if not is_empty(audience):
            form["audience"] = str(audience)
        form.update({str(k): str(v) for k, v in (extra_data or {}).items()})
        token_auth: AuthBase
        if client_auth == "body":
            form.update(client_id=client_id, client_secret=client_secret)
            token_auth = _NoAuth()
        else:
            token_auth = HTTPBasicAuth(client_id, client_secret)
            # The header's token decodes to the client secret: a server echoing it back leaks it.
            self._add_secret(basic_token(client_id, client_secret))

        def fetch_token() -> tuple[str, float | None]:
            return self._fetch_token(token_url, form, token_auth)

        self.oauth = OAuth2ClientCredentialsAuth(fetch_token, default_lifetime=lifetime)
        return self.oauth

    def _fetch_token(self, token_url: str, form: dict[str, str], auth: AuthBase) -> tuple[str, float | None]:
        response = self._send(
            "POST",
            token_url,
            policy=self._retry,
            data=form,
            headers={"Accept": "application/json"},
            auth=auth,
            counted=False,
        )
        if response.status_code >= 400:
            error = self._status_error(response, hint=False)
            raise ApiRequestError(
                f"Could not get an OAuth2 access token: {error} Check the client id (Login) and the "
                f"client secret (Password) of {self.connection_name}, and the token URL.",
                method="POST",
                url=error.url,
                status=error.status,
                reason=error.reason,
                attempts=error.attempts,
                body_excerpt=error.body_excerpt,
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
            raise ApiRequestError(
                f"The token endpoint {self.redact(response.url)} answered HTTP {response.status_code} "
                f"without an access_token (got {keys}).",
                method="POST",
                url=self.redact(response.url),
                status=response.status_code,
                reason=response.reason,
            )
        self._add_secret(token)
        expires_in = payload.get("expires_in") if isinstance(payload, dict) else None
        try:
            lifetime = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            lifetime = None
        self.log.info("Fetched an OAuth2 access token from %s", self.redact(response.url))
        return token, lifetime

    def describe_auth(self) -> str:
        return f"an OAuth2 bearer token for client {self.client_id!r} from {self.redact(self.token_url)}"
