"""Retry policy: the value, its urllib3 Retry, and real retry sequences against a loopback server."""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter

from airflow_provider_restsync.errors import ApiRequestError, ConfigError
from airflow_provider_restsync.hooks import NoAuthHook, RetryOverrides, RetryPolicy, resolve_api_hook
from airflow_provider_restsync.hooks.retry import (
    ERROR_HANDLER_KEYS,
    RETRY_METHODS,
    RestSyncRetry,
    RetryAfterTooLongError,
)
from tests.support.http import LoopbackServer, Request, Response, serve

FAST = RetryPolicy(backoff_factor=0.01)


def _scripted(*responses: Response) -> Callable[[Request], Response]:
    """Answer with ``responses`` in order, repeating the last one forever."""
    lock = threading.Lock()
    queue = list(responses)

    def handler(request: Request) -> Response:
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


@pytest.fixture
def fast_hook() -> Iterator[Callable[[LoopbackServer], NoAuthHook]]:
    hooks: list[NoAuthHook] = []

    def _make(server: LoopbackServer, policy: RetryPolicy = FAST) -> NoAuthHook:
        hook = NoAuthHook(None, base_url=server.url, retry=policy)
        hooks.append(hook)
        return hook

    yield _make
    for hook in hooks:
        hook.close()


# -- the policy value -----------------------------------------------------------------------------


def test_defaults_follow_the_reference_apis() -> None:
    policy = RetryPolicy()
    assert policy.statuses == (429, 500, 502, 503, 504)
    assert (policy.max_retries, policy.backoff_factor, policy.backoff_max) == (3, 2.0, 120.0)
    assert policy.timeout == (10.0, 60.0)
    assert policy.respect_retry_after is True


def test_from_extra_reads_plain_prefixed_and_string_values() -> None:
    extra = {
        "max_retries": "5",
        "extra__restsync_api_key__backoff_factor": "0.5",
        "retry_on_status_codes": "429, 503",
        "connect_timeout": 3,
        "read_timeout": "30",
        "backoff_max": 60,
        "key_name": "api_key",  # not a retry setting: ignored here
    }
    policy = RetryPolicy.from_extra(extra)
    assert policy == RetryPolicy(
        statuses=(429, 503),
        max_retries=5,
        backoff_factor=0.5,
        backoff_max=60,
        connect_timeout=3,
        read_timeout=30,
    )


def test_from_extra_rejects_nonsense_with_the_key() -> None:
    with pytest.raises(ConfigError) as raised:
        RetryPolicy.from_extra({"max_retries": "lots"}, key_path="connection 'api' extra")
    assert raised.value.key_path == "connection 'api' extra.max_retries"
    with pytest.raises(ConfigError, match="not an HTTP status"):
        RetryPolicy.from_extra({"retry_on_status_codes": [429, 999]})
    with pytest.raises(ConfigError, match="greater than 0"):
        RetryPolicy.from_extra({"read_timeout": 0})


def test_error_handler_overrides_per_endpoint() -> None:
    block = {"retry_on_status_codes": [429], "max_retries": 2, "backoff_factor": 5}
    overrides = RetryOverrides.parse(block, "resources[0].endpoint.error_handler")
    assert overrides == RetryOverrides(statuses=(429,), max_retries=2, backoff_factor=5.0)
    policy = RetryPolicy().with_overrides(overrides)
    assert (policy.statuses, policy.max_retries, policy.backoff_factor) == ((429,), 2, 5.0)
    assert policy.backoff_max == 120.0 and policy.timeout == (10.0, 60.0)
    assert RetryOverrides.parse(None, "error_handler") is None
    assert RetryPolicy().with_overrides(None) == RetryPolicy()
    assert RetryPolicy().with_overrides(RetryOverrides.parse({"max_retries": None}, "eh")) == RetryPolicy()
    ten = RetryOverrides.parse({"backoff_max": 10}, "eh")
    assert RetryPolicy().with_overrides(ten).backoff_max == 10.0
    assert set(ERROR_HANDLER_KEYS) == {
        "retry_on_status_codes",
        "max_retries",
        "backoff_factor",
        "backoff_max",
    }


def test_error_handler_unknown_key_names_its_path() -> None:
    with pytest.raises(ConfigError) as raised:
        RetryOverrides.parse({"retry_on_status": [429]}, "resources[0].endpoint.error_handler")
    assert raised.value.key_path == "resources[0].endpoint.error_handler.retry_on_status"
    assert "did you mean 'retry_on_status_codes'?" in str(raised.value)


