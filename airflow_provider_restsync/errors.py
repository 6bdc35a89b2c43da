"""Errors a DAG author can act on: each names what is wrong and where."""

from __future__ import annotations

import difflib
from collections.abc import Collection


class RestSyncError(Exception):
    """Base class of every error this provider raises on purpose."""


class ConfigError(RestSyncError):
    """The source config is invalid; ``key_path`` says where (``resources[2].endpoint.paginator.type``)."""

    def __init__(self, message: str, key_path: str | None = None) -> None:
        self.key_path = key_path
        self.reason = message
        super().__init__(f"{key_path}: {message}" if key_path else message)


class AuthConfigError(ConfigError):
    """The auth settings of the config and the connection do not fit together."""


class ApiRequestError(RestSyncError):
    """An HTTP request failed for good (after retries); the URL in it is already redacted."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "GET",
        url: str = "",
        status: int | None = None,
        reason: str | None = None,
        attempts: int = 1,
        body_excerpt: str = "",
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.attempts = attempts
        self.body_excerpt = body_excerpt
        self.resource: str | None = None
        super().__init__(message)

    def in_resource(self, resource: str) -> ApiRequestError:
        """This error, its message now led by the resource whose request failed (once however often asked)."""
        if self.resource is None:
            self.resource = resource
            self.args = (f"resource {resource!r}: {self.args[0] if self.args else ''}", *self.args[1:])
        return self


class PagingError(RestSyncError):
    """Paging cannot go on safely: a loop, a selector that selects nothing, a page limit."""


class LoadError(RestSyncError):
    """Records cannot be written as asked (for example a record without its primary key)."""


class MissingPrimaryKeyError(LoadError):
    """A record lacks a primary-key field; nothing of its batch was written."""


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """`` (did you mean 'offset'?)`` when a choice is close to ``word``, else an empty string."""
    close = difflib.get_close_matches(str(word), [str(choice) for choice in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
