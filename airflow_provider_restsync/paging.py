"""Paginators: one small strategy class per paging style, with dlt's names, parameters and contract.

A paginator sees each response once (``update_state``), says whether there is a next page
(``has_next_page``) and rewrites the request for it (``update_request``). The page loop, its guards and the
fan-out over parent records live in :mod:`airflow_provider_restsync.fetch`.

Where dlt's defaults are traps this module differs on purpose:

- An offset or page-number paginator does not need a total: without one it stops at an empty page, and an
  offset paginator also at a short page (fewer records than ``limit``), without the extra empty request.
- A cursor or next-page link seen before is an error, not an endless loop.

Each paging setting is checked at config time by :func:`parse_paginator`, which returns a
:class:`PaginatorSpec`; its ``create()`` makes a fresh paginator for each request sequence.
"""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin

import requests

from airflow_provider_restsync.coerce import as_int, bool_word
from airflow_provider_restsync.errors import ConfigError, PagingError, did_you_mean
from airflow_provider_restsync.redaction import redact_url
from airflow_provider_restsync.responses import json_body
from airflow_provider_restsync.selecting import JsonPath

log = logging.getLogger(__name__)


@dataclass
class PageRequest:
    """The request for one page; a paginator changes it in place between pages."""

    url: str
    method: str = "GET"
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class BasePaginator(ABC):
    """dlt's paginator contract: ``init_request``, ``update_state``, ``update_request``, ``has_next_page``.

    ``update_state`` takes the already parsed body as ``body`` so that a page is parsed once, not once per
    reader; without it the response is parsed again.
    """

    def __init__(self) -> None:
        self._has_next_page = True

    @property
    def has_next_page(self) -> bool:
        return self._has_next_page

    def init_request(self, request: PageRequest) -> None:  # noqa: B027 - most paginators need no set-up
        """Prepare the first request."""

    @abstractmethod
    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        """Read the paging state from ``response`` (and its records ``data``)."""

    @abstractmethod
    def update_request(self, request: PageRequest) -> None:
        """Rewrite ``request`` to fetch the next page."""

    def describe(self) -> str:
        """Where the paginator stands, for messages (``offset=200``); no secrets."""
        return type(self).__name__

    def position(self) -> dict[str, Any] | None:
        """Where the next page starts, as JSON a checkpoint can keep (``{"value": 200}``); None when this
        paginator cannot say (a resumed sync then starts this request sequence again)."""
        return None

    def resume(self, request: PageRequest, position: Mapping[str, Any]) -> None:
        """Continue from a ``position()`` taken by an earlier paginator of the same kind: set the state and
        rewrite ``request`` (already prepared by ``init_request``) for that page."""
        raise PagingError(f"{type(self).__name__} cannot resume from a checkpoint")

    def progress(self) -> tuple[int, int] | None:
        """How far the request sequence has come, as (done, of) in the paginator's own units (records for
        an offset, pages for a page number), when the API reports its total; None when it does not."""
        return None

    def upcoming(self, request: PageRequest, count: int) -> list[PageRequest]:
        """Up to ``count`` requests of the pages after ``request`` (the next one, already rewritten by
        ``update_request``), when the paginator knows them before their responses come: so they can be
        sent ahead, in parallel. Only requests the paginator is sure to make (the end is known); []
        when the next request depends on a response, as a cursor or a next link does."""
        return []

    @staticmethod
    def _body(response: requests.Response, body: Any) -> Any:
        return body if body is not None else json_body(response)


class SinglePagePaginator(BasePaginator):
    """The endpoint returns everything in one response."""

    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        self._has_next_page = False

    def update_request(self, request: PageRequest) -> None:
        return None


