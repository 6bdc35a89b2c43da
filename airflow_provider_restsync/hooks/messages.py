"""What the hook says when a request fails or the Test button is pressed: sentences a person can act on.

Plain functions of what they need; every URL handed in is already redacted and every text that may
hold a secret (a response body, an exception) goes through the ``redact`` callable before it is used.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from airflow_provider_restsync.errors import ApiRequestError
from airflow_provider_restsync.hooks.retry import RetryAfterTooLongError, RetryPolicy, attempts_of

Redact = Callable[[str], str]

#: How much of an error response's body goes into the exception.
BODY_EXCERPT_CHARS = 500


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"


def body_excerpt(response: requests.Response, redact: Redact) -> str:
    """The start of the response body on one line, redacted, at most :data:`BODY_EXCERPT_CHARS` long."""
    try:
        # Redact before cutting, so a secret straddling the cut cannot leak half of itself.
        text = response.content[:65536].decode(response.encoding or "utf-8", errors="replace")
    except Exception:  # a body that cannot be read is no reason to hide the status
        return ""
    text = " ".join(redact(text).split())
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "..."
    return text


def status_error(
    response: requests.Response, *, redact: Redact, policy: RetryPolicy | None = None, advice: str = ""
) -> ApiRequestError:
    """The error for a 4xx/5xx answer: method, URL, status, attempts, advice, the start of the body.

    :param response: the final response.
    :param redact: removes the hook's secrets from a text.
    :param policy: the policy that served the request; a status it retries says "retries exhausted".
    :param advice: a line on what to check (:func:`status_hint`).
    """
    method = (response.request.method if response.request is not None else None) or "GET"
    url = redact(response.url or "")
    attempts = attempts_of(response)
    reason = response.reason or ""
    status = response.status_code
    first = f"{method} {url} failed: HTTP {status} {reason}".rstrip() + f" after {_attempts(attempts)}"
    if policy is not None and status in policy.statuses:
        first += f" (retries exhausted: {policy.describe()})"
    lines = [first + "."]
    if advice:
        lines.append(advice)
    body = body_excerpt(response, redact)
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


def status_hint(
    response: requests.Response,
    *,
    where: str,
    secret_label: str,
    auth: str,
    base_url: str,
    sends_credentials: bool = True,
) -> str:
    """A line on what to check for a 401, 403, 404 or 429; empty for other statuses.

    :param where: the connection, in words (``connection 'api' (restsync_api_key)``).
    :param secret_label: what the connection's password field holds.
    :param auth: how requests are signed, in words (the hook's ``describe_auth()``).
    :param base_url: the redacted base URL.
    :param sends_credentials: False for a hook that signs nothing (a public API).
    """
    status = response.status_code
    if status == 401 and not sends_credentials:
        return (
            "The API wants credentials and this hook sends none: use a connection of type "
            "restsync_basic, restsync_api_key, restsync_bearer or restsync_oauth2 instead."
        )
    if status == 401:
        return (
            f"The API rejected the credentials: check the {secret_label} of {where}; the hook sends {auth}."
        )
    if status == 403:
        return (
            f"The API accepted the credentials of {where} but refuses this resource to them "
            f"({auth}): check the key's permissions or scopes."
        )
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        wait = f" (it asked to wait: Retry-After {retry_after})" if retry_after else ""
        return (
            f"The API is rate limiting{wait}: allow more retries or a longer backoff "
            "(max_retries, backoff_factor in the connection extras or the endpoint's error_handler)."
        )
    if status == 404:
        return f"Check the endpoint path and the base URL ({base_url})."
    return ""


def network_error(
    method: str,
    url: str,
    exc: requests.RequestException,
    *,
    policy: RetryPolicy,
    attempts: int,
    redact: Redact,
) -> ApiRequestError:
    """The error for a request that got no answer: refused, unresolvable, timed out, TLS, broken.

    :param url: the redacted URL, used when the exception does not carry the prepared request.
    :param policy: the policy it was sent with (its timeouts and retries are quoted).
    :param attempts: requests sent before giving up.
    """
    request = getattr(exc, "request", None)
    url = redact(getattr(request, "url", None) or url)
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
    detail = redact(f"{type(cause).__name__}: {cause}")
    message = (
        f"{method} {url} failed after {_attempts(attempts)}: {what} ({detail}). "
        f"Retry policy: {policy.describe()}."
    )
    return ApiRequestError(message, method=method, url=url, reason=what, attempts=attempts)


def retry_after_error(method: str, url: str, exc: RetryAfterTooLongError) -> RetryAfterTooLongError:
    """``exc`` (raised inside urllib3, which knows no URL) again, naming the request.

    :param url: the redacted URL.
    """
    return RetryAfterTooLongError(
        f"{method} {url} failed: {exc}",
        retry_after=exc.retry_after,
        backoff_max=exc.backoff_max,
        method=method,
        url=url,
        status=exc.status,
        reason=exc.reason,
        attempts=exc.attempts,
    )


def connection_ok(response: requests.Response, *, url: str, auth: str, sends_credentials: bool) -> str:
    """What the Test button says when the API answered 2xx/3xx, or 404/405 at the base URL.

    :param url: the redacted URL that answered.
    :param auth: how requests are signed, in words.
    """
    answered = f"Connected: GET {url} answered HTTP {response.status_code} {response.reason}".rstrip()
    if response.status_code < 400:
        return f"{answered} ({auth})."
    if sends_credentials:
        what = f"which does not reject the credentials ({auth})"
    else:
        what = f"so the API is reachable ({auth})"
    return f"{answered}, {what}; set the test_path extra to an endpoint to check that one."


def connection_failed(error: ApiRequestError, *, test_path: str) -> str:
    """What the Test button says when the answer was a failure: the error, and what was checked.

    :param test_path: the ``test_path`` extra, or empty when the base URL was requested.
    """
    if test_path:
        return f"{error}\nChecked the test_path extra {test_path!r}."
    return f"{error}\nChecked the base URL; set the test_path extra to check an endpoint instead."
