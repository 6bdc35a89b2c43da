"""The JSON body of an API response: parsed once per page, by this one function."""

from __future__ import annotations

from typing import Any

import orjson
import requests


class NotJsonError(ValueError):
    """The response has a body that is not JSON; the message says its content type and size."""


def json_body(response: requests.Response) -> Any:
    """The parsed JSON body of ``response``; ``None`` when it is empty.

    :raises NotJsonError: the body is not JSON.
    """
    content = response.content
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass  # NaN, integers beyond 64 bits, another encoding: requests reads what orjson does not
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise NotJsonError(f"the body is not JSON ({kind}, {len(response.content)} bytes)") from None
