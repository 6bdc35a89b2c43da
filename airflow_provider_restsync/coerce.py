"""Typed values from settings typed by hand: ``"true"``, ``"10"`` and ``"0.5"`` as well as real ones.

Connection extras, form fields and API bodies carry booleans and numbers as words. These are the one
set of rules for reading them; the raising helpers name the setting with a
:class:`~airflow_provider_restsync.errors.ConfigError` whose ``key_path`` is where it lives.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_restsync.errors import ConfigError

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def bool_word(value: Any) -> bool | None:
    """Return ``value`` as a bool when it is one, 0 or 1, or a word such as ``"yes"``/``"off"``; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def as_bool(value: Any, key_path: str) -> bool:
    """Return ``value`` as a bool (accepting ``"true"``/``"false"``/``1``/``0`` and friends).

    :param value: the setting.
    :param key_path: where it lives, for the error.
    """
    flag = bool_word(value)
    if flag is None:
        raise ConfigError(f"expected true or false, got {value!r}", key_path)
    return flag


def as_int(value: Any, key_path: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int not below ``minimum`` (a whole float or a digit string is fine).

    :param value: the setting.
    :param key_path: where it lives, for the error.
    :param minimum: the smallest value allowed.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None:
        raise ConfigError(f"expected a whole number, got {value!r}", key_path)
    if number < minimum:
        raise ConfigError(f"must be at least {minimum}, got {number}", key_path)
    return number


def as_float(value: Any, key_path: str, *, minimum: float = 0.0, positive: bool = False) -> float:
    """Return ``value`` as a float not below ``minimum`` (and above zero when ``positive``).

    :param value: the setting.
    :param key_path: where it lives, for the error.
    :param minimum: the smallest value allowed.
    :param positive: zero is not allowed either.
    """
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or number != number:  # NaN is not a duration
        raise ConfigError(f"expected a number, got {value!r}", key_path)
    if positive and number <= 0:
        raise ConfigError(f"must be greater than 0, got {value!r}", key_path)
    if number < minimum:
        raise ConfigError(f"must be at least {minimum:g}, got {value!r}", key_path)
    return number
