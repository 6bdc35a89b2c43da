"""dlt's ``columns`` hints: parsed and checked once, at config time, into :class:`ColumnHint` values.

The config calls :func:`parse_column_hints` with the key path of the block
(``resources[2].columns``), so a bad hint fails DAG parsing with its place; the writer only ever sees
``ColumnHint`` values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_restsync.errors import ConfigError, did_you_mean
from airflow_provider_restsync.sql.types import canonical_type

#: Hint keys this provider applies.
HINT_KEYS = ("name", "data_type", "nullable", "precision", "scale", "primary_key", "description")
#: dlt hint keys it does not apply yet: an error unless null or false, never silently dropped.
HINT_KEYS_NOT_YET = (
    "unique",
    "sort",
    "merge_key",
    "row_key",
    "parent_key",
    "root_key",
    "partition",
    "cluster",
    "hard_delete",
    "dedup_sort",
    "timezone",
    "variant",
    "incremental",
)


@dataclass(frozen=True)
class ColumnHint:
    """A dlt ``columns`` hint for one field.

    :param data_type: one of dlt's data types (``text``, ``bigint``, ``decimal`` ...), None to infer.
    :param nullable: False makes the column ``NOT NULL``.
    :param precision: a decimal's precision, a text column's length.
    :param scale: a decimal's scale.
    :param primary_key: the field is (part of) the primary key.
    """

    data_type: str | None = None
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    primary_key: bool = False


def parse_column_hints(raw: Any, key_path: str) -> dict[str, ColumnHint]:
    """dlt ``columns`` (a mapping of field to hints, or a list of hints with ``name``) as hint values.

    :raises ConfigError: anything wrong, at its key path (``resources[0].columns.amount.data_type``).
    """
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        entries = [(str(name), hints, f"{key_path}.{name}") for name, hints in raw.items()]
    elif isinstance(raw, Sequence) and not isinstance(raw, (str, bytes)):
        entries = []
        for index, hints in enumerate(raw):
            where = f"{key_path}[{index}]"
            name = hints.get("name") if isinstance(hints, Mapping) else None
            if not isinstance(name, str) or not name.strip():
                raise ConfigError("a column hint in a list needs a 'name'", f"{where}.name")
            entries.append((name, hints, where))
    else:
        raise ConfigError(f"must be a mapping (or list) of column hints, not {type(raw).__name__}", key_path)
    return {name: parse_column_hint(hints, where, name=name) for name, hints, where in entries}


def parse_column_hint(raw: Any, key_path: str, *, name: str) -> ColumnHint:
    """One field's hints; ``name`` is the field they belong to (a ``name`` key must agree)."""
    hints = raw if raw is not None else {}
    if not isinstance(hints, Mapping):
        raise ConfigError(
            f"a column hint is a mapping such as {{data_type: bigint}}, not {type(hints).__name__}", key_path
        )
    for key, value in hints.items():
        if key in HINT_KEYS:
            continue
        if key in HINT_KEYS_NOT_YET:
            if value is None or value is False:
                continue
            raise ConfigError(f"column hint {key!r} is a dlt hint not supported yet", f"{key_path}.{key}")
        raise ConfigError(
            f"unknown column hint {key!r}{did_you_mean(str(key), [*HINT_KEYS, *HINT_KEYS_NOT_YET])}; "
            f"known hints: {', '.join(HINT_KEYS)}",
            f"{key_path}.{key}",
        )
    if hints.get("name") is not None and hints["name"] != name:
        raise ConfigError(f"names column {hints['name']!r} under the key {name!r}", f"{key_path}.name")
    data_type = hints.get("data_type")
    if data_type is not None:
        if not isinstance(data_type, str):
            raise ConfigError(f"must be a data type name, not {data_type!r}", f"{key_path}.data_type")
        data_type = canonical_type(data_type, f"{key_path}.data_type")
    precision = _positive(hints.get("precision"), f"{key_path}.precision", minimum=1)
    scale = _positive(hints.get("scale"), f"{key_path}.scale", minimum=0)
    if precision is not None and scale is not None and scale > precision:
        raise ConfigError(f"scale {scale} is larger than precision {precision}", f"{key_path}.scale")
    return ColumnHint(
        data_type=data_type,
        nullable=_flag(hints.get("nullable"), f"{key_path}.nullable", default=True),
        precision=precision,
        scale=scale,
        primary_key=_flag(hints.get("primary_key"), f"{key_path}.primary_key", default=False),
    )


def hinted_primary_key(primary_key: Sequence[str], hints: Mapping[str, ColumnHint]) -> tuple[str, ...]:
    """The primary key: the ``primary_key`` setting, then the fields hinted ``primary_key: true``."""
    keys = list(primary_key)
    keys += [name for name, hint in hints.items() if hint.primary_key and name not in keys]
    return tuple(keys)


def _flag(value: Any, key_path: str, *, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, not {value!r}", key_path)
    return value


def _positive(value: Any, key_path: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be a whole number of at least {minimum}, not {value!r}", key_path)
    return value
