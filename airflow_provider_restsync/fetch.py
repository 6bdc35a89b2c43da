"""``iter_pages``: one resource of a source as a stream of pages, never the whole resource in memory.

For each page: send the request, apply ``response_actions``, fail on an HTTP error, select the records,
let the paginator read its state, check the loop guards, yield the page, rewrite the request. A child
resource walks its ancestors first and issues its own requests once per parent record, with the
parent's values put into the path (URL-encoded) or the query.

Loop guards, per request sequence (one endpoint, one parent record):

- a request identical to one already sent (same method, URL and params) stops with a :class:`PagingError`;
- so does a page identical to the one before it although the request changed (an API ignoring the offset);
- so does a sequence longer than ``max_pages``.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests

from airflow_provider_restsync.bindings import Binding
from airflow_provider_restsync.config import ResourceConfig, ResponseAction, SourceConfig
from airflow_provider_restsync.cursor import CursorWindow, open_window
from airflow_provider_restsync.errors import ApiRequestError, PagingError
from airflow_provider_restsync.hooks.retry import RetryOverrides, accepted_body
from airflow_provider_restsync.incremental import PLACEHOLDER_PREFIX
from airflow_provider_restsync.json_codec import holds_non_finite
from airflow_provider_restsync.paging import BasePaginator, PageRequest
from airflow_provider_restsync.placeholders import Template, encode_path_value
from airflow_provider_restsync.responses import NotJsonError, parse_json
from airflow_provider_restsync.selecting import JsonPath, compile_selector

log = logging.getLogger(__name__)

Record = dict[str, Any]


Context = Mapping[str, Mapping[str, Any]]  # per ancestor resource: the values its record gives


@dataclass
class Page:
    """One page of one resource: its records, the redacted URL it came from, the parent values it was
    fetched under, and where its request sequence goes on.

    :param position: what the paginator needs to fetch the next page (a checkpoint keeps it); None
        after the last page, or when the paginator cannot say.
    :param last: no page follows in this request sequence.
    :param strict: the records hold strict JSON only (no NaN or Infinity, no integer beyond 64 bits), so
        orjson writes them out and reads them back unchanged (:mod:`.fetch_process` relies on it).
    :param progress: how far the request sequence has come after this page, (done, of) in the
        paginator's units, when the API reports a total (:meth:`BasePaginator.progress`).
    :param sequence: which request sequence of the sync the page belongs to, counted from 1 in the order
        of the parent records (those a resumed sync skips included); 0 when nobody counted.
    """

    resource: str
    number: int
    url: str
    records: list[Record]
    parent: Mapping[str, Any] | None = None
    context: Context = field(default_factory=dict)
    position: dict[str, Any] | None = None
    last: bool = False
    strict: bool = True
    progress: tuple[int, int] | None = None
    sequence: int = 0


class ApiClient(Protocol):
    """What ``iter_pages`` needs from an HTTP client; :class:`RestSyncHook` is one.

    The client applies the base URL, auth, client-level headers and retries; ``url`` may be relative to
    the base URL or absolute (a next-page link). ``retry`` is the endpoint's ``error_handler``: the client
    applies it to its own retry policy. ``accept`` parses an answer's body; a client may send the request
    again when it raises ``ValueError`` (see :meth:`RestSyncHook.request`).
    """

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: Any = None,
        retry: RetryOverrides | None = None,
        raise_for_status: bool = True,
        accept: Any = None,
    ) -> requests.Response: ...

    def raise_for_status(self, response: requests.Response) -> None: ...

    def redact(self, text: str) -> str: ...


def iter_pages(
    client: ApiClient,
    source: SourceConfig,
    resource_name: str,
    *,
    max_pages: int = 100_000,
    params: Mapping[str, Any] | None = None,
) -> Iterator[Page]:
    """Yield the non-empty pages of one resource, page by page; a child resource's pages for each parent
    record. No incremental window applies: every record the API sends is yielded.

    :param client: sends the requests (the hook).
    :param source: the parsed source config.
    :param resource_name: the resource to fetch; its ancestors are fetched too, but not yielded.
    :param max_pages: the most pages one request sequence may take before it is called a loop.
    :param params: query parameters added to the resource's own requests (not its ancestors').
    :raises PagingError: a loop, a selector that selects nothing, a parent record without a bound field.
    :raises ApiRequestError: an HTTP failure ``response_actions`` do not ignore.
    """
    fetcher = Fetcher(client, source, resource_name, max_pages=max_pages, params=params)
    number = 0
    try:
        for context in fetcher.contexts():
            for page in fetcher.walk(context):
                if page.records:
                    number += 1
                    page.number = number
                    yield page
    finally:
        fetcher.close()


class Fetcher:
    """The requests of one resource: its ancestors' records (as contexts) and its own request sequences.

    A context holds, per ancestor resource, the values of that ancestor's record the requests below it
    need (:func:`project`): the same whether the ancestors were fetched here or read from the parent
    keys the parent task stored.

    :param concurrency: requests in flight at once within one request sequence, where the paginator
        knows the next pages in advance (see ``_Pager``); 1 sends one after the other.
    """

    def __init__(
        self,
        client: ApiClient,
        source: SourceConfig,
        resource_name: str,
        *,
        max_pages: int = 100_000,
        params: Mapping[str, Any] | None = None,
        interval: tuple[datetime, datetime] | None = None,
        also_for: Iterable[ResourceConfig] = (),
        concurrency: int = 1,
    ) -> None:
        lineage = source.lineage(resource_name)
        self.resource = lineage[-1]
        self.lineage = lineage
        # The ancestors' values the requests below need, and those descendants (``also_for``) will.
        self.needs = fields_needed([*lineage[1:], *also_for])
        self.plans = [
            _EndpointPlan(resource, extra_params=params if resource is self.resource else None)
            for resource in lineage
        ]
        self.plan = self.plans[-1]
        self.interval = interval
        self._pager = _Pager(client, max_pages, concurrency)

    def close(self) -> None:
        """Stop the threads that send requests ahead; the fetcher can still be used (it starts new ones)."""
        self._pager.close()

    def contexts(self) -> Iterator[Context]:
        """The ancestors' contexts, fetched from the API (one empty context for a root resource)."""
        return self._contexts(self.plans[:-1])

    def walk(
        self,
        context: Context,
        *,
        position: Mapping[str, Any] | None = None,
        window: CursorWindow | None = None,
    ) -> Iterator[Page]:
        """One request sequence of the resource under ``context``: every page, empty ones included,
        the last one marked; from ``position`` when resuming, asking for ``window`` when incremental."""
        return self._pager.walk(self.plan, context, position=position, window=window)

    def _contexts(self, plans: list[_EndpointPlan]) -> Iterator[Context]:
        if not plans:
            yield {}
            return
        *above, plan = plans
        projection = self.needs.get(plan.name) or Projection(())
        window = self._ancestor_window(plan)
        for context in self._contexts(above):
            for page in self._pager.walk(plan, context, window=window):
                for record in page.records:
                    yield {**context, plan.name: projection(record)}

    def _ancestor_window(self, plan: _EndpointPlan) -> CursorWindow | None:
        """An ancestor fetched here asks from its initial value: every parent, so no child is missed."""
        spec = plan.resource.endpoint.incremental
        if spec is None:
            return None
        return open_window(spec, None, interval=self.interval, where=f"resource {plan.name!r}")


