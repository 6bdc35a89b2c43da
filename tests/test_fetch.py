"""iter_pages against a real loopback API: fan-out, response actions, loop guards, errors, streaming."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.errors import ApiRequestError, PagingError
from airflow_provider_restsync.fetch import iter_pages
from airflow_provider_restsync.hooks.retry import RetryOverrides
from tests.support import api_client
from tests.support.api_client import ServerFactory, SessionApiClient, fetch_pages, record_ids, resource_config
from tests.support.http import Request, Response
from tests.support.reference_configs import reference_config

api, loopback = api_client.api, api_client.loopback

# accounts -> inboxes -> messages, like reference API 003.
ACCOUNTS = {"a1": "First", "a/../b?x=1": "Tricky"}
INBOXES = {account: [f"{index}-in{n}" for n in range(2)] for index, account in enumerate(ACCOUNTS)}


def inbox_api(request: Request) -> Response:
    path = request.path
    if path == "/v1/accounts":
        return Response(200, {"data": [{"id": key, "name": name} for key, name in ACCOUNTS.items()]})
    match = re.fullmatch(r"/v1/accounts/([^/]+)/inboxes", path)
    if match:
        account = _decoded(match.group(1))
        return Response(
            200, {"data": [{"id": inbox, "owner": {"email": f"{inbox}@x"}} for inbox in INBOXES[account]]}
        )
    match = re.fullmatch(r"/v1/accounts/([^/]+)/inboxes/([^/]+)/messages", path)
    if match:
        account, inbox = _decoded(match.group(1)), match.group(2)
        if inbox not in INBOXES[account]:
            return Response(404, {"error": "no such inbox"})
        return Response(200, {"data": [{"id": f"{inbox}-m{n}", "subject": "hi"} for n in range(3)]})
    return Response(404, {"error": "not found"})


def _decoded(segment: str) -> str:
    from urllib.parse import unquote

    return unquote(segment)


def expected_messages() -> list[str]:
    return [f"{inbox}-m{n}" for inboxes in INBOXES.values() for inbox in inboxes for n in range(3)]


def test_reference_003_fans_out_accounts_inboxes_messages_with_inferred_bindings(api: ServerFactory) -> None:
    with api(inbox_api) as server:
        pages, client = fetch_pages(server.url, reference_config("inbox_testing", server.url), "messages")
        assert record_ids(pages) == expected_messages()
        assert [page.number for page in pages] == list(range(1, 5))
        assert [page.parent["id"] for page in pages if page.parent] == [
            i for v in INBOXES.values() for i in v
        ]
        paths = [request.path for request in server.requests]
        assert paths[0] == "/v1/accounts"
        assert "/v1/accounts/a1/inboxes/0-in1/messages" in paths
        # The id "a/../b?x=1" stays one path segment: it cannot climb up the path or start a query.
        assert "/v1/accounts/a%2F..%2Fb%3Fx%3D1/inboxes/1-in0/messages" in paths
        assert len(server.requests) == 1 + 2 + 4
        # Each request carries its endpoint's error_handler, for the client to apply to its policy.
        handler = RetryOverrides(statuses=(429,), max_retries=2, backoff_factor=5)
        assert all(sent.retry == handler for sent in client.sent)


def test_declared_bindings_and_include_from_parent(api: ServerFactory) -> None:
    config: dict[str, Any] = {
        "client": {"base_url": "http://unused"},
        "resource_defaults": {"endpoint": {"data_selector": "data"}},
        "resources": [
            {"name": "accounts", "endpoint": "/v1/accounts"},
            {
                "name": "inboxes",
                "endpoint": "/v1/accounts/{resources.accounts.id}/inboxes",
                "include_from_parent": ["id", "name"],
            },
            {
                "name": "messages",
                "endpoint": {
                    "path": "/v1/accounts/{resources.inboxes._accounts_id}/inboxes/{inbox}/messages",
                    "params": {
                        "inbox": {"type": "resolve", "resource": "inboxes", "field": "id"},
                        "owner": "{resources.inboxes.owner.email}",
                        # dlt's escape: doubled braces are literal ones around the placeholder.
                        "note": '{{"from": "{resources.inboxes.id}"}}',
                    },
                },
                "include_from_parent": ["id"],
            },
        ],
    }
    with api(inbox_api) as server:
        config["client"]["base_url"] = server.url
        inboxes, _ = fetch_pages(server.url, config, "inboxes")
        first = inboxes[0].records[0]
        assert first == {
            "id": "0-in0",
            "owner": {"email": "0-in0@x"},
            "_accounts_id": "a1",
            "_accounts_name": "First",
        }
        messages, _ = fetch_pages(server.url, config, "messages")
        assert record_ids(messages) == expected_messages()
        assert messages[0].records[0]["_inboxes_id"] == "0-in0"
        message_requests = [r for r in server.requests if r.path.endswith("/messages")]
        assert message_requests[0].param("owner") == "0-in0@x"
        assert message_requests[0].param("note") == '{"from": "0-in0"}'


def test_a_child_record_without_the_bound_field_names_the_fields_it_has(api: ServerFactory) -> None:
    config = {
        "client": {"base_url": "http://unused"},
        "resources": [
            {"name": "accounts", "endpoint": {"path": "/v1/accounts", "data_selector": "data"}},
            {"name": "inboxes", "endpoint": {"path": "/v1/accounts/{resources.accounts.uuid}/inboxes"}},
        ],
    }
    with api(inbox_api) as server, pytest.raises(PagingError) as caught:
        fetch_pages(server.url, config, "inboxes")
    message = str(caught.value)
    assert "'uuid'" in message and "'accounts'" in message and "'id', 'name'" in message


def test_a_dot_dot_id_cannot_change_the_path(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"data": [{"id": ".."}]})

    config = {
        "resources": [
            {"name": "accounts", "endpoint": {"path": "/v1/accounts", "data_selector": "data"}},
            {"name": "inboxes", "endpoint": "/v1/accounts/{account_id}/inboxes"},
        ]
    }
    with api(handler) as server, pytest.raises(PagingError, match=r"cannot be '\.\.'"):
        fetch_pages(server.url, config, "inboxes")
    assert len(server.requests) == 1


def test_include_from_parent_field_missing_in_parent(api: ServerFactory) -> None:
    config = {
        "resources": [
            {"name": "accounts", "endpoint": {"path": "/v1/accounts", "data_selector": "data"}},
            {
                "name": "inboxes",
                "endpoint": "/v1/accounts/{account_id}/inboxes",
                "include_from_parent": ["plan"],
            },
        ]
    }
    with api(inbox_api) as server, pytest.raises(PagingError, match="includes 'plan'"):
        fetch_pages(server.url, config, "inboxes")


# --- response actions and HTTP errors -----------------------------------------------------------------


def test_404_ignore_skips_one_parent_and_goes_on(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        if request.path == "/parents":
            return Response(200, [{"id": 1}, {"id": 2}, {"id": 3}])
        if request.path == "/parents/2/children":
            return Response(404, {"error": "gone"})
        parent = request.path.split("/")[2]
        return Response(200, [{"id": f"{parent}-c"}])

    config = {
        "resources": [
            "parents",
            {
                "name": "children",
                "endpoint": {
                    "path": "/parents/{resources.parents.id}/children",
                    "response_actions": [{"status_code": 404, "action": "ignore"}],
                },
            },
        ]
    }
    with api(handler) as server:
        pages, _ = fetch_pages(server.url, config, "children")
        assert record_ids(pages) == ["1-c", "3-c"]


def test_content_match_ignores_a_successful_response(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"status": "NO_DATA_YET", "data": "pending"})

    endpoint = {
        "path": "/items",
        "data_selector": "data",
        "response_actions": [{"status_code": 200, "content": "NO_DATA_YET", "action": "ignore"}],
    }
    with api(handler) as server:
        pages, _ = fetch_pages(server.url, resource_config(server.url, endpoint))
        assert pages == []


def test_an_http_error_is_an_api_request_error_with_a_redacted_url(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(500, {"error": "boom"})

    with api(handler) as server:
        client = SessionApiClient(
            server.url, params={"api_key": "sup3r-secret"}, secret_values=["sup3r-secret"]
        )
        source = load_source(resource_config(server.url, {"path": "/items", "data_selector": "data"}))
        with pytest.raises(ApiRequestError) as caught:
            list(iter_pages(client, source, "items"))
        assert caught.value.status == 500
        assert "sup3r-secret" not in str(caught.value) and "api_key=***" in caught.value.url


def test_a_selector_that_selects_nothing_names_resource_url_and_keys(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"Bounces": [], "TotalCount": 0})

    with api(handler) as server:
        client = SessionApiClient(server.url, params={"api_key": "sup3r-secret"})
        source = load_source(resource_config(server.url, {"path": "/v1/bounces", "data_selector": "data"}))
        with pytest.raises(PagingError) as caught:
            list(iter_pages(client, source, "items"))
    message = str(caught.value)
    assert "'items'" in message and "'data' matched nothing" in message
    assert f"{server.url}/v1/bounces?api_key=***" in message and "sup3r-secret" not in message
    assert "'Bounces', 'TotalCount'" in message


def test_a_non_json_response_is_a_paging_error(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, "<html>maintenance</html>", headers={"Content-Type": "text/html"})

    with api(handler) as server, pytest.raises(PagingError, match="not JSON"):
        fetch_pages(server.url, resource_config(server.url, "/items"))


def test_an_empty_body_is_an_empty_page(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, b"")

    with api(handler) as server:
        assert (
            fetch_pages(server.url, resource_config(server.url, {"path": "/items", "data_selector": "data"}))[
                0
            ]
            == []
        )


# --- loop guards --------------------------------------------------------------------------------------


def test_guard_offset_ignored_by_the_api(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"data": [{"id": i} for i in range(10)]})  # the same page whatever the offset

    endpoint = {"path": "/items", "data_selector": "data", "paginator": {"type": "offset", "limit": 10}}
    with (
        api(handler) as server,
        pytest.raises(PagingError, match=r"offset=10&limit=10\) is identical to page 1"),
    ):
        fetch_pages(server.url, resource_config(server.url, endpoint))
    assert len(server.requests) == 2


def test_guard_next_link_pointing_to_itself(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"data": [{"id": 1}], "next": f"http://{request.headers['host']}/items"})

    endpoint = {"path": "/items", "data_selector": "data", "paginator": "json_link"}
    with api(handler) as server, pytest.raises(PagingError, match="already fetched"):
        fetch_pages(server.url, resource_config(server.url, endpoint))
    assert len(server.requests) == 1


def test_guard_link_header_back_to_an_earlier_page(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        page = int(request.param("page") or 1)
        following = page + 1 if page < 3 else 2
        return Response(200, [{"id": page}], headers={"Link": f'</items?page={following}>; rel="next"'})

    with api(handler) as server, pytest.raises(PagingError, match="looping"):
        fetch_pages(server.url, resource_config(server.url, {"path": "/items", "paginator": "header_link"}))
    assert len(server.requests) == 3


def test_guard_cursor_that_cycles(api: ServerFactory) -> None:
    cycle = {None: "A", "A": "B", "B": "A"}

    def handler(request: Request) -> Response:
        cursor = request.param("cursor")
        return Response(200, {"data": [{"id": cursor or "start"}], "cursors": {"next": cycle[cursor]}})

    endpoint = {"path": "/items", "data_selector": "data", "paginator": "cursor"}
    with api(handler) as server, pytest.raises(PagingError, match="cursor 'A' again"):
        fetch_pages(server.url, resource_config(server.url, endpoint))
    assert [request.param("cursor") for request in server.requests] == [None, "A", "B"]


def test_guard_repeated_request_from_a_configured_paginator_instance(api: ServerFactory) -> None:
    from airflow_provider_restsync.paging import BasePaginator, PageRequest

    class StuckPaginator(BasePaginator):
        def update_state(self, response: Any, data: Any = None, *, body: Any = None) -> None:
            self._has_next_page = True

        def update_request(self, request: PageRequest) -> None:
            request.params["page"] = 2

    def handler(request: Request) -> Response:
        return Response(200, [{"id": request.param("page")}])

    with api(handler) as server, pytest.raises(PagingError, match="repeats one already made"):
        fetch_pages(
            server.url, resource_config(server.url, {"path": "/items", "paginator": StuckPaginator()})
        )
    assert len(server.requests) == 2


def test_guard_max_pages(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        page = int(request.param("page") or 1)
        return Response(200, {"data": [{"id": page}], "next": f"/items?page={page + 1}"})

    endpoint = {"path": "/items", "data_selector": "data", "paginator": "json_link"}
    with api(handler) as server, pytest.raises(PagingError, match="stopped after 5 pages"):
        fetch_pages(server.url, resource_config(server.url, endpoint), max_pages=5)
    assert len(server.requests) == 5


# --- what iter_pages passes through -------------------------------------------------------------------


def test_params_and_retry_are_passed_per_resource(api: ServerFactory) -> None:
    with api(inbox_api) as server:
        config = reference_config("inbox_testing", server.url)
        config["resources"][0]["endpoint"]["error_handler"] = {"max_retries": 7}
        source = load_source(config)
        client = SessionApiClient(server.url)
        pages = list(iter_pages(client, source, "inboxes", params={"since": "2024-01-01"}))
    assert len(record_ids(pages)) == 4
    sent = {
        (request.url.rsplit("/", 1)[-1], request.retry, (request.params or {}).get("since"))
        for request in client.sent
    }
    assert sent == {
        ("accounts", RetryOverrides(max_retries=7), None),
        ("inboxes", RetryOverrides(statuses=(429,), max_retries=2, backoff_factor=5), "2024-01-01"),
    }


def test_post_body_and_endpoint_headers_are_sent(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        body = request.json()
        assert request.method == "POST" and request.headers["x-tenant"] == "t1"
        cursor = request.param("cursor")
        return Response(
            200, {"hits": [{"id": f"{body['query']}-{cursor}"}], "next_page": None if cursor else "c2"}
        )

    endpoint = {
        "path": "/search",
        "method": "POST",
        "json": {"query": "q"},
        "headers": {"X-Tenant": "t1"},
        "data_selector": "hits",
        "paginator": {"type": "cursor", "cursor_path": "next_page"},
    }
    with api(handler) as server:
        pages, _ = fetch_pages(server.url, resource_config(server.url, endpoint))
        assert record_ids(pages) == ["q-None", "q-c2"]


def test_pages_stream_one_request_at_a_time(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        offset = int(request.param("offset") or 0)
        return Response(200, {"data": [{"id": i} for i in range(offset, min(offset + 10, 30))]})

    endpoint = {"path": "/items", "data_selector": "data", "paginator": {"type": "offset", "limit": 10}}
    with api(handler) as server:
        client = SessionApiClient(server.url)
        pages = iter_pages(client, load_source(resource_config(server.url, endpoint)), "items")
        first = next(pages)
        assert (first.number, len(first.records), len(server.requests)) == (1, 10, 1)
        assert first.url == f"{server.url}/items?offset=0&limit=10"
        next(pages)
        assert len(server.requests) == 2
        assert [page.number for page in pages] == [3]


def test_a_grandchild_declares_both_ancestors_in_its_path(api: ServerFactory) -> None:
    config = {
        "resource_defaults": {"endpoint": {"data_selector": "data"}},
        "resources": [
            {"name": "accounts", "endpoint": "/v1/accounts"},
            {"name": "inboxes", "endpoint": "/v1/accounts/{resources.accounts.id}/inboxes"},
            {
                "name": "messages",
                "endpoint": "/v1/accounts/{resources.accounts.id}/inboxes/{resources.inboxes.id}/messages",
            },
        ],
    }
    with api(inbox_api) as server:
        pages, _ = fetch_pages(server.url, config, "messages")
        assert record_ids(pages) == expected_messages()
        assert len(server.requests) == 1 + 2 + 4


def test_doubled_braces_reach_the_api_as_literal_braces_as_dlt_sends_them(api: ServerFactory) -> None:
    from airflow_provider_restsync.hooks.noauth import NoAuthHook

    def handler(request: Request) -> Response:
        return Response(200, {"data": [{"id": 1}]})

    endpoint = {
        "path": "/v1/{{literal}}/items",
        "params": {"q": "{{not_this}}", "nested": "{{not_this {{and}} {{not_that}}}}", "plain": "x"},
        "headers": {"X-Escaped": "value {{escaped}}"},
        "data_selector": "data",
        "paginator": "single_page",
    }
    with api(handler) as server:
        with NoAuthHook(None, base_url=server.url) as hook:
            pages = list(iter_pages(hook, load_source(resource_config(server.url, endpoint)), "items"))
        (request,) = server.requests
    assert record_ids(pages) == [1]
    # requests percent-encodes a brace in a path, for dlt as for this provider.
    assert request.path == "/v1/%7Bliteral%7D/items"
    assert request.param("q") == "{not_this}"
    assert request.param("nested") == "{not_this {and} {not_that}}"
    assert request.param("plain") == "x"
    assert request.headers["x-escaped"] == "value {escaped}"


def test_json_body_placeholders_take_parent_values_and_the_incremental_window(api: ServerFactory) -> None:
    """dlt's placeholders in a POST body: a lone placeholder keeps its type, text around one is text,
    doubled braces stay literal, and the incremental values come from the window asked for."""
    from airflow_provider_restsync.cursor import open_window
    from airflow_provider_restsync.fetch import Fetcher

    def search_api(request: Request) -> Response:
        if request.path == "/v1/accounts":
            return Response(200, {"data": [{"id": 7, "name": "Seven"}]})
        return Response(200, {"data": [{"id": 1, "updated_at": "2024-03-01T00:00:00Z"}]})

    config: dict[str, Any] = {
        "client": {"base_url": "http://unused"},
        "resource_defaults": {"endpoint": {"data_selector": "data"}},
        "resources": [
            {"name": "accounts", "endpoint": "/v1/accounts"},
            {
                "name": "events",
                "endpoint": {
                    "path": "/v1/search",
                    "method": "POST",
                    "paginator": "single_page",
                    "json": {
                        "account": "{resources.accounts.id}",
                        "label": "account {resources.accounts.name}",
                        "filter": {"since": "{incremental.start_value}", "raw": "{{literal}}"},
                        "ids": ["{resources.accounts.id}"],
                    },
                    "incremental": {"cursor_path": "updated_at", "initial_value": "2024-01-01T00:00:00Z"},
                },
            },
        ],
    }
    with api(search_api) as server:
        config["client"]["base_url"] = server.url
        source = load_source(config)
        client = SessionApiClient(server.url)
        try:
            fetcher = Fetcher(client, source, "events")
            spec = source.resource("events").endpoint.incremental
            assert spec is not None
            window = open_window(spec, {"last_value": "2024-02-01T00:00:00Z"}, interval=None, where="events")
            pages = [page for context in fetcher.contexts() for page in fetcher.walk(context, window=window)]
        finally:
            client.close()
        assert [record["id"] for page in pages for record in page.records] == [1]
        (search,) = [request for request in server.requests if request.path == "/v1/search"]
        assert search.method == "POST"
        assert search.json() == {
            "account": 7,
            "label": "account Seven",
            "filter": {"since": "2024-02-01T00:00:00Z", "raw": "{literal}"},
            "ids": [7],
        }
