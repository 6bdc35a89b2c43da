"""The five reference APIs by the prefix they are served under, and how a request maps to rows.

Nothing here touches a socket: ``locate`` turns a path into a resource and its parents, ``page_body``
turns query parameters into the body a real API of that kind sends, ``expected_records`` lists what
all pages of a resource hold together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from airflow_provider_restsync.sandbox.apis import (
    communications,
    email_delivery,
    email_service,
    inbox_testing,
    mail_testing,
)
from airflow_provider_restsync.sandbox.spec import (
    Api,
    HttpError,
    OffsetPaging,
    Parents,
    Record,
    Resource,
    Scope,
)

APIS: Mapping[str, Api] = MappingProxyType(
    {
        api.name: api
        for api in (
            mail_testing.API,
            email_delivery.API,
            communications.API,
            inbox_testing.API,
            email_service.API,
        )
    }
)


def get_api(name: str) -> Api:
    try:
        return APIS[name]
    except KeyError:
        raise KeyError(f"no sandbox API {name!r}; the APIs are {', '.join(APIS)}") from None


def ancestors(api: Api, resource: Resource) -> list[Resource]:
    """The resources whose records fill ``resource``'s path parameters, outermost first."""
    chain: list[Resource] = []
    current = resource
    while current.parent is not None:
        current = api.resource(current.parent)
        chain.insert(0, current)
    return chain


def locate(api: Api, path: str, scope: Scope) -> tuple[Resource, Parents]:
    """The resource a path below the API prefix names, and the indices of its parent records.

    :raises HttpError: 404 for a path no resource has, or a parent id no parent record carries.
    """
    for resource in api.resources:
        values = resource.match(path)
        if values is not None:
            return resource, _bind(api, resource, values, scope)
    raise HttpError(404, "not_found", f"no resource at {path[:200]}")


def _bind(api: Api, resource: Resource, values: tuple[str, ...], scope: Scope) -> Parents:
    parents: Parents = ()
    for ancestor, value in zip(ancestors(api, resource), values, strict=True):
        for index, record in enumerate(ancestor.rows(scope, parents)):
            if str(record[ancestor.key]) == value:
                parents = (*parents, index)
                break
        else:
            raise HttpError(404, "not_found", f"no {ancestor.name} record with {ancestor.key} {value[:50]!r}")
    return parents


def page_window(paging: OffsetPaging, query: Mapping[str, list[str]]) -> tuple[int, int]:
    """(offset, limit) from the query; a missing limit is the maximum and a bigger one is capped to it."""
    offset = _int_param(query, paging.offset_param, 0)
    limit = _int_param(query, paging.limit_param, paging.max_limit)
    if offset < 0:
        raise HttpError(400, "bad_request", f"{paging.offset_param} must be 0 or more")
    if limit < 1:
        raise HttpError(400, "bad_request", f"{paging.limit_param} must be 1 or more")
    return offset, min(limit, paging.max_limit)


def _int_param(query: Mapping[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        raise HttpError(400, "bad_request", f"{name} must be an integer") from None


def page_body(
    api: Api, resource: Resource, parents: Parents, query: Mapping[str, list[str]], scope: Scope
) -> dict[str, Any]:
    """The JSON body for one request: one page, in the envelope of this API."""
    extra = dict(resource.extra(scope)) if resource.extra else {}
    paging = api.paging
    if paging is None:
        # Unpaginated: offset/limit mean nothing here and are ignored, as such APIs do.
        return {**extra, resource.selector: list(resource.rows(scope, parents))}
    offset, limit = page_window(paging, query)
    rows = list(resource.rows(scope, parents, offset, offset + limit))
    if not (paging.total_key and resource.total):
        return {**extra, resource.selector: rows}
    total = {paging.total_key: resource.count(scope, parents)}
    if paging.total_first:
        return {**total, **extra, resource.selector: rows}
    return {**extra, resource.selector: rows, **total}


def parent_indices(api: Api, resource: Resource, scope: Scope) -> Iterator[Parents]:
    """Every parent position of ``resource`` in parent-first order; ``()`` once for a top-level one."""
    if resource.parent is None:
        yield ()
        return
    parent = api.resource(resource.parent)
    for above in parent_indices(api, parent, scope):
        for index in range(parent.count(scope, above)):
            yield (*above, index)


def expected_records(api: str, resource: str, *, records: int = 1000, seed: int = 42) -> Iterator[Record]:
    """Exactly the rows the sandbox serves for a resource across all its pages (and all its parents).

    Child resources of ``inbox_testing`` yield the rows under every parent, in the order a parent-first
    traversal fetches them. Rows are made one at a time, so this is cheap to stop early.
    """
    found_api = get_api(api)
    found = found_api.resource(resource)
    scope = Scope(records=records, seed=seed)
    for parents in parent_indices(found_api, found, scope):
        yield from found.rows(scope, parents)


def describe() -> dict[str, Any]:
    """What ``GET /`` answers: every API with its auth style, paging and resources (no secrets)."""
    return {
        "apis": [
            {
                "name": api.name,
                "base_url": f"/{api.name}",
                "document": api.document,
                "auth": api.auth.describe(),
                "paginator": (
                    {"type": "offset", "limit": api.paging.max_limit, "total": api.paging.total_key}
                    if api.paging
                    else None
                ),
                "resources": [
                    {"name": r.name, "path": r.path, "data_selector": r.selector, "size": r.size}
                    for r in api.resources
                ],
            }
            for api in APIS.values()
        ]
    }


def sizes_table() -> str:
    """The row count of every resource as a function of ``--records``, for ``--help`` and the docs."""
    lines = []
    for api in APIS.values():
        for resource in api.resources:
            lines.append(f"  {api.name:<15} {resource.name:<19} {resource.size}")
    return "\n".join(lines)
