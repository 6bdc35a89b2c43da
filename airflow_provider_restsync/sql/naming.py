"""Table and column names: dlt's snake_case (or the API's own names), unique and short enough.

``normalize_identifier`` follows dlt's ``snake_case`` naming convention exactly (``MessageID`` ->
``message_id``), and names over a database's identifier limit are shortened with dlt's hash tag, so
tables loaded here answer the same queries as tables dlt loaded. What dlt leaves undefined (two fields
that normalize to the same name) is settled deterministically by ``ColumnNames``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from airflow_provider_restsync.errors import ConfigError

PATH_SEPARATOR = "__"
EMPTY_NAME = "_empty"  # a field named "" (dlt rejects it; JSON allows it)
STYLES = ("snake_case", "direct")

# A record field: its key, or the path of keys to a value inside nested objects (when flattening).
FieldKey = str | tuple[str, ...]

_RE_UNDERSCORES = re.compile("__+")
_RE_LEADING_DIGITS = re.compile(r"^\d+")
_RE_NON_ALPHANUMERIC = re.compile(r"[^a-zA-Z\d_]+")
_SNAKE_CASE_BREAK_1 = re.compile("([^_])([A-Z][a-z]+)")
_SNAKE_CASE_BREAK_2 = re.compile("([a-z0-9])([A-Z])")
_TR_REDUCE_ALPHABET = str.maketrans("+-*@|", "x_xal")
# dlt's "direct" convention replaces these. Added: NUL, which no database accepts in a name, and the
# backtick, which SQLAlchemy's MySQL reflection reads back doubled.
_TR_DIRECT_CLEANUP = str.maketrans(".\n\r'\"\u25b6\x00`", "________")
_TR_TAG = bytes.maketrans(b"/+", b"ab")
# MySQL and MariaDB take identifiers of the Basic Multilingual Plane only ("Invalid utf8mb4 character
# string" for an emoji in a column name).
_RE_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")
_COLLISION_PROBABILITY = 0.001

# Identifier limits; PostgreSQL counts bytes (NAMEDATALEN - 1), MySQL/MariaDB characters.
IDENTIFIER_LIMITS = {"postgresql": 63, "mysql": 64, "mariadb": 64, "sqlite": 1024}


@lru_cache(maxsize=65536)
def normalize_identifier(name: str) -> str:
    """Return ``name`` in dlt's snake_case (``MessageID`` -> ``message_id``), not shortened."""
    name = name.strip()
    if not name:
        return EMPTY_NAME
    normalized = name.translate(_TR_REDUCE_ALPHABET)
    normalized = _RE_NON_ALPHANUMERIC.sub("_", normalized)
    normalized = _SNAKE_CASE_BREAK_1.sub(r"\1_\2", normalized)
    normalized = _SNAKE_CASE_BREAK_2.sub(r"\1_\2", normalized).lower()
    if _RE_LEADING_DIGITS.match(normalized):
        normalized = "_" + normalized
    stripped = normalized.rstrip("_")
    normalized = stripped + "x" * (len(normalized) - len(stripped))
    return _RE_UNDERSCORES.sub("_", normalized)


def direct_identifier(name: str) -> str:
    """Return ``name`` as dlt's ``direct`` convention keeps it: trimmed, quotes and dots replaced."""
    # A lone surrogate (JSON "\\ud800") is no character any driver can send: it becomes "_" too.
    return _SURROGATE.sub("_", name.strip().translate(_TR_DIRECT_CLEANUP)) or EMPTY_NAME


_SURROGATE = re.compile("[\\ud800-\\udfff]")