def fields_needed(resources: Iterable[ResourceConfig]) -> dict[str, Projection]:
    """Per ancestor resource, the fields of its records that ``resources`` take (bound placeholders and
    ``include_from_parent``), as a :class:`Projection` compiled once."""
    needs: dict[str, dict[str, None]] = {}
    for resource in resources:
        for binding in resource.bindings:
            needs.setdefault(binding.resource, {})[binding.field] = None
        if resource.parent is not None:
            for name in resource.include_from_parent:
                needs.setdefault(resource.parent, {})[name] = None
    return {name: Projection(fields) for name, fields in needs.items()}


class Projection:
    """The fields of one resource's records that the requests below it need, paths compiled once."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(dict.fromkeys(fields))
        self._paths = [(name, JsonPath(name)) for name in self.fields]

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The values of the fields in ``record`` (a field path as a binding reads it; a missing one is
        left out, so a later lookup can tell missing from null)."""
        values: dict[str, Any] = {}
        for name, path in self._paths:
            value = record[name] if name in record else path.first(record)
            if value is not None or name in record:
                values[name] = value
        if len(values) < len(self.fields) or None in values.values():
            values[_HAS] = _fields(record)  # for the error a child raises about it
        return values


_HAS = "__restsync_record_fields__"  # JSON that PostgreSQL stores (no NUL), no config names a field so


