"""Sandbox credentials and their checks: each API accepts its secret only where its document puts it.

The defaults are demo values for the local sandbox only. Each is at least 12 characters, so Airflow's
secrets masker hides them in task logs like any real secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from airflow_provider_restsync.sandbox import changing
from airflow_provider_restsync.sandbox.apis import get_api
from airflow_provider_restsync.sandbox.spec import Auth, HttpError

# Keys are those of a dlt ``client.auth`` block: username/password, api_key, token.
SANDBOX_CREDENTIALS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "mail_testing": MappingProxyType({"username": "api", "password": "sandbox-mail-key"}),
        "email_delivery": MappingProxyType({"api_key": "sandbox-delivery-key"}),
        "communications": MappingProxyType({"api_key": "sandbox-comms-key"}),
        "inbox_testing": MappingProxyType({"token": "sandbox-inbox-token"}),
        "email_service": MappingProxyType({"api_key": "sandbox-service-key"}),
        changing.NAME: MappingProxyType({"token": "sandbox-changing-token"}),
    }
)


def resolve_credentials(secrets: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The defaults with each API's secret replaced by ``secrets[api]`` where given."""
    resolved = {api: dict(values) for api, values in SANDBOX_CREDENTIALS.items()}
    for api, secret in (secrets or {}).items():
        if api not in resolved:
            raise ValueError(f"no sandbox API {api!r}; the APIs are {', '.join(resolved)}")
        if not secret:
            raise ValueError(f"the secret for {api!r} is empty")
        field = next(key for key in resolved[api] if key != "username")
        resolved[api][field] = secret
    return resolved


def _same(given: str | None, expected: str) -> bool:
    # Constant-time, like a real API: the sandbox also teaches what good looks like.
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Headers(Protocol):
    """Request headers whose ``get`` ignores case, as ``http.server`` gives them."""

    def get(self, name: str, /) -> str | None: ...


def check(
    auth: Auth, credential: Mapping[str, str], headers: Headers, query: Mapping[str, list[str]]
) -> None:
    """Return if the request carries the secret where ``auth`` says; else raise a 401 that never echoes it."""
    secret = credential[auth.secret_field]
    if auth.kind == "header":
        given = headers.get(auth.name)
        if given is None:
            raise _unauthorized(auth, f"missing API key: send it in the header {auth.name!r}")
        if not _same(given, secret):
            raise _unauthorized(auth, "invalid API key")
    elif auth.kind == "query":
        values = query.get(auth.name)
        if not values:
            raise _unauthorized(auth, f"missing API key: send it in the query parameter {auth.name!r}")
        if not _same(values[0], secret):
            raise _unauthorized(auth, "invalid API key")
    elif auth.kind == "bearer":
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized(auth, "missing bearer token: send 'Authorization: Bearer <token>'")
        if not _same(token.strip(), secret):
            raise _unauthorized(auth, "invalid bearer token")
    else:
        user, password = _basic(headers.get("Authorization"))
        if user is None:
            raise _unauthorized(
                auth, f"basic authentication required: user {auth.username!r}, API key as password"
            )
        if not (_same(user, credential["username"]) and _same(password, secret)):
            raise _unauthorized(auth, "invalid username or API key")


def _basic(header: str | None) -> tuple[str | None, str]:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    return user, password


def _unauthorized(auth: Auth, message: str) -> HttpError:
    headers = {}
    if auth.kind == "basic":
        headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
    elif auth.kind == "bearer":
        headers["WWW-Authenticate"] = 'Bearer realm="sandbox"'
    return HttpError(401, "unauthorized", message, headers)


def auth_of(api: str) -> Auth:
    """How one API wants its secret: a reference API's own auth, or the changing API's bearer token."""
    return changing.AUTH if api == changing.NAME else get_api(api).auth


def client_kwargs(
    api: str, credentials: Mapping[str, Mapping[str, str]] = SANDBOX_CREDENTIALS
) -> dict[str, Any]:
    """Keyword arguments for ``requests.get`` that authenticate to one API: handy in tests and demos."""
    auth = auth_of(api)
    credential = credentials[api]
    secret = credential[auth.secret_field]
    if auth.kind == "basic":
        return {"auth": (credential["username"], secret)}
    if auth.kind == "bearer":
        return {"headers": {"Authorization": f"Bearer {secret}"}}
    if auth.kind == "header":
        return {"headers": {auth.name: secret}}
    return {"params": {auth.name: secret}}
