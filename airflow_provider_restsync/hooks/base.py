"""The hook every auth style shares: one Session with one retrying adapter, redaction and clear errors."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from airflow_provider_restsync import __version__
from airflow_provider_restsync.errors import ApiRequestError, AuthConfigError, ConfigError, RestSyncError
from airflow_provider_restsync.hooks.extras import as_headers, as_verify, is_empty, plain_extra
from airflow_provider_restsync.hooks.masking import (
    REGISTRY,
    install_log_filter,
    mask_with_airflow,
    redact_secrets,
)
from airflow_provider_restsync.hooks.retry import RetryAfterTooLongError, RetryEvent, RetryPolicy

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from urllib3.util.retry import Retry

#: Every auth style's hook class by connection type, filled in as the classes are defined.
HOOK_CLASSES: dict[str, type[RestSyncHook]] = {}

#: How much of an error response's body goes into the exception.
BODY_EXCERPT_CHARS = 500

# Header names whose values are credentials even when they come from the "headers" extra.
_SECRET_HEADER = re.compile(r"(authorization|token|secret|api[_-]?key|apikey|password|cookie)", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class RequestStats:
    """What the operator reports: calls of :meth:`RestSyncHook.request` and the retries among them.

    Every call counts once in ``requests`` whatever its outcome; each repeated attempt counts in
    ``retries``, so ``attempts == requests + retries`` HTTP requests were sent. OAuth2 token requests
    are not counted.
    """

    requests: int = 0
    retries: int = 0

    @property
    def attempts(self) -> int:
        """HTTP requests actually sent, first attempts and retries."""
        return self.requests + self.retries


@dataclass
class _Call:
    """The request in flight in this context: which Retry the adapter uses, where retries are tallied."""

    method: str
    url: str  # redacted
    retry: Retry
    adapter: HTTPAdapter | None
    counted: bool
    retries: int = 0


_CURRENT_CALL: ContextVar[_Call | None] = ContextVar("restsync_current_call", default=None)


class _RetryAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose ``Retry`` can differ per call while every call shares one pool.

    A per-endpoint retry policy must not cost a second connection pool (and its keep-alive
    connections), so instead of a second adapter the call in flight names its ``Retry`` in a
    ContextVar, which this adapter reads where urllib3 is handed ``max_retries``. ContextVars are per
    thread and per task, so concurrent calls cannot see each other's policy.
    """

    def __init__(self, retry: Retry, timeout: tuple[float, float]) -> None:
        self.default_timeout = timeout
        super().__init__(max_retries=retry)

    @property  # type: ignore[override]
    def max_retries(self) -> Retry:
        call = _CURRENT_CALL.get()
        if call is not None and call.adapter is self:
            return call.retry
        return self._default_retry

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._default_retry = value

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
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


class _OriginScopedAuth(AuthBase):
    """Signs only requests to the base URL's origin: a next link to another host never gets the key."""

    def __init__(self, inner: AuthBase, base_url: str, log: Any) -> None:
        self.inner = inner
        self.origin = _origin(base_url)
        self.log = log
        self._warned: set[tuple[str, str, int | None]] = set()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        origin = _origin(r.url or "")
        if origin == self.origin:
            return self.inner(r)
        if origin not in self._warned:
            self._warned.add(origin)
            self.log.warning(
                "Sending no credentials to %s://%s: the connection's credentials belong to %s://%s",
                origin[0],
                origin[1],
                self.origin[0],
                self.origin[1],
            )
        return r