class _ResponseActions:
    """dlt's ``response_actions``: the first entry whose status and content match decides."""

    def __init__(self, actions: tuple[ResponseAction, ...]) -> None:
        self.actions = actions

    def ignores(self, response: requests.Response) -> bool:
        for action in self.actions:
            if action.status_code is not None and response.status_code != action.status_code:
                continue
            if action.content is not None and action.content not in response.text:
                continue
            return action.action == "ignore"
        return False


class _EndpointPlan:
    """What one resource's requests need, compiled once per ``iter_pages`` call."""

    def __init__(self, resource: ResourceConfig, *, extra_params: Mapping[str, Any] | None) -> None:
        endpoint = resource.endpoint
        self.resource = resource
        self.name = resource.name
        self.retry = endpoint.retry
        self.selector = compile_selector(endpoint.data_selector)
        self.paginator = endpoint.paginator
        self.actions = _ResponseActions(endpoint.response_actions)
        self.static_params = {**endpoint.params, **(extra_params or {})}
        by_placeholder = {binding.placeholder: binding for binding in resource.bindings}
        self.path_bindings = {
            name: by_placeholder[name] for name in endpoint.path.names if not _incremental(name)
        }
        self.param_bindings = {
            name: by_placeholder[name]
            for template in endpoint.param_templates.values()
            for name in template.names
            if not _incremental(name)
        }
        body_names = endpoint.json_template.names if endpoint.json_template is not None else ()
        self.body_bindings = {name: by_placeholder[name] for name in body_names if not _incremental(name)}

    def first_request(self, context: Context, window: CursorWindow | None = None) -> PageRequest:
        endpoint = self.resource.endpoint
        values = window.values() if window is not None else {}
        params = dict(self.static_params)
        if window is not None:
            params.update(window.request_params())
        path = endpoint.path.render(lambda name: self._path_value(name, context, values))
        for name, template in endpoint.param_templates.items():
            params[name] = self._param_value(template, context, values)
        return PageRequest(
            url=path,
            method=endpoint.method,
            params=params,
            json=self._body(context, values),
            headers=dict(endpoint.headers),
        )

    def _body(self, context: Context, values: Mapping[str, Any]) -> Any:
        template = self.resource.endpoint.json_template
        if template is None:
            return self.resource.endpoint.json
        return template.render(lambda name: self._value(name, self.body_bindings, context, values))

    def parent_fields(self, parent: Mapping[str, Any] | None) -> dict[str, Any]:
        """The ``include_from_parent`` fields for this resource's records, as ``_<parent>_<field>``."""
        if parent is None or not self.resource.include_from_parent:
            return {}
        missing = [name for name in self.resource.include_from_parent if name not in parent]
        if missing:
            raise PagingError(
                f"resource {self.name!r} includes {missing[0]!r} from its parent {self.resource.parent!r}, "
                f"whose record has no such field; it has: {parent.get(_HAS) or _fields(parent)}"
            )
        return {f"_{self.resource.parent}_{name}": parent[name] for name in self.resource.include_from_parent}

    def _value(
        self, name: str, bindings: Mapping[str, Binding], context: Context, values: Mapping[str, Any]
    ) -> Any:
        if _incremental(name):
            return values.get(name[len(PLACEHOLDER_PREFIX) :])
        binding = bindings[name]
        record = context[binding.resource]
        value = record.get(binding.field)
        if value is None:
            raise PagingError(
                f"resource {self.name!r} needs field {binding.field!r} of a {binding.resource!r} record for "
                f"{{{binding.placeholder}}}, but it is missing or null; the record has: "
                f"{record.get(_HAS) or _fields(record)}"
            )
        return value

    def _path_value(self, name: str, context: Context, values: Mapping[str, Any]) -> str:
        value = self._value(name, self.path_bindings, context, values)
        try:
            return encode_path_value(value, name)
        except ValueError as exc:
            raise PagingError(f"resource {self.name!r}: {exc}") from None

    def _param_value(self, template: Template, context: Context, values: Mapping[str, Any]) -> Any:
        bindings = self.param_bindings
        if template.single is not None:
            # A param that is just one placeholder keeps the value's type (an int stays an int).
            return self._value(template.single, bindings, context, values)
        return template.render(lambda name: str(self._value(name, bindings, context, values)))


