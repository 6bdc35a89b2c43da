"""The vocabulary every sandbox API is described in: auth style, paging style, resources, HTTP errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Record = dict[str, Any]
# Indices of the parent records a child resource hangs under, outermost first: (account, inbox).
Parents = tuple[int, ...]

# Unpaginated resources send their whole list in one response; this keeps such responses moderate.
UNPAGINATED_CAP = 2000

RETRIED_STATUSES = frozenset({"429", "500", "502", "503", "504"})
# Clients retry these whatever the document says: a drop by connection retries, slow by just waiting.
ALWAYS_RETRIED = frozenset({"drop", "slow"})

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Scope:
    """What every record factory sees: the ``--records`` size and the data seed."""

    records: int
    seed: int


CountFn = Callable[[Scope, Parents], int]
RecordFn = Callable[[Scope, int, Parents], Record]
ExtraFn = Callable[[Scope], Mapping[str, Any]]


def fixed(size: int) -> CountFn:
    """A count that ignores ``--records``: lookup resources such as servers and domains."""

    def count(scope: Scope, parents: Parents) -> int:
        return size

    return count


def scaled(scope: Scope, parents: Parents) -> int:
    """The count of a main paginated resource: ``--records``."""
    return scope.records


def capped(scope: Scope, parents: Parents) -> int:
    """The count of a main unpaginated resource: ``--records``, at most ``UNPAGINATED_CAP``."""
    return min(scope.records, UNPAGINATED_CAP)


@dataclass(frozen=True)
class Resource:
    """One endpoint: its path template, where its rows sit in the body, and how its rows are made.

    :param name: the resource name of the reference config (``usage_transactions``).
    :param path: path template below the API prefix; ``{param}`` segments bind to parent records.
    :param selector: the body key that holds the rows (the config's ``data_selector``).
    :param count: how many rows sit under the given parents.
    :param record: the row at an index under the given parents; a pure function of its arguments.
    :param size: the row count as a user reads it (``min(records, 2000)``), shown in ``--help``.
    :param parent: the resource whose records fill the last path parameter.
    :param key: the field of this resource's records a child path parameter matches.
    :param total: whether a paginated body carries the API's total field.
    :param extra: further top-level body fields (``InactiveMails``).
    """

    name: str
    path: str
    selector: str
    count: CountFn
    record: RecordFn
    size: str
    parent: str | None = None
    key: str = "id"
    total: bool = True
    extra: ExtraFn | None = None

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.path))

    def match(self, path: str) -> tuple[str, ...] | None:
        """The path parameter values if ``path`` fits this resource's template, else None."""
        template = self.path.strip("/").split("/")
        parts = path.strip("/").split("/")
        if len(template) != len(parts):
            return None
        values = []
        for expected, actual in zip(template, parts, strict=True):
            if _PARAM.fullmatch(expected):
                if not actual:
                    return None
                values.append(actual)
            elif expected != actual:
                return None
        return tuple(values)

    def rows(
        self, scope: Scope, parents: Parents, start: int = 0, stop: int | None = None
    ) -> Iterator[Record]:
        """Rows ``start`` to ``stop`` under ``parents``, made one at a time."""
        count = self.count(scope, parents)
        end = count if stop is None else min(stop, count)
        for index in range(max(start, 0), end):
            yield self.record(scope, index, parents)


AuthKind = Literal["basic", "header", "query", "bearer"]


@dataclass(frozen=True)
class Auth:
    """How an API wants its secret: basic (fixed ``username``), an api key by ``name``, or a bearer token."""

    kind: AuthKind
    name: str = ""
    username: str = ""

    @property
    def secret_field(self) -> str:
        """The dlt auth config key that carries the secret."""
        return {"basic": "password", "bearer": "token"}.get(self.kind, "api_key")

    def describe(self) -> str:
        if self.kind == "basic":
            return f"basic auth, user {self.username!r}, API key as password"
        if self.kind == "bearer":
            return "bearer token in the Authorization header"
        where = "header" if self.kind == "header" else "query parameter"
        return f"API key in the {where} {self.name!r}"


@dataclass(frozen=True)
class OffsetPaging:
    """Offset/limit paging; a missing limit means ``max_limit`` and a bigger one is capped to it."""

    max_limit: int
    total_key: str | None = None
    total_first: bool = False
    offset_param: str = "offset"
    limit_param: str = "limit"


@dataclass(frozen=True)
class Api:
    """One reference API: served under ``/<name>`` with its own auth, paging and resources."""

    name: str
    document: str
    auth: Auth
    paging: OffsetPaging | None
    resources: tuple[Resource, ...]
    retried_statuses: frozenset[str] = RETRIED_STATUSES

    def resource(self, name: str) -> Resource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        known = ", ".join(r.name for r in self.resources)
        raise KeyError(f"API {self.name!r} has no resource {name!r}; it has {known}")

    @property
    def fault_kinds(self) -> frozenset[str]:
        """Faults a client configured by the reference document retries, so the sandbox may inject them."""
        return self.retried_statuses | ALWAYS_RETRIED


class HttpError(Exception):
    """A response other than 200, with a JSON error body that never contains a credential."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}
