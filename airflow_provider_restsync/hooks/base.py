"""The hook every auth style shares: a Session per retry policy over one connection pool, and redaction.

A request goes straight down: :meth:`RestSyncHook.request` resolves the endpoint's policy, picks that
policy's Session (built once; every Session has the same headers, TLS, auth and connection pool), and
reads what happened from urllib3's ``Retry`` history. Error messages are in :mod:`.messages`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from airflow_provider_restsync import __version__
from airflow_provider_restsync.auth_styles import STYLES_BY_CONN_TYPE, AuthStyle, check_auth_keys
from airflow_provider_restsync.errors import ApiRequestError, AuthConfigError, ConfigError, RestSyncError
from airflow_provider_restsync.hooks import messages
from airflow_provider_restsync.hooks.extras import as_headers, as_verify, is_empty, plain_extra
from airflow_provider_restsync.hooks.masking import REGISTRY, install_log_filter, mask_with_airflow
from airflow_provider_restsync.hooks.retry import (
    ACCEPTED,
    BODY_BROKEN,
    BODY_REFUSED,
    DEFAULT_PORTS,
    RETRY_METHODS,
    RetryAfterTooLongError,
    RetryEvent,
    RetryOverrides,
    RetryPolicy,
    backoff_seconds,
    cause_of,
    failed_attempts,
    is_broken_body,
    retries_of,
    served_by,
)
from airflow_provider_restsync.redaction import redact_secrets, spellings

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from urllib3.util.retry import Retry

# Header names whose values are credentials even when they come from the "headers" extra.
_SECRET_HEADER = re.compile(r"(authorization|token|secret|api[_-]?key|apikey|password|cookie)", re.I)


@dataclass
class RequestStats:
    """What the operator reports: calls of :meth:`RestSyncHook.request` and the retries among them.

    Every call counts once in ``requests`` whatever its outcome; each repeated attempt counts in
    ``retries``, so ``attempts == requests + retries`` HTTP requests were sent. OAuth2 token requests
    are not counted. Safe to update from several threads.
    """

    requests: int = 0
    retries: int = 0
    #: retries by what caused them: the HTTP status ("429", "503"), "timeout", "connection",
    #: "incomplete body" or "not JSON".
    by_cause: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def attempts(self) -> int:
        """HTTP requests actually sent, first attempts and retries."""
        return self.requests + self.retries

    def record(self, retries: int) -> None:
        """Count one call and the retries it took."""
        with self._lock:
            self.requests += 1
            self.retries += retries

    def count_cause(self, cause: str) -> None:
        """Count one retry under what caused it."""
        with self._lock:
            self.by_cause[cause] = self.by_cause.get(cause, 0) + 1


class _PolicyAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that runs one policy's ``Retry``, with the policy's timeouts as the default.

    :param pool_of: an adapter whose connection pool to use. urllib3 takes the ``Retry`` per request,
        not per pool, so all of a hook's policies share one pool and its keep-alive connections.
    """

    def __init__(self, policy: RetryPolicy, retry: Retry, pool_of: HTTPAdapter | None = None) -> None:
        self.default_timeout = policy.timeout
        super().__init__(max_retries=retry)
        if pool_of is not None:
            self.poolmanager = pool_of.poolmanager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        # Code that uses get_conn() directly still gets timeouts: requests has none by default.
        return super().send(
            request,
            stream=stream,
            timeout=self.default_timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _shown_origin(origin: tuple[str, str, int | None]) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS.get(scheme) else "")


def _unusable_body(
    response: requests.Response, accept: Callable[[requests.Response], Any] | None
) -> tuple[str, Exception] | None:
    """Read ``response``'s body; why it is unusable (it broke off, or ``accept`` refused it), or None.

    What ``accept`` returns is kept on the response (:func:`~.retry.accepted_body`).
    """
    try:
        response.content  # noqa: B018 (reads the body)
    except requests.RequestException as exc:
        if not is_broken_body(exc):
            raise
        response.close()
        return BODY_BROKEN, exc
    if accept is not None and response.status_code < 400:
        try:
            setattr(response, ACCEPTED, accept(response))
        except ValueError as exc:
            return BODY_REFUSED, exc
    return None


