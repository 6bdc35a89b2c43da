"""Each paginator against a real loopback API: the right records, and no request past the proven end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_restsync.errors import ConfigError, PagingError
from airflow_provider_restsync.paging import (
    AutoPaginator,
    HeaderCursorPaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    JSONResponseCursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    SinglePagePaginator,
    parse_paginator,
)
from tests.support import api_client
from tests.support.api_client import ServerFactory, fetch_pages, record_ids, resource_config
from tests.support.http import Request, Response

# The shared loopback server's fixtures.
api, loopback = api_client.api, api_client.loopback


def fetch(url: str, paginator: Any, selector: str | None = "data", path: str = "/items", **kwargs: Any):
    endpoint: dict[str, Any] = {"path": path, "paginator": paginator}
    if selector is not None:
        endpoint["data_selector"] = selector
    pages, _client = fetch_pages(url, resource_config(url, endpoint), **kwargs)
    return pages


def offset_api(
    count: int,
    *,
    total: str | None = None,
    has_more: str | None = None,
    cap: int | None = None,
    offset_param: str = "offset",
    limit_param: str = "limit",
) -> Callable[[Request], Response]:
    """Records 0..count-1 by offset and limit; optionally a total (dotted key), a has-more flag, a cap."""

    def handler(request: Request) -> Response:
        offset = int(request.param(offset_param) or 0)
        limit = int(request.param(limit_param) or 10)
        size = min(limit, cap) if cap else limit
        rows = [{"id": i} for i in range(offset, min(offset + size, count))]
        body: dict[str, Any] = {"data": rows}
        if total:
            *parents, last = total.split(".")
            node = body
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = count
        if has_more:
            body[has_more] = offset + len(rows) < count
        return Response(200, body)

    return handler


def page_api(
    pages: int, size: int = 10, *, base: int = 1, total: str | None = None
) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        page = int(request.param("page") or base)
        index = page - base
        rows = [{"id": index * size + i} for i in range(size)] if 0 <= index < pages else []
        body: dict[str, Any] = {"data": rows}
        if total:
            body[total] = pages
        return Response(200, body)

    return handler


def offsets(server: Any) -> list[int]:
    return [int(request.param("offset") or 0) for request in server.requests]


# --- offset -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "total", "expected_offsets"),
    [
        (300, "total", [0, 100, 200]),  # the total proves the end: no request at 300
        (250, "total", [0, 100, 200]),
        (250, None, [0, 100, 200]),  # no total: the short page proves the end
        (300, None, [0, 100, 200, 300]),  # no total and a full last page: one empty page is needed
        (0, None, [0]),
        (0, "total", [0]),
    ],
)
def test_offset_stops_at_the_proven_end(
    count: int, total: str | None, expected_offsets: list[int], api: ServerFactory
) -> None:
    with api(offset_api(count, total=total)) as server:
        pages = fetch(server.url, {"type": "offset", "limit": 100})
        assert record_ids(pages) == list(range(count))
        assert offsets(server) == expected_offsets
        assert all(request.param("limit") == "100" for request in server.requests)


def test_offset_without_total_does_not_fail_like_dlt(api: ServerFactory) -> None:
    # dlt raises "Total items not found" here unless total_path is null.
    with api(offset_api(120)) as server:
        assert record_ids(fetch(server.url, {"type": "offset", "limit": 50})) == list(range(120))
        assert offsets(server) == [0, 50, 100]


def test_offset_total_under_another_key(api: ServerFactory) -> None:
    with api(offset_api(250, total="meta.total_count", cap=None)) as server:
        pages = fetch(server.url, {"type": "offset", "limit": 100, "total_path": "meta.total_count"})
        assert len(record_ids(pages)) == 250
        assert offsets(server) == [0, 100, 200]


def test_offset_total_keeps_paging_past_short_pages(api: ServerFactory) -> None:
    # A server capping pages at 40 sends short pages; the total says there is more.
    def handler(request: Request) -> Response:
        offset = int(request.param("offset") or 0)
        return Response(
            200, {"data": [{"id": i} for i in range(offset, min(offset + 40, 120))], "total": 120}
        )

    with api(handler) as server:
        pages = fetch(server.url, {"type": "offset", "limit": 40})
        assert record_ids(pages) == list(range(120))
        assert offsets(server) == [0, 40, 80]


def test_offset_total_null_disables_the_total(api: ServerFactory) -> None:
    with api(offset_api(250, total="total")) as server:
        pages = fetch(server.url, {"type": "offset", "limit": 100, "total_path": None})
        assert len(record_ids(pages)) == 250
        assert offsets(server) == [0, 100, 200]


def test_offset_has_more_decides_even_on_short_pages(api: ServerFactory) -> None:
    with api(offset_api(130, has_more="has_more", cap=20)) as server:
        pages = fetch(server.url, {"type": "offset", "limit": 20, "has_more_path": "has_more"})
        assert record_ids(pages) == list(range(130))
        assert offsets(server) == list(range(0, 140, 20))


def test_offset_has_more_false_stops_a_full_page(api: ServerFactory) -> None:
    with api(offset_api(200, has_more="more")) as server:
        fetch(server.url, {"type": "offset", "limit": 100, "has_more_path": "more"})
        assert offsets(server) == [0, 100]


def test_offset_maximum_offset(api: ServerFactory) -> None:
    with api(offset_api(1000, total="total")) as server:
        pages = fetch(server.url, {"type": "offset", "limit": 100, "maximum_offset": 300})
        assert record_ids(pages) == list(range(300))
        assert offsets(server) == [0, 100, 200]


def test_offset_custom_params_and_start(api: ServerFactory) -> None:
    with api(offset_api(45, offset_param="skip", limit_param="take")) as server:
        paginator = {
            "type": "offset",
            "limit": 20,
            "offset": 10,
            "offset_param": "skip",
            "limit_param": "take",
        }
        pages = fetch(server.url, paginator)
        assert record_ids(pages) == list(range(10, 45))
        assert [request.param("skip") for request in server.requests] == ["10", "30"]


def test_offset_empty_last_page_with_stop_after_empty_page(api: ServerFactory) -> None:
    # The total over-counts; the empty page ends it.
    def handler(request: Request) -> Response:
        offset = int(request.param("offset") or 0)
        return Response(
            200, {"data": [{"id": i} for i in range(offset, min(offset + 10, 20))], "total": 1000}
        )

    with api(handler) as server:
        assert len(record_ids(fetch(server.url, {"type": "offset", "limit": 10}))) == 20
        assert offsets(server) == [0, 10, 20]


# --- page number --------------------------------------------------------------------------------------


def test_page_number_with_total_pages(api: ServerFactory) -> None:
    with api(page_api(3, total="total_pages")) as server:
        pages = fetch(server.url, {"type": "page_number", "base_page": 1, "total_path": "total_pages"})
        assert record_ids(pages) == list(range(30))
        assert [request.param("page") for request in server.requests] == ["1", "2", "3"]


def test_page_number_without_total_stops_at_the_empty_page(api: ServerFactory) -> None:
    with api(page_api(3)) as server:
        pages = fetch(server.url, {"type": "page_number", "base_page": 1})
        assert record_ids(pages) == list(range(30))
        assert [request.param("page") for request in server.requests] == ["1", "2", "3", "4"]


def test_page_number_zero_based_with_total_and_page_param(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        page = int(request.param("p") or 0)
        return Response(200, {"data": [{"id": page}] if page < 2 else [], "total": 2})

    with api(handler) as server:
        assert record_ids(fetch(server.url, {"type": "page_number", "page_param": "p"})) == [0, 1]
        assert len(server.requests) == 2


def test_page_number_maximum_page_is_exclusive_like_dlt(api: ServerFactory) -> None:
    with api(page_api(10)) as server:
        pages = fetch(
            server.url, {"type": "page_number", "base_page": 1, "maximum_page": 3, "total_path": None}
        )
        assert record_ids(pages) == list(range(20))
        assert len(server.requests) == 2


def test_page_number_has_more(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        page = int(request.param("page") or 1)
        return Response(200, {"data": [{"id": page}], "paging": {"more": "true" if page < 3 else "false"}})

    with api(handler) as server:
        pages = fetch(server.url, {"type": "page_number", "base_page": 1, "has_more_path": "paging.more"})
        assert record_ids(pages) == [1, 2, 3]
        assert len(server.requests) == 3


# --- links and cursors --------------------------------------------------------------------------------


def linked_api(pages: int, *, where: str, relative: bool = False) -> Callable[[Request], Response]:
    """``pages`` pages of 2 records; the next page's URL in the body, the Link header, or nowhere."""

    def handler(request: Request) -> Response:
        page = int(request.param("page") or 1)
        rows = [{"id": page * 10 + i} for i in range(2)]
        next_url = None
        if page < pages:
            origin = "" if relative else f"http://{request.headers['host']}"
            next_url = f"{origin}/items?page={page + 1}"
        if where == "body":
            return Response(200, {"data": rows, "pagination": {"next": next_url}})
        headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
        return Response(200, rows, headers=headers)

    return handler