EH = "resources[2].endpoint.error_handler"


@pytest.mark.parametrize(
    ("block", "key_path", "says"),
    [
        ({"backoff_max": 0}, f"{EH}.backoff_max", "greater than 0"),  # bug 5: failed only at run time
        ({"backoff_max": -1.5}, f"{EH}.backoff_max", "greater than 0"),
        ({"backoff_max": math.nan}, f"{EH}.backoff_max", "greater than 0"),
        ({"backoff_max": "60"}, f"{EH}.backoff_max", "greater than 0"),
        ({"backoff_factor": -1}, f"{EH}.backoff_factor", "at least 0"),
        ({"backoff_factor": math.inf}, f"{EH}.backoff_factor", "at least 0"),
        ({"backoff_factor": True}, f"{EH}.backoff_factor", "at least 0"),
        ({"max_retries": -1}, f"{EH}.max_retries", "whole number"),
        ({"max_retries": 1.5}, f"{EH}.max_retries", "whole number"),
        ({"max_retries": True}, f"{EH}.max_retries", "whole number"),
        ({"max_retries": "3"}, f"{EH}.max_retries", "whole number"),
        ({"retry_on_status_codes": [429, 99]}, f"{EH}.retry_on_status_codes[1]", "not an HTTP status code"),
        ({"retry_on_status_codes": [503, 429, 600]}, f"{EH}.retry_on_status_codes[2]", "not an HTTP status"),
        ({"retry_on_status_codes": [True]}, f"{EH}.retry_on_status_codes[0]", "not an HTTP status code"),
        ({"retry_on_status_codes": ["429"]}, f"{EH}.retry_on_status_codes[0]", "not an HTTP status code"),
        ({"retry_on_status_codes": 429}, f"{EH}.retry_on_status_codes", "must be a list"),
        ({"max_retry": 2}, f"{EH}.max_retry", "did you mean 'max_retries'?"),
        ({"backof_max": 2}, f"{EH}.backof_max", "did you mean 'backoff_max'?"),
        (["max_retries"], EH, "must be a mapping"),
    ],
)
def test_error_handler_errors_name_the_full_key_path(block: object, key_path: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        RetryOverrides.parse(block, EH)
    assert raised.value.key_path == key_path
    assert says in str(raised.value)


@pytest.mark.parametrize(
    "base",
    [
        RetryPolicy(),
        RetryPolicy(statuses=(), max_retries=0, backoff_factor=0, backoff_max=0.001),
        RetryPolicy(statuses=(418,), max_retries=10, backoff_factor=60, backoff_max=3600, read_timeout=1),
    ],
)
@pytest.mark.parametrize(
    "block",
    [
        {"retry_on_status_codes": [], "max_retries": 0, "backoff_factor": 0, "backoff_max": 0.001},
        {"retry_on_status_codes": [100, 599, 599], "max_retries": 50, "backoff_factor": 0.5},
        {"backoff_max": 1e9},
        {},
    ],
)
def test_every_parsed_override_applies_to_every_valid_policy(
    base: RetryPolicy, block: dict[str, object]
) -> None:
    overrides = RetryOverrides.parse(block, EH)
    policy = base.with_overrides(overrides)
    assert policy.timeout == base.timeout and policy.respect_retry_after == base.respect_retry_after
    if "retry_on_status_codes" in block:
        assert policy.statuses == tuple(dict.fromkeys(block["retry_on_status_codes"]))  # type: ignore[call-overload]
    if "max_retries" in block:
        assert policy.max_retries == block["max_retries"]
    policy.to_urllib3()  # and urllib3 takes it


def test_code_built_overrides_follow_the_same_rules() -> None:
    assert RetryOverrides(statuses=(503, 429, 503)).statuses == (503, 429)
    with pytest.raises(ConfigError, match="greater than 0"):
        RetryOverrides(backoff_max=0)
    with pytest.raises(ConfigError, match="not an HTTP status"):
        RetryOverrides(statuses=(1000,))


def test_to_urllib3_carries_the_policy() -> None:
    retry = RetryPolicy(statuses=(429,), max_retries=2, backoff_factor=5).to_urllib3()
    assert isinstance(retry, RestSyncRetry)
    assert retry.total == 2 and retry.raise_on_status is False
    assert retry.status_forcelist == {429}
    assert retry.allowed_methods == RETRY_METHODS and "POST" in RETRY_METHODS and "PATCH" not in RETRY_METHODS
    assert retry.backoff_factor == 5 and retry.backoff_max == 120


def test_backoff_doubles_from_the_first_retry_and_is_capped() -> None:
    retry = RetryPolicy(backoff_factor=2, backoff_max=5, max_retries=5).to_urllib3()
    waits = []
    for _ in range(4):
        retry = retry.increment(method="GET", url="/x", error=None, response=None)
        waits.append(retry.get_backoff_time())
    assert waits == [2.0, 4.0, 5.0, 5.0]


# -- retry sequences over HTTP ----------------------------------------------------------------------


def test_503_503_200_succeeds_after_exactly_three_requests(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(503), Response(503), Response(200, {"ok": True}))) as server:
        hook = fast_hook(server)
        response = hook.request("GET", "/v1/items")
        assert response.json() == {"ok": True}
        assert len(server.requests) == 3
        assert (hook.stats.requests, hook.stats.retries, hook.stats.attempts) == (1, 2, 3)


