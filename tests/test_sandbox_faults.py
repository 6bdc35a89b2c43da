"""Fault injection: each kind as a client meets it, the retry that gets through, per-API kinds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from airflow_provider_restsync.sandbox import FAULT_KINDS, FaultConfig, SandboxServer, expected_records
from airflow_provider_restsync.sandbox.faults import FaultInjector

ALLOWED_EVERYWHERE = frozenset(FAULT_KINDS)


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


def test_the_rate_is_roughly_honoured() -> None:
    injector = FaultInjector(FaultConfig(rate=0.05))
    faults = [injector.decide("GET", f"/x?offset={i}", ALLOWED_EVERYWHERE) for i in range(4000)]
    share = sum(fault is not None for fault in faults) / len(faults)
    assert 0.035 < share < 0.065
    assert set(faults) - {None} == set(FAULT_KINDS)


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