class RangePaginator(BasePaginator):
    """Pages by a number in a query parameter (an offset or a page number) until the end is proven.

    The end is proven, in this order, by: an empty page (``stop_after_empty_page``), reaching
    ``maximum_value``, the ``has_more_path`` flag, the total at ``total_path``, or (when ``page_size`` is
    known) a page shorter than ``page_size``. A missing total is not an error.
    """

    def __init__(
        self,
        param_name: str,
        initial_value: int,
        value_step: int,
        *,
        base_index: int = 0,
        maximum_value: int | None = None,
        total_path: str | None = "total",
        stop_after_empty_page: bool = True,
        has_more_path: str | None = None,
        page_size: int | None = None,
    ) -> None:
        super().__init__()
        self.param_name = param_name
        self.initial_value = initial_value
        self.current_value = initial_value
        self.value_step = value_step
        self.base_index = base_index
        self.maximum_value = maximum_value
        self.total_path = JsonPath(total_path) if total_path else None
        self.stop_after_empty_page = stop_after_empty_page
        self.has_more_path = JsonPath(has_more_path) if has_more_path else None
        self.page_size = page_size
        self._told_missing: set[str] = set()
        self._end: int | None = None  # where the last response said the pages end (its total)

    def init_request(self, request: PageRequest) -> None:
        self._has_next_page = True
        self.current_value = self.initial_value
        self.update_request(request)

    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        count = len(data) if data is not None else 0
        if self.stop_after_empty_page and count == 0:
            self._has_next_page = False
            return
        self.current_value += self.value_step
        if self.maximum_value is not None and self.current_value >= self.maximum_value:
            self._has_next_page = False
            return
        if self.has_more_path is not None or self.total_path is not None:
            body = self._body(response, body)
        has_more = self._has_more(body) if self.has_more_path is not None else None
        if has_more is not None:
            self._has_next_page = has_more
            return
        total = self._total(body) if self.total_path is not None else None
        self._end = None if total is None else total + self.base_index
        if total is not None:
            self._has_next_page = self.current_value < total + self.base_index
        elif self.page_size is not None:
            self._has_next_page = count >= self.page_size
        else:
            self._has_next_page = True

    def update_request(self, request: PageRequest) -> None:
        request.params[self.param_name] = self.current_value

    def describe(self) -> str:
        return f"{self.param_name}={self.current_value}"

    def position(self) -> dict[str, Any] | None:
        return {"value": self.current_value}

    def resume(self, request: PageRequest, position: Mapping[str, Any]) -> None:
        self.current_value = int(position["value"])
        self._has_next_page = True
        self._end = None
        self.update_request(request)

    def progress(self) -> tuple[int, int] | None:
        if self._end is None:
            return None
        of = max(self._end - self.initial_value, 0)
        done = of if not self._has_next_page else min(max(self.current_value - self.initial_value, 0), of)
        return done, of

    def upcoming(self, request: PageRequest, count: int) -> list[PageRequest]:
        """The pages after ``request`` up to the total the last response gave; none without one (or
        with a has-more flag, which only the next response can tell)."""
        end = self._end
        if end is None or self.has_more_path is not None or not self._has_next_page:
            return []
        if self.maximum_value is not None:
            end = min(end, self.maximum_value)
        ahead: list[PageRequest] = []
        value = self.current_value + self.value_step
        while value < end and len(ahead) < count:
            planned = replace(request, params=dict(request.params), headers=dict(request.headers))
            planned.params[self.param_name] = value
            ahead.append(planned)
            value += self.value_step
        return ahead

    def _total(self, body: Any) -> int | None:
        assert self.total_path is not None
        value = self.total_path.first(body)
        if value is None:
            self._tell_missing(self.total_path, "total")
            return None
        try:
            return as_int(value, self.total_path.expression)
        except ConfigError:
            raise PagingError(
                f"total_path {self.total_path.expression!r} holds {value!r}, not a whole number"
            ) from None

    def _has_more(self, body: Any) -> bool | None:
        assert self.has_more_path is not None
        value = self.has_more_path.first(body)
        if value is None:
            self._tell_missing(self.has_more_path, "has-more flag")
            return None
        flag = bool_word(value)
        if flag is not None:
            return flag
        raise PagingError(f"has_more_path {self.has_more_path.expression!r} holds {value!r}, not a boolean")

    def _tell_missing(self, path: JsonPath, what: str) -> None:
        # Once per paginator: a missing total is normal for many APIs, so this is not a warning per page.
        if path.expression in self._told_missing:
            return
        self._told_missing.add(path.expression)
        log.info(
            "No %s at %r in the response; paging stops at an empty%s page",
            what,
            path.expression,
            " or short" if self.page_size is not None else "",
        )


