"""The JSON body of an API response: parsed once per page, by this one function."""

from __future__ import annotations

from typing import Any

import orjson
import requests

# Every digit as "0", the minus sign as itself, the rest as a space: runs of digits are found by a
# plain substring search over the translated body, far faster than a regular expression.
_DIGIT_RUNS = bytes(48 if chr(byte).isdigit() else 45 if byte == 45 else 32 for byte in range(256))
_WIDE = b"0" * 20
_WIDE_NEGATIVE = b"-" + b"0" * 19


def _may_hold_wide_integers(content: bytes) -> bool:
    """Whether the body may hold an integer beyond 64 bits, which orjson reads as a float (losing its
    digits): a run of 20 digits, or of 19 after a minus sign (strings and long fractions included, which
    only costs the slower parser)."""
    digits = content.translate(_DIGIT_RUNS)
    return _WIDE in digits or _WIDE_NEGATIVE in digits


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
    64 bits: written back by orjson, it reads the same. Other bodies are read by requests' parser, and
    so is a body that may hold an integer beyond 64 bits (orjson would read it as a float).

    :raises NotJsonError: the body is not JSON.
    """
    content = response.content
    if not content:
        return None, True
    if not _may_hold_wide_integers(content):
        try:
            return orjson.loads(content), True
        except orjson.JSONDecodeError:
            pass  # NaN, lone surrogates, another encoding: requests reads what orjson does not
    try:
        return response.json(), False
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise NotJsonError(f"the body is not JSON ({kind}, {len(response.content)} bytes)") from None
