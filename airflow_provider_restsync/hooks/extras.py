"""Read connection extras: plain or form-prefixed names, values typed by hand or by the UI form.

The Airflow connection form stores a field either under its plain name or as
``extra__<conn_type>__<name>``, and values typed into a JSON extra or a form may arrive as strings
(``"true"``, ``"10"``, ``"429, 503"``). Everything here turns them into one typed value or a
:class:`~airflow_provider_restsync.errors.ConfigError` that names the key; the word rules for single
booleans and numbers live in :mod:`airflow_provider_restsync.coerce`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_restsync.coerce import as_bool, as_int, bool_word
from airflow_provider_restsync.errors import ConfigError

_PREFIXED = re.compile(r"^extra__(?P<conn_type>.+?)__(?P<name>.+)$")


def is_empty(value: Any) -> bool:
    """Return True for values a form leaves behind when a field is not filled in."""
    return value is None or (isinstance(value, str) and not value.strip())


def plain_extra(extra: Mapping[str, Any], conn_type: str | None = None) -> dict[str, Any]:
    """Return ``extra`` keyed by plain names, the ``extra__<conn_type>__<name>`` forms filling the gaps.

    :param extra: the connection's ``extra_dejson``.
    :param conn_type: only prefixed keys of this type count; None accepts any type.
    """
    plain: dict[str, Any] = {}
    prefixed: dict[str, Any] = {}
    for key, value in extra.items():
        match = _PREFIXED.match(key)
        if match is None:
            plain[key] = value
        elif conn_type is None or match.group("conn_type") == conn_type:
            prefixed[match.group("name")] = value
    for name, value in prefixed.items():
        if is_empty(plain.get(name)) and not is_empty(value):
            plain[name] = value
    return {name: value for name, value in plain.items() if not is_empty(value)}


def as_statuses(value: Any, key_path: str) -> tuple[int, ...]:
    """Return HTTP status codes from a list or from a string such as ``"429, 500 503"``."""
    items: list[Any]
    if isinstance(value, str):
        items = [item for item in re.split(r"[\s,;]+", value.strip()) if item]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        items = [value]
    codes: list[int] = []
    for index, item in enumerate(items):
        code = as_int(item, f"{key_path}[{index}]", minimum=100)
        if code > 599:
            raise ConfigError(f"{code} is not an HTTP status code", f"{key_path}[{index}]")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def as_headers(value: Any, key_path: str) -> dict[str, str]:
    """Return a header mapping from a JSON object or a string holding one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigError(f"expected a JSON object of header names to values ({exc})", key_path) from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a JSON object of header names to values, got {value!r}", key_path)
    headers: dict[str, str] = {}
    for name, header_value in value.items():
        if not isinstance(name, str) or not isinstance(header_value, (str, int, float)):
            raise ConfigError("header names and values must be strings", f"{key_path}.{name}")
        headers[name] = str(header_value)
    return headers


def as_verify(value: Any, key_path: str) -> bool | str:
    """Return the TLS ``verify`` setting: a bool, or a path to a CA bundle."""
    if isinstance(value, str) and bool_word(value) is None:
        return value.strip()
    return as_bool(value, key_path)


def as_str_list(value: Any, key_path: str) -> list[str]:
    """Return a list of strings from a list or a space/comma-separated string (OAuth2 scopes)."""
    if isinstance(value, str):
        return [item for item in re.split(r"[\s,]+", value.strip()) if item]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return [item for item in value if item]
    raise ConfigError(f"expected a list of strings or a space-separated string, got {value!r}", key_path)