class OffsetPaginator(RangePaginator):
    """``offset`` / ``limit`` query parameters; a page shorter than ``limit`` is the last one."""

    def __init__(
        self,
        limit: int,
        offset: int = 0,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: str | None = "total",
        maximum_offset: int | None = None,
        stop_after_empty_page: bool = True,
        has_more_path: str | None = None,
    ) -> None:
        super().__init__(
            offset_param,
            offset,
            limit,
            maximum_value=maximum_offset,
            total_path=total_path,
            stop_after_empty_page=stop_after_empty_page,
            has_more_path=has_more_path,
            page_size=limit,
        )
        self.limit = limit
        self.limit_param = limit_param

    def update_request(self, request: PageRequest) -> None:
        request.params[self.param_name] = self.current_value
        request.params[self.limit_param] = self.limit


class PageNumberPaginator(RangePaginator):
    """A page number query parameter; ``total_path`` holds the number of pages.

    The page size is not known, so without a total or has-more flag the end is the first empty page.
    """

    def __init__(
        self,
        base_page: int = 0,
        page: int | None = None,
        page_param: str = "page",
        total_path: str | None = "total",
        maximum_page: int | None = None,
        stop_after_empty_page: bool = True,
        has_more_path: str | None = None,
    ) -> None:
        super().__init__(
            page_param,
            base_page if page is None else page,
            1,
            base_index=base_page,
            maximum_value=maximum_page,
            total_path=total_path,
            stop_after_empty_page=stop_after_empty_page,
            has_more_path=has_more_path,
        )


class _ReferencePaginator(BasePaginator):
    """Follows a reference the response gives (a next URL or a cursor); a reference seen before is a loop."""

    reference_name = "reference"

    def __init__(self) -> None:
        super().__init__()
        self._next: Any = None
        # Hashes of the references followed: enough to spot a repeat without keeping every URL.
        self._seen: set[int] = set()

    def _follow(self, reference: Any) -> None:
        if reference is None or reference == "" or reference is False:
            self._next = None
            self._has_next_page = False
            return
        if hash(reference) in self._seen:
            raise PagingError(
                f"the response points to {self.reference_name} {self._shown(reference)} again, which was "
                "already fetched: the API is looping"
            )
        self._seen.add(hash(reference))
        self._next = reference
        self._has_next_page = True

    def _shown(self, reference: Any) -> str:
        return repr(reference)

    def describe(self) -> str:
        return f"{self.reference_name} {self._shown(self._next)}"

    def position(self) -> dict[str, Any] | None:
        if not isinstance(self._next, (str, int, float)) or isinstance(self._next, bool):
            return None
        if isinstance(self._next, str) and redact_url(self._next) != self._next:
            return None  # a reference carrying a secret is never stored; the sequence starts again
        return {"next": self._next}

    def resume(self, request: PageRequest, position: Mapping[str, Any]) -> None:
        self._next = position["next"]
        self._seen.add(hash(self._next))
        self._has_next_page = True
        self.update_request(request)


class _NextUrlPaginator(_ReferencePaginator):
    """The response names the URL of the next page; the next request goes there without the old params."""

    reference_name = "next page URL"

    def _follow_url(self, response: requests.Response, url: Any) -> None:
        if url is not None and not isinstance(url, str):
            raise PagingError(f"the next page link is a {type(url).__name__}, not a URL")
        # A link back to the page just fetched is a loop too: remember the pages' own URLs.
        self._seen.add(hash(response.url))
        self._follow(urljoin(response.url, url) if url else None)

    def update_request(self, request: PageRequest) -> None:
        request.url = self._next
        request.params = {}

    def _shown(self, reference: Any) -> str:
        return redact_url(reference) if isinstance(reference, str) else repr(reference)


class JSONLinkPaginator(_NextUrlPaginator):
    """The next page's URL is in the JSON body at ``next_url_path``."""

    def __init__(self, next_url_path: str | JsonPath = "next") -> None:
        super().__init__()
        self.next_url_path = _as_path(next_url_path)

    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        self._follow_url(response, self.next_url_path.first(self._body(response, body)))


