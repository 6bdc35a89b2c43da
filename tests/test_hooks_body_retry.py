"""Answers whose body is unusable are sent for again within the retry policy, and every retry is counted
under its cause: a body cut off mid-way (connection reset, fewer bytes than Content-Length), a truncated
JSON body, an HTML error page with status 200, next to the statuses and timeouts urllib3 retries."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.errors import ApiRequestError, PagingError
from airflow_provider_restsync.fetch import iter_pages
from airflow_provider_restsync.hooks import resolve_api_hook
from tests.support.api_client import resource_config

GOOD = json.dumps({"items": [{"id": 1}, {"id": 2}]}).encode()

# One answer: what a raw handler writes for one request.
Answer = Callable[[BaseHTTPRequestHandler], None]


def good(handler: BaseHTTPRequestHandler) -> None:
    _head(handler, 200, "application/json", len(GOOD))
    handler.wfile.write(GOOD)


def truncated(handler: BaseHTTPRequestHandler) -> None:
    body = GOOD[: len(GOOD) // 2]  # Content-Length matches: only the JSON parser notices
    _head(handler, 200, "application/json", len(body))
    handler.wfile.write(body)


def html_page(handler: BaseHTTPRequestHandler) -> None:
    body = b"<html><body><h1>502 Bad Gateway</h1>upstream is down</body></html>"
    _head(handler, 200, "text/html", len(body))
    handler.wfile.write(body)


def reset_mid_body(handler: BaseHTTPRequestHandler) -> None:
    _head(handler, 200, "application/json", len(GOOD))
    handler.wfile.write(GOOD[:10])
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()  # RST: the client reads a reset in the middle of the body


def status_503(handler: BaseHTTPRequestHandler) -> None:
    body = b'{"error": "busy"}'
    _head(handler, 503, "application/json", len(body))
    handler.wfile.write(body)


def _head(handler: BaseHTTPRequestHandler, status: int, kind: str, length: int) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


@contextmanager
def scripted(*answers: Answer) -> Iterator[tuple[str, list[str]]]:
    """A server answering its n-th request with ``answers[n]`` (the last one again after that)."""
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                seen.append(self.path)
                answer = answers[min(len(seen), len(answers)) - 1]
            answer(self)

        do_PATCH = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _hook(monkeypatch: pytest.MonkeyPatch, base_url: str, **extra: Any) -> Any:
    conn = {"conn_type": "restsync_noauth", "host": base_url, "extra": {"backoff_factor": 0, **extra}}
    monkeypatch.setenv("AIRFLOW_CONN_BODY_RETRY", json.dumps(conn))
    return resolve_api_hook("body_retry")


def _ids(hook: Any, base_url: str) -> list[int]:
    source = load_source(resource_config(base_url, {"path": "v1/items"}))
    return [record["id"] for page in iter_pages(hook, source, "items") for record in page.records]


@pytest.mark.parametrize(
    ("broken", "cause"),
    [(truncated, "not JSON"), (html_page, "not JSON"), (reset_mid_body, "incomplete body")],
    ids=["truncated JSON", "HTML with 200", "reset mid-body"],
)
def test_an_unusable_body_is_fetched_again_and_counted(
    monkeypatch: pytest.MonkeyPatch, broken: Answer, cause: str
) -> None:
    with scripted(status_503, broken, good) as (url, seen), _hook(monkeypatch, url) as hook:
        assert _ids(hook, url) == [1, 2]
    assert len(seen) == 3
    assert (hook.stats.requests, hook.stats.retries) == (1, 2)
    assert hook.stats.by_cause == {"503": 1, cause: 1}


def test_bodies_that_stay_unusable_fail_once_retries_run_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        scripted(html_page) as (url, seen),
        _hook(monkeypatch, url, max_retries=2) as hook,
        pytest.raises(PagingError) as caught,
    ):
        _ids(hook, url)
    assert len(seen) == 3  # the first attempt and two retries
    message = str(caught.value)
    assert message.startswith("resource 'items': the response of ") and "is not JSON" in message
    assert "text/html" in message and hook.stats.by_cause == {"not JSON": 2}


def test_a_body_that_keeps_breaking_off_fails_naming_the_resource_and_the_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        scripted(reset_mid_body) as (url, seen),
        _hook(monkeypatch, url, max_retries=1) as hook,
        pytest.raises(ApiRequestError) as caught,
    ):
        _ids(hook, url)
    assert len(seen) == 2
    message = str(caught.value)
    assert message.startswith("resource 'items': GET ") and "after 2 attempts" in message
    assert hook.stats.by_cause == {"incomplete body": 1}


def test_a_post_is_not_sent_again_for_a_body_it_cannot_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    # POST is retried on statuses (read-only search endpoints), but the hook only repeats an unusable
    # body for the methods it retries: here a PATCH, which it never repeats.
    with scripted(truncated, good) as (url, seen), _hook(monkeypatch, url) as hook:
        response = hook.request("PATCH", "/v1/items", accept=lambda r: r.json())
    assert response.status_code == 200 and len(seen) == 1 and hook.stats.by_cause == {}
