"""A huge --records costs nothing up front: pages are made on request, from their own index."""

from __future__ import annotations

import time
import tracemalloc

import requests

from airflow_provider_restsync.sandbox import SandboxServer
from airflow_provider_restsync.sandbox.apis import APIS
from airflow_provider_restsync.sandbox.spec import Scope

RECORDS = 5_000_000
MIDDLE = RECORDS // 2


def test_five_million_records_start_instantly_and_serve_a_middle_page_fast_in_little_memory() -> None:
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with SandboxServer(records=RECORDS) as server:
            assert time.perf_counter() - started < 1.0
            fetched = time.perf_counter()
            response = requests.get(
                server.base_url("email_delivery") + "/v1/bounces",
                headers={"api_key": "sandbox-delivery-key"},
                params={"offset": MIDDLE, "limit": 500},
                timeout=10,
            )
            elapsed = time.perf_counter() - fetched
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = response.json()
    assert elapsed < 1.0
    assert peak < 30 * 2**20, f"peak {peak / 2**20:.1f} MiB: were records materialized?"
    assert body["TotalCount"] == RECORDS
    bounces = APIS["email_delivery"].resource("bounces")
    assert body["Bounces"] == list(bounces.rows(Scope(RECORDS, 42), (), MIDDLE, MIDDLE + 500))


def test_the_last_pages_of_five_million_records() -> None:
    with SandboxServer(records=RECORDS) as server:
        started = time.perf_counter()
        last = requests.get(
            server.base_url("communications") + "/v1/resource",
            params={"api_key": "sandbox-comms-key", "offset": str(RECORDS - 40), "limit": "100"},
            timeout=10,
        ).json()
        past = requests.get(
            server.base_url("email_service") + "/v1/messages",
            params={"api_key": "sandbox-service-key", "offset": str(RECORDS), "limit": "100"},
            timeout=10,
        ).json()
        assert time.perf_counter() - started < 1.0
    assert len(last["data"]) == 40
    assert past == {"data": [], "total": RECORDS}


def test_unpaginated_and_nested_resources_stay_capped() -> None:
    with SandboxServer(records=RECORDS) as server:
        items = requests.get(
            server.base_url("mail_testing") + "/v1/messages", auth=("api", "sandbox-mail-key"), timeout=30
        ).json()["items"]
        inbox = requests.get(
            server.base_url("inbox_testing") + "/v1/accounts/148230/inboxes/2307400/messages",
            headers={"Authorization": "Bearer sandbox-inbox-token"},
            timeout=30,
        ).json()["data"]
    assert len(items) == 2000
    assert len(inbox) == 2000