class HeaderLinkPaginator(_NextUrlPaginator):
    """The next page's URL is in the ``Link`` header (``rel="next"``, or ``links_next_key``)."""

    def __init__(self, links_next_key: str = "next") -> None:
        super().__init__()
        self.links_next_key = links_next_key

    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        self._follow_url(response, response.links.get(self.links_next_key, {}).get("url"))


class _CursorPaginator(_ReferencePaginator):
    """Sends the cursor the last response gave in the ``cursor_param`` query parameter."""

    reference_name = "cursor"

    def __init__(self, cursor_param: str) -> None:
        super().__init__()
        self.cursor_param = cursor_param

    def update_request(self, request: PageRequest) -> None:
        request.params[self.cursor_param] = self._next


class JSONResponseCursorPaginator(_CursorPaginator):
    """The cursor is in the JSON body at ``cursor_path``; an empty or null cursor ends paging."""

    def __init__(self, cursor_path: str | JsonPath = "cursors.next", cursor_param: str = "cursor") -> None:
        super().__init__(cursor_param)
        self.cursor_path = _as_path(cursor_path)

    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        cursor = self.cursor_path.first(self._body(response, body))
        if isinstance(cursor, (dict, list)):
            raise PagingError(f"cursor_path {self.cursor_path.expression!r} holds a {type(cursor).__name__}")
        self._follow(cursor)


class HeaderCursorPaginator(_CursorPaginator):
    """The cursor is in the response header ``cursor_key``."""

    def __init__(self, cursor_key: str = "next", cursor_param: str = "cursor") -> None:
        super().__init__(cursor_param)
        self.cursor_key = cursor_key

    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        self._follow(response.headers.get(self.cursor_key))


class AutoPaginator(BasePaginator):
    """No paginator configured: pick one from the first response, then delegate to it.

    Detection order: a ``Link: rel="next"`` header, a next-page URL in the body, a next-page cursor in the
    body (sent back as ``cursor``), else a single page.
    """

    def __init__(self) -> None:
        super().__init__()
        self.detected: BasePaginator | None = None

    def update_state(
        self, response: requests.Response, data: list[Any] | None = None, *, body: Any = None
    ) -> None:
        body = self._body(response, body)
        if self.detected is None:
            self.detected = detect_paginator(response, body)
        self.detected.update_state(response, data, body=body)
        self._has_next_page = self.detected.has_next_page

    def update_request(self, request: PageRequest) -> None:
        if self.detected is not None:
            self.detected.update_request(request)

    def describe(self) -> str:
        return self.detected.describe() if self.detected is not None else "auto"

    def position(self) -> dict[str, Any] | None:
        detected = self.detected
        inner = detected.position() if detected is not None else None
        if inner is None:
            return None
        if isinstance(detected, HeaderLinkPaginator):
            return {"detected": "header_link", **inner}
        if isinstance(detected, JSONLinkPaginator):
            return {"detected": "json_link", "path": list(detected.next_url_path.keys or ()), **inner}
        if isinstance(detected, JSONResponseCursorPaginator):
            return {"detected": "cursor", "path": list(detected.cursor_path.keys or ()), **inner}
        return None

    def resume(self, request: PageRequest, position: Mapping[str, Any]) -> None:
        kind = position.get("detected")
        keys = tuple(position.get("path") or ())
        detected: BasePaginator
        if kind == "header_link":
            detected = HeaderLinkPaginator()
        elif kind == "json_link" and keys:
            detected = JSONLinkPaginator(JsonPath.from_keys(keys))
        elif kind == "cursor" and keys:
            detected = JSONResponseCursorPaginator(JsonPath.from_keys(keys))
        else:
            raise PagingError(f"cannot resume auto-detected paging from {dict(position)!r}")
        detected.resume(request, position)
        self.detected = detected
        self._has_next_page = True