@pytest.mark.parametrize("relative", [False, True])
def test_json_link(relative: bool, api: ServerFactory) -> None:
    with api(linked_api(3, where="body", relative=relative)) as server:
        pages = fetch(server.url, {"type": "json_link", "next_url_path": "pagination.next"})
        assert record_ids(pages) == [10, 11, 20, 21, 30, 31]
        assert [request.param("page") for request in server.requests] == [None, "2", "3"]


def test_header_link(api: ServerFactory) -> None:
    with api(linked_api(3, where="header")) as server:
        pages = fetch(server.url, "header_link", selector=None)
        assert record_ids(pages) == [10, 11, 20, 21, 30, 31]
        assert len(server.requests) == 3


def test_header_link_with_another_rel(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        page = int(request.param("page") or 1)
        headers = {"Link": f'</items?page={page + 1}>; rel="forward"'} if page < 2 else {}
        return Response(200, [{"id": page}], headers=headers)

    with api(handler) as server:
        pages = fetch(server.url, {"type": "header_link", "links_next_key": "forward"}, selector=None)
        assert record_ids(pages) == [1, 2]


def cursor_api(cursors: list[str | None], *, in_header: bool = False) -> Callable[[Request], Response]:
    """Page i answers with cursors[i]; the request's cursor (param 'after') picks the page."""
    order = [None, *cursors[:-1]]

    def handler(request: Request) -> Response:
        index = order.index(request.param("after"))
        rows = [{"id": index}]
        cursor = cursors[index]
        if in_header:
            headers = {"X-Next": cursor} if cursor else {}
            return Response(200, {"data": rows}, headers=headers)
        return Response(200, {"data": rows, "cursors": {"next": cursor}})

    return handler


def test_cursor(api: ServerFactory) -> None:
    with api(cursor_api(["c1", "c2", None])) as server:
        pages = fetch(server.url, {"type": "cursor", "cursor_path": "cursors.next", "cursor_param": "after"})
        assert record_ids(pages) == [0, 1, 2]
        assert [request.param("after") for request in server.requests] == [None, "c1", "c2"]


def test_cursor_empty_string_ends_paging(api: ServerFactory) -> None:
    with api(cursor_api(["c1", ""])) as server:
        pages = fetch(server.url, {"type": "cursor", "cursor_param": "after"})
        assert record_ids(pages) == [0, 1]


def test_header_cursor(api: ServerFactory) -> None:
    with api(cursor_api(["c1", None], in_header=True)) as server:
        pages = fetch(server.url, {"type": "header_cursor", "cursor_key": "X-Next", "cursor_param": "after"})
        assert record_ids(pages) == [0, 1]
        assert len(server.requests) == 2


def test_single_page(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"data": [{"id": 1}], "next": "/items?page=2"})

    with api(handler) as server:
        assert record_ids(fetch(server.url, "single_page")) == [1]
        assert len(server.requests) == 1


