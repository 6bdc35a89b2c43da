"""An OAuth2 client-credentials authorization server and a protected API, as one loopback handler.

``POST /oauth/token`` issues tokens to the one known client (basic auth or form-body credentials);
every other path answers 200 with a JSON page for a valid, unrevoked bearer token, else 401.
"""

from __future__ import annotations

import base64
import itertools
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from tests.support.http import Request, Response


@dataclass
class OAuthServer:
    """Scripted token endpoint plus protected resources; counters say what the client did."""

    client_id: str = "client-1"
    client_secret: str = "s3cret-client-secret"
    expires_in: int | None = 3600
    token_path: str = "/oauth/token"
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    api_requests: int = 0
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def revoke_all(self) -> None:
        """Make every token issued so far invalid (a rotation the client did not hear about)."""
        with self._lock:
            self.revoked.update(self.issued)

    def __call__(self, request: Request) -> Response:
        if request.path == self.token_path:
            return self._token(request)
        with self._lock:
            self.api_requests += 1
            header = request.headers.get("authorization", "")
            token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
            valid = token is not None and token in self.issued and token not in self.revoked
        if not valid:
            return Response(401, {"error": "invalid_token"}, {"WWW-Authenticate": "Bearer"})
        return Response(200, {"data": [{"id": 1}, {"id": 2}]})

    def _token(self, request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        with self._lock:
            self.token_requests.append({**form, "client_auth": "basic" if header else "body"})
            if form.get("grant_type") != "client_credentials":
                return Response(400, {"error": "unsupported_grant_type"})
            if client_id != self.client_id or client_secret != self.client_secret:
                return Response(401, {"error": "invalid_client"})
            token = f"access-token-{next(self._counter)}-abcdef"
            self.issued.append(token)
        body: dict[str, object] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return Response(200, body)
