"""Fault injection: each kind as a client meets it, the retry that gets through, per-API kinds."""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from airflow_provider_restsync.sandbox import FAULT_KINDS, FaultConfig, SandboxServer, expected_records
from airflow_provider_restsync.sandbox.__main__ import build_parser
from airflow_provider_restsync.sandbox.faults import (
    BODY_FAULT_KINDS,
    DEFAULT_FAULT_KINDS,
    FaultInjector,
    retried_kinds,
)

ALLOWED_EVERYWHERE = frozenset(FAULT_KINDS)
# RFC 9110 section 5.6.7: the IMF-fixdate form of an HTTP date.
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT"
)


def get(server: SandboxServer, api: str, path: str, **params: Any) -> requests.Response:
    kwargs = server.client_kwargs(api)
    kwargs["params"] = {**kwargs.get("params", {}), **params}
    return requests.get(server.base_url(api) + path, timeout=10, **kwargs)


@pytest.fixture
def always(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """A sandbox that faults every request it may, with the kinds the test parameter names."""
    kinds = request.param if isinstance(request.param, tuple) else (request.param,)
    config = FaultConfig(rate=1.0, kinds=kinds, retry_after=2, slow_seconds=0.3)
    with SandboxServer(records=30, faults=config) as server:
        yield server


# -- the injector alone ------------------------------------------------------------------------


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultConfig(rate=1.5)
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultConfig(kinds=("418",))
    assert FaultConfig.parse_kinds(" 429, drop ,") == ("429", "drop")
    assert FaultConfig(retry_after=0.2).retry_after_header == "1"


def test_decisions_depend_only_on_the_request_and_its_history() -> None:
    config = FaultConfig(rate=0.3)
    targets = [f"/email_service/v1/bounces?offset={i}" for i in range(300)] * 3
    one, two = FaultInjector(config), FaultInjector(config)
    assert [one.decide("GET", t, ALLOWED_EVERYWHERE) for t in targets] == [
        two.decide("GET", t, ALLOWED_EVERYWHERE) for t in targets
    ]
    other_seed = FaultInjector(FaultConfig(rate=0.3, seed=8))
    assert [other_seed.decide("GET", t, ALLOWED_EVERYWHERE) for t in targets] != [
        FaultInjector(config).decide("GET", t, ALLOWED_EVERYWHERE) for t in targets
    ]


@pytest.mark.parametrize("kinds", [DEFAULT_FAULT_KINDS, FAULT_KINDS])
def test_the_rate_is_roughly_honoured(kinds: tuple[str, ...]) -> None:
    injector = FaultInjector(FaultConfig(rate=0.05, kinds=kinds))
    faults = [injector.decide("GET", f"/x?offset={i}", ALLOWED_EVERYWHERE) for i in range(4000)]
    share = sum(fault is not None for fault in faults) / len(faults)
    assert 0.035 < share < 0.065
    assert set(faults) - {None} == set(kinds)


def test_body_faults_and_429_dates_are_injected_only_when_asked_for() -> None:
    assert FaultConfig().kinds == DEFAULT_FAULT_KINDS
    assert not set(DEFAULT_FAULT_KINDS) & {"429-date", *BODY_FAULT_KINDS}
    assert set(FAULT_KINDS) == {*DEFAULT_FAULT_KINDS, "429-date", *BODY_FAULT_KINDS}
    assert FaultConfig.parse_kinds("all") == FAULT_KINDS
    named = ("429-date", "reset", "truncated", "html")
    assert FaultConfig.parse_kinds("429-date,reset, truncated,html") == named
    assert FaultConfig.parse_kinds(build_parser().parse_args([]).fault_kinds) == DEFAULT_FAULT_KINDS


def test_a_429_date_goes_where_429_goes_and_body_faults_go_to_every_get() -> None:
    inbox = frozenset({"429", "drop", "slow"})
    assert retried_kinds(inbox, "GET") == inbox | {"429-date", "reset", "truncated", "html"}
    assert retried_kinds(inbox, "POST") == inbox | {"429-date"}
    no_429 = frozenset({"503", "drop"})
    assert retried_kinds(no_429, "GET") == no_429 | set(BODY_FAULT_KINDS)
    assert retried_kinds(no_429, "HEAD") == no_429  # no body to break
    injector = FaultInjector(FaultConfig(rate=1.0, kinds=("429-date", "truncated")))
    assert injector.decide("POST", "/search", retried_kinds(no_429, "POST")) is None


def test_a_429_date_is_an_imf_fixdate_retry_after_seconds_ahead_rounded_up() -> None:
    now = 1_767_225_600.25  # 2026-01-01T00:00:00.25Z
    assert FaultConfig(retry_after=1).retry_after_date(now) == "Thu, 01 Jan 2026 00:00:02 GMT"
    assert FaultConfig(retry_after=0).retry_after_date(now) == "Thu, 01 Jan 2026 00:00:01 GMT"
    assert FaultConfig(retry_after=0).retry_after_date(1_767_225_600.0) == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert IMF_FIXDATE.fullmatch(FaultConfig().retry_after_date())


@pytest.mark.parametrize("max_consecutive", [1, 2, 3])
def test_a_request_never_faults_more_than_max_consecutive_times_in_a_row(max_consecutive: int) -> None:
    injector = FaultInjector(FaultConfig(rate=1.0, max_consecutive=max_consecutive))
    decisions = [
        injector.decide("GET", "/same", ALLOWED_EVERYWHERE) for _ in range(4 * (max_consecutive + 1))
    ]
    expected = ([True] * max_consecutive + [False]) * 4
    assert [decision is not None for decision in decisions] == expected


def test_kinds_a_client_does_not_retry_are_never_injected() -> None:
    injector = FaultInjector(FaultConfig(rate=1.0, kinds=("500", "503")))
    assert injector.decide("GET", "/inbox", frozenset({"429", "drop", "slow"})) is None


# -- each kind over HTTP: the first request faults, its immediate retry gets through -----------


@pytest.mark.parametrize("always", ["429", "500", "503"], indirect=True)
def test_json_status_faults_then_success(always: SandboxServer) -> None:
    kind = always.faults.kinds[0]
    first = get(always, "email_service", "/v1/bounces", offset=0, limit=10)
    assert first.status_code == int(kind)
    assert first.json()["error"]
    if kind == "429":
        assert first.headers["Retry-After"] == "2"
    retry = get(always, "email_service", "/v1/bounces", offset=0, limit=10)
    assert retry.status_code == 200
    assert retry.json()["data"] == list(expected_records("email_service", "bounces", records=30))[:10]
    assert always.stats.faults == {kind: 1}


@pytest.mark.parametrize("always", ["502", "504"], indirect=True)
def test_gateway_faults_answer_in_html_then_success(always: SandboxServer) -> None:
    first = get(always, "communications", "/v1/resource")
    assert first.status_code == int(always.faults.kinds[0])
    assert first.headers["Content-Type"].startswith("text/html")
    assert get(always, "communications", "/v1/resource").status_code == 200


@pytest.mark.parametrize("always", ["drop"], indirect=True)
def test_a_dropped_connection_then_success(always: SandboxServer) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        get(always, "email_delivery", "/v1/servers")
    assert get(always, "email_delivery", "/v1/servers").status_code == 200
    assert always.stats.faults == {"drop": 1}
    assert [entry.status for entry in always.request_log()] == [None, 200]


@pytest.mark.parametrize("always", ["slow"], indirect=True)
def test_a_slow_response_is_late_but_correct(always: SandboxServer) -> None:
    started = time.monotonic()
    slow = get(always, "mail_testing", "/v1/servers")
    assert time.monotonic() - started >= 0.3
    assert slow.status_code == 200
    assert slow.json()["items"] == list(expected_records("mail_testing", "servers", records=30))


def test_a_slow_fault_is_counted_before_its_wait() -> None:
    """A client that gave up on a slow answer finds it in the stats already, while the answer still waits."""
    with SandboxServer(records=30, faults=FaultConfig(rate=1.0, kinds=("slow",), slow_seconds=30)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        query = urlencode({**server.client_kwargs("email_service")["params"], "limit": 10})
        connection.request("GET", f"/email_service/v1/bounces?{query}")
        with pytest.raises(TimeoutError):
            connection.getresponse()
        connection.close()
        assert server.stats.faults == {"slow": 1}
        assert server.request_log() == []  # not answered yet


@pytest.mark.parametrize("always", [("500", "502", "503", "504")], indirect=True)
def test_inbox_testing_gets_no_status_fault_its_document_does_not_retry(always: SandboxServer) -> None:
    assert get(always, "inbox_testing", "/v1/accounts").status_code == 200
    assert get(always, "email_service", "/v1/domains").status_code >= 500


@pytest.mark.parametrize("always", [("429", "500")], indirect=True)
def test_inbox_testing_gets_429(always: SandboxServer) -> None:
    assert [get(always, "inbox_testing", "/v1/accounts").status_code for _ in range(2)] == [429, 200]


@pytest.mark.parametrize("always", ["429"], indirect=True)
def test_health_checks_never_fault(always: SandboxServer) -> None:
    assert all(requests.get(always.url + "/healthz", timeout=5).status_code == 200 for _ in range(3))


# -- the 429 with a date and the body faults, read with a plain HTTP client ------------------


@dataclass(frozen=True)
class RawAnswer:
    """A response as the bytes arrived: how the connection ended, not what a client library made of it."""

    status: int  # 0: no answer at all
    headers: dict[str, str]  # names lower-cased
    body: bytes
    ended_by: str  # "complete" (Content-Length bytes read), "eof" or "reset"


def raw_get(server: SandboxServer, api: str, path: str, **params: Any) -> RawAnswer:
    """One GET on a fresh TCP connection, its answer read with recv() until Content-Length, EOF or reset."""
    kwargs = server.client_kwargs(api)
    query = urlencode({**kwargs.get("params", {}), **params})
    header_lines = "".join(f"{name}: {value}\r\n" for name, value in kwargs.get("headers", {}).items())
    target = f"/{api}{path}" + (f"?{query}" if query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header_lines}Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode())
        received = b""
        ended_by = "eof"
        while True:
            head, sep, body = received.partition(b"\r\n\r\n")
            length = parse_head(head)[1].get("content-length") if sep else None
            if length is not None and len(body) >= int(length):
                ended_by = "complete"
                break
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                ended_by = "reset"
                break
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    return RawAnswer(status, headers, body, ended_by)


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and headers; status 0 when nothing was answered."""
    if not head:
        return 0, {}
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def http_get(server: SandboxServer, api: str, path: str, **params: Any) -> tuple[int, dict[str, str], bytes]:
    """One GET through http.client: status, headers (names lower-cased) and the whole body."""
    kwargs = server.client_kwargs(api)
    query = urlencode({**kwargs.get("params", {}), **params})
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", f"/{api}{path}?{query}", headers=kwargs.get("headers", {}))
        response = connection.getresponse()
        body = response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, body
    finally:
        connection.close()


BOUNCES = ("email_service", "/v1/bounces")


def bounces_page(records: int = 30) -> list[dict[str, Any]]:
    return list(expected_records("email_service", "bounces", records=records))[:10]


@pytest.mark.parametrize("always", ["429-date"], indirect=True)
def test_a_429_with_an_http_date_then_success(always: SandboxServer) -> None:
    status, headers, body = http_get(always, *BOUNCES, offset=0, limit=10)
    assert status == 429
    assert json.loads(body)["error"] == "rate_limited"
    retry_after = headers["retry-after"]
    assert IMF_FIXDATE.fullmatch(retry_after), retry_after
    # retry_after=2: the date is two seconds (rounded up) after the moment the fault was decided, which
    # comes before the Date header is stamped: ahead of the Date by at most 3 s, never behind it.
    ahead = email.utils.parsedate_to_datetime(retry_after) - email.utils.parsedate_to_datetime(
        headers["date"]
    )
    assert 0 <= ahead.total_seconds() <= 3
    status, _, body = http_get(always, *BOUNCES, offset=0, limit=10)
    assert status == 200
    assert json.loads(body)["data"] == bounces_page()
    assert always.stats.faults == {"429-date": 1}
    assert [entry.status for entry in always.request_log()] == [429, 200]


@pytest.mark.parametrize("always", ["reset"], indirect=True)
def test_a_reset_sends_the_headers_and_part_of_the_body_then_resets_the_connection(
    always: SandboxServer,
) -> None:
    broken = raw_get(always, *BOUNCES, offset=0, limit=10)
    assert broken.status == 200
    assert broken.headers["content-type"].startswith("application/json")
    assert broken.ended_by == "reset"  # a TCP reset, not an orderly close
    whole = raw_get(always, *BOUNCES, offset=0, limit=10)
    assert whole.ended_by == "complete"
    assert json.loads(whole.body)["data"] == bounces_page()
    # The broken answer promised the whole page and delivered its first half.
    assert int(broken.headers["content-length"]) == len(whole.body)
    assert 0 < len(broken.body) < len(whole.body)
    assert whole.body.startswith(broken.body)
    assert always.stats.faults == {"reset": 1}
    assert [(entry.status, entry.fault) for entry in always.request_log()] == [(200, "reset"), (200, None)]


@pytest.mark.parametrize("always", ["reset"], indirect=True)
def test_http_client_meets_a_reset_mid_body_as_a_connection_reset(always: SandboxServer) -> None:
    with pytest.raises(ConnectionResetError):
        http_get(always, *BOUNCES, offset=0, limit=10)
    assert http_get(always, *BOUNCES, offset=0, limit=10)[0] == 200


@pytest.mark.parametrize("always", ["truncated"], indirect=True)
def test_a_truncated_body_is_complete_for_http_and_broken_for_json(always: SandboxServer) -> None:
    status, headers, cut = http_get(always, *BOUNCES, offset=0, limit=10)
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert int(headers["content-length"]) == len(cut)  # only the JSON parser can notice
    cut.decode("utf-8")  # cut between characters, not inside one
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut)
    status, _, whole = http_get(always, *BOUNCES, offset=0, limit=10)
    assert status == 200
    assert json.loads(whole)["data"] == bounces_page()
    assert whole.startswith(cut) and len(whole) // 2 - 4 <= len(cut) <= len(whole) // 2
    assert always.stats.faults == {"truncated": 1}


def test_a_truncated_body_is_cut_on_a_character_boundary() -> None:
    from airflow_provider_restsync.sandbox.server import _middle

    text = '{"name":"\u00e9\u00e9\u00e9\u00e9\u00e9"}'.encode()  # two bytes per é
    for end in range(2, len(text) + 1):
        payload = text[:end]
        cut = _middle(payload)
        assert 1 <= cut <= end // 2
        payload[:cut].decode("utf-8")


@pytest.mark.parametrize("always", ["html"], indirect=True)
def test_an_html_page_with_status_200_then_success(always: SandboxServer) -> None:
    status, headers, page = http_get(always, *BOUNCES, offset=0, limit=10)
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert page.lstrip().lower().startswith(b"<!doctype html>")
    with pytest.raises(json.JSONDecodeError):
        json.loads(page)
    status, headers, body = http_get(always, *BOUNCES, offset=0, limit=10)
    assert (status, headers["content-type"]) == (200, "application/json; charset=utf-8")
    assert json.loads(body)["data"] == bounces_page()
    assert always.stats.faults == {"html": 1}


@pytest.mark.parametrize("always", [("reset", "truncated")], indirect=True)
def test_body_faults_break_only_a_200_answer(always: SandboxServer) -> None:
    for _ in range(2):
        refused = raw_get(always, *BOUNCES, offset=0, limit=10, api_key="not-the-key")
        assert (refused.status, refused.ended_by) == (401, "complete")
        assert json.loads(refused.body)["error"]
    assert always.stats.faults == {}
    assert [(entry.status, entry.fault) for entry in always.request_log()] == [(401, None)] * 2


@pytest.mark.parametrize("always", [("429-date", "reset", "truncated", "html", "502")], indirect=True)
def test_inbox_testing_and_changing_get_429_dates_and_body_faults(always: SandboxServer) -> None:
    """Both retry 429 and, as every GET client does, a broken body; neither gets a 502 it does not retry."""
    for api, path in (("inbox_testing", "/v1/accounts"), ("changing", "/v1/items")):
        seen = []
        for offset in range(40):
            answer = raw_get(always, api, path, offset=offset)
            seen.append(answer.status if answer.ended_by == "complete" else answer.ended_by)
        # Every request faults once before its retry is answered: each first one is a fault here.
        assert 502 not in seen
        assert set(always.stats.faults) == {"429-date", "reset", "truncated", "html"}, api
        always.reset_stats()


def test_stats_count_each_injected_fault_by_kind_as_the_client_met_it() -> None:
    config = FaultConfig(rate=0.5, kinds=FAULT_KINDS, retry_after=0, slow_seconds=0.01, seed=3)
    met: dict[str, int] = {}
    with SandboxServer(records=300, faults=config) as server:
        for offset in range(0, 300, 2):
            for _ in range(2):  # never two faults in a row: the second attempt at the latest is the page
                answer = raw_get(server, *BOUNCES, offset=offset, limit=2)
                kind = met_as(answer)
                if kind is None:
                    break
                met[kind] = met.get(kind, 0) + 1
            assert kind is None and len(json.loads(answer.body)["data"]) == 2
        faults = server.stats.faults
    slow = faults.pop("slow", 0)  # a slow answer is a correct one: the client cannot tell
    assert faults == met
    assert set(met) == set(FAULT_KINDS) - {"slow"} and slow > 0


def met_as(answer: RawAnswer) -> str | None:
    """The fault kind a plain HTTP client saw in ``answer``, or None for a good page."""
    if answer.status == 0:
        return "drop"
    if answer.ended_by != "complete":
        return "reset" if (answer.status, answer.ended_by) == (200, "reset") else f"? {answer}"
    if answer.status == 429:
        return "429-date" if IMF_FIXDATE.fullmatch(answer.headers["retry-after"]) else "429"
    if answer.status != 200:
        return str(answer.status)
    if answer.headers["content-type"].startswith("text/html"):
        return "html"
    try:
        json.loads(answer.body)
    except ValueError:
        return "truncated"
    return None


# -- a retrying client ends with exactly the data --------------------------------------------


def retrying_session() -> requests.Session:
    retry = Retry(
        total=3,
        connect=3,
        read=3,
        status=3,
        backoff_factor=0,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        raise_on_status=True,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


def test_a_client_with_retries_reads_every_page_despite_faults() -> None:
    config = FaultConfig(rate=0.3, retry_after=0, slow_seconds=0.01)
    with SandboxServer(records=700, faults=config) as server, retrying_session() as session:
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            response = session.get(
                server.base_url("email_service") + "/v1/messages",
                params={"api_key": "sandbox-service-key", "offset": str(offset), "limit": "100"},
                timeout=10,
            )
            page = response.json()["data"]
            rows += page
            if len(page) < 100:
                break
            offset += 100
        assert rows == list(expected_records("email_service", "messages", records=700))
        assert sum(server.stats.faults.values()) > 0
