"""The changing API over real HTTP: paging, the updated_at window, changes between requests, auth, latency."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_restsync.sandbox import SANDBOX_CREDENTIALS, ChangingItems, FaultConfig, SandboxServer
from airflow_provider_restsync.sandbox.__main__ import main

ITEMS = 250
ITEMS_PATH = "/changing/v1/items"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(changing_items=ITEMS) as server:
        yield server


def get(sandbox: SandboxServer, **params: Any) -> requests.Response:
    return requests.get(
        sandbox.base_url("changing") + "/v1/items",
        params=params,
        timeout=10,
        **sandbox.client_kwargs("changing"),
    )


def fetch_all(sandbox: SandboxServer, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
    """Every matching record, page by page until a short page, as an offset paginator reads them."""
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = get(sandbox, offset=offset, limit=limit, **params)
        assert response.status_code == 200, response.text
        page = response.json()["data"]
        rows += page
        if len(page) < limit:
            return rows
        offset += limit


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


# -- paging ------------------------------------------------------------------------------------


def test_pages_follow_offset_and_limit_and_carry_the_total(sandbox: SandboxServer) -> None:
    first = get(sandbox, offset=0, limit=100).json()
    assert ids(first["data"]) == list(range(1, 101))
    assert first["total"] == ITEMS
    last = get(sandbox, offset=200, limit=100).json()
    assert ids(last["data"]) == list(range(201, 251))
    assert last["total"] == ITEMS
    assert get(sandbox, offset=300, limit=100).json() == {"data": [], "total": ITEMS}


def test_a_missing_limit_is_500_and_a_bigger_one_is_capped(sandbox: SandboxServer) -> None:
    sandbox.changing.add(350)
    assert len(get(sandbox).json()["data"]) == 500
    capped = get(sandbox, limit=1000).json()
    assert len(capped["data"]) == 500
    assert capped["total"] == 600


def test_records_start_at_version_1_one_step_apart(sandbox: SandboxServer) -> None:
    rows = fetch_all(sandbox)
    assert rows[0]["updated_at"] == "2024-01-01T00:00:00Z"
    assert rows[-1]["updated_at"] == "2024-01-01T04:09:00Z"  # 249 steps of 60 s
    assert {row["version"] for row in rows} == {1}
    assert set(rows[0]) == {"id", "name", "status", "version", "updated_at"}
    assert ChangingItems(5, seed=1).records() == ChangingItems(5, seed=1).records()
    assert ChangingItems(5, seed=1).records() != ChangingItems(5, seed=2).records()


def test_records_equal_what_paging_through_everything_returns(sandbox: SandboxServer) -> None:
    sandbox.changing.add(7)
    sandbox.changing.change([4, 100, 256])
    rows = fetch_all(sandbox, limit=33)
    assert len(rows) == len(sandbox.changing) == ITEMS + 7
    assert sorted(rows, key=lambda row: row["id"]) == sandbox.changing.records()


# -- the updated_at window ---------------------------------------------------------------------


def test_updated_since_is_inclusive_and_updated_until_exclusive(sandbox: SandboxServer) -> None:
    body = get(sandbox, updated_since="2024-01-01T00:10:00Z", updated_until="2024-01-01T00:20:00Z").json()
    assert ids(body["data"]) == list(range(11, 21))
    assert body["total"] == 10


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("2024-01-01T00:10:00+00:00", "2024-01-01T00:12:00+00:00", [11, 12]),
        ("2024-01-01T01:10:00+01:00", None, list(range(11, 251))),
        (None, "2024-01-01T00:02:30Z", [1, 2, 3]),
        (None, "2024-01-02", list(range(1, 251))),
        ("2024-01-02", None, []),
        ("", "", list(range(1, 251))),
    ],
)
def test_the_window_reads_offsets_and_plain_dates(
    sandbox: SandboxServer, since: str | None, until: str | None, expected: list[int]
) -> None:
    params = {
        name: value
        for name, value in (("updated_since", since), ("updated_until", until))
        if value is not None
    }
    assert ids(fetch_all(sandbox, **params)) == expected


# -- changes between requests ------------------------------------------------------------------


def test_added_and_changed_records_move_to_the_end_of_the_order(sandbox: SandboxServer) -> None:
    before = {row["id"]: row for row in fetch_all(sandbox)}
    cursor = max(row["updated_at"] for row in before.values())
    assert sandbox.changing.add(5) == [251, 252, 253, 254, 255]
    assert sandbox.changing.change([7, 3]) == [7, 3]

    rows = fetch_all(sandbox, limit=50)
    unchanged = [i for i in range(1, 251) if i not in (3, 7)]
    assert ids(rows) == [*unchanged, 251, 252, 253, 254, 255, 7, 3]
    changed = {row["id"]: row for row in rows if row["id"] in (3, 7)}
    for item_id, row in changed.items():
        assert row["version"] == 2
        assert row["status"] != before[item_id]["status"]
        assert row["name"] == before[item_id]["name"]
    # An incremental run from the last cursor sees the tie at the cursor, then every new or changed record.
    assert ids(fetch_all(sandbox, updated_since=cursor)) == [250, 251, 252, 253, 254, 255, 7, 3]


def test_every_mutation_stamps_after_every_stamp_in_the_store(sandbox: SandboxServer) -> None:
    store = sandbox.changing
    assert store.change(count=3) == [1, 2, 3]
    store.add(2)
    store.set_updated_at(10, "2030-06-01T12:00:00Z")
    store.change([1])
    by_id = {row["id"]: row for row in store.records()}
    assert [by_id[i]["updated_at"] for i in (2, 3, 251, 252)] == [
        "2024-01-01T04:11:00Z",
        "2024-01-01T04:12:00Z",
        "2024-01-01T04:13:00Z",
        "2024-01-01T04:14:00Z",
    ]
    assert by_id[10]["updated_at"] == "2030-06-01T12:00:00Z"
    assert by_id[1]["updated_at"] == "2030-06-01T12:01:00Z"
    assert by_id[1]["version"] == 3
    ordered = fetch_all(sandbox)
    stamps = [row["updated_at"] for row in ordered]
    assert stamps == sorted(stamps)
    assert ids(ordered)[-2:] == [10, 1]


def test_set_updated_at_makes_ties_that_order_by_id(sandbox: SandboxServer) -> None:
    sandbox.changing.set_updated_at(9, "2024-01-01T00:00:00+00:00")
    body = get(sandbox, updated_until="2024-01-01T00:01:00Z").json()
    assert ids(body["data"]) == [1, 9]
    assert body["total"] == 2


def test_store_mistakes_raise_and_change_nothing() -> None:
    store = ChangingItems(3)
    with pytest.raises(KeyError, match="999"):
        store.change([2, 999])
    assert {row["version"] for row in store.records()} == {1}
    with pytest.raises(ValueError, match="not both"):
        store.change([1], count=1)
    with pytest.raises(ValueError, match="ISO-8601"):
        store.set_updated_at(1, "last tuesday")
    with pytest.raises(ValueError):
        ChangingItems(step_seconds=0)


def test_reset_starts_over_with_the_clock_back_at_start() -> None:
    store = ChangingItems(2)
    store.change()
    store.add(4)
    store.reset(2)
    assert store.records() == ChangingItems(2).records()
    assert len(store) == 2


# -- auth and errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-value-123"}, {"Authorization": "Basic c2FuZGJveDpzZWNyZXQ="}],
)
def test_a_missing_or_wrong_token_is_401(sandbox: SandboxServer, headers: dict[str, str]) -> None:
    response = requests.get(sandbox.base_url("changing") + "/v1/items", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert SANDBOX_CREDENTIALS["changing"]["token"] not in response.text


def test_the_token_is_the_sandbox_credential_or_its_override() -> None:
    token = SANDBOX_CREDENTIALS["changing"]["token"]
    with SandboxServer(changing_items=1, secrets={"changing": "override-token-456"}) as server:
        url = server.base_url("changing") + "/v1/items"
        assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 401
        assert server.client_kwargs("changing") == {"headers": {"Authorization": "Bearer override-token-456"}}
        assert requests.get(url, timeout=5, **server.client_kwargs("changing")).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"updated_since": "yesterday"},
        {"updated_until": "2024-13-01T00:00:00Z"},
        {"updated_since": "2024-01-01T25:00:00Z"},
        {"limit": "0"},
        {"limit": "ten"},
        {"offset": "-1"},
    ],
)
def test_bad_parameters_are_400(sandbox: SandboxServer, params: dict[str, str]) -> None:
    response = get(sandbox, **params)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_other_paths_under_the_prefix_are_404(sandbox: SandboxServer) -> None:
    response = requests.get(
        sandbox.url + "/changing/v1/other", timeout=5, **sandbox.client_kwargs("changing")
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# -- latency, faults, stats --------------------------------------------------------------------


def test_latency_delays_every_api_request_but_not_healthz() -> None:
    latency = 0.5
    with SandboxServer(changing_items=1, latency=latency) as server:
        started = time.perf_counter()
        assert get(server).status_code == 200
        assert time.perf_counter() - started >= latency
        started = time.perf_counter()
        reference = requests.get(
            server.base_url("email_service") + "/v1/servers",
            timeout=10,
            **server.client_kwargs("email_service"),
        )
        assert reference.status_code == 200
        assert time.perf_counter() - started >= latency
        started = time.perf_counter()
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        assert time.perf_counter() - started < latency


def test_latency_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="latency"):
        SandboxServer(latency=-0.1)


def test_requests_are_counted_under_the_items_path(sandbox: SandboxServer) -> None:
    fetch_all(sandbox, limit=100)  # three pages
    requests.get(sandbox.base_url("changing") + "/v1/items", timeout=5)  # a 401 counts too
    stats = sandbox.stats
    assert stats.requests[ITEMS_PATH] == 4
    assert stats.statuses == {200: 3, 401: 1}
    assert [entry.status for entry in sandbox.request_log()] == [200, 200, 200, 401]


def test_faults_hit_the_changing_api_and_a_retry_gets_through() -> None:
    faults = FaultConfig(rate=1.0, kinds=("503",), max_consecutive=1)
    with SandboxServer(changing_items=3, faults=faults) as server:
        assert get(server).status_code == 503
        assert ids(get(server).json()["data"]) == [1, 2, 3]
        assert server.stats.faults == {"503": 1}


def test_gateway_faults_are_not_sent_to_the_changing_api() -> None:
    with SandboxServer(changing_items=3, faults=FaultConfig(rate=1.0, kinds=("502", "504"))) as server:
        assert get(server).status_code == 200
        assert server.stats.faults == {}


# -- the command -------------------------------------------------------------------------------


def test_the_command_documents_its_changing_and_latency_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--changing-items N" in out
    assert "--latency SECONDS" in out
    assert "/changing/v1/items" in out


@pytest.mark.parametrize("argv", [["--latency", "-1"], ["--changing-items", "-3"]])
def test_bad_changing_and_latency_flags_exit_with_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", *argv])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
