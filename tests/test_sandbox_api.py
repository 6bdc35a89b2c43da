"""The sandbox over real HTTP: auth, paging, totals, nested paths, and pages equal to expected_records."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from airflow_provider_restsync.sandbox import SANDBOX_CREDENTIALS, SandboxServer, expected_records
from airflow_provider_restsync.sandbox.apis import APIS

RECORDS = 1200  # 001: pages of 500, 500, 200; 002 and 004: twelve full pages of 100
ALL_RESOURCES = [(api.name, resource.name) for api in APIS.values() for resource in api.resources]
ACCOUNT_ID, INBOX_ID, OTHER_ACCOUNTS_INBOX = 148230, 2307400, 2307433


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(records=RECORDS) as server:
        yield server


def get(sandbox: SandboxServer, api: str, path: str, **params: Any) -> requests.Response:
    kwargs = sandbox.client_kwargs(api)
    kwargs["params"] = {**kwargs.get("params", {}), **params}
    return requests.get(sandbox.base_url(api) + path, timeout=10, **kwargs)


def resource_paths(sandbox: SandboxServer, api: str, resource: str) -> Iterator[str]:
    """Concrete paths of a resource, its parents walked parent-first over HTTP, as a client would."""
    template = APIS[api].resource(resource).path
    if "{account_id}" not in template:
        yield template
        return
    for account in get(sandbox, api, "/v1/accounts").json()["data"]:
        account_path = template.replace("{account_id}", str(account["id"]))
        if "{inbox_id}" not in account_path:
            yield account_path
            continue
        for inbox in get(sandbox, api, f"/v1/accounts/{account['id']}/inboxes").json()["data"]:
            yield account_path.replace("{inbox_id}", str(inbox["id"]))


def fetch_all(sandbox: SandboxServer, api_name: str, resource_name: str) -> list[dict[str, Any]]:
    api = APIS[api_name]
    resource = api.resource(resource_name)
    rows: list[dict[str, Any]] = []
    for path in resource_paths(sandbox, api_name, resource_name):
        if api.paging is None:
            rows += get(sandbox, api_name, path).json()[resource.selector]
            continue
        offset, limit = 0, api.paging.max_limit
        while True:
            page = get(sandbox, api_name, path, offset=offset, limit=limit).json()[resource.selector]
            rows += page
            if len(page) < limit:  # stop at the first short page: works with and without a total
                break
            offset += limit
    return rows


# -- health, index, errors ---------------------------------------------------------------------


def test_healthz_answers_without_auth(sandbox: SandboxServer) -> None:
    response = requests.get(sandbox.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_index_lists_every_api_and_resource_and_no_secret(sandbox: SandboxServer) -> None:
    response = requests.get(sandbox.url + "/", timeout=5)
    listed = {api["name"]: [r["name"] for r in api["resources"]] for api in response.json()["apis"]}
    assert listed == {api.name: [r.name for r in api.resources] for api in APIS.values()}
    for credential in SANDBOX_CREDENTIALS.values():
        for key, secret in credential.items():
            if key != "username":
                assert secret not in response.text


def test_unknown_paths_answer_404_json(sandbox: SandboxServer) -> None:
    assert requests.get(sandbox.url + "/no_such_api/v1/x", timeout=5).status_code == 404
    response = get(sandbox, "email_delivery", "/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_only_get_is_allowed(sandbox: SandboxServer) -> None:
    response = requests.post(sandbox.base_url("email_service") + "/v1/bounces", timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


# -- auth --------------------------------------------------------------------------------------

FIRST_PATH = {
    "mail_testing": "/v1/messages",
    "email_delivery": "/v1/bounces",
    "communications": "/v1/resource",
    "inbox_testing": "/v1/accounts",
    "email_service": "/v1/bounces",
}
WRONG = "wrong-secret-value-0123"


def wrong_kwargs(api: str) -> dict[str, Any]:
    credentials = {name: dict(values) for name, values in SANDBOX_CREDENTIALS.items()}
    field = next(key for key in credentials[api] if key != "username")
    credentials[api][field] = WRONG
    from airflow_provider_restsync.sandbox import client_kwargs

    return client_kwargs(api, credentials)


@pytest.mark.parametrize("api", list(APIS))
def test_right_secret_is_accepted(sandbox: SandboxServer, api: str) -> None:
    assert get(sandbox, api, FIRST_PATH[api]).status_code == 200


@pytest.mark.parametrize("api", list(APIS))
def test_missing_secret_is_401_json(sandbox: SandboxServer, api: str) -> None:
    response = requests.get(sandbox.base_url(api) + FIRST_PATH[api], timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("api", list(APIS))
def test_wrong_secret_is_401_and_no_secret_is_echoed(sandbox: SandboxServer, api: str) -> None:
    response = requests.get(sandbox.base_url(api) + FIRST_PATH[api], timeout=5, **wrong_kwargs(api))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert WRONG not in response.text
    secrets = [
        value for values in SANDBOX_CREDENTIALS.values() for key, value in values.items() if key != "username"
    ]
    assert not any(secret in response.text for secret in secrets)


@pytest.mark.parametrize(
    ("api", "misplaced"),
    [
        ("email_delivery", {"params": {"api_key": "sandbox-delivery-key"}}),
        ("communications", {"headers": {"api_key": "sandbox-comms-key"}}),
        ("email_service", {"headers": {"Authorization": "Bearer sandbox-service-key"}}),
        ("inbox_testing", {"params": {"token": "sandbox-inbox-token"}}),
        ("mail_testing", {"auth": ("someone", "sandbox-mail-key")}),
    ],
)
def test_a_secret_in_the_wrong_place_is_401(
    sandbox: SandboxServer, api: str, misplaced: dict[str, Any]
) -> None:
    response = requests.get(sandbox.base_url(api) + FIRST_PATH[api], timeout=5, **misplaced)
    assert response.status_code == 401


def test_basic_and_bearer_401s_carry_a_challenge(sandbox: SandboxServer) -> None:
    basic = requests.get(sandbox.base_url("mail_testing") + "/v1/servers", timeout=5)
    bearer = requests.get(sandbox.base_url("inbox_testing") + "/v1/accounts", timeout=5)
    assert basic.headers["WWW-Authenticate"].startswith("Basic")
    assert bearer.headers["WWW-Authenticate"].startswith("Bearer")


def test_secrets_can_be_replaced() -> None:
    with SandboxServer(records=5, secrets={"email_service": "my-own-service-key"}) as server:
        url = server.base_url("email_service") + "/v1/servers"
        assert requests.get(url, params={"api_key": "my-own-service-key"}, timeout=5).status_code == 200
        assert requests.get(url, params={"api_key": "sandbox-service-key"}, timeout=5).status_code == 401


def test_query_secrets_never_reach_the_request_log(sandbox: SandboxServer) -> None:
    get(sandbox, "communications", "/v1/resource", offset=0, limit=3)
    targets = [entry.target for entry in sandbox.request_log()]
    assert "/communications/v1/resource?offset=0&limit=3" in targets
    assert not any("sandbox-comms-key" in target or "api_key" in target for target in targets)


# -- pages and totals --------------------------------------------------------------------------


@pytest.mark.parametrize(("api", "resource"), ALL_RESOURCES)
def test_all_pages_together_equal_expected_records(sandbox: SandboxServer, api: str, resource: str) -> None:
    served = fetch_all(sandbox, api, resource)
    assert served == list(expected_records(api, resource, records=RECORDS))
    assert served, "every resource serves rows at records=1200"


@pytest.mark.parametrize(
    ("api", "resource", "path"),
    [
        ("email_delivery", "bounces", "/v1/bounces"),
        ("communications", "communications_data", "/v1/resource"),
        ("email_service", "messages", "/v1/messages"),
    ],
)
def test_offset_and_limit_are_honoured(sandbox: SandboxServer, api: str, resource: str, path: str) -> None:
    selector = APIS[api].resource(resource).selector
    expected = list(expected_records(api, resource, records=RECORDS))
    assert get(sandbox, api, path, offset=7, limit=5).json()[selector] == expected[7:12]
    assert get(sandbox, api, path, offset=RECORDS - 3, limit=50).json()[selector] == expected[-3:]
    assert get(sandbox, api, path, offset=RECORDS + 10, limit=50).json()[selector] == []


@pytest.mark.parametrize(
    ("api", "path", "selector", "cap"),
    [
        ("email_delivery", "/v1/messages/outbound", "Messages", 500),
        ("communications", "/v1/resource", "data", 100),
        ("email_service", "/v1/bounces", "data", 100),
    ],
)
def test_limit_is_capped_and_a_missing_limit_is_the_maximum(
    sandbox: SandboxServer, api: str, path: str, selector: str, cap: int
) -> None:
    assert len(get(sandbox, api, path, limit=10_000).json()[selector]) == cap
    assert len(get(sandbox, api, path).json()[selector]) == cap


def test_email_delivery_sends_total_count_first(sandbox: SandboxServer) -> None:
    body = get(sandbox, "email_delivery", "/v1/bounces", offset=1000, limit=500).json()
    assert list(body) == ["TotalCount", "Bounces"]
    assert body["TotalCount"] == RECORDS
    assert len(body["Bounces"]) == RECORDS - 1000
    for path, key in [
        ("/v1/message-streams", "MessageStreams"),
        ("/v1/domains", "Domains"),
        ("/v1/servers", "Servers"),
    ]:
        assert list(get(sandbox, "email_delivery", path).json()) == ["TotalCount", key]


def test_email_delivery_deliverystats_have_no_total_and_no_id(sandbox: SandboxServer) -> None:
    body = get(sandbox, "email_delivery", "/v1/deliverystats").json()
    assert list(body) == ["InactiveMails", "Bounces"]
    assert isinstance(body["InactiveMails"], int)
    assert all(set(row) == {"Name", "Count"} for row in body["Bounces"])
    assert body["Bounces"][0] == {"Name": "All", "Count": RECORDS}


def test_communications_sends_no_total_at_all(sandbox: SandboxServer) -> None:
    full = get(sandbox, "communications", "/v1/resource", offset=0, limit=100).json()
    short = get(sandbox, "communications", "/v1/resource", offset=1150, limit=100).json()
    empty = get(sandbox, "communications", "/v1/resource", offset=1200, limit=100).json()
    assert list(full) == list(short) == list(empty) == ["data"]
    assert (len(full["data"]), len(short["data"]), len(empty["data"])) == (100, 50, 0)


def test_email_service_sends_data_then_total(sandbox: SandboxServer) -> None:
    body = get(sandbox, "email_service", "/v1/messages", offset=100, limit=100).json()
    assert list(body) == ["data", "total"]
    assert body["total"] == RECORDS


@pytest.mark.parametrize("params", [{"offset": -1}, {"limit": 0}, {"limit": "ten"}, {"offset": "1.5"}])
def test_bad_paging_parameters_are_400(sandbox: SandboxServer, params: dict[str, Any]) -> None:
    response = get(sandbox, "email_service", "/v1/bounces", **params)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_unpaginated_apis_send_the_whole_list_and_ignore_offset(sandbox: SandboxServer) -> None:
    body = get(sandbox, "mail_testing", "/v1/messages", offset=5, limit=2).json()
    assert list(body) == ["items"]
    assert len(body["items"]) == RECORDS
    assert len(get(sandbox, "mail_testing", "/v1/servers").json()["items"]) == 5


# -- nested paths of inbox_testing -------------------------------------------------------------


def test_inbox_testing_nested_paths_serve_the_parents_children(sandbox: SandboxServer) -> None:
    inboxes = get(sandbox, "inbox_testing", f"/v1/accounts/{ACCOUNT_ID}/inboxes").json()["data"]
    assert inboxes[0]["id"] == INBOX_ID
    assert all(inbox["account_id"] == ACCOUNT_ID for inbox in inboxes)
    messages = get(sandbox, "inbox_testing", f"/v1/accounts/{ACCOUNT_ID}/inboxes/{INBOX_ID}/messages").json()
    assert len(messages["data"]) == inboxes[0]["emails_count"] > 0
    assert all(message["inbox_id"] == INBOX_ID for message in messages["data"])
    for path in ("billing/usage", "permissions/resources", "sending_domains", "projects"):
        assert get(sandbox, "inbox_testing", f"/v1/accounts/{ACCOUNT_ID}/{path}").json()["data"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/999/inboxes",
        "/v1/accounts/not-a-number/billing/usage",
        f"/v1/accounts/{ACCOUNT_ID}/inboxes/999/messages",
        # An inbox of another account is not this account's.
        f"/v1/accounts/{ACCOUNT_ID}/inboxes/{OTHER_ACCOUNTS_INBOX}/messages",
        f"/v1/accounts/{ACCOUNT_ID}/unknown",
        "/v1/accounts//inboxes",
    ],
)
def test_inbox_testing_unknown_ids_are_404_json(sandbox: SandboxServer, path: str) -> None:
    response = get(sandbox, "inbox_testing", path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# -- determinism -------------------------------------------------------------------------------

SAMPLE = [
    ("email_delivery", "/v1/messages/outbound", {"offset": 500, "limit": 500}),
    ("communications", "/v1/resource", {"offset": 300, "limit": 100}),
    ("mail_testing", "/v1/usage/transactions", {}),
    ("inbox_testing", f"/v1/accounts/{ACCOUNT_ID}/inboxes/{INBOX_ID}/messages", {}),
    ("email_service", "/v1/servers", {}),
]


def test_two_servers_with_the_same_seed_serve_the_same_bytes(sandbox: SandboxServer) -> None:
    with SandboxServer(records=RECORDS, seed=42) as twin, SandboxServer(records=RECORDS, seed=43) as other:
        for api, path, params in SAMPLE:
            ours = get(sandbox, api, path, **params).content
            assert get(twin, api, path, **params).content == ours
            assert get(other, api, path, **params).content != ours


def test_stats_count_requests_per_path() -> None:
    with SandboxServer(records=10) as server:
        for _ in range(3):
            get(server, "email_service", "/v1/domains", offset=0)
        requests.get(server.url + "/healthz", timeout=5)
        stats = server.stats
        assert stats.requests["/email_service/v1/domains"] == 3
        assert stats.requests["/healthz"] == 1
        assert stats.statuses == {200: 4}
        assert stats.total == 4
        server.reset_stats()
        assert server.stats.total == 0


def test_concurrent_clients_each_get_their_own_pages(sandbox: SandboxServer) -> None:
    expected = list(expected_records("email_service", "bounces", records=RECORDS))

    def page(offset: int) -> list[dict[str, Any]]:
        return get(sandbox, "email_service", "/v1/bounces", offset=offset, limit=100).json()["data"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = list(pool.map(page, range(0, RECORDS, 100)))
    assert [row for rows in pages for row in rows] == expected


def test_stop_returns_promptly_while_a_client_keeps_its_connection_open() -> None:
    server = SandboxServer(records=5).start()
    health = server.url + "/healthz"
    with requests.Session() as session:
        assert session.get(health, timeout=5).status_code == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(health, timeout=2)
    server.stop()  # twice is harmless
