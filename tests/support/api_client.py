"""A small ``fetch.ApiClient`` over a plain ``requests.Session``, for tests of the fetching engine.

The project's hook (``hooks.base.RestSyncHook``) is the real client; this one has no retries and no auth
beyond what a test puts in ``headers`` or ``params``, and records what ``iter_pages`` passes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.errors import ApiRequestError
from airflow_provider_restsync.fetch import Page, iter_pages
from airflow_provider_restsync.redaction import redact_url
from tests.support.http import Handler, LoopbackServer, Response, serve


@dataclass
class SentRequest:
    method: str
    url: str
    params: dict[str, Any] | None
    json: Any
    headers: dict[str, str] | None
    retry: Any


@dataclass
class SessionApiClient:
    """Sends each request through one session; relative URLs are joined to ``base_url``."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    secret_values: Iterable[str] = ()
    record: bool = True  # keep every request in ``sent``
    sent: list[SentRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers.update(self.headers)

    def url_for(self, url: str) -> str:
        if urlsplit(url).scheme in ("http", "https"):
            return url
        return f"{self.base_url.rstrip('/')}/{url.lstrip('/')}"

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: Any = None,
        raise_for_status: bool = True,
        accept: Any = None,  # a plain client: parses later, sends nothing again
    ) -> requests.Response:
        if self.record:
            self.sent.append(
                SentRequest(
                    method,
                    url,
                    dict(params) if params else None,
                    json,
                    dict(headers) if headers else None,
                    retry,
                )
            )
        merged = {**self.params, **(params or {})}
        response = self.session.request(
            method,
            self.url_for(url),
            params=merged or None,
            json=json,
            data=data,
            headers=dict(headers) if headers else None,
            timeout=30,
        )
        if raise_for_status:
            self.raise_for_status(response)
        return response

    def raise_for_status(self, response: requests.Response) -> None:
        if response.status_code < 400:
            return
        method = response.request.method if response.request is not None else "GET"
        url = self.redact(response.url)
        raise ApiRequestError(
            f"{method} {url} failed with HTTP {response.status_code} {response.reason}",
            method=method or "GET",
            url=url,
            status=response.status_code,
            reason=response.reason,
            body_excerpt=self.redact(response.text[:200]),
        )

    def redact(self, text: str) -> str:
        return redact_url(text, secret_values=self.secret_values)

    def close(self) -> None:
        self.session.close()


def resource_config(
    base_url: str, endpoint: Mapping[str, Any] | str, *, name: str = "items"
) -> dict[str, Any]:
    """A one-resource source config pointed at ``base_url``."""
    return {"client": {"base_url": base_url}, "resources": [{"name": name, "endpoint": endpoint}]}


def fetch_pages(
    base_url: str, config: Mapping[str, Any], resource: str = "items", **kwargs: Any
) -> tuple[list[Page], SessionApiClient]:
    """Every page ``iter_pages`` yields for ``resource``, and the client that fetched them."""
    client = SessionApiClient(base_url)
    try:
        return list(iter_pages(client, load_source(config), resource, **kwargs)), client
    finally:
        client.close()


def record_ids(pages: Iterable[Page], key: str = "id") -> list[Any]:
    return [record[key] for page in pages for record in page.records]


ServerFactory = Callable[[Handler], AbstractContextManager[LoopbackServer]]


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    """One loopback server per test module: stopping one takes half a second, so tests share it."""
    with serve(lambda request: Response(500, {"error": "no handler set"})) as server:
        yield server


@pytest.fixture
def api(loopback: LoopbackServer) -> ServerFactory:
    """``with api(handler) as server:`` serves ``handler`` on the shared server, requests log emptied."""

    @contextmanager
    def use(handler: Handler) -> Iterator[LoopbackServer]:
        loopback.handler = handler
        loopback.requests.clear()
        yield loopback

    return use