def name_tag(identifier: str) -> str:
    """dlt's short hash tag of ``identifier`` (6 characters of lower-case base64)."""
    tag_bytes = int((2 + 1) * math.log2(1 / _COLLISION_PROBABILITY) // 8) + 1
    digest = hashlib.shake_128(identifier.encode("utf-8", "surrogatepass")).digest(tag_bytes)
    return base64.b64encode(digest).rstrip(b"=").translate(_TR_TAG).lower().decode("ascii")


def _trim_and_tag(name: str, tag: str, length: int) -> str:
    """dlt's shortening: keep both ends of ``name`` and put ``tag`` in the middle."""
    remaining = length - len(tag)
    head = remaining // 2 + remaining % 2
    tail = remaining // 2
    return name[:head] + tag + (name[len(name) - tail :] if tail else "")


class NamingConvention:
    """Turns API names into identifiers one database accepts.

    :param style: ``snake_case`` (dlt's default) or ``direct`` (keep the API's names).
    :param max_length: the database's identifier limit; ``None`` for no limit.
    :param count_bytes: measure length in UTF-8 bytes (PostgreSQL) rather than characters.
    :param bmp_only: replace characters beyond the Basic Multilingual Plane (MySQL, MariaDB) with ``_``.
    """

    def __init__(
        self,
        style: str = "snake_case",
        max_length: int | None = None,
        count_bytes: bool = False,
        bmp_only: bool = False,
    ):
        if style not in STYLES:
            raise ConfigError(f"unknown naming {style!r}; expected one of {', '.join(STYLES)}", "naming")
        self.style = style
        self.max_length = max_length
        self.count_bytes = count_bytes
        self.bmp_only = bmp_only

    @classmethod
    def for_dialect(cls, style: str, dialect_name: str) -> NamingConvention:
        """The convention for one database family (its identifier limit)."""
        return cls(
            style,
            IDENTIFIER_LIMITS.get(dialect_name, 63),
            count_bytes=dialect_name == "postgresql",
            bmp_only=dialect_name in ("mysql", "mariadb"),
        )

    def _length(self, name: str) -> int:
        return len(name.encode("utf-8")) if self.count_bytes else len(name)

    def shorten(self, name: str, original: str) -> str:
        """Return ``name``, or if it is too long, its ends around a tag hashed from ``original``."""
        if self.max_length is None or self._length(name) <= self.max_length:
            return name
        tag = name_tag(original)
        length = self.max_length
        shortened = _trim_and_tag(name, tag, length)
        while self._length(shortened) > self.max_length:  # multi-byte characters under a byte limit
            length -= 1
            shortened = _trim_and_tag(name, tag, length)
        return shortened

    def _base(self, name: str) -> str:
        if self.bmp_only:  # snake_case too: it keeps Unicode digits, as dlt does ("𑥐" -> "_𑥐")
            name = _RE_BEYOND_BMP.sub("_", name)
        return normalize_identifier(name) if self.style == "snake_case" else direct_identifier(name)

    def normalize(self, name: str) -> str:
        """One table or column name, normalized and shortened."""
        stripped = name.strip()
        return self.shorten(self._base(stripped), stripped)

    def normalize_field(self, field: FieldKey) -> str:
        """A record field (or the path to a nested one) as a column name: ``parent__child``."""
        if isinstance(field, str):
            return self.normalize(field)
        parts = [self._base(part) for part in field]
        return self.shorten(PATH_SEPARATOR.join(parts), PATH_SEPARATOR.join(field))

    def derived(self, name: str, suffix: str) -> str:
        """A name made from an already normalized one: ``<name><suffix>``, shortened as a whole."""
        joined = name + suffix
        return self.shorten(joined, joined)


def plain_name(field: FieldKey) -> str:
    """The field as one string, the way it reads in the API (paths joined with ``__``)."""
    return field if isinstance(field, str) else PATH_SEPARATOR.join(field)


class ColumnNames:
    """Which column each record field lands in, for one table.

    Names colliding after normalization (``a-b`` and ``a_b``) are settled deterministically: the field
    whose API name already is the normalized name keeps it, otherwise the field sorting first does; the
    others get ``<name>_<tag>`` with a tag hashed from their API name. A field keeps its column for the
    life of the writer, and across runs through the table's recorded map (:meth:`seed`, see
    :mod:`.column_map`). Comparison is case-insensitive, as MySQL and SQLite compare column names.
    """

    def __init__(self, convention: NamingConvention, reserved: Iterable[str] = ()) -> None:
        self.convention = convention
        self._by_field: dict[FieldKey, str] = {}
        self._owner: dict[str, object] = {name.casefold(): _RESERVED for name in reserved}
        self._variants: dict[tuple[str, str], str] = {}
        self._pending: dict[FieldKey, str] = {}

    def seed(self, mapping: Mapping[FieldKey, str]) -> None:
        """Take the columns fields already own in the table (its recorded map) before any batch."""
        for field, column in mapping.items():
            if field not in self._by_field:
                self._by_field[field] = column
                self._owner[column.casefold()] = field

    def pending(self) -> dict[FieldKey, str]:
        """Fields given a column since :meth:`saved` last said they were recorded."""
        return dict(self._pending)

    def saved(self, fields: Iterable[FieldKey]) -> None:
        """``fields`` are recorded in the table's map now."""
        for field in fields:
            self._pending.pop(field, None)

    def get(self, field: FieldKey) -> str | None:
        """The column of ``field``, if it has one yet."""
        return self._by_field.get(field)

    def assign(self, fields: Iterable[FieldKey]) -> Mapping[FieldKey, str]:
        """Give every new field a column, deterministically; return the whole mapping."""
        groups: dict[str, list[tuple[tuple[bool, str, str], FieldKey, str]]] = {}
        for field in dict.fromkeys(fields):  # a field named twice is still one field
            if field in self._by_field:
                continue
            base = self.convention.normalize_field(field)
            plain = plain_name(field)
            groups.setdefault(base.casefold(), []).append(((plain != base, plain, repr(field)), field, base))
        for claimants in groups.values():
            claimants.sort(key=lambda item: item[0])
            for _rank, field, base in claimants:
                taken = base.casefold() in self._owner
                name = self._unique(base, plain_name(field)) if taken else base
                self._owner[name.casefold()] = field
                self._by_field[field] = name
                self._pending[field] = name
        return self._by_field

    def variant(self, column: str, data_type: str) -> str:
        """The column for values of ``data_type`` that do not fit ``column``: ``<column>__v_<type>``."""
        key = (column, data_type)
        name = self._variants.get(key)
        if name is None:
            base = self.convention.derived(column, f"{PATH_SEPARATOR}v_{data_type}")
            name = self._unique(base, base) if base.casefold() in self._owner else base
            self._owner[name.casefold()] = key
            self._variants[key] = name
        return name

    def _unique(self, base: str, original: str) -> str:
        seed = original
        while True:
            tag = name_tag(seed)
            candidate = self.convention.shorten(f"{base}_{tag}", f"{original}_{tag}")
            if candidate.casefold() not in self._owner:
                return candidate
            seed += "_"


_RESERVED = object()
