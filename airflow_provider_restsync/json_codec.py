"""JSON columns' text, written by orjson where it writes what the ``json`` module writes.

Nested values are written to JSON columns once per record, a large share of a sync's CPU time; orjson
does it several times faster than the ``json`` module (and parses response bodies: ``responses.py``).
Where the two would differ, the ``json`` module writes:

- orjson writes ``NaN`` and infinities as ``null`` (the ``json`` module with
  ``allow_nan=False`` refuses them: they are not JSON), so any output holding ``null`` is written again
  by the ``json`` module; non-string keys and integers beyond 64 bits also go there. Dates and
  datetimes become ``str(value)``, as before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
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
        return _ENCODER.encode(value)
    if b"null" in data:
        return _ENCODER.encode(value)  # null, or a NaN orjson wrote as null: the json module tells
    return data.decode()
