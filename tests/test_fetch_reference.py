"""The five reference configs, as written, against a loopback API that behaves as their documents say."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.fetch import iter_pages
from tests.support import api_client
from tests.support.api_client import ServerFactory, SessionApiClient, record_ids
from tests.support.http import Request, Response
from tests.support.reference_configs import REFERENCE_CONFIGS, reference_config

api, loopback = api_client.api, api_client.loopback

KEY = "k3y-v4lue-123"


def rows(prefix: str, count: int, key: str = "id", **fields: Any) -> list[dict[str, Any]]:
    return [{key: f"{prefix}-{n}", **fields} for n in range(count)]


class ReferenceApi:
    """Serves one reference API: its auth, its data selector, offset paging where the document has it."""

    def __init__(
        self,
        routes: dict[str, tuple[str, list[dict[str, Any]]]],
        authorized: Callable[[Request], bool],
        *,
        extra: dict[str, Any] | None = None,
        children: Callable[[str], list[dict[str, Any]] | None] | None = None,
    ) -> None:
        self.routes = routes
        self.authorized = authorized
        self.extra = extra or {}
        self.children = children

    def __call__(self, request: Request) -> Response:
        if not self.authorized(request):
            return Response(401, {"error": "unauthorized"})
        if request.path in self.routes:
            selector, data = self.routes[request.path]
        elif self.children is not None and (found := self.children(request.path)) is not None:
            selector, data = "data", found
        else:
            return Response(404, {"error": "not found"})
        if request.param("limit") is not None:
            offset, limit = int(request.param("offset") or 0), int(request.param("limit") or 0)
            data = data[offset : offset + limit]
        return Response(200, {**self.extra, selector: data})


def _basic(request: Request) -> bool:
    return request.headers.get("authorization") == "Basic " + base64.b64encode(f"api:{KEY}".encode()).decode()


MAIL_TESTING = ReferenceApi(
    {
        "/v1/messages": ("items", rows("msg", 7, subject="hi", to=[{"email": "a@x"}], cc=None)),
        "/v1/servers": ("items", rows("srv", 3, users=["u1"])),
        "/v1/usage/transactions": ("items", rows("2024-01-0", 4, key="timestamp", email=1)),
    },
    _basic,
)

EMAIL_DELIVERY = ReferenceApi(
    {
        "/v1/deliverystats": ("Bounces", [{"Name": f"type-{n}", "Count": n} for n in range(6)]),
        "/v1/message-streams": ("MessageStreams", rows("stream", 3, key="ID")),
        "/v1/domains": ("Domains", rows("dom", 2, key="ID")),
        "/v1/messages/outbound": ("Messages", rows("m", 1200, key="MessageID", Metadata={"a": "b"})),
        "/v1/bounces": ("Bounces", rows("b", 1000, key="ID")),
        "/v1/servers": ("Servers", rows("s", 2, key="ID")),
    },
    lambda request: request.headers.get("api_key") == KEY,
    extra={"TotalCount": "unused by the config"},
)

COMMUNICATIONS = ReferenceApi(
    {"/v1/resource": ("data", rows("c", 250, customer_id=7))},
    lambda request: request.param("api_key") == KEY,
)

EMAIL_SERVICE = ReferenceApi(
    {
        "/v1/bounces": ("data", []),
        "/v1/messages": ("data", rows("m", 100)),
        "/v1/deliverystats": ("data", rows("d", 150)),
        "/v1/servers": ("data", rows("s", 1)),
        "/v1/domains": ("data", rows("dom", 305)),
    },
    lambda request: request.param("api_key") == KEY,
)

ACCOUNTS = rows("acct", 3)
CHILD_PATH = re.compile(
    r"/v1/accounts/([^/]+)/(billing/usage|permissions/resources|sending_domains|inboxes|projects)"
)
MESSAGES_PATH = re.compile(r"/v1/accounts/([^/]+)/inboxes/([^/]+)/messages")


def _inbox_children(path: str) -> list[dict[str, Any]] | None:
    if match := MESSAGES_PATH.fullmatch(path):
        account, inbox = match.groups()
        return rows(f"{inbox}-msg", 2) if inbox.startswith(account) else None
    if match := CHILD_PATH.fullmatch(path):
        account, kind = match.groups()
        return rows(f"{account}-{kind.split('/')[-1]}", 2)
    return None


INBOX_TESTING = ReferenceApi(
    {"/v1/accounts": ("data", ACCOUNTS)},
    lambda request: request.headers.get("authorization") == f"Bearer {KEY}",
    children=_inbox_children,
)

SERVERS = {
    "mail_testing": (
        MAIL_TESTING,
        {"Authorization": "Basic " + base64.b64encode(f"api:{KEY}".encode()).decode()},
        {},
    ),
    "email_delivery": (EMAIL_DELIVERY, {"api_key": KEY}, {}),
    "communications": (COMMUNICATIONS, {}, {"api_key": KEY}),
    "inbox_testing": (INBOX_TESTING, {"Authorization": f"Bearer {KEY}"}, {}),
    "email_service": (EMAIL_SERVICE, {}, {"api_key": KEY}),
}


def expected(name: str, resource: str) -> tuple[list[Any], int]:
    """The records a resource must yield (their keys) and the requests it should take."""
    reference = SERVERS[name][0]
    config = load_source(REFERENCE_CONFIGS[name])
    endpoint = config.resource(resource).endpoint
    if name == "inbox_testing":
        return _expected_inbox(resource)
    _selector, data = reference.routes[str(endpoint.path)]
    keys = [next(iter(row.values())) for row in data]
    if endpoint.paginator.kind != "offset":
        return keys, 1
    limit = endpoint.paginator.settings["limit"]
    return keys, len(data) // limit + 1  # no total in these APIs: the short (or empty) page ends paging


def _expected_inbox(resource: str) -> tuple[list[Any], int]:
    accounts = [row["id"] for row in ACCOUNTS]
    if resource == "accounts":
        return accounts, 1
    kind = {"billing_usage": "usage", "resources": "resources"}.get(resource, resource)
    if resource != "messages":
        return [f"{account}-{kind}-{n}" for account in accounts for n in range(2)], 1 + len(accounts)
    inboxes = [f"{account}-inboxes-{n}" for account in accounts for n in range(2)]
    return [f"{inbox}-msg-{n}" for inbox in inboxes for n in range(2)], 1 + len(accounts) + len(inboxes)


CASES = [
    (name, resource["name"]) for name, config in REFERENCE_CONFIGS.items() for resource in config["resources"]
]


@pytest.mark.parametrize(("name", "resource"), CASES, ids=[f"{name}.{resource}" for name, resource in CASES])
def test_reference_resource_yields_its_records(name: str, resource: str, api: ServerFactory) -> None:
    handler, headers, params = SERVERS[name]
    with api(handler) as server:
        client = SessionApiClient(server.url, headers=headers, params=params, secret_values=[KEY])
        source = load_source(reference_config(name, server.url))
        pages = list(iter_pages(client, source, resource))
        keys, requests_expected = expected(name, resource)
        primary = source.resource(resource).primary_key[0]
        found = [next(iter(record.values())) for page in pages for record in page.records]
        assert found == keys
        assert len(server.requests) == requests_expected
        assert all(KEY not in page.url for page in pages)
        if pages and primary in pages[0].records[0]:
            assert record_ids(pages, primary) == keys