class _Session(requests.Session):
    """A Session that reads the environment (proxies, CA bundle) once per origin, not once per request.

    requests scans every environment variable on each request for proxy settings; a sync sends
    thousands of requests to one or two origins, and that scan cost more than parsing the pages.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[Any, Any] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        if verify is None:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE beat the Session's own verify (a
            # connection's "verify": false or CA bundle path) unless the request names it: name it.
            verify = self.verify
        try:
            key = (_origin(str(url)), tuple(sorted((proxies or {}).items())), stream, verify, cert)
            hash(key)
        except TypeError:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """On a redirect, sign the next request as any other: credentials for the base URL's origin only
        (requests keeps custom headers such as an API key's on a redirect to another host)."""
        super().rebuild_auth(prepared_request, response)
        if isinstance(self.auth, _OriginScopedAuth):
            self.auth(prepared_request)


class _OriginScopedAuth(AuthBase):
    """Signs only requests to the base URL's origin; strips credentials from requests to any other.

    A next link or a redirect to another host never gets the key: not from the auth, not from a secret
    header of the connection, not even when the server put the key into that URL itself.

    :param strip: removes every credential from a request (the hook knows its secrets).
    """

    def __init__(
        self,
        inner: AuthBase | None,
        base_url: str,
        log: Any,
        strip: Callable[[requests.PreparedRequest], bool],
    ) -> None:
        self.inner = inner
        self.origin = _origin(base_url)
        self.log = log
        self.strip = strip
        self._warned: set[tuple[str, str, int | None]] = set()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        origin = _origin(r.url or "")
        if origin == self.origin:
            return self.inner(r) if self.inner is not None else r
        stripped = self.strip(r)
        if origin not in self._warned:
            self._warned.add(origin)
            self.log.warning(
                "Sending no credentials to %s: the connection's credentials belong to %s%s",
                _shown_origin(origin),
                _shown_origin(self.origin),
                " (removed the ones the server put into the URL or the request carried)" if stripped else "",
            )
        return r


class RestSyncHook(BaseHook):
    """Talks to one REST API: a base URL, an auth style, retry policies, keep-alive Sessions.

    Each auth style is a subclass registered as its own connection type (its ``style`` entry in
    :mod:`~airflow_provider_restsync.auth_styles`); it only says how a request is signed
    (:meth:`build_auth`). Nothing here touches the network or reads the connection until the first
    request (or :meth:`get_conn`), so building a hook at DAG parse time is free.

    :param restsync_conn_id: the Airflow connection holding base URL (host), secrets and extras;
        None for a public API without a connection (``base_url`` is then required).
    :param base_url: the source config's ``client.base_url``, used when the connection has no host.
    :param auth_config: the source config's ``client.auth`` block: non-secret settings (``name``,
        ``location``, ``username``, ``token_url`` ...). The connection wins where both set a value;
        secrets are only ever read from the connection.
    :param retry: the default retry policy; None means the defaults with the connection's extras.
    :param headers: headers sent with every request (on top of the connection's ``headers`` extra).
    """

    conn_name_attr = "restsync_conn_id"
    default_conn_name = "restsync_default"
    conn_type = "restsync"
    hook_name = "REST Sync"

    #: the auth style's table entry; a subclass that sets it takes the attributes below from it.
    style: ClassVar[AuthStyle | None] = None
    #: ``client.auth.type`` values this style answers to; the first one is its canonical name.
    auth_types: ClassVar[tuple[str, ...]] = ()
    #: non-secret ``client.auth`` keys this style reads.
    config_keys: ClassVar[frozenset[str]] = frozenset()
    #: ``client.auth`` keys that carry secrets in dlt configs: never read, secrets stay in connections.
    secret_config_keys: ClassVar[frozenset[str]] = frozenset()
    #: what the connection's password field holds, in messages.
    secret_label: ClassVar[str] = "password"
    #: whether the style needs a connection (for its secret).
    requires_connection: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        style = cls.__dict__.get("style")
        if style is not None:
            cls.conn_type = style.conn_type
            cls.hook_name = style.hook_name
            cls.auth_types = style.types
            cls.config_keys = style.settings
            cls.secret_config_keys = style.secrets

    def __init__(
        self,
        restsync_conn_id: str | None = default_conn_name,
        *,
        base_url: str | None = None,
        auth_config: Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.restsync_conn_id = restsync_conn_id
        self.auth_config: dict[str, Any] = dict(auth_config or {})
        self._check_auth_config()
        self._base_url_arg = base_url
        self._retry_arg = retry
        self._headers_arg = dict(headers or {})
        self.stats = RequestStats()
        self._lock = threading.RLock()
        self._connection: Connection | None = None
        self._resolved = False
        self._base_url = ""
        self._extras: dict[str, Any] = {}
        self._retry: RetryPolicy = retry or RetryPolicy()
        self._headers: dict[str, str] = {}
        self._verify: bool | str = True
        self._auth: AuthBase | None = None
        self._secret_values: set[str] = set()
        self._secret_params: set[str] = set()
        self._sessions: dict[RetryPolicy, requests.Session] = {}
        self._closed = False
        self._testing = False

    # -- what the hook is configured with -------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """The Airflow connection (read on first use), or None without a connection id."""
        if self.restsync_conn_id is None:
            return None
        if self._connection is None:
            self._connection = self.get_connection(self.restsync_conn_id)
        return self._connection

    @property
    def connection_name(self) -> str:
        """How messages name the connection: by its id, but by none while the UI's Test button runs
        (Airflow tests the form's values under a random temporary id nobody typed)."""
        return "the connection" if self._testing else f"connection {self.restsync_conn_id!r}"

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        self._resolve()
        return self._base_url

    @property
    def retry(self) -> RetryPolicy:
        """The default retry policy: the constructor's, or the defaults with the connection's extras."""
        self._resolve()
        return self._retry

    @property
    def secret_values(self) -> frozenset[str]:
        """Every secret this hook knows (password, key, token, OAuth2 access tokens, header values)."""
        self._resolve()
        return frozenset(self._secret_values)

    @property
    def secret_param_names(self) -> frozenset[str]:
        """Query parameters that carry a secret (the API key's, when it travels in the query string)."""
        self._resolve()
        return frozenset(self._secret_params)

    def describe_auth(self) -> str:
        """Say in a few words how requests are signed, for messages (never the secret)."""
        return "no credentials"

    def build_auth(self, conn: Connection | None) -> AuthBase | None:
        """Return the ``requests`` auth object that signs each request, or None.

        Subclasses read their settings with :meth:`_setting` and register every secret with
        :meth:`_add_secret` before returning.

        :param conn: the Airflow connection (None only for styles without ``requires_connection``).
        """
        return None

    # -- the sessions ---------------------------------------------------------------------------

    def get_conn(self) -> requests.Session:
        """Return the ``requests.Session`` of the default policy (built once): auth, headers, TLS, retries."""
        return self._session_for(self.retry)

    def _session_for(self, policy: RetryPolicy) -> requests.Session:
        """Return the Session that sends with ``policy``, building it on first use."""
        with self._lock:
            self._resolve()
            if self._closed:  # reused after close(): the log filter must know the secrets again
                REGISTRY.register(values=self._secret_values, param_names=self._secret_params)
                self._closed = False
            session = self._sessions.get(policy)
            if session is None:
                session = self._sessions[policy] = self._new_session(policy)
            return session

    def _new_session(self, policy: RetryPolicy) -> requests.Session:
        # Every Session of the hook is the same client but for its Retry: one auth object, one
        # connection pool and one cookie jar between them.
        first = next(iter(self._sessions.values()), None)
        shared = first.get_adapter("https://") if first is not None else None
        session = _Session()
        session.headers.update(self._headers)
        session.verify = self._verify
        if first is not None:
            session.auth = first.auth
            session.cookies = first.cookies
        else:
            session.auth = _OriginScopedAuth(self._auth, self._base_url, self.log, self._strip_credentials)
        retry = policy.to_urllib3(on_retry=self._on_retry)
        adapter = _PolicyAdapter(policy, retry, shared if isinstance(shared, HTTPAdapter) else None)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def url_for(self, url: str) -> str:
        """Return ``url`` as an absolute URL: absolute URLs as they are, paths joined to the base URL.

        ``/v1/items`` and ``v1/items`` both become ``<base_url>/v1/items`` (a base URL's own path is
        kept, as dlt does); ``?page=2`` is appended to the base URL.

        :param url: a path relative to the base URL, or an absolute http(s) URL such as a next link.
        """
        if not url:
            return self.base_url
        parts = urlsplit(url)
        if parts.scheme:
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{self.redact(url)!r} is neither a path nor an http(s) URL")
            return url
        if url.startswith("?"):
            return f"{self.base_url}{url}"
        return f"{self.base_url}/{url.lstrip('/')}"

    # -- requests -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryOverrides | None = None,
        raise_for_status: bool = True,
        accept: Callable[[requests.Response], Any] | None = None,
    ) -> requests.Response:
        """Send one request with timeouts, retried per :attr:`retry` with the endpoint's overrides.

        :param method: ``GET``, ``POST``, ...
        :param url: a path relative to :attr:`base_url`, or an absolute URL (a next link).
        :param params: query parameters (a mapping, or pairs for repeated names).
        :param json: a JSON body.
        :param data: a form or raw body.
        :param headers: headers for this request only.
        :param retry: the endpoint's ``error_handler`` overrides; None sends with :attr:`retry`.
        :param raise_for_status: turn a 4xx/5xx answer into an :class:`ApiRequestError`.
        :param accept: reads the body of an answer below 400 (parses it); a ``ValueError`` from it
            (not JSON, cut off) sends the request again within the policy's retries, as a body that
            broke off mid-way is. What it returns is kept: :func:`~.retry.accepted_body`.
        :raises ApiRequestError: the request failed for good; its message is redacted.
        """
        response = self._send(
            method,
            url,
            policy=self.retry.with_overrides(retry),
            params=params,
            json=json,
            data=data,
            headers=headers,
            accept=accept,
        )
        if raise_for_status:
            self.raise_for_status(response)
        return response

    def _send(
        self,
        method: str,
        url: str,
        *,
        policy: RetryPolicy,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: AuthBase | None = None,
        counted: bool = True,
        accept: Callable[[requests.Response], Any] | None = None,
    ) -> requests.Response:
        session = self._session_for(policy)
        method = method.upper()
        full_url = self.url_for(url)
        failure: ApiRequestError | None = None
        retries = 0
        earlier = 0  # retries before the current send: of answers whose body was unusable
        try:
            while True:
                # stream=True: the body is read here, so a body that breaks off still has its response
                # (and urllib3's record of the retries before it).
                response = session.request(
                    method,
                    full_url,
                    params=params,
                    json=json,
                    data=data,
                    headers=dict(headers) if headers else None,
                    auth=auth,
                    timeout=policy.timeout,
                    stream=True,
                )
                retries = earlier + retries_of(response)
                unusable = _unusable_body(response, accept)
                if unusable is None:
                    break
                cause, error = unusable
                if method not in RETRY_METHODS or retries >= policy.max_retries:
                    if cause == BODY_BROKEN and isinstance(error, requests.RequestException):
                        failure = self._network_failure(method, full_url, params, error, policy, retries + 1)
                    break
                earlier = retries = retries + 1
                shown = self._shown_url(full_url, params)
                self._retry_body(policy, method, shown, cause, error, retries)
        except RetryAfterTooLongError as exc:
            retries = earlier + max(exc.attempts - 1, 0)
            failure = messages.retry_after_error(method, self._shown_url(full_url, params), exc)
        except requests.RequestException as exc:
            attempts = earlier + failed_attempts(exc)
            retries = attempts - 1
            failure = self._network_failure(method, full_url, params, exc, policy, attempts)
        finally:
            if counted:
                self.stats.record(retries)
        # Raised outside the except blocks so no raw exception (whose text may hold the key in a URL)
        # rides along as __context__ into tracebacks.
        if failure is not None:
            raise failure
        return response

    def _network_failure(
        self,
        method: str,
        url: str,
        params: Any,
        exc: requests.RequestException,
        policy: RetryPolicy,
        attempts: int,
    ) -> ApiRequestError:
        return messages.network_error(
            method, self._shown_url(url, params), exc, policy=policy, attempts=attempts, redact=self.redact
        )

    def _retry_body(
        self, policy: RetryPolicy, method: str, url: str, cause: str, error: Exception, number: int
    ) -> None:
        """Wait as the policy's backoff says before sending again a request whose body was unusable."""
        wait = backoff_seconds(policy.backoff_factor, policy.backoff_max, number)
        self._on_retry(
            RetryEvent(
                method=method,
                url=url,
                status=None,
                reason=None,
                error=error,
                retry_number=number,
                max_retries=policy.max_retries,
                wait=wait,
                waited_for="backoff",
                cause=cause,
            )
        )
        if wait > 0:
            time.sleep(wait)

    def _shown_url(self, url: str, params: Any) -> str:
        shown = requests.PreparedRequest()
        shown.prepare_url(url, params)
        return self.redact(shown.url or url)

    def raise_for_status(self, response: requests.Response) -> None:
        """Raise :class:`ApiRequestError` for a 4xx/5xx response: method, redacted URL, status, attempts,
        the start of the body.

        :param response: a response from :meth:`request` (or the session).
        """
        if response.status_code < 400:
            return
        raise self._status_error(response)

    def _status_error(self, response: requests.Response, *, hint: bool = True) -> ApiRequestError:
        served = served_by(response)  # the Retry urllib3 attached names the policy that sent it
        advice = ""
        if hint:
            where = (
                f"{self.connection_name} ({self.conn_type})"
                if self.restsync_conn_id
                else f"{type(self).__name__} without a connection"
            )
            advice = messages.status_hint(
                response,
                where=where,
                secret_label=self.secret_label,
                auth=self.describe_auth(),
                base_url=self.redact(self._base_url),
                sends_credentials=self._auth is not None,
            )
        return messages.status_error(
            response,
            redact=self.redact,
            policy=served.policy if served is not None else None,
            advice=advice,
        )

    def _on_retry(self, event: RetryEvent) -> None:
        self.stats.count_cause(cause_of(event))
        if event.status is not None:
            cause = f"HTTP {event.status} {event.reason or ''}".rstrip()
        elif event.cause is not None:
            cause = f"{event.cause} ({self.redact(str(event.error))})"
        else:
            cause = self.redact(f"{type(event.error).__name__}: {event.error}")
        self.log.info(
            "%s %s: %s; retry %d of %d in %.1f s%s",
            event.method,
            self.redact(event.url),
            cause,
            event.retry_number,
            event.max_retries,
            event.wait,
            " (as the server's Retry-After asks)" if event.waited_for == "Retry-After" else "",
        )

    # -- secrets --------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """Return ``text`` without this hook's secrets, secret query parameters or URL credentials.

        :param text: a URL, log message or exception text.
        """
        return redact_secrets(text, self._secret_values, self._secret_params)

    def _strip_credentials(self, r: requests.PreparedRequest) -> bool:
        """Remove every credential from ``r`` (bound for another origin); return whether there was one.

        Gone: the Authorization header, any header carrying a secret value (an API key's header, a
        secret header of the connection, a cookie), the query parameters that carry the key or any
        secret value (also when the server wrote them into a next link or a redirect), URL credentials.
        """
        secrets = self._secret_values
        stripped = False
        for name in list(r.headers):
            value = str(r.headers[name])
            if name.lower() == "authorization" or any(secret in value for secret in secrets):
                del r.headers[name]
                stripped = True
        parts = urlsplit(r.url or "")
        query, netloc = parts.query, parts.netloc
        if query:
            names = {name.lower() for name in self._secret_params}
            kept = []
            for pair in query.split("&"):
                name, _, value = pair.partition("=")
                plain = unquote_plus(value)
                if unquote_plus(name).lower() in names or any(s in plain or s in value for s in secrets):
                    stripped = True
                    continue
                kept.append(pair)
            query = "&".join(kept)
        if "@" in netloc:
            netloc, stripped = netloc.rsplit("@", 1)[1], True
        if stripped:
            r.url = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        return stripped

    def _add_secret(self, value: str | None) -> None:
        """Remember a secret: redacted by this hook, by the library log filter and by Airflow's masker
        (which is told every spelling a server may echo back)."""
        if not value or value in self._secret_values:
            return
        self._secret_values.add(value)
        REGISTRY.register(values=[value])
        for form in sorted(spellings(value)):
            mask_with_airflow(form)

    def _add_secret_param(self, name: str) -> None:
        """Remember a query parameter whose value is a secret."""
        if not name or name in self._secret_params:
            return
        self._secret_params.add(name)
        REGISTRY.register(param_names=[name])

    # -- settings -------------------------------------------------------------------------------

    def _check_auth_config(self) -> None:
        auth_type = self.auth_config.get("type")
        if not is_empty(auth_type) and self.auth_types:
            normalized = str(auth_type).strip().lower()
            if normalized not in self.auth_types:
                raise AuthConfigError(
                    f"the source config says auth type {auth_type!r}, but {type(self).__name__} "
                    f"({self.conn_type}) does {' / '.join(self.auth_types)}",
                    "client.auth.type",
                )
        if self.style is not None:
            check_auth_keys(self.style, self.auth_config)
        elif set(self.auth_config) - {"type"}:
            key = sorted(set(self.auth_config) - {"type"})[0]
            raise AuthConfigError(
                f"unknown key {key!r}: {type(self).__name__} reads no auth settings", f"client.auth.{key}"
            )

    def _setting(
        self,
        *,
        conn_value: Any = None,
        extra: str | None = None,
        config: str | tuple[str, ...] | None = None,
        default: Any = None,
    ) -> Any:
        """Return the first non-empty of: a connection field, a connection extra, a client.auth key, default.

        :param conn_value: a connection field (``login``), which wins over everything.
        :param extra: an extra's plain name.
        :param config: a ``client.auth`` key, or several (aliases) tried in order.
        :param default: what an unset setting is.
        """
        configured = next(
            (
                (key, self.auth_config[key])
                for key in ((config,) if isinstance(config, str) else config or ())
                if not is_empty(self.auth_config.get(key))
            ),
            None,
        )
        if not is_empty(conn_value):
            self._warn_if_overridden("login", conn_value, configured)
            return conn_value
        if extra is not None and not is_empty(self._extras.get(extra)):
            self._warn_if_overridden(f"extra {extra!r}", self._extras[extra], configured)
            return self._extras[extra]
        return configured[1] if configured is not None else default

    def _warn_if_overridden(self, what: str, value: Any, configured: tuple[str, Any] | None) -> None:
        """Say when the connection's value of a setting wins over a different one in the source config:
        where a 401 comes from is then in the task log (these settings are never secrets)."""
        if configured is None or str(value).strip().lower() == str(configured[1]).strip().lower():
            return
        self.log.warning(
            "The %s %s = %r overrides client.auth.%s = %r of the source config; clear it in the "
            "connection to use the config's",
            self.connection_name,
            what,
            value,
            configured[0],
            configured[1],
        )

    def _require_secret(self, conn: Connection | None) -> str:
        """Return the connection's password (the style's secret) or say clearly where it must go."""
        secret = conn.password if conn is not None else None
        if not is_empty(secret):
            return str(secret)
        in_config = sorted(key for key in self.secret_config_keys if key in self.auth_config)
        note = (
            f" (client.auth.{in_config[0]} in the source config is not read: secrets stay out of DAG files)"
            if in_config
            else ""
        )
        raise AuthConfigError(
            f"{self.connection_name} ({self.conn_type}) has no {self.secret_label}: "
            f"put it in the connection's Password field{note}",
            "client.auth",
        )

    def _resolve(self) -> None:
        """Read the connection once: base URL, extras, retry policy, headers, TLS, auth, secrets."""
        with self._lock:
            if self._resolved:
                return
            conn = self.connection
            if conn is None and self.requires_connection:
                raise AuthConfigError(
                    f"{type(self).__name__} needs an Airflow connection ({self.conn_type}) holding the "
                    f"{self.secret_label}; only public APIs (restsync_noauth) can do without one",
                    "client.auth",
                )
            conn_type = conn.conn_type if conn is not None else None
            other = STYLES_BY_CONN_TYPE.get(conn_type or "")
            if other is not None and conn_type != self.conn_type:
                raise AuthConfigError(
                    f"{self.connection_name} is of type {conn_type} ({other.hook_name}) "
                    f"but {type(self).__name__} handles {self.conn_type} ({self.hook_name}); "
                    "use resolve_api_hook() or a connection of the matching type",
                    "client.auth.type",
                )
            self._extras = plain_extra(conn.extra_dejson, conn_type) if conn is not None else {}
            where = f"{self.connection_name} extra"
            self._base_url = self._compute_base_url(conn)
            self._retry = self._retry_arg or RetryPolicy.from_extra(self._extras, key_path=where)
            if "verify" in self._extras:
                self._verify = as_verify(self._extras["verify"], f"{where}.verify")
            if self._verify is False:
                self.log.warning(
                    "TLS certificate verification is off for %s (its verify extra is false): anyone on "
                    "the network path can read and change what it sends and receives, credentials "
                    "included. Give verify the path of a CA bundle instead to trust a private CA.",
                    self.connection_name,
                )
            headers = {"User-Agent": f"airflow-provider-restsync/{__version__}"}
            if "headers" in self._extras:
                headers.update(as_headers(self._extras["headers"], f"{where}.headers"))
            headers.update(self._headers_arg)
            for name, value in headers.items():
                if _SECRET_HEADER.search(name):
                    self._add_secret(value)
            self._headers = headers
            for key in sorted(self.secret_config_keys & set(self.auth_config)):
                self.log.warning(
                    "client.auth.%s in the source config is ignored: the %s comes from the connection",
                    key,
                    self.secret_label,
                )
            self._auth = self.build_auth(conn)
            install_log_filter()
            self._resolved = True

    def _compute_base_url(self, conn: Connection | None) -> str:
        host = conn.host if conn is not None and not is_empty(conn.host) else None
        raw = host or self._base_url_arg
        source = f"{self.connection_name} host" if host else "client.base_url"
        if is_empty(raw):
            raise ConfigError(
                f"no base URL: {self.connection_name} has no host and the source config "
                "has no client.base_url",
                "client.base_url",
            )
        raw = str(raw).strip()
        if "://" not in raw:
            raw = f"https://{raw}"  # a bare host name: APIs are served over TLS
        parts = urlsplit(raw)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{source} {self.redact(raw)!r} is not an http(s) URL", "client.base_url")
        if "@" in parts.netloc:
            raise ConfigError(
                f"{source} {redact_secrets(raw)!r} carries credentials: put them in the connection's "
                "login and password fields",
                "client.base_url",
            )
        if parts.query or parts.fragment:
            raise ConfigError(
                f"{source} {self.redact(raw)!r} has a query or fragment: put fixed query parameters in "
                "the endpoint's params",
                "client.base_url",
            )
        netloc = parts.netloc
        if host and conn is not None and conn.port and parts.port is None:
            netloc = f"{netloc}:{conn.port}"
        return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))

    # -- Airflow UI and lifecycle ---------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Request the base URL (or the ``test_path`` extra) once; say what was checked, never the secret.

        Any 2xx/3xx answer passes. Without ``test_path`` a 404 or 405 passes too: most APIs serve
        nothing at their root, and an API that rejects credentials answers 401/403 there first.
        """
        self._testing = True
        try:
            self._resolve()
            test_path = str(self._extras.get("test_path") or "").strip()
            # A person is waiting in the UI: one quick retry at most.
            policy = RetryPolicy(
                statuses=self._retry.statuses,
                max_retries=min(self._retry.max_retries, 1),
                backoff_factor=min(self._retry.backoff_factor, 1.0),
                backoff_max=min(self._retry.backoff_max, 10.0),
                connect_timeout=min(self._retry.connect_timeout, 10.0),
                read_timeout=min(self._retry.read_timeout, 30.0),
                respect_retry_after=self._retry.respect_retry_after,
            )
            response = self._send("GET", test_path, policy=policy)
            status = response.status_code
            if status < 400 or (not test_path and status in (404, 405)):
                return True, messages.connection_ok(
                    response,
                    url=self.redact(self.url_for(test_path)),  # as configured, without the key
                    auth=self.describe_auth(),
                    sends_credentials=self._auth is not None,
                )
            return False, self.redact(
                messages.connection_failed(self._status_error(response), test_path=test_path)
            )
        except RestSyncError as exc:
            return False, self.redact(str(exc))
        except Exception as exc:  # the UI shows whatever comes back; make sure it is a redacted sentence
            return False, self.redact(f"{type(exc).__name__}: {exc}")
        finally:
            self._testing = False

    def close(self) -> None:
        """Close the sessions and forget this hook's secrets in the library log filter."""
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()
            if not self._closed:
                REGISTRY.unregister(values=self._secret_values, param_names=self._secret_params)
                self._closed = True

    def __enter__(self) -> RestSyncHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
