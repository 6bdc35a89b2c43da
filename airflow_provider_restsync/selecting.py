"""Find the records in a response body: ``data_selector`` as a plain key, a JSONPath, or auto-detection.

Selectors are compiled once per resource. A plain key (``data``, ``items``, ``result.rows``) is a chain of
dict lookups, never a JSONPath evaluation, because it runs once per page on the hot path.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from airflow_provider_restsync.errors import PagingError

log = logging.getLogger(__name__)

# Keys that name a list of records, and keys that never do (dlt's detector uses the same lists).
RECORD_KEYS = frozenset(
    [
        "data",
        "items",
        "results",
        "entries",
        "records",
        "rows",
        "entities",
        "payload",
        "content",
        "objects",
        "values",
    ]
)
NON_RECORD_KEYS = frozenset(["meta", "metadata", "pagination", "links", "extras", "headers"])

# How deep auto-detection looks for a list of records (dlt: three levels of keys).
_MAX_DETECT_DEPTH = 3

_PLAIN_KEY = r"[A-Za-z_][A-Za-z0-9_\-]*"
_PLAIN_PATH = re.compile(rf"^(?:\$\.)?{_PLAIN_KEY}(?:\.{_PLAIN_KEY})*$")
# JSONPath pieces that can match more than one value; their matches are the records themselves.
_MULTI_MATCH = re.compile(r"\*|\.\.|\?|:|,|\|")
_MISSING: Any = object()


class JsonPath:
    """A compiled path into a JSON body: plain dotted keys as dict lookups, anything else with jsonpath-ng.

    :param expression: ``total``, ``meta.total_count``, ``$.data``, ``$.pages[0].next`` ...
    :raises ValueError: the expression is not valid JSONPath.
    """

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.keys: tuple[str, ...] | None = None
        self._compiled: Any = None
        if _PLAIN_PATH.match(expression):
            self.keys = tuple(expression.removeprefix("$.").split("."))
        else:
            self._compiled = _parse_jsonpath(expression)

    @classmethod
    def from_keys(cls, keys: tuple[str, ...]) -> JsonPath:
        """A plain path of ``keys`` (which may hold dots or other characters JSONPath would need quoted)."""
        path = cls.__new__(cls)
        path.expression = ".".join(keys)
        path.keys = keys
        path._compiled = None
        return path

    @property
    def is_plain(self) -> bool:
        return self.keys is not None

    def find(self, body: Any) -> list[Any]:
        """Every value the path matches in ``body`` (``[]`` when it matches nothing)."""
        if self.keys is not None:
            value = _lookup(body, self.keys)
            return [] if value is _MISSING else [value]
        return [match.value for match in self._matches(body)]

    def first(self, body: Any, default: Any = None) -> Any:
        """The first value the path matches, else ``default``."""
        if self.keys is not None:
            value = _lookup(body, self.keys)
            return default if value is _MISSING else value
        matches = self._matches(body)
        return matches[0].value if matches else default

    def _matches(self, body: Any) -> list[Any]:
        try:
            return list(self._compiled.find(body))
        except Exception as exc:  # jsonpath-ng's extensions raise TypeError, AssertionError ... on odd bodies
            raise PagingError(
                f"JSONPath {self.expression!r} cannot be evaluated on this body "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def __repr__(self) -> str:
        return f"JsonPath({self.expression!r})"


def _lookup(body: Any, keys: tuple[str, ...]) -> Any:
    value = body
    for key in keys:
        if not isinstance(value, dict):
            return _MISSING
        value = value.get(key, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _parse_jsonpath(expression: str) -> Any:
    # The extended parser understands filters (`[?(@.active)]`); import it only when a selector needs it.
    from jsonpath_ng.ext import parse

    try:
        compiled = parse(expression)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses of its own
        raise ValueError(f"invalid JSONPath {expression!r}: {exc}") from exc
    if _has_intersection(compiled):
        raise ValueError(
            f"invalid JSONPath {expression!r}: '&' (intersection) is not implemented by jsonpath-ng"
        )
    return compiled


def _has_intersection(node: Any, depth: int = 0) -> bool:
    from jsonpath_ng.jsonpath import Intersect

    if isinstance(node, Intersect):
        return True
    if depth > 100:
        return False
    children = (getattr(node, name, None) for name in ("left", "right", "child", "expression"))
    return any(child is not None and _has_intersection(child, depth + 1) for child in children)


class Selector(ABC):
    """Takes the records out of one page's parsed JSON body."""

    expression: str | None = None

    @abstractmethod
    def select(self, body: Any, *, resource: str, url: str) -> list[dict[str, Any]]:
        """Return the page's records; ``url`` must already be redacted (it goes into error messages).

        :raises PagingError: the selector matches nothing, or something that is not a list of records.
        """

    def _fail(self, problem: str, body: Any, *, resource: str, url: str) -> PagingError:
        return PagingError(
            f"resource {resource!r}: {problem} in the response of {url}; {describe_body(body)}"
        )

    def _find(self, path: JsonPath, body: Any, *, resource: str, url: str) -> list[Any]:
        try:
            return path.find(body)
        except PagingError as exc:  # a JSONPath extension that cannot be evaluated on this body
            raise self._fail(str(exc), body, resource=resource, url=url) from None

    def _records(self, value: Any, body: Any, *, resource: str, url: str) -> list[dict[str, Any]]:
        if isinstance(value, list):
            # Checking the first item only keeps this O(1) per page; a JSON list is rarely mixed.
            if value and not isinstance(value[0], dict):
                raise self._fail(
                    f"data_selector {self.expression!r} selected a list of {type(value[0]).__name__}, "
                    "not of objects",
                    body,
                    resource=resource,
                    url=url,
                )
            return value
        if value is None:
            # `"data": null` carries no records: an empty page, not a broken selector.
            return []
        raise self._fail(
            f"data_selector {self.expression!r} selected a {type(value).__name__}, not a list",
            body,
            resource=resource,
            url=url,
        )


