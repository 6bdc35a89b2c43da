"""Secrets never reach a log line or an exception, urllib3's and requests' DEBUG output included."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator

import pytest
from structlog.testing import capture_logs

from airflow_provider_restsync.errors import ApiRequestError
from airflow_provider_restsync.hooks import resolve_api_hook
from airflow_provider_restsync.hooks.masking import LIBRARY_LOGGERS, REGISTRY
from airflow_provider_restsync.redaction import redact_secrets
from tests.support.http import Request, Response, serve
from tests.support.oauth_server import OAuthServer

KEY = "Qk-9f8e7d6c5b4a3210-secret"


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every log record of the process at DEBUG: root, plus any logger that does not propagate."""
    import airflow.settings  # noqa: F401  # Airflow sets up logging on import: capture after that

    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Keep(level=logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    loggers = [root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        logger.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.setLevel(level)
        for logger in loggers:
            logger.removeHandler(handler)


def _everything_logged(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


def _exception_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc), *map(str, vars(exc).values())])


def _flaky_then_failing() -> Callable[[Request], Response]:
    """503, dropped connection, 503, then 500 forever; every error body echoes the request URL."""
    lock = threading.Lock()
    seen: list[int] = []

    def handler(request: Request) -> Response:
        with lock:
            seen.append(1)
            count = len(seen)
        echo = {"error": "upstream", "request": getattr(request, "full_path", request.path)}
        if count == 2:
            return Response(drop_connection=True)
        if count in (1, 3):
            return Response(503, echo, {"Retry-After": "0"})
        return Response(500, echo)

    return handler


def test_query_string_key_appears_in_no_log_line_and_no_exception(
    all_logs: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(_flaky_then_failing()) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HM_QUERY",
            json.dumps(
                {
                    "conn_type": "restsync_api_key",
                    "host": server.url,
                    "password": KEY,
                    "extra": {"key_name": "api_key", "key_location": "query", "backoff_factor": 0.01},
                }
            ),
        )
        # Hooks log through Airflow's structlog logger, libraries through stdlib logging: capture both.
        with resolve_api_hook("hm_query") as hook, capture_logs() as hook_logs:
            with pytest.raises(ApiRequestError) as raised:
                hook.request("GET", "/v1/resource", params={"offset": 0, "limit": 100})
            # The server really got the key: the sync was authenticated, then failed.
            assert all(request.query.get("api_key") == [KEY] for request in server.requests)
            assert len(server.requests) == 4  # first attempt + 3 retries
            assert hook.stats.retries == 3

    logged = _everything_logged(all_logs)
    # The capture is meaningful: urllib3 logged the request lines (and its retry warning) at all.
    urllib3_lines = [r.getMessage() for r in all_logs if r.name.startswith("urllib3")]
    assert any("/v1/resource?" in line and "api_key=***" in line for line in urllib3_lines)
    assert any("Retrying" in line for line in urllib3_lines)
    assert sum("retry" in entry["event"] for entry in hook_logs) == 3
    assert KEY not in repr(hook_logs)
    assert KEY not in logged
    for record in all_logs:
        assert KEY not in record.getMessage()
        assert KEY not in (record.exc_text or "")

    error = raised.value
    assert error.status == 500 and error.attempts == 4
    assert "api_key=***" in error.url
    assert "api_key=***" in error.body_excerpt  # the echoed URL in the body is redacted too
    assert KEY not in _exception_text(error)


def test_header_key_and_bearer_token_stay_out_of_errors(
    all_logs: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(
        lambda request: Response(401, {"error": "bad token", "got": request.headers.get("api_key")})
    ) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HM_HEADER",
            json.dumps(
                {
                    "conn_type": "restsync_api_key",
                    "host": server.url,
                    "password": KEY,
                    "extra": {"key_name": "api_key"},
                }
            ),
        )
        with resolve_api_hook("hm_header") as hook, pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/domains")
    assert KEY not in _exception_text(raised.value)
    assert '"got": "***"' in raised.value.body_excerpt
    assert KEY not in _everything_logged(all_logs)