def test_429_with_retry_after_seconds_waits_about_that_long(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(429, headers={"Retry-After": "1"}), Response(200, {}))) as server:
        hook = fast_hook(server)
        started = time.monotonic()
        assert hook.request("GET", "/v1/items").status_code == 200
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 5
    assert len(server.requests) == 2


def test_retry_after_http_date_is_honoured(fast_hook: Callable[..., NoAuthHook]) -> None:
    # Two whole seconds ahead of the next full second: the wait is between 2 and 3 s.
    when = email.utils.formatdate(math.ceil(time.time()) + 2, usegmt=True)
    with serve(_scripted(Response(503, headers={"Retry-After": when}), Response(200, {}))) as server:
        hook = fast_hook(server)
        started = time.monotonic()
        assert hook.request("GET", "/v1/items").status_code == 200
        elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 6
    assert len(server.requests) == 2


def test_invalid_retry_after_falls_back_to_the_backoff(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(503, headers={"Retry-After": "soon-ish"}), Response(200, {}))) as server:
        started = time.monotonic()
        assert fast_hook(server).request("GET", "/").status_code == 200
        assert time.monotonic() - started < 2


def test_retry_after_longer_than_the_cap_fails_at_once(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(429, headers={"Retry-After": "3600"}), Response(200, {}))) as server:
        hook = fast_hook(server)
        started = time.monotonic()
        with pytest.raises(RetryAfterTooLongError) as raised:
            hook.request("GET", "/v1/items")
        assert time.monotonic() - started < 2
        assert len(server.requests) == 1
    error = raised.value
    assert isinstance(error, ApiRequestError)
    assert error.status == 429 and error.retry_after == 3600 and error.backoff_max == 120
    assert "GET http://127.0.0.1" in str(error) and "/v1/items" in str(error)
    assert "3600 s" in str(error) and "backoff_max" in str(error)


def test_500_forever_fails_after_max_retries_plus_one(fast_hook: Callable[..., NoAuthHook]) -> None:
    body = {"error": "internal", "detail": "x" * 1000}
    with serve(_scripted(Response(500, body))) as server:
        hook = fast_hook(server)
        with pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/items", params={"offset": 100})
        assert len(server.requests) == 4
    error = raised.value
    message = str(error)
    assert (error.method, error.status, error.reason, error.attempts) == (
        "GET",
        500,
        "Internal Server Error",
        4,
    )
    assert error.url == f"{server.url}/v1/items?offset=100"
    assert message.startswith(f"GET {server.url}/v1/items?offset=100 failed: HTTP 500 Internal Server Error")
    assert "after 4 attempts" in message and "retries exhausted" in message
    assert error.body_excerpt.startswith('{"error": "internal"') and len(error.body_excerpt) <= 503
    assert error.body_excerpt in message
    assert "Traceback" not in message and "MaxRetryError" not in message
    assert error.__context__ is None and error.__cause__ is None


def test_dropped_connection_is_retried(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(drop_connection=True), Response(200, {"ok": 1}))) as server:
        hook = fast_hook(server)
        assert hook.request("GET", "/v1/items").json() == {"ok": 1}
        assert len(server.requests) == 2
        assert hook.stats.retries == 1


def test_connection_dropped_forever_becomes_a_clear_error(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(drop_connection=True))) as server:
        hook = fast_hook(server, RetryPolicy(max_retries=2, backoff_factor=0.01))
        with pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/items")
        assert len(server.requests) == 3
    message = str(raised.value)
    assert "failed after 3 attempts" in message and "connection broke" in message
    assert raised.value.status is None and raised.value.attempts == 3


