"""The hook's session, settings from extras, test_connection() and its lifecycle."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_restsync.errors import ApiRequestError, ConfigError
from airflow_provider_restsync.hooks import ApiKeyHook, NoAuthHook, RetryPolicy, resolve_api_hook
from tests.support.http import Request, Response, serve


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


def test_building_a_hook_reads_nothing() -> None:
    # No such connection exists: construction (DAG parse time) must not notice.
    hook = ApiKeyHook("hs_does_not_exist", auth_config={"type": "api_key", "name": "api_key"})
    assert hook.restsync_conn_id == "hs_does_not_exist"
    with pytest.raises(Exception, match="hs_does_not_exist"):
        hook.get_conn()


def test_one_session_with_headers_tls_and_user_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(200, {})) as server:
        conn_id = _set_conn(
            monkeypatch,
            "hs_session",
            conn_type="restsync_noauth",
            host=server.url,
            extra={"headers": json.dumps({"X-Tenant": "acme"}), "verify": "false"},
        )
        with resolve_api_hook(conn_id, headers={"Accept": "application/json"}) as hook:
            session = hook.get_conn()
            assert hook.get_conn() is session
            assert session.verify is False
            hook.request("GET", "/a")
            hook.request("GET", "/b", headers={"X-Page": "2"})
        first, second = server.requests
        assert first.headers["x-tenant"] == "acme" and first.headers["accept"] == "application/json"
        assert first.headers["user-agent"].startswith("airflow-provider-restsync/")
        assert second.headers["x-page"] == "2" and "x-page" not in first.headers
        assert hook.stats.requests == 2 and hook.stats.retries == 0


def test_secret_looking_headers_are_treated_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = _set_conn(
        monkeypatch,
        "hs_secret_header",
        conn_type="restsync_noauth",
        host="https://api.example.com",
        extra={"headers": {"X-Api-Token": "header-secret-value", "X-Tenant": "acme"}},
    )
    hook = resolve_api_hook(conn_id)
    assert "header-secret-value" in hook.secret_values and "acme" not in hook.secret_values
    assert hook.redact("sent header-secret-value") == "sent ***"
    hook.close()


def test_bad_extras_are_config_errors_naming_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = _set_conn(
        monkeypatch,
        "hs_bad_extra",
        conn_type="restsync_noauth",
        host="https://api.example.com",
        extra={"max_retries": "many"},
    )
    with pytest.raises(ConfigError) as raised:
        resolve_api_hook(conn_id).get_conn()
    assert raised.value.key_path == "connection 'hs_bad_extra' extra.max_retries"


def test_read_timeout_applies_to_every_request() -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(200, {})

    with serve(slow) as server:
        policy = RetryPolicy(max_retries=0, read_timeout=0.2)
        with NoAuthHook(None, base_url=server.url, retry=policy) as hook:
            started = time.monotonic()
            with pytest.raises(ApiRequestError, match=r"read timeout of 0\.2 s") as raised:
                hook.request("GET", "/slow")
            assert time.monotonic() - started < 0.9
    assert raised.value.attempts == 1


def test_retries_are_logged_with_the_redacted_url() -> None:
    # Hooks log through Airflow's structlog logger (not stdlib logging), hence capture_logs.
    from structlog.testing import capture_logs

    answers = [Response(503), Response(200, {})]
    policy = RetryPolicy(backoff_factor=0.01)
    with (
        serve(lambda request: answers.pop(0)) as server,
        NoAuthHook(None, base_url=server.url, retry=policy) as hook,
        capture_logs() as logs,
    ):
        hook.request("GET", "/v1/items", params={"token": "tok-in-query", "page": 1})
    assert [entry["event"] for entry in logs if "retry" in entry["event"]] == [
        f"GET {server.url}/v1/items?token=***&page=1: HTTP 503 Service Unavailable; retry 1 of 3 in 0.0 s"
    ]


def test_test_connection_success_says_what_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(200 if request.path == "/v1/servers" else 404, {})) as server:
        conn_id = _set_conn(
            monkeypatch,
            "hs_test_ok",
            conn_type="restsync_bearer",
            host=server.url,
            password="t0ken-for-test",
            extra={"test_path": "/v1/servers"},
        )
        ok, message = resolve_api_hook(conn_id).test_connection()
    assert ok
    assert message == (
        f"Connected: GET {server.url}/v1/servers answered HTTP 200 OK "
        "(a bearer token in the Authorization header)."
    )


def test_test_connection_failure_is_a_sentence_for_a_person(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(401, {"message": "Bad credentials"})) as server:
        conn_id = _set_conn(
            monkeypatch,
            "hs_test_401",
            conn_type="restsync_basic",
            host=server.url,
            login="api",
            password="pw-123456",
        )
        ok, message = resolve_api_hook(conn_id).test_connection()
    assert not ok
    assert message.startswith(f"GET {server.url}/ failed: HTTP 401 Unauthorized after 1 attempt.")
    assert "rejected the credentials" in message and "Bad credentials" in message
    assert "pw-123456" not in message


def test_test_connection_unreachable_and_misconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(lambda request: Response(200)) as server:
        url = server.url
    conn_id = _set_conn(monkeypatch, "hs_test_down", conn_type="restsync_noauth", host=url)
    ok, message = resolve_api_hook(conn_id).test_connection()
    assert not ok and "could not connect" in message
    conn_id = _set_conn(monkeypatch, "hs_test_nokey", conn_type="restsync_api_key", host=url)
    ok, message = resolve_api_hook(conn_id).test_connection()
    assert not ok and "has no API key" in message


def test_hook_works_again_after_close() -> None:
    with serve(lambda request: Response(200, {})) as server:
        hook = NoAuthHook(None, base_url=server.url)
        first = hook.get_conn()
        hook.request("GET", "/")
        hook.close()
        hook.close()  # idempotent
        assert hook.request("GET", "/").status_code == 200
        assert hook.get_conn() is not first
        hook.close()