class RestSyncHook(BaseHook):
    """Talks to one REST API: a base URL, an auth style, a retry policy, one keep-alive Session.

    Each auth style is a subclass registered as its own connection type; it only says how a request
    is signed (:meth:`build_auth`). Nothing here touches the network or reads the connection until
    the first request (or :meth:`get_conn`), so building a hook at DAG parse time is free.

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
        conn_type = cls.__dict__.get("conn_type")
        if conn_type:
            HOOK_CLASSES.setdefault(conn_type, cls)

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
        self._session: requests.Session | None = None
        self._adapter: _RetryAdapter | None = None
        self._urllib3_retries: dict[RetryPolicy, Retry] = {}
        self._closed = False

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
    def retry_policy(self) -> RetryPolicy:
        """Alias of :attr:`retry`."""
        return self.retry

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

    # -- the session ----------------------------------------------------------------------------

    def get_conn(self) -> requests.Session:
        """Return the hook's ``requests.Session`` (built once): auth, headers, TLS, retrying adapter."""
        with self._lock:
            if self._session is None:
                self._resolve()
                if self._closed:  # reused after close(): the log filter must know the secrets again
                    REGISTRY.register(values=self._secret_values, param_names=self._secret_params)
                    self._closed = False
                session = requests.Session()
                session.headers.update(self._headers)
                session.verify = self._verify
                if self._auth is not None:
                    session.auth = _OriginScopedAuth(self._auth, self._base_url, self.log)
                adapter = _RetryAdapter(self._urllib3_retry(self._retry), timeout=self._retry.timeout)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._adapter = adapter
                self._session = session
            return self._session

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
        retry: RetryPolicy | None = None,
        raise_for_status: bool = True,
    ) -> requests.Response:
        """Send one request through the shared session, retried per ``retry``, with timeouts.

        :param method: ``GET``, ``POST``, ...
        :param url: a path relative to :attr:`base_url`, or an absolute URL (a next link).
        :param params: query parameters (a mapping, or pairs for repeated names).
        :param json: a JSON body.
        :param data: a form or raw body.
        :param headers: headers for this request only.
        :param retry: this request's policy (an endpoint's ``error_handler``); default :attr:`retry`.
            It shares the session's connection pool.
        :param raise_for_status: turn a 4xx/5xx answer into an :class:`ApiRequestError`.
        :raises ApiRequestError: the request failed for good; its message is redacted.
        """
        response = self._send(
            method, url, params=params, json=json, data=data, headers=headers, retry=retry, counted=True
        )
        if raise_for_status:
            self.raise_for_status(response)
        return response

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        auth: AuthBase | None = None,
        counted: bool = True,
    ) -> requests.Response:
        session = self.get_conn()
        policy = retry or self._retry
        method = method.upper()
        full_url = self.url_for(url)
        shown = requests.PreparedRequest()
        shown.prepare_url(full_url, params)
        call = _Call(
            method=method,
            url=self.redact(shown.url or full_url),
            retry=self._urllib3_retry(policy),
            adapter=self._adapter,
            counted=counted,
        )
        token = _CURRENT_CALL.set(call)
        failure: ApiRequestError | None = None
        response: requests.Response | None = None
        try:
            response = session.request(
                method,
                full_url,
                params=params,
                json=json,
                data=data,
                headers=dict(headers) if headers else None,
                auth=auth,
                timeout=policy.timeout,
            )
        except RetryAfterTooLongError as exc:
            failure = RetryAfterTooLongError(
                f"{method} {call.url} failed: {exc}",
                retry_after=exc.retry_after,
                backoff_max=exc.backoff_max,
                method=method,
                url=call.url,
                status=exc.status,
                reason=exc.reason,
                attempts=exc.attempts,
            )
        except requests.RequestException as exc:
            failure = self._network_error(call, exc, policy)
        finally:
            _CURRENT_CALL.reset(token)
            if counted:
                self.stats.requests += 1
        # Raised outside the except blocks so no raw exception (whose text may hold the key in a URL)
        # rides along as __context__ into tracebacks.
        if failure is not None:
            raise failure
        assert response is not None
        response._restsync_policy = policy  # type: ignore[attr-defined]  # for raise_for_status
        return response

    def raise_for_status(self, response: requests.Response) -> None:
        """Raise :class:`ApiRequestError` for a 4xx/5xx response: method, redacted URL, status, attempts,
        the start of the body.

        :param response: a response from :meth:`request` (or the session).
        """
        if response.status_code < 400:
            return
        raise self._status_error(response)

    def _status_error(self, response: requests.Response, *, hint: bool = True) -> ApiRequestError:
        method = (response.request.method if response.request is not None else None) or "GET"
        url = self.redact(response.url or "")
        attempts = self._attempts(response)
        reason = response.reason or ""
        status = response.status_code
        policy: RetryPolicy | None = getattr(response, "_restsync_policy", None)
        lines = [f"{method} {url} failed: HTTP {status} {reason}".rstrip()]
        lines[0] += f" after {attempts} attempt{'s' if attempts != 1 else ''}"
        if policy is not None and status in policy.statuses:
            lines[0] += f" (retries exhausted: {policy.describe()})"
        lines[0] += "."
        advice = self._status_hint(status, response) if hint else ""
        if advice:
            lines.append(advice)
        body = self._body_excerpt(response)
        if body:
            lines.append(f"Response body (first {BODY_EXCERPT_CHARS} characters): {body}")
        return ApiRequestError(
            "\n".join(lines),
            method=method,
            url=url,
            status=status,
            reason=reason,
            attempts=attempts,
            body_excerpt=body,
        )

    def _status_hint(self, status: int, response: requests.Response) -> str:
        where = (
            f"connection {self.restsync_conn_id!r} ({self.conn_type})"
            if self.restsync_conn_id
            else f"{type(self).__name__} without a connection"
        )
        if status == 401:
            return (
                f"The API rejected the credentials: check the {self.secret_label} of {where}; "
                f"the hook sends {self.describe_auth()}."
            )
        if status == 403:
            return (
                f"The API accepted the credentials of {where} but refuses this resource to them "
                f"({self.describe_auth()}): check the key's permissions or scopes."
            )
        if status == 429:
            retry_after = response.headers.get("Retry-After")
            wait = f" (it asked to wait: Retry-After {retry_after})" if retry_after else ""
            return (
                f"The API is rate limiting{wait}: allow more retries or a longer backoff "
                "(max_retries, backoff_factor in the connection extras or the endpoint's error_handler)."
            )
        if status == 404:
            return f"Check the endpoint path and the base URL ({self.redact(self._base_url)})."
        return ""

    @staticmethod
    def _attempts(response: requests.Response) -> int:
        history = getattr(getattr(response.raw, "retries", None), "history", None)
        return len(history) + 1 if history is not None else 1

    def _body_excerpt(self, response: requests.Response) -> str:
        try:
            # Redact before cutting, so a secret straddling the cut cannot leak half of itself.
            text = response.content[:65536].decode(response.encoding or "utf-8", errors="replace")
        except Exception:  # a body that cannot be read is no reason to hide the status
            return ""
        text = " ".join(self.redact(text).split())
        if len(text) > BODY_EXCERPT_CHARS:
            text = text[:BODY_EXCERPT_CHARS] + "..."
        return text

    def _network_error(
        self, call: _Call, exc: requests.RequestException, policy: RetryPolicy
    ) -> ApiRequestError:
        attempts = call.retries + 1
        request = getattr(exc, "request", None)
        url = self.redact(getattr(request, "url", None) or call.url)
        cause: BaseException = exc
        if exc.args and isinstance(exc.args[0], MaxRetryError) and exc.args[0].reason is not None:
            cause = exc.args[0].reason
        elif exc.args and isinstance(exc.args[0], BaseException):
            cause = exc.args[0]
        if isinstance(cause, NameResolutionError):
            what = "the host name does not resolve"
        elif isinstance(cause, NewConnectionError):
            what = "could not connect (refused or unreachable)"
        elif isinstance(cause, ConnectTimeoutError) or isinstance(exc, requests.ConnectTimeout):
            what = f"could not connect within the connect timeout of {policy.connect_timeout:g} s"
        elif isinstance(cause, ReadTimeoutError) or isinstance(exc, requests.ReadTimeout):
            what = f"no answer within the read timeout of {policy.read_timeout:g} s"
        elif isinstance(cause, ProtocolError):
            what = "the connection broke before a complete answer"
        elif isinstance(cause, SSLError) or isinstance(exc, requests.exceptions.SSLError):
            what = "TLS failed (for a private CA set the 'verify' extra to its bundle path)"
        elif isinstance(exc, requests.exceptions.RetryError):
            what = "retries ran out"
        else:
            what = "the request could not be sent"
        detail = self.redact(f"{type(cause).__name__}: {cause}")
        message = (
            f"{method_url(call.method, url)} failed after {attempts} attempt{'s' if attempts != 1 else ''}: "
            f"{what} ({detail}). Retry policy: {policy.describe()}."
        )
        return ApiRequestError(message, method=call.method, url=url, reason=what, attempts=attempts)

    def _on_retry(self, event: RetryEvent) -> None:
        call = _CURRENT_CALL.get()
        if call is not None:
            call.retries += 1
            where = method_url(call.method, call.url)
        else:
            where = method_url(event.method, self.redact(event.url))
        if call is None or call.counted:
            self.stats.retries += 1
        if event.status is not None:
            cause = f"HTTP {event.status} {event.reason or ''}".rstrip()
        else:
            cause = self.redact(f"{type(event.error).__name__}: {event.error}")
        self.log.info(
            "%s: %s; retry %d of %d in %.1f s%s",
            where,
            cause,
            event.retry_number,
            event.max_retries,
            event.wait,
            " (as the server's Retry-After asks)" if event.waited_for == "Retry-After" else "",
        )

    def _urllib3_retry(self, policy: RetryPolicy) -> Retry:
        # One Retry per distinct policy, so a resource's pages do not rebuild it.
        with self._lock:
            retry = self._urllib3_retries.get(policy)
            if retry is None:
                retry = self._urllib3_retries[policy] = policy.to_urllib3(on_retry=self._on_retry)
            return retry

    # -- secrets --------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """Return ``text`` without this hook's secrets, secret query parameters or URL credentials.

        :param text: a URL, log message or exception text.
        """
        return redact_secrets(text, self._secret_values, self._secret_params)

    def _add_secret(self, value: str | None) -> None:
        """Remember a secret: redacted by this hook, by the library log filter and by Airflow's masker."""
        if not value or value in self._secret_values:
            return
        self._secret_values.add(value)
        REGISTRY.register(values=[value])
        mask_with_airflow(value)

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
        allowed = {"type"} | set(self.config_keys) | set(self.secret_config_keys)
        for key in self.auth_config:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise AuthConfigError(
                    f"unknown key {key!r} for auth type {self.auth_types[0] if self.auth_types else 'none'}"
                    f" (known: {known})",
                    f"client.auth.{key}",
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
        if not is_empty(conn_value):
            return conn_value
        if extra is not None and not is_empty(self._extras.get(extra)):
            return self._extras[extra]
        for key in (config,) if isinstance(config, str) else config or ():
            if not is_empty(self.auth_config.get(key)):
                return self.auth_config[key]
        return default

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
            f"connection {self.restsync_conn_id!r} ({self.conn_type}) has no {self.secret_label}: "
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
            if conn_type in HOOK_CLASSES and conn_type != self.conn_type:
                other = HOOK_CLASSES[conn_type]
                raise AuthConfigError(
                    f"connection {self.restsync_conn_id!r} is of type {conn_type} ({other.hook_name}) "
                    f"but {type(self).__name__} handles {self.conn_type} ({self.hook_name}); "
                    "use resolve_api_hook() or a connection of the matching type",
                    "client.auth.type",
                )
            self._extras = plain_extra(conn.extra_dejson, conn_type) if conn is not None else {}
            where = f"connection {self.restsync_conn_id!r} extra"
            self._base_url = self._compute_base_url(conn)
            self._retry = self._retry_arg or RetryPolicy.from_extra(self._extras, key_path=where)
            if "verify" in self._extras:
                self._verify = as_verify(self._extras["verify"], f"{where}.verify")
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
        source = f"connection {self.restsync_conn_id!r} host" if host else "client.base_url"
        if is_empty(raw):
            raise ConfigError(
                f"no base URL: connection {self.restsync_conn_id!r} has no host and the source config "
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
        """Request the base URL (or the ``test_path`` extra) once; say what happened, never the secret."""
        try:
            self._resolve()
            path = str(self._extras.get("test_path") or "")
            # A person is waiting in the UI: one quick retry at most.
            policy = RetryPolicy(
                statuses=self._retry.statuses,
                max_retries=min(self._retry.max_retries, 1),
                backoff_factor=min(self._retry.backoff_factor, 1.0),
                backoff_max=min(self._retry.backoff_max, 10.0),
                connect_timeout=self._retry.connect_timeout,
                read_timeout=min(self._retry.read_timeout, 30.0),
                respect_retry_after=self._retry.respect_retry_after,
            )
            response = self.request("GET", path, retry=policy, raise_for_status=False)
            if response.status_code < 400:
                return True, (
                    f"Connected: GET {self.redact(response.url)} answered HTTP {response.status_code} "
                    f"{response.reason} ({self.describe_auth()})."
                )
            return False, str(self._status_error(response))
        except RestSyncError as exc:
            return False, self.redact(str(exc))
        except Exception as exc:  # the UI shows whatever comes back; make sure it is a redacted sentence
            return False, self.redact(f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Close the session and forget this hook's secrets in the library log filter."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
                self._adapter = None
            if not self._closed:
                REGISTRY.unregister(values=self._secret_values, param_names=self._secret_params)
                self._closed = True

    def __enter__(self) -> RestSyncHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def method_url(method: str, url: str) -> str:
    """``GET https://...``: how requests are named in messages."""
    return f"{method} {url}"