# --- auto detection -----------------------------------------------------------------------------------


def test_auto_detects_the_link_header(api: ServerFactory) -> None:
    with api(linked_api(2, where="header")) as server:
        assert record_ids(fetch(server.url, None, selector=None)) == [10, 11, 20, 21]


def test_auto_detects_a_next_url_in_the_body(api: ServerFactory) -> None:
    with api(linked_api(3, where="body", relative=True)) as server:
        assert record_ids(fetch(server.url, None, selector=None)) == [10, 11, 20, 21, 30, 31]


def test_auto_detects_a_cursor(api: ServerFactory) -> None:
    order = [None, "t1", "t2"]

    def handler(request: Request) -> Response:
        index = order.index(request.param("cursor"))
        following = order[index + 1] if index + 1 < len(order) else None
        return Response(200, {"results": [{"id": index}], "next_cursor": following})

    with api(handler) as server:
        assert record_ids(fetch(server.url, None, selector=None)) == [0, 1, 2]


def test_auto_falls_back_to_a_single_page(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"data": [{"id": 1}], "next": None, "total": 99})

    with api(handler) as server:
        assert record_ids(fetch(server.url, None)) == [1]
        assert len(server.requests) == 1


# --- parse_paginator -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        (None, AutoPaginator),
        ("auto", AutoPaginator),
        ({}, AutoPaginator),
        ("single_page", SinglePagePaginator),
        ({"type": "offset", "limit": 5}, OffsetPaginator),
        ("page_number", PageNumberPaginator),
        ("json_link", JSONLinkPaginator),
        ("json_response", JSONLinkPaginator),
        ("header_link", HeaderLinkPaginator),
        ("cursor", JSONResponseCursorPaginator),
        ("header_cursor", HeaderCursorPaginator),
    ],
)
def test_parse_paginator_types(spec: Any, kind: type) -> None:
    assert isinstance(parse_paginator(spec, "client.paginator").create(), kind)