def _incremental(name: str) -> bool:
    return name.startswith(PLACEHOLDER_PREFIX)


def _fields(record: Mapping[str, Any], limit: int = 20) -> str:
    names = list(record)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(map(repr, names[:limit])) + more


class _LoopGuard:
    """Stops one request sequence that would never end: repeated requests, repeated pages, too many pages."""

    def __init__(self, resource: str, max_pages: int) -> None:
        self.resource = resource
        self.max_pages = max_pages
        self.pages = 0
        # Hashes, not the requests themselves: a long sequence must not hold every URL it visited.
        self._planned: set[int] = set()
        self._sent: dict[int, int] = {}
        self._previous_body: int | None = None

    def before(self, request: PageRequest, paginator: BasePaginator, last_url: str | None) -> None:
        """Check the request about to be sent, as the paginator wrote it."""
        where = f"after {last_url}" if last_url else "on the first request"
        if self.pages >= self.max_pages:
            raise PagingError(
                f"resource {self.resource!r}: stopped after {self.max_pages} pages ({where}) while the API "
                f"still reports more ({paginator.describe()}); raise max_pages if the resource is that large"
            )
        key = hash((request.method, request.url, _params_key(request.params), _json_key(request.json)))
        if key in self._planned:
            raise PagingError(
                f"resource {self.resource!r}: the next-page request ({paginator.describe()}) repeats one "
                f"already made {where}: the API is looping"
            )
        self._planned.add(key)

    def after(self, request: PageRequest, response: requests.Response, url: str) -> None:
        """Check the request as actually sent (absolute URL, encoded query): it must be a new one."""
        first = response.history[0] if response.history else response
        sent_url = first.request.url if first.request is not None else response.url
        key = hash((request.method, sent_url, _json_key(request.json)))
        if key in self._sent:
            raise PagingError(
                f"resource {self.resource!r}: page {self.pages + 1} ({url}) repeats the request of page "
                f"{self._sent[key]}: the API's next page points back to a page already fetched"
            )
        self.pages += 1
        self._sent[key] = self.pages

    def check_page(self, response: requests.Response, count: int, url: str) -> None:
        """A non-empty page identical to the previous one means the API ignores the paging parameter."""
        digest = hash(response.content) if count else None
        if digest is not None and digest == self._previous_body:
            raise PagingError(
                f"resource {self.resource!r}: page {self.pages} ({url}) is identical to page "
                f"{self.pages - 1}: the API seems to ignore the paging parameters"
            )
        self._previous_body = digest


def _params_key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(name), repr(value)) for name, value in params.items()))


def _json_key(body: Any) -> str | None:
    return None if body is None else json.dumps(body, sort_keys=True, default=str)


def _request_key(request: PageRequest) -> tuple[Any, ...]:
    return (
        request.method,
        request.url,
        _params_key(request.params),
        _json_key(request.json),
        _params_key(request.headers),
    )


