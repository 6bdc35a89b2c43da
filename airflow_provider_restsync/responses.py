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
    return parse_json(response)[0]


def parse_json(response: requests.Response) -> tuple[Any, bool]:
    """The parsed JSON body of ``response`` (``None`` when it is empty), and whether it is strict JSON.

    Strict JSON (RFC 8259, as orjson reads and writes it) has no NaN or Infinity and no integer beyond
    64 bits: written back by orjson, it reads the same. Other bodies are read by requests' parser.

    :raises NotJsonError: the body is not JSON.
    """
    content = response.content
    if not content:
        return None, True
    try:
        return orjson.loads(content), True
    except orjson.JSONDecodeError:
        pass  # NaN, integers beyond 64 bits, another encoding: requests reads what orjson does not
    try:
        return response.json(), False
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise NotJsonError(f"the body is not JSON ({kind}, {len(response.content)} bytes)") from None
