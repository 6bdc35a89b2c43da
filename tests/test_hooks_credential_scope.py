"""Credentials stay with the base URL's origin, error bodies never echo a secret, failures name the resource.

Regression tests of defects found by trying the provider against APIs that misbehave: a next link or a
redirect to another host that carries the key in its URL, a key echoed back in other spellings, and
HTTP failures that did not say which resource they belong to.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.errors import ApiRequestError
from airflow_provider_restsync.fetch import iter_pages
from airflow_provider_restsync.hooks import resolve_api_hook
from tests.support.api_client import resource_config
from tests.support.http import Request, Response, serve

KEY = "k+y/s=cr3t!&x"
TOKEN_HEADER_VALUE = "hdr-secret-4711"


def _conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, host: str, **extra: Any) -> str:
    fields = {"conn_type": "restsync_api_key", "host": host, "password": KEY, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


def _records(hook: Any, base_url: str, endpoint: dict[str, Any], name: str = "items") -> list[Any]:
    source = load_source(resource_config(base_url, endpoint, name=name))
    return [record for page in iter_pages(hook, source, name) for record in page.records]


def _carries_secret(request: Request) -> list[str]:
    """Where a secret shows in what a server received: the request line or any header."""
    forms = {KEY, quote(KEY, safe=""), quote_plus(KEY), TOKEN_HEADER_VALUE}
    found = [
        f"path {request.path!r}" for form in forms if form in request.path or form.lower() in request.path
    ]
    for name, value in request.headers.items():
        found.extend(f"header {name}" for form in forms if form in value)
    return found


@pytest.mark.parametrize("location", ["query", "header"])
def test_a_next_link_to_another_host_carrying_the_key_is_followed_without_it(
    monkeypatch: pytest.MonkeyPatch, location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(lambda request: Response(200, {"items": [{"id": 2}], "next": None})) as other:
        next_link = f"{other.url}/v1/items?page=2&api_key={quote_plus(KEY)}&keep=1"

        def home(request: Request) -> Response:
            return Response(200, {"items": [{"id": 1}], "next": next_link})

        with serve(home) as api:
            conn_id = _conn(
                monkeypatch,
                f"cs_next_{location}",
                api.url,
                key_name="api_key",
                key_location=location,
                headers={"X-Api-Token": TOKEN_HEADER_VALUE},
            )
            endpoint = {"path": "v1/items", "paginator": {"type": "json_link", "next_url_path": "next"}}
            with resolve_api_hook(conn_id, auth_config={"type": "api_key"}) as hook:
                records = _records(hook, api.url, endpoint)
    assert [r["id"] for r in records] == [1, 2]
    (home_request,) = api.requests
    assert _carries_secret(home_request), "the base URL's origin is still signed"
    (foreign,) = other.requests
    assert _carries_secret(foreign) == []
    assert foreign.param("keep") == "1" and foreign.param("page") == "2"  # the rest of the link stays
    logged = capsys.readouterr().out
    assert f"Sending no credentials to {other.url}" in logged and KEY not in logged


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_to_another_host_carries_no_credential(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    with serve(lambda request: Response(200, {"items": [{"id": 9}]})) as other:

        def home(request: Request) -> Response:
            if request.path.startswith("/moved"):
                return Response(200, {"items": [{"id": 1}]})
            target = f"{other.url}/v1/items?api_key={quote(KEY, safe='')}"
            return Response(status, {}, headers={"Location": target})

        with serve(home) as api:
            conn_id = _conn(
                monkeypatch, f"cs_redirect_{status}", api.url, key_name="X-Api-Key", key_location="header"
            )
            with resolve_api_hook(conn_id, auth_config={"type": "api_key"}) as hook:
                response = hook.request("GET", "/v1/items")
    assert response.json() == {"items": [{"id": 9}]}
    (foreign,) = other.requests
    assert _carries_secret(foreign) == [], "requests keeps custom headers on a redirect: they must go"


def test_a_redirect_within_the_origin_stays_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    def home(request: Request) -> Response:
        if request.path.startswith("/moved"):
            return Response(200, {"items": []})
        return Response(302, {}, headers={"Location": "/moved/items"})

    with serve(home) as api:
        conn_id = _conn(monkeypatch, "cs_redirect_home", api.url, key_name="api_key", key_location="query")
        with resolve_api_hook(conn_id, auth_config={"type": "api_key"}) as hook:
            hook.request("GET", "/v1/items")
    _, moved = api.requests
    assert moved.path.startswith("/moved/items") and moved.param("api_key") == KEY


ECHOES = {
    "raw": KEY,
    "percent, upper case": quote(KEY, safe=""),
    "percent, lower case": quote(KEY, safe="").lower(),
    "plus-encoded": quote_plus(KEY),
    "plus-encoded, lower case": quote_plus(KEY).lower(),
    "JSON-escaped slashes": KEY.replace("/", "\\/"),
    "HTML-escaped": KEY.replace("&", "&amp;"),
}


@pytest.mark.parametrize("spelling", sorted(ECHOES))
def test_an_error_body_echoing_the_key_in_any_spelling_is_redacted(
    monkeypatch: pytest.MonkeyPatch, spelling: str, caplog: pytest.LogCaptureFixture
) -> None:
    echoed = ECHOES[spelling]
    # Echoed as a value, not as a query parameter (whose value is masked by its name alone).
    body = '{"error": "bad request", "detail": "key ' + echoed + ' is not valid here"}'
    with serve(lambda request: Response(400, body, headers={"Content-Type": "application/json"})) as api:
        conn_id = _conn(monkeypatch, "cs_echo", api.url, key_name="api_key", key_location="query")
        with (
            resolve_api_hook(conn_id, auth_config={"type": "api_key"}) as hook,
            caplog.at_level(logging.DEBUG),
            pytest.raises(ApiRequestError) as caught,
        ):
            hook.request("GET", "/v1/items")
    message = str(caught.value)
    assert "400" in message and "bad request" in message
    assert echoed not in message and echoed not in caught.value.body_excerpt
    assert echoed not in caplog.text


def test_a_network_failure_names_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(200, {}, drop_connection=True)) as api:
        conn_id = _conn(
            monkeypatch, "cs_drop", api.url, key_name="api_key", key_location="query", max_retries=0
        )
        with (
            resolve_api_hook(conn_id, auth_config={"type": "api_key"}) as hook,
            pytest.raises(ApiRequestError) as caught,
        ):
            _records(hook, api.url, {"path": "v1/contacts"}, "contacts")
    message = str(caught.value)
    assert message.startswith("resource 'contacts': GET ") and "/v1/contacts" in message
    assert caught.value.resource == "contacts" and KEY not in message


def test_an_http_failure_names_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(404, {"error": "no such list"})) as api:
        conn_id = _conn(monkeypatch, "cs_404", api.url, key_name="api_key", key_location="header")
        with (
            resolve_api_hook(conn_id, auth_config={"type": "api_key"}) as hook,
            pytest.raises(ApiRequestError) as caught,
        ):
            _records(hook, api.url, {"path": "v1/lists"}, "lists")
    assert str(caught.value).startswith("resource 'lists': GET ") and caught.value.status == 404