class _Pager:
    """Runs request sequences through one client: the page loop of one endpoint for one parent record.

    With ``concurrency`` above 1, the pages a paginator knows in advance (``upcoming``: offsets and page
    numbers below a known total) are requested ahead, up to ``concurrency`` in flight, and taken in page
    order: every page still goes through the paginator, the loop guard and the checkpoint one after the
    other, exactly as without. A page whose request the paginator does not end up making is dropped.
    """

    def __init__(self, client: ApiClient, max_pages: int, concurrency: int = 1) -> None:
        self.client = client
        self.max_pages = max_pages
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the threads of requests sent ahead (those in flight are waited for)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def walk(
        self,
        plan: _EndpointPlan,
        context: Context,
        *,
        position: Mapping[str, Any] | None = None,
        window: CursorWindow | None = None,
    ) -> Iterator[Page]:
        """Yield every page until the paginator proves the end; the last one has ``last`` set."""
        parent = context.get(plan.resource.parent) if plan.resource.parent else None
        request = plan.first_request(context, window)
        paginator = plan.paginator.create()
        paginator.init_request(request)
        if position is not None:
            paginator.resume(request, position)
        guard = _LoopGuard(plan.name, self.max_pages)
        extra_fields = plan.parent_fields(parent)
        extra_strict = not any(map(holds_non_finite, extra_fields.values()))
        ahead: deque[tuple[Any, Future[requests.Response]]] = deque()
        url: str | None = None
        number = 0
        try:
            while True:
                guard.before(request, paginator, url)
                try:
                    response = self._response(plan, request, paginator, ahead)
                except ApiRequestError as exc:
                    raise exc.in_resource(plan.name) from None
                url = self.client.redact(response.url)
                guard.after(request, response, url)
                if plan.actions.ignores(response):
                    log.info(
                        "Resource %r: ignoring the %d response of %s", plan.name, response.status_code, url
                    )
                    yield Page(plan.name, number + 1, url, [], parent, context, None, True)
                    return
                if response.status_code >= 400:
                    try:
                        self.client.raise_for_status(response)
                    except ApiRequestError as exc:
                        raise exc.in_resource(plan.name) from None
                    raise ApiRequestError(
                        f"resource {plan.name!r}: {request.method} {url} failed with HTTP "
                        f"{response.status_code}",
                        method=request.method,
                        url=url,
                        status=response.status_code,
                        reason=response.reason,
                    )
                body, strict = self._body(plan, response, url)
                records = [] if body is None else plan.selector.select(body, resource=plan.name, url=url)
                try:
                    paginator.update_state(response, records, body=body)
                except PagingError as exc:
                    raise PagingError(
                        f"resource {plan.name!r}, {url}: {self.client.redact(str(exc))}"
                    ) from None
                guard.check_page(response, len(records), url)
                if extra_fields:
                    for record in records:
                        record.update(extra_fields)
                number += 1
                last = not paginator.has_next_page
                position = None if last else paginator.position()
                del body, response
                yield Page(
                    plan.name,
                    number,
                    url,
                    records,
                    parent,
                    context,
                    position,
                    last,
                    strict and extra_strict,
                    paginator.progress(),
                )
                if last:
                    return
                paginator.update_request(request)
        finally:
            for _, future in ahead:
                future.cancel()

    def _send(self, plan: _EndpointPlan, request: PageRequest) -> requests.Response:
        return self.client.request(
            request.method,
            request.url,
            params=request.params or None,
            json=request.json,
            headers=request.headers or None,
            retry=plan.retry,
            raise_for_status=False,
            accept=parse_json,  # a body cut off or not JSON (an HTML error page) is sent for again
        )

    def _response(
        self,
        plan: _EndpointPlan,
        request: PageRequest,
        paginator: BasePaginator,
        ahead: deque[tuple[Any, Future[requests.Response]]],
    ) -> requests.Response:
        """The response to ``request``: one sent ahead if it was, else sent now; then top up ``ahead``
        with the pages after it that the paginator knows."""
        key = _request_key(request)
        future: Future[requests.Response] | None = None
        if ahead and ahead[0][0] == key:
            future = ahead.popleft()[1]
        else:
            for _, dropped in ahead:  # the paginator went elsewhere: what was sent ahead is not needed
                dropped.cancel()
            ahead.clear()
        if self.concurrency > 1:
            planned = paginator.upcoming(request, self.concurrency - 1)
            known = {k for k, _ in ahead}
            if self._pool is None and planned:
                self._pool = ThreadPoolExecutor(self.concurrency - 1, thread_name_prefix="restsync-page")
            for upcoming in planned:
                upcoming_key = _request_key(upcoming)
                if upcoming_key not in known and self._pool is not None:
                    ahead.append((upcoming_key, self._pool.submit(self._send, plan, upcoming)))
        if future is not None:
            return future.result()
        return self._send(plan, request)

    @staticmethod
    def _body(plan: _EndpointPlan, response: requests.Response, url: str) -> tuple[Any, bool]:
        try:
            return accepted_body(response, parse_json)
        except NotJsonError as exc:
            raise PagingError(f"resource {plan.name!r}: the response of {url} is not JSON: {exc}") from None


__all__ = ["ApiClient", "Page", "iter_pages"]
