"""JSON columns' text, written by orjson where it writes what the ``json`` module writes.

Nested values are written to JSON columns once per record, a large share of a sync's CPU time; orjson
does it several times faster than the ``json`` module (and parses response bodies: ``responses.py``).
Where the two would differ, the ``json`` module writes:

- orjson writes ``NaN`` and infinities as ``null`` (the ``json`` module with
  ``allow_nan=False`` refuses them: they are not JSON), so a value whose output holds ``null`` is
  searched for a float that is not finite, and one that holds such a float goes to the ``json`` module
  (which refuses it); non-string keys and integers beyond 64 bits also go there. Dates and datetimes
  become ``str(value)``, as before.
- A lone surrogate (JSON ``"\\ud800"``, which Python keeps in a string but UTF-8 cannot encode) is
  written as its ``\\udXXX`` escape, so the text always encodes and reads back to the same value.
"""

from __future__ import annotations

import json
import re
from math import isfinite
from typing import Any

import orjson

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
_SURROGATE = re.compile("[\ud800-\udfff]")
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept, as ``json.dumps(value, ensure_ascii=False, allow_nan=False,
    separators=(",", ":"), default=str)`` writes it.

    :raises ValueError: ``value`` holds ``NaN`` or an infinity.
    """
    try:
        data = orjson.dumps(value, default=str, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return _encode(value)
    if b"null" in data and holds_non_finite(value):
        return _encode(value)  # a NaN or an infinity orjson wrote as null: the json module refuses it
    return data.decode()


def dumps_strict(value: Any) -> str:
    """:func:`dumps` of a value known to hold no NaN or infinity (it came from strict JSON): orjson's
    ``null`` needs no second look."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return _encode(value)


def _encode(value: Any) -> str:
    """The json module's text; lone surrogates (orjson refuses them) as their escapes."""
    text = _ENCODER.encode(value)
    if text.isascii():
        return text
    return _SURROGATE.sub(_escape, text)  # outside strings JSON text is ASCII: only strings change


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate, which no database driver can encode as UTF-8."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def holds_non_finite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or an infinity anywhere (orjson would write it as null)."""
    if isinstance(value, float):
        return not isfinite(value)
    if isinstance(value, dict):
        return any(map(holds_non_finite, value.values()))
    if isinstance(value, (list, tuple)):
        return any(map(holds_non_finite, value))
    return False