class RootSelector(Selector):
    """``$``: the body itself is the records, or one record when it is an object (a single entity)."""

    expression = "$"

    def select(self, body: Any, *, resource: str, url: str) -> list[dict[str, Any]]:
        if isinstance(body, dict):
            return [body]
        return self._records(body, body, resource=resource, url=url)


class KeySelector(Selector):
    """A plain key or dotted key path: ``data``, ``Bounces``, ``result.items``."""

    def __init__(self, expression: str, keys: tuple[str, ...]) -> None:
        self.expression = expression
        self.keys = keys
        self._single = keys[0] if len(keys) == 1 else None

    def select(self, body: Any, *, resource: str, url: str) -> list[dict[str, Any]]:
        if self._single is not None and isinstance(body, dict):
            value = body.get(self._single, _MISSING)
        else:
            value = _lookup(body, self.keys)
        if value is _MISSING:
            raise self._fail(
                f"data_selector {self.expression!r} matched nothing", body, resource=resource, url=url
            )
        if type(value) is list and (not value or type(value[0]) is dict):
            return value
        return self._records(value, body, resource=resource, url=url)


class JsonPathSelector(Selector):
    """A JSONPath that names one place (``$.data.items``, ``pages[0].rows``): that place must hold a list."""

    def __init__(self, expression: str, path: JsonPath) -> None:
        self.expression = expression
        self.path = path

    def select(self, body: Any, *, resource: str, url: str) -> list[dict[str, Any]]:
        values = self._find(self.path, body, resource=resource, url=url)
        if not values:
            raise self._fail(
                f"data_selector {self.expression!r} matched nothing", body, resource=resource, url=url
            )
        return self._records(values[0], body, resource=resource, url=url)


class JsonPathMatchesSelector(Selector):
    """A JSONPath that matches many values (``$..records``, ``data[?(@.active)]``): each match is a record."""

    def __init__(self, expression: str, path: JsonPath) -> None:
        self.expression = expression
        self.path = path

    def select(self, body: Any, *, resource: str, url: str) -> list[dict[str, Any]]:
        records = self._find(self.path, body, resource=resource, url=url)
        if records and all(type(match) is list for match in records):
            records = [record for match in records for record in match]  # `$..items`: the lists' records
        if records and not isinstance(records[0], dict):
            raise self._fail(
                f"data_selector {self.expression!r} matched {type(records[0]).__name__} values, not objects",
                body,
                resource=resource,
                url=url,
            )
        return records