def test_connection_errors_never_leak_the_key(
    all_logs: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(lambda request: Response(200)) as server:
        url = server.url  # stopped: nothing listens there any more
    monkeypatch.setenv(
        "AIRFLOW_CONN_HM_REFUSED",
        json.dumps(
            {
                "conn_type": "restsync_api_key",
                "host": url,
                "password": KEY,
                "extra": {
                    "key_name": "api_key",
                    "key_location": "query",
                    "max_retries": 1,
                    "backoff_factor": 0.01,
                },
            }
        ),
    )
    with resolve_api_hook("hm_refused") as hook, pytest.raises(ApiRequestError) as raised:
        hook.request("GET", "/v1/resource")
    assert "could not connect" in str(raised.value)
    assert KEY not in _exception_text(raised.value)
    assert KEY not in _everything_logged(all_logs)


def test_test_connection_message_never_holds_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(
        lambda request: Response(403, {"error": f"key {request.param('api_key')} lacks scope"})
    ) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HM_TEST",
            json.dumps(
                {
                    "conn_type": "restsync_api_key",
                    "host": server.url,
                    "password": KEY,
                    "extra": {"key_name": "api_key", "key_location": "query", "test_path": "/v1/servers"},
                }
            ),
        )
        with resolve_api_hook("hm_test") as hook:
            ok, message = hook.test_connection()
    assert not ok
    assert "HTTP 403 Forbidden" in message and "/v1/servers?api_key=***" in message
    assert KEY not in message


def test_oauth_access_token_is_registered_with_airflows_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.log import redact

    auth_server = OAuthServer()
    with serve(auth_server) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HM_OAUTH",
            json.dumps(
                {
                    "conn_type": "restsync_oauth2",
                    "host": server.url,
                    "login": auth_server.client_id,
                    "password": auth_server.client_secret,
                    "extra": {"token_url": "/oauth/token"},  # relative: resolved against the base URL
                }
            ),
        )
        with resolve_api_hook("hm_oauth") as hook:
            hook.request("GET", "/v1/items")
            token = auth_server.issued[0]
            assert redact(f"token is {token}") == "token is ***"
            assert hook.redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"


def test_library_filter_forgets_secrets_when_the_hook_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HM_CLOSE",
        json.dumps(
            {"conn_type": "restsync_bearer", "host": "https://api.example.com", "password": "tok-closing-123"}
        ),
    )
    hook = resolve_api_hook("hm_close")
    hook.get_conn()
    assert REGISTRY.redact("x tok-closing-123 y") == "x *** y"
    hook.close()
    assert REGISTRY.redact("x tok-closing-123 y") == "x tok-closing-123 y"
    assert hook.redact("x tok-closing-123 y") == "x *** y"  # the hook itself still knows
    for name in LIBRARY_LOGGERS:
        assert any(type(f).__name__ == "SecretRedactingFilter" for f in logging.getLogger(name).filters)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /v1/x?offset=0&api_key=abc123&limit=5 HTTP/1.1",
            "GET /v1/x?offset=0&api_key=***&limit=5 HTTP/1.1",
        ),
        ("https://h/p?access_token=t0k", "https://h/p?access_token=***"),
        ("https://h/p?custom=v4lue&page=2", "https://h/p?custom=***&page=2"),
        ("url: https://user:pa55@h/p", "url: https://***@h/p"),
        ("body says hunter2-secret here", "body says *** here"),
        ("encoded hunter2%2Dsecret? no: hunter2-secret", "encoded hunter2%2Dsecret? no: ***"),
        ("(url='/x?page=2&key=zzz')", "(url='/x?page=2&key=***')"),
    ],
)
def test_redact_secrets(text: str, expected: str) -> None:
    assert redact_secrets(text, values=["hunter2-secret"], param_names=["custom"]) == expected
