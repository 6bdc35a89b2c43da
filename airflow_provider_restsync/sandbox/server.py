"""The sandbox HTTP server: one ``ThreadingHTTPServer`` that serves every sandbox API under its prefix."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from airflow_provider_restsync.sandbox import auth, changing
from airflow_provider_restsync.sandbox.apis import APIS, describe, locate, page_body
from airflow_provider_restsync.sandbox.faults import FaultConfig, FaultInjector, retried_kinds
from airflow_provider_restsync.sandbox.spec import Api, HttpError, Scope
from airflow_provider_restsync.sandbox.stats import LoggedRequest, Recorder, SandboxStats

try:
    import fcntl
    import termios
except ImportError:  # pragma: no cover - Windows
    fcntl = termios = None  # type: ignore[assignment]

# Linux's ioctl for the bytes written to a socket and not yet acknowledged by its peer.
_TIOCOUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if termios is not None else None

# Query parameters that carry a secret: never logged.
_SECRET_PARAMS = frozenset(api.auth.name for api in APIS.values() if api.auth.kind == "query")
_GATEWAY_PAGE = (
    "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center>"
    "<hr><center>nginx</center></body></html>\n"
)
_FAULTS: Mapping[str, tuple[int, str, str]] = {
    "429": (429, "rate_limited", "Too many requests; slow down and retry after the Retry-After delay"),
    "500": (500, "internal_error", "Internal server error"),
    # Gateways answer in HTML, not in the API's JSON: clients must not choke on an unparsable error body.
    "502": (502, "", "502 Bad Gateway"),
    "503": (503, "service_unavailable", "Service temporarily unavailable"),
    "504": (504, "", "504 Gateway Time-out"),
}
# A proxy or CDN in front of an API that answers a maintenance page with status 200.
_PROXY_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head><body>"
    b"<h1>We'll be back shortly</h1><p>The service is down for maintenance. Please try again later.</p>"
    b"</body></html>\n"
)
# Body faults that break the API's own 200 answer (``html`` replaces it, as status faults do).
_BROKEN_ANSWERS = frozenset({"reset", "truncated"})


def _redacted_target(path: str, query: Mapping[str, list[str]]) -> str:
    kept = [(name, value) for name, values in query.items() if name not in _SECRET_PARAMS for value in values]
    return f"{path}?{urlencode(kept)}" if kept else path


class _Exchange:
    """One request being answered: parsed once, recorded once, whatever the outcome."""

    def __init__(self, handler: _Handler) -> None:
        self.handler = handler
        parts = urlsplit(handler.path)
        self.path = parts.path.rstrip("/") or "/"
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.fault: str | None = None


class SandboxServer:
    """The five reference APIs and the mutable ``changing`` API on one local port, with optional faults.

    :param host: interface to listen on (``0.0.0.0`` in a container).
    :param port: TCP port; 0 picks a free one (read it back from ``url``).
    :param records: the size of each main resource (see the package docstring for every count).
    :param seed: the data seed; the same seed serves the same data.
    :param faults: fault injection settings; None injects nothing.
    :param secrets: per-API secret overrides (``{"email_delivery": "..."}``) of ``SANDBOX_CREDENTIALS``.
    :param request_logger: called with one line per request (secrets removed), e.g. ``print``.
    :param changing_items: how many records the ``changing`` API starts with; tests then mutate them
        through ``self.changing`` (a ``ChangingItems``) while the server runs.
    :param latency: seconds every API request (not ``/healthz``) waits before it is answered.
    :param max_limit: raise (or lower) every paginated API's page size cap (100 for most of them), so a
        client can ask for bigger pages than the reference documents allow; None keeps their caps.
    :param cache_bytes: keep up to this many bytes of answered pages and serve a repeated request from
        memory: the reference APIs' rows are pure functions of the request, so benchmarks measure the
        client, not the sandbox's record factories. 0 (the default) makes every page anew.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        records: int = 1000,
        seed: int = 42,
        faults: FaultConfig | None = None,
        *,
        secrets: Mapping[str, str] | None = None,
        request_logger: Callable[[str], None] | None = None,
        changing_items: int = 0,
        latency: float = 0.0,
        max_limit: int | None = None,
        cache_bytes: int = 0,
    ) -> None:
        if records < 0:
            raise ValueError(f"records must be 0 or more, got {records}")
        if not latency >= 0:  # also rejects NaN
            raise ValueError(f"latency must be 0 or more seconds, got {latency}")
        self.host = host
        self.port = port
        self.scope = Scope(records=records, seed=seed)
        self.faults = faults or FaultConfig()
        self.credentials = auth.resolve_credentials(secrets)
        self.changing = changing.ChangingItems(changing_items, seed=seed)
        self.latency = latency
        if max_limit is not None and max_limit < 1:
            raise ValueError(f"max_limit must be 1 or more, got {max_limit}")
        self._apis = {
            name: api
            if max_limit is None or api.paging is None
            else dataclasses.replace(api, paging=dataclasses.replace(api.paging, max_limit=max_limit))
            for name, api in APIS.items()
        }
        self._pages = _PageCache(cache_bytes)
        self._request_logger = request_logger
        self._injector = FaultInjector(self.faults)
        self._recorder = Recorder()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Bind and serve in a background thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already running")
        self._httpd = _HttpServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="restsync-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and counters ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def base_url(self, api: str) -> str:
        """The base URL of one API (``http://127.0.0.1:PORT/email_delivery``): the config's ``base_url``."""
        if api not in APIS and api != changing.NAME:
            raise KeyError(f"no sandbox API {api!r}; the APIs are {', '.join(APIS)}, {changing.NAME}")
        return f"{self.url}/{api}"

    def client_kwargs(self, api: str) -> dict[str, Any]:
        """``requests`` keyword arguments (auth, headers or params) with this server's secret for ``api``."""
        return auth.client_kwargs(api, self.credentials)

    @property
    def stats(self) -> SandboxStats:
        return self._recorder.stats()

    def request_log(self) -> list[LoggedRequest]:
        """The last requests (at most 10,000), oldest first."""
        return self._recorder.log()

    def reset_stats(self) -> None:
        """Clear counters and log; fault decisions keep their history, so they stay deterministic."""
        self._recorder.reset()

    # -- answering -------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        exchange = _Exchange(handler)
        try:
            response = self._answer(exchange)
        except HttpError as error:
            response = _json(error.status, error.body(), error.headers)
        except Exception:
            # A sandbox bug: say so plainly instead of dropping the connection.
            traceback.print_exc(file=sys.stderr)
            response = _json(500, {"error": "sandbox_error", "message": "the sandbox failed; see its stderr"})
        # Recorded before the client can read the response, so stats read after a response include it.
        target = _redacted_target(exchange.path, exchange.query)
        self._recorder.record(handler.command, exchange.path, target, response.status, exchange.fault)
        if self._request_logger is not None:
            fault = f" (fault: {exchange.fault})" if exchange.fault else ""
            self._request_logger(f"{handler.command} {target} {response.status or 'dropped'}{fault}")
        if response.status is None:
            handler.drop()
        else:
            handler.reply(
                response.status, response.payload, response.headers, reset_after=response.reset_after
            )

    def _answer(self, exchange: _Exchange) -> _Response:
        handler, path = exchange.handler, exchange.path
        if handler.command != "GET":
            raise HttpError(
                405, "method_not_allowed", "the sandbox APIs are read-only: use GET", {"Allow": "GET"}
            )
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/":
            return _json(200, describe())
        api_name, _, rest = path[1:].partition("/")
        # The changing API is state, not an ``Api`` of rows made by index: it has its own branch.
        api = self._apis.get(api_name)
        if api is None and api_name != changing.NAME:
            raise HttpError(
                404, "not_found", f"no API {api_name[:50]!r}; the APIs are {', '.join(APIS)}, {changing.NAME}"
            )
        if self.latency:
            time.sleep(self.latency)
        # Faults come first, as a gateway or rate limiter in front of a real API sends them.
        kinds = changing.FAULT_KINDS if api is None else api.fault_kinds
        fault = exchange.fault = self._injector.decide(
            handler.command, handler.path, retried_kinds(kinds, handler.command)
        )
        if fault is None:
            return self._serve(exchange, api, rest)
        if fault in _BROKEN_ANSWERS:
            # Only a 200's body is broken; an error answer (a wrong key, say) goes out as it is.
            exchange.fault = None
            response = self._serve(exchange, api, rest)
            if response.status != 200:
                return response
            exchange.fault = fault
            self._recorder.count_fault(fault)
            return _broken(response, fault)
        self._recorder.count_fault(fault)
        if fault == "drop":
            return _Response(None)
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
            return self._serve(exchange, api, rest)
        return self._fault(fault)

    def _serve(self, exchange: _Exchange, api: Api | None, rest: str) -> _Response:
        """The API's own answer: auth checked, the page made (or taken from the cache)."""
        handler = exchange.handler
        if api is None:
            auth.check(changing.AUTH, self.credentials[changing.NAME], handler.headers, exchange.query)
            return _json(200, changing.page_body(self.changing, "/" + rest, exchange.query))
        auth.check(api.auth, self.credentials[api.name], handler.headers, exchange.query)
        key = (api.name, rest, _redacted_target("", exchange.query))
        cached = self._pages.get(key)
        if cached is not None:
            return cached
        resource, parents = locate(api, "/" + rest, self.scope)
        return self._pages.put(key, _json(200, page_body(api, resource, parents, exchange.query, self.scope)))

    def _fault(self, kind: str) -> _Response:
        if kind == "html":
            return _Response(200, _PROXY_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        status, code, message = _FAULTS["429" if kind == "429-date" else kind]
        if not code:
            return _Response(status, _GATEWAY_PAGE.format(message).encode(), {"Content-Type": "text/html"})
        headers: dict[str, str] = {}
        if kind == "429":
            headers["Retry-After"] = self.faults.retry_after_header
        elif kind == "429-date":
            headers["Retry-After"] = self.faults.retry_after_date()
        return _json(status, {"error": code, "message": message}, headers)


def _broken(response: _Response, kind: str) -> _Response:
    """``response`` with its body broken as ``kind`` (``reset`` or ``truncated``) says."""
    cut = _middle(response.payload)
    if kind == "reset":
        return dataclasses.replace(response, reset_after=cut)
    return dataclasses.replace(response, payload=response.payload[:cut])


def _middle(payload: bytes) -> int:
    """About half of ``payload``'s length, on a UTF-8 character boundary, at least 1."""
    cut = len(payload) // 2
    while cut > 1 and payload[cut] & 0xC0 == 0x80:  # a continuation byte: the character began earlier
        cut -= 1
    return max(cut, 1)


class _PageCache:
    """Answered pages by request, up to a number of bytes; later pages are not kept once it is full."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._pages: dict[tuple[str, str, str], _Response] = {}

    def get(self, key: tuple[str, str, str]) -> _Response | None:
        return self._pages.get(key) if self.limit else None

    def put(self, key: tuple[str, str, str], response: _Response) -> _Response:
        if self.limit and self.size + len(response.payload) <= self.limit:
            self._pages[key] = response
            self.size += len(response.payload)
        return response


@dataclass(frozen=True)
class _Response:
    status: int | None  # None: drop the connection without answering
    payload: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    # Send the headers (Content-Length of the whole payload) and this many bytes, then reset.
    reset_after: int | None = None


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> _Response:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return _Response(status, payload, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with a session expect
    server_version = "restsync-sandbox"
    timeout = 60  # idle keep-alive connections close eventually
    # Buffer the response and flush it once: headers and body written apart, with Nagle's algorithm on
    # one side and delayed ACKs on the other, stall each response by ~40 ms.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_GET(self) -> None:
        self.server.sandbox._handle(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def reply(
        self, status: int, payload: bytes, headers: Mapping[str, str], *, reset_after: int | None = None
    ) -> None:
        """Answer; with ``reset_after``, send only that many bytes of ``payload`` and reset the connection."""
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload if reset_after is None else payload[:reset_after])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout during a slow fault, say): nothing left to answer.
            self.close_connection = True
            return
        if reset_after is not None:
            self.reset()

    def reset(self) -> None:
        """Abort the connection with a TCP reset (close with SO_LINGER 0) once what was sent arrived.

        The socket is detached and its descriptor closed, so the reset is not preceded by the FIN that
        closing the request normally sends; the server's later shutdown of it is a harmless no-op.
        """
        self.close_connection = True
        with contextlib.suppress(OSError):
            _wait_until_sent(self.connection)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())

    def drop(self) -> None:
        """Close the connection without a response, as a crashing upstream or a flaky network does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        # Access logging goes through SandboxServer(request_logger=...), with secrets removed.
        return


def _wait_until_sent(sock: socket.socket, timeout: float = 1.0) -> None:
    """Wait until the peer acknowledged every byte written to ``sock`` (a reset would discard the rest)."""
    if _TIOCOUTQ is None or fcntl is None:
        time.sleep(0.05)  # no way to ask: give loopback ample time
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (unsent,) = struct.unpack("i", fcntl.ioctl(sock.fileno(), _TIOCOUTQ, b"\0\0\0\0"))
        if unsent == 0:
            return
        time.sleep(0.001)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait for handler threads on close: an idle keep-alive connection would block stop().
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can hang for seconds without DNS.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection, so handler threads end and clients see the server go away."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)