def detect_paginator(response: requests.Response, body: Any) -> BasePaginator:
    """Choose a paginator from one response, like dlt's detector (without its page-number guess)."""
    if response.links.get("next", {}).get("url"):
        log.info("Detected paging by the Link header")
        return HeaderLinkPaginator()
    keys, value = find_next_page_path(body)
    if keys is not None:
        expression = ".".join(keys)
        if isinstance(value, str) and value.startswith(("http://", "https://", "/")):
            log.info("Detected paging by the next-page URL at %r", expression)
            return JSONLinkPaginator(JsonPath.from_keys(keys))
        log.warning(
            "Guessed cursor paging: the cursor at %r goes back as 'cursor'; configure the paginator if wrong",
            expression,
        )
        return JSONResponseCursorPaginator(JsonPath.from_keys(keys))
    return SinglePagePaginator()


def _as_path(path: str | JsonPath) -> JsonPath:
    return path if isinstance(path, JsonPath) else JsonPath(path)


def find_next_page_path(body: Any, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...] | None, Any]:
    """The key path and value of a next-page reference (a key starting with ``next``), if the body has one."""
    if not isinstance(body, dict):
        return None, None
    for key, value in body.items():
        if str(key).lower().startswith("next"):
            if isinstance(value, dict):
                for sub_key, sub_value in value.items():
                    if str(sub_key).lower().startswith(("href", "url")) and _is_reference(sub_value):
                        return (*path, key, sub_key), sub_value
            elif _is_reference(value):
                return (*path, key), value
        if isinstance(value, dict):
            found = find_next_page_path(value, (*path, key))
            if found[0] is not None:
                return found
    return None, None