def test_read_timeout_is_retried() -> None:
    calls = []

    def slow_first(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.0)
        return Response(200, {"ok": True})

    with serve(slow_first) as server:
        policy = RetryPolicy(backoff_factor=0.01, read_timeout=0.3)
        with NoAuthHook(None, base_url=server.url, retry=policy) as hook:
            assert hook.request("GET", "/v1/items").json() == {"ok": True}
        assert len(calls) == 2


def test_connection_refused_is_a_clear_error() -> None:
    with serve(_scripted(Response(200))) as server:
        url = server.url
    policy = RetryPolicy(max_retries=1, backoff_factor=0.01)
    with NoAuthHook(None, base_url=url, retry=policy) as hook, pytest.raises(ApiRequestError) as raised:
        hook.request("GET", "/v1/items")
    message = str(raised.value)
    assert message.startswith(f"GET {url}/v1/items failed after 2 attempts: could not connect")
    assert raised.value.attempts == 2


def test_endpoint_error_handler_retries_only_its_statuses(fast_hook: Callable[..., NoAuthHook]) -> None:
    endpoint = RetryOverrides.parse(
        {"retry_on_status_codes": [429], "max_retries": 2, "backoff_factor": 0.01}, EH
    )
    with serve(_scripted(Response(500, {"error": "boom"}))) as server:
        hook = fast_hook(server)
        with pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/accounts", retry=endpoint)
        assert len(server.requests) == 1  # 500 is not in this endpoint's list
        assert raised.value.attempts == 1
    with serve(_scripted(Response(429))) as server:
        hook = fast_hook(server)
        with pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/accounts", retry=endpoint)
        assert len(server.requests) == 3  # 2 retries
        assert raised.value.attempts == 3


def test_unlisted_503_with_retry_after_is_not_retried(fast_hook: Callable[..., NoAuthHook]) -> None:
    endpoint = RetryOverrides(statuses=(429,))
    with serve(_scripted(Response(503, headers={"Retry-After": "1"}), Response(200))) as server:
        hook = fast_hook(server)
        assert hook.request("GET", "/", retry=endpoint, raise_for_status=False).status_code == 503
        assert len(server.requests) == 1


def test_post_list_queries_are_retried(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(502), Response(200, {"data": []}))) as server:
        hook = fast_hook(server)
        assert hook.request("POST", "/v1/search", json={"q": "x"}).json() == {"data": []}
        assert [r.method for r in server.requests] == ["POST", "POST"]
        assert server.requests[1].json() == {"q": "x"}


def test_retry_settings_from_connection_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(_scripted(Response(418))) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HRT_EXTRAS",
            json.dumps(
                {
                    "conn_type": "restsync_noauth",
                    "host": server.url,
                    "extra": {"retry_on_status_codes": "418", "max_retries": 1, "backoff_factor": 0.01},
                }
            ),
        )
        with resolve_api_hook("hrt_extras") as hook, pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/")
        assert len(server.requests) == 2
    assert raised.value.status == 418 and raised.value.attempts == 2


def test_per_endpoint_policies_share_one_connection_pool(fast_hook: Callable[..., NoAuthHook]) -> None:
    answers = {"/a": [Response(503), Response(200, {})], "/b": [Response(503), Response(200, {})]}

    def handler(request: Request) -> Response:
        return answers[request.path].pop(0)

    with serve(handler) as server:
        hook = fast_hook(server)
        session = hook.get_conn()
        adapter = session.get_adapter(server.url)
        assert isinstance(adapter, HTTPAdapter)
        no_retries = RetryOverrides(max_retries=0)
        assert hook.request("GET", "/a", retry=no_retries, raise_for_status=False).status_code == 503
        assert hook.request("GET", "/b").status_code == 200  # the hook's default policy retried
        assert hook.request("GET", "/a", retry=no_retries).status_code == 200
        assert [r.path for r in server.requests] == ["/a", "/b", "/b", "/a"]
        assert hook.get_conn() is session and session.get_adapter(server.url) is adapter
        (pool_key,) = adapter.poolmanager.pools.keys()
        assert adapter.poolmanager.pools[pool_key].num_connections == 1  # one keep-alive connection
        # The default policy's session keeps the default Retry whatever the endpoints use.
        assert adapter.max_retries.total == 3


def test_get_conn_session_used_directly_still_has_retries_and_timeouts(
    fast_hook: Callable[..., NoAuthHook],
) -> None:
    with serve(_scripted(Response(503), Response(200, {"ok": 1}))) as server:
        session = fast_hook(server).get_conn()
        assert session.get(f"{server.url}/x").json() == {"ok": 1}
        assert len(server.requests) == 2


