"""The UI's Test button: passes when the API answered without rejecting the credentials, else says why."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_restsync.hooks import resolve_api_hook
from tests.support.http import Request, Response, serve

KEY = "tc-Key-5e4d3c2b1a-secret"
AUTH = "the API key in query parameter 'api_key'"


def _test(monkeypatch: pytest.MonkeyPatch, url: str, **extra: Any) -> tuple[bool, str]:
    """Press Test on an API key connection (key in the query string) to ``url``."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_HTC_API",
        json.dumps(
            {
                "conn_type": "restsync_api_key",
                "host": url,
                "password": KEY,
                "extra": {"key_name": "api_key", "key_location": "query", "backoff_factor": 0.01, **extra},
            }
        ),
    )
    with resolve_api_hook("htc_api") as hook:
        ok, message = hook.test_connection()
    assert KEY not in message
    return ok, message


def _answer(status: int, path: str = "/") -> Callable[[Request], Response]:
    """``status`` at ``path`` for a request that carries the key; 401 without it; 404 elsewhere."""

    def handler(request: Request) -> Response:
        if request.param("api_key") != KEY:
            return Response(401, {"message": "no key"})
        return Response(status if request.path == path else 404, {"echo": request.param("api_key")})

    return handler


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (405, "Method Not Allowed")])
def test_404_or_405_at_the_base_url_passes_and_says_what_was_checked(
    monkeypatch: pytest.MonkeyPatch, status: int, reason: str
) -> None:
    with serve(_answer(status)) as server:
        ok, message = _test(monkeypatch, server.url)
        assert len(server.requests) == 1
    assert ok
    assert message == (
        f"Connected: GET {server.url} answered HTTP {status} {reason}, which does not reject the "
        f"credentials ({AUTH}); set the test_path extra to an endpoint to check that one."
    )


def test_200_at_the_base_url_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(_answer(200)) as server:
        ok, message = _test(monkeypatch, server.url)
    assert ok
    assert message == f"Connected: GET {server.url} answered HTTP 200 OK ({AUTH})."


def test_404_at_the_base_url_of_a_public_api_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(404, {})) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HTC_PUBLIC", json.dumps({"conn_type": "restsync_noauth", "host": server.url})
        )
        ok, message = resolve_api_hook("htc_public").test_connection()
    assert ok
    assert message.startswith(
        f"Connected: GET {server.url} answered HTTP 404 Not Found, so the API is reachable"
    )


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (401, "The API rejected the credentials"),
        (403, "refuses this resource"),
        (500, "HTTP 500 Internal Server Error after 2 attempts"),  # one quick retry, no more
        (400, "HTTP 400 Bad Request after 1 attempt"),
    ],
)
def test_rejections_and_failures_at_the_base_url_fail(
    monkeypatch: pytest.MonkeyPatch, status: int, says: str
) -> None:
    with serve(_answer(status)) as server:
        ok, message = _test(monkeypatch, server.url)
    assert not ok
    assert message.startswith(f"GET {server.url}/?api_key=*** failed: HTTP {status}")
    assert says in message and "Checked the base URL" in message


def test_a_wrong_key_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(401, {"message": f"bad key {request.param('api_key')}"})) as server:
        ok, message = _test(monkeypatch, server.url)
    assert not ok and "rejected the credentials" in message and "bad key ***" in message


def test_test_path_is_checked_instead_and_a_404_there_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(_answer(200, path="/v1/servers")) as server:
        ok, message = _test(monkeypatch, server.url, test_path="/v1/nope")
        assert [r.path for r in server.requests] == ["/v1/nope"]
    assert not ok
    assert message.startswith(f"GET {server.url}/v1/nope?api_key=*** failed: HTTP 404 Not Found")
    assert message.endswith("Checked the test_path extra '/v1/nope'.")


def test_test_path_that_answers_passes_and_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(_answer(200, path="/v1/servers")) as server:
        ok, message = _test(monkeypatch, server.url, test_path="/v1/servers")
    assert ok
    assert message == f"Connected: GET {server.url}/v1/servers answered HTTP 200 OK ({AUTH})."


def test_a_closed_port_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(_answer(200)) as server:
        url = server.url
    ok, message = _test(monkeypatch, url)
    assert not ok
    assert message.startswith(f"GET {url}/?api_key=*** failed after 2 attempts: could not connect")


def test_a_host_that_does_not_resolve_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = _test(monkeypatch, "http://restsync-test.invalid")
    assert not ok and "does not resolve" in message


def test_a_timeout_fails_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(200, {})

    with serve(slow) as server:
        started = time.monotonic()
        ok, message = _test(monkeypatch, server.url, read_timeout=0.2, max_retries=0)
        assert time.monotonic() - started < 0.9
    assert not ok and "no answer within the read timeout of 0.2 s" in message


def test_a_tls_failure_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(_answer(200)) as server:  # plain HTTP: the TLS handshake cannot succeed
        ok, message = _test(monkeypatch, server.url.replace("http://", "https://"))
        assert len(server.requests) == 0  # not retried either
    assert not ok and "TLS failed" in message


def _press_test(monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]) -> tuple[bool, str]:
    """What the UI's Test button does (Airflow 3.3's POST /connections/test): the form's values as a
    Connection under a random temporary id, exported as AIRFLOW_CONN_<id>, then its test_connection()."""
    from airflow.models.connection import Connection

    conn = Connection(conn_id=TEMPORARY_ID, **fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{TEMPORARY_ID.upper()}", conn.get_uri())
    return conn.test_connection()


TEMPORARY_ID = "IgUUSa06"


def test_the_test_button_never_names_airflows_temporary_connection_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve(_answer(200)) as server:
        fields = {"conn_type": "restsync_api_key", "host": server.url, "password": "wrong-key-0123456789"}
        ok, message = _press_test(monkeypatch, {**fields, "extra": json.dumps({"key_location": "query"})})
        assert not ok and "rejected the credentials" in message
        assert TEMPORARY_ID not in message and "the connection (restsync_api_key)" in message
        # A connection without a key fails before any request, in the same words.
        ok, message = _press_test(monkeypatch, {"conn_type": "restsync_api_key", "host": server.url})
        assert not ok and "the connection (restsync_api_key) has no API key" in message
        assert TEMPORARY_ID not in message


@pytest.mark.parametrize(
    "api", ["mail_testing", "email_delivery", "communications", "inbox_testing", "email_service"]
)
def test_each_sandbox_example_connection_passes_the_test_button(
    monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    from airflow_provider_restsync.sandbox import SandboxServer
    from airflow_provider_restsync.sandbox.connections import sandbox_connection

    with SandboxServer(records=10) as sandbox:
        fields = sandbox_connection(api, sandbox.base_url(api))
        extra = fields.pop("extra", None)
        ok, message = _press_test(monkeypatch, {**fields, "extra": json.dumps(extra) if extra else None})
    assert ok, message