def _is_reference(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""


# --- building paginators from config ---------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    """One paginator setting: its type, lower bound, and whether ``None`` is a meaningful value."""

    kind: str  # "int", "str", "bool" or "path"
    minimum: int | None = None
    nullable: bool = False
    required: bool = False


@dataclass(frozen=True)
class _PaginatorType:
    factory: Callable[..., BasePaginator]
    params: Mapping[str, _Param]
    not_yet: Collection[str] = ()


_PATH = _Param("path")
_OPTIONAL_PATH = _Param("path", nullable=True)
_NAME = _Param("str")
_COUNT = _Param("int", minimum=0)

PAGINATOR_TYPES: dict[str, _PaginatorType] = {
    "single_page": _PaginatorType(SinglePagePaginator, {}),
    "offset": _PaginatorType(
        OffsetPaginator,
        {
            "limit": _Param("int", minimum=1, required=True),
            "offset": _COUNT,
            "offset_param": _NAME,
            "limit_param": _NAME,
            "total_path": _OPTIONAL_PATH,
            "maximum_offset": _Param("int", minimum=1, nullable=True),
            "stop_after_empty_page": _Param("bool"),
            "has_more_path": _OPTIONAL_PATH,
        },
        not_yet=("offset_body_path", "limit_body_path"),
    ),
    "page_number": _PaginatorType(
        PageNumberPaginator,
        {
            "base_page": _COUNT,
            "page": _Param("int", minimum=0, nullable=True),
            "page_param": _NAME,
            "total_path": _OPTIONAL_PATH,
            "maximum_page": _Param("int", minimum=1, nullable=True),
            "stop_after_empty_page": _Param("bool"),
            "has_more_path": _OPTIONAL_PATH,
        },
        not_yet=("page_body_path",),
    ),
    "json_link": _PaginatorType(JSONLinkPaginator, {"next_url_path": _PATH}),
    "header_link": _PaginatorType(HeaderLinkPaginator, {"links_next_key": _NAME}),
    "cursor": _PaginatorType(
        JSONResponseCursorPaginator,
        {"cursor_path": _PATH, "cursor_param": _NAME},
        not_yet=("cursor_body_path",),
    ),
    "header_cursor": _PaginatorType(HeaderCursorPaginator, {"cursor_key": _NAME, "cursor_param": _NAME}),
    "auto": _PaginatorType(AutoPaginator, {}),
}
# dlt's deprecated name for json_link.
PAGINATOR_TYPES["json_response"] = PAGINATOR_TYPES["json_link"]


@dataclass(frozen=True)
class PaginatorSpec:
    """A checked paginator setting: :meth:`create` makes a fresh paginator for each request sequence.

    :param kind: the paginator type (``offset``, ``auto`` ...), or ``instance`` for a paginator object.
    :param settings: the type's settings, already checked.
    :param instance: a configured paginator object given in a Python config; each sequence gets a copy.
    """

    kind: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    instance: BasePaginator | None = None

    def create(self) -> BasePaginator:
        if self.instance is not None:
            # Paginators keep state: each page loop needs its own copy of a configured instance.
            return copy.deepcopy(self.instance)
        return PAGINATOR_TYPES[self.kind].factory(**self.settings)


AUTO = PaginatorSpec("auto")
SINGLE_PAGE = PaginatorSpec("single_page")


def parse_paginator(spec: Mapping[str, Any] | str | BasePaginator | None, key_path: str) -> PaginatorSpec:
    """Check a paginator setting in dlt's forms: ``None``/``"auto"``, a type name, a dict, an instance.

    :param key_path: where the spec sits in the config, for error messages.
    :raises ConfigError: unknown type or setting, a setting of the wrong type, a missing ``limit``.
    """
    if spec is None:
        return AUTO
    if isinstance(spec, BasePaginator):
        return PaginatorSpec("instance", instance=spec)
    if isinstance(spec, str):
        return _build(spec, {}, key_path, type_path=key_path)
    if isinstance(spec, Mapping):
        settings = dict(spec)
        kind = settings.pop("type", None)
        if kind is None:
            if settings:
                raise ConfigError(
                    f"the paginator has no 'type'; one of: {', '.join(sorted(PAGINATOR_TYPES))}",
                    f"{key_path}.type",
                )
            return AUTO
        if not isinstance(kind, str):
            raise ConfigError(f"the paginator type must be a string, not {kind!r}", f"{key_path}.type")
        return _build(kind, settings, key_path, type_path=f"{key_path}.type")
    raise ConfigError(
        f"a paginator is a type name or a mapping with a 'type', not {type(spec).__name__}", key_path
    )


def _build(kind: str, settings: Mapping[str, Any], key_path: str, *, type_path: str) -> PaginatorSpec:
    paginator_type = PAGINATOR_TYPES.get(kind)
    if paginator_type is None:
        raise ConfigError(
            f"unknown paginator type {kind!r}{did_you_mean(kind, PAGINATOR_TYPES)}; "
            f"one of: {', '.join(sorted(PAGINATOR_TYPES))}",
            type_path,
        )
    kwargs: dict[str, Any] = {}
    for name, value in settings.items():
        if name in paginator_type.not_yet:
            if value is None:
                continue
            raise ConfigError(f"paginator setting {name!r} is not supported yet", f"{key_path}.{name}")
        param = paginator_type.params.get(name)
        if param is None:
            known = ", ".join(paginator_type.params) or "none"
            hint = did_you_mean(name, paginator_type.params)
            raise ConfigError(
                f"unknown setting {name!r} for paginator {kind!r}{hint}; its settings: {known}",
                f"{key_path}.{name}",
            )
        if value is None and not param.nullable:
            continue  # dlt treats None as "use the default"
        kwargs[name] = _checked(value, param, f"{key_path}.{name}")
    for name, param in paginator_type.params.items():
        if param.required and name not in kwargs:
            raise ConfigError(
                f"paginator {kind!r} needs {name!r}, e.g. {{type: {kind}, {name}: 100}}", f"{key_path}.{name}"
            )
    if kind == "json_response":
        kind = "json_link"  # dlt's deprecated name
    return PaginatorSpec(kind, kwargs)


def _checked(value: Any, param: _Param, key_path: str) -> Any:
    if value is None:
        return None
    if param.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"must be a whole number, not {value!r}", key_path)
        if param.minimum is not None and value < param.minimum:
            raise ConfigError(f"must be at least {param.minimum}, not {value}", key_path)
    elif param.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, not {value!r}", key_path)
    elif param.kind in ("str", "path"):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"must be a non-empty string, not {value!r}", key_path)
        if param.kind == "path":
            try:
                JsonPath(value)
            except ValueError as exc:
                raise ConfigError(str(exc), key_path) from None
    return value