def test_parse_paginator_copies_an_instance() -> None:
    instance = OffsetPaginator(limit=10)
    made = parse_paginator(instance, "p").create()
    assert isinstance(made, OffsetPaginator) and made is not instance


@pytest.mark.parametrize(
    ("spec", "key_path", "message"),
    [
        ({"type": "ofset", "limit": 1}, "p.type", "did you mean 'offset'"),
        ("pagenumber", "p", "did you mean 'page_number'"),
        ({"type": "offset"}, "p.limit", "needs 'limit'"),
        ("offset", "p.limit", "needs 'limit'"),
        ({"type": "offset", "limit": "100"}, "p.limit", "whole number"),
        ({"type": "offset", "limit": 0}, "p.limit", "at least 1"),
        ({"type": "offset", "limit": 5, "totl_path": "x"}, "p.totl_path", "did you mean 'total_path'"),
        ({"type": "offset", "limit": 5, "offset_body_path": "o"}, "p.offset_body_path", "not supported yet"),
        ({"type": "cursor", "cursor_path": "$.[("}, "p.cursor_path", "invalid JSONPath"),
        ({"type": "page_number", "stop_after_empty_page": "yes"}, "p.stop_after_empty_page", "true or false"),
        ({"limit": 5}, "p.type", "no 'type'"),
        (42, "p", "type name or a mapping"),
    ],
)
def test_parse_paginator_errors(spec: Any, key_path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_paginator(spec, "p").create()
    assert caught.value.key_path == key_path


def test_body_paths_set_to_null_are_accepted() -> None:
    assert isinstance(
        parse_paginator({"type": "offset", "limit": 5, "limit_body_path": None}, "p").create(),
        OffsetPaginator,
    )


def test_client_paginator_is_the_default_for_endpoints(api: ServerFactory) -> None:
    config = {
        "client": {"paginator": {"type": "offset", "limit": 100}},
        "resources": [{"name": "items", "endpoint": {"path": "/items", "data_selector": "data"}}],
    }
    with api(offset_api(150)) as server:
        pages, _ = fetch_pages(server.url, config)
        assert len(record_ids(pages)) == 150
        assert offsets(server) == [0, 100]


def test_a_total_that_is_not_a_number_is_a_paging_error_with_context(api: ServerFactory) -> None:
    def handler(request: Request) -> Response:
        return Response(200, {"data": [{"id": 1}], "total": "many"})

    with api(handler) as server, pytest.raises(PagingError) as caught:
        fetch(server.url, {"type": "offset", "limit": 1})
    assert "resource 'items'" in str(caught.value) and "'many', not a whole number" in str(caught.value)
    assert f"{server.url}/items?offset=0&limit=1" in str(caught.value)