class AutoSelector(Selector):
    """No ``data_selector``: detect the records like dlt does, then keep using the path found.

    A top-level list is the records; in an object, the first list under a well-known key (``data``,
    ``items``, ``results`` ...), else the least nested list; an object without any list is one record.
    The path found on one page is tried first on the next, so detection does not run on every page.
    """

    def __init__(self) -> None:
        self._keys: tuple[str, ...] | None = None

    def select(self, body: Any, *, resource: str, url: str) -> list[dict[str, Any]]:
        if self._keys is not None:
            value = _lookup(body, self._keys)
            if type(value) is list:
                return value
        if isinstance(body, list):
            return self._records(body, body, resource=resource, url=url)
        if not isinstance(body, dict):
            raise self._fail(
                "the response is neither a JSON object nor a list", body, resource=resource, url=url
            )
        keys = detect_records_path(body)
        if keys is None:
            log.info(
                "Resource %r: no list in the response of %s, taking the object as one record", resource, url
            )
            return [body]
        if keys != self._keys:
            log.info("Resource %r: records detected under %r", resource, ".".join(keys))
            self._keys = keys
        self.expression = ".".join(keys)
        return self._records(_lookup(body, keys), body, resource=resource, url=url)


def detect_records_path(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The key path of the list that most likely holds the records, or ``None`` when there is no list."""
    lists: list[tuple[str, ...]] = []
    _collect_lists(body, (), lists)
    if not lists:
        return None
    for path in lists:
        if path[-1] in RECORD_KEYS and path[-1] not in NON_RECORD_KEYS:
            return path
    return min(lists, key=len)


def _collect_lists(node: Mapping[str, Any], path: tuple[str, ...], found: list[tuple[str, ...]]) -> None:
    # Breadth first, so that a shallow well-known key wins over a deeper one.
    nested: list[tuple[Mapping[str, Any], tuple[str, ...]]] = []
    for key, value in node.items():
        if isinstance(value, list):
            found.append((*path, key))
        elif isinstance(value, dict) and len(path) + 1 < _MAX_DETECT_DEPTH:
            nested.append((value, (*path, key)))
    for child, child_path in nested:
        _collect_lists(child, child_path, found)


def compile_selector(selector: str | None) -> Selector:
    """Compile a ``data_selector`` once; ``None`` detects the records on the first page.

    :raises ValueError: the selector is not valid JSONPath.
    """
    if selector is None:
        return AutoSelector()
    if not isinstance(selector, str) or not selector.strip():
        raise ValueError(f"data_selector must be a non-empty string, not {selector!r}")
    expression = selector.strip()
    if expression == "$":
        return RootSelector()
    path = JsonPath(expression)
    if path.keys is not None:
        return KeySelector(expression, path.keys)
    # `$.data[*]` means "the items of data": select the list itself, so that a missing list is an error.
    if expression.endswith("[*]") and not _MULTI_MATCH.search(expression[:-3]):
        inner = expression[:-3]
        inner_path = JsonPath(inner)
        if inner_path.keys is not None:
            return KeySelector(expression, inner_path.keys)
        return JsonPathSelector(expression, inner_path)
    if _MULTI_MATCH.search(expression):
        return JsonPathMatchesSelector(expression, path)
    return JsonPathSelector(expression, path)


def describe_body(body: Any, limit: int = 20) -> str:
    """A short description of a body's shape for error messages: its top-level keys, never its values."""
    if isinstance(body, dict):
        keys = list(body)
        shown = ", ".join(repr(key) for key in keys[:limit])
        more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
        return f"top-level keys: [{shown}]{more}" if keys else "the body is an empty object"
    if isinstance(body, list):
        return f"the body is a list of {len(body)} items"
    return f"the body is a JSON {type(body).__name__}"