def test_raise_for_status_on_a_plain_response(fast_hook: Callable[..., NoAuthHook]) -> None:
    with serve(_scripted(Response(404, {"error": "no such path"}))) as server:
        hook = fast_hook(server)
        response = hook.request("GET", "/v1/nope", raise_for_status=False)
        assert isinstance(response, requests.Response) and response.status_code == 404
        with pytest.raises(ApiRequestError, match="Check the endpoint path") as raised:
            hook.raise_for_status(response)
    assert raised.value.attempts == 1 and raised.value.body_excerpt == '{"error": "no such path"}'


# -- per-endpoint overrides on one hook ---------------------------------------------------------------


def _fails(times: int, failure: Response) -> Callable[[Request], Response]:
    """Answer ``failure`` ``times`` times, then 200 forever."""
    return _scripted(*[failure] * times, Response(200, {"ok": True}))


@pytest.mark.parametrize(
    "failure", [Response(503), Response(drop_connection=True)], ids=["status 503", "dropped connection"]
)
@pytest.mark.parametrize("times", [1, 3])
def test_endpoint_overrides_retry_what_the_server_failed(
    fast_hook: Callable[..., NoAuthHook], failure: Response, times: int
) -> None:
    with serve(_fails(times, failure)) as server:
        hook = fast_hook(server, RetryPolicy(max_retries=0, backoff_factor=0.01))  # the default: no retries
        response = hook.request("GET", "/v1/items", retry=RetryOverrides(max_retries=3))
        assert response.json() == {"ok": True}
        assert len(server.requests) == times + 1
        assert (hook.stats.requests, hook.stats.retries, hook.stats.attempts) == (1, times, times + 1)


@pytest.mark.parametrize(
    "failure", [Response(503), Response(drop_connection=True)], ids=["status 503", "dropped connection"]
)
def test_endpoint_overrides_that_run_out_count_every_attempt(
    fast_hook: Callable[..., NoAuthHook], failure: Response
) -> None:
    with serve(_scripted(failure)) as server:
        hook = fast_hook(server)
        with pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/items", retry=RetryOverrides(max_retries=2))
        assert len(server.requests) == 3
    assert raised.value.attempts == 3 and "after 3 attempts" in str(raised.value)
    assert (hook.stats.requests, hook.stats.retries, hook.stats.attempts) == (1, 2, 3)


def test_two_policies_used_alternately_do_not_leak(fast_hook: Callable[..., NoAuthHook]) -> None:
    only_429 = RetryOverrides(statuses=(429,), max_retries=1)
    with serve(_scripted(Response(503))) as server:
        hook = fast_hook(server)
        for _ in range(2):
            with pytest.raises(ApiRequestError) as endpoint:
                hook.request("GET", "/a", retry=only_429)
            assert endpoint.value.attempts == 1 and "retries exhausted" not in str(endpoint.value)
            with pytest.raises(ApiRequestError) as default:
                hook.request("GET", "/b")
            assert default.value.attempts == 4
            assert (
                "retries exhausted: retry on 429, 500, 502, 503, 504 and broken connections up to 3 "
                in str(default.value)
            )
        assert [r.path for r in server.requests] == ["/a", *["/b"] * 4, "/a", *["/b"] * 4]
    assert (hook.stats.requests, hook.stats.retries) == (4, 6)


def test_two_policies_from_two_threads_keep_their_own_counts(fast_hook: Callable[..., NoAuthHook]) -> None:
    rounds = 8
    with serve(_scripted(Response(503))) as server:
        hook = fast_hook(server)
        attempts: dict[str, list[int]] = {"none": [], "two": []}

        def run(name: str, overrides: RetryOverrides) -> None:
            for _ in range(rounds):
                try:
                    hook.request("GET", f"/{name}", retry=overrides)
                except ApiRequestError as exc:
                    attempts[name].append(exc.attempts)

        threads = [
            threading.Thread(target=run, args=("none", RetryOverrides(max_retries=0))),
            threading.Thread(target=run, args=("two", RetryOverrides(max_retries=2))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seen = [r.path for r in server.requests]
    assert attempts == {"none": [1] * rounds, "two": [3] * rounds}
    assert (seen.count("/none"), seen.count("/two")) == (rounds, 3 * rounds)
    assert (hook.stats.requests, hook.stats.retries, hook.stats.attempts) == (
        2 * rounds,
        2 * rounds,
        len(seen),
    )
