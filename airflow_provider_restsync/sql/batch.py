"""Records to rows: flatten, name, check keys, type new columns, convert values, route misfits to variants.

Everything here happens in memory before the database is touched, so a batch that cannot be written
(a record without its primary key) fails with nothing written. Work is per batch and per column:
each column gets one converter, and a value is converted with one call.

A table gets at most :func:`dialects.max_data_columns` data columns (fields and variant columns); the
fields past them land in the JSON column ``_restsync_overflow`` as ``{field name as in the API: value}``
(nulls left out), and so does a misfit that would need a new variant column there. Keys always get
columns; a field keeps where it went first (its column, or the overflow) for the writer's life, and
fields already in the table keep their columns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_restsync.errors import LoadError, MissingPrimaryKeyError
from airflow_provider_restsync.sql.convert import (
    MISFIT,
    Converter,
    converter,
    holds_texts,
    json_text,
    lossless_text,
    strict_variant,
)
from airflow_provider_restsync.sql.dialects import max_data_columns
from airflow_provider_restsync.sql.hints import ColumnHint
from airflow_provider_restsync.sql.naming import ColumnNames, FieldKey, normalize_identifier, plain_name
from airflow_provider_restsync.sql.schema import OVERFLOW, OVERFLOW_TEXT, RESERVED, ColumnSpec, TableModel
from airflow_provider_restsync.sql.types import infer_column_type, infer_type

log = logging.getLogger(__name__)

_NONE = type(None)

Record = Mapping[Any, Any]


def flatten(record: Record, levels: int) -> dict[FieldKey, Any]:
    """Nested objects as ``(parent, child)`` paths, ``levels`` deep; deeper objects and lists stay JSON."""
    flat: dict[FieldKey, Any] = {}
    _flatten_into(flat, (), record, levels)
    return flat


def _flatten_into(flat: dict[FieldKey, Any], prefix: tuple[str, ...], record: Record, levels: int) -> None:
    for key, value in record.items():
        path: FieldKey = (*prefix, key) if prefix else key
        if type(value) is dict and value and levels > 0:
            _flatten_into(flat, (*prefix, key), value, levels - 1)
        else:
            flat[path] = value


@dataclass
class PreparedBatch:
    """Rows ready for the database, and the columns the table must gain first."""

    rows: list[tuple[Any, ...]]  # one value per column of ``columns``
    columns: list[str]
    key: tuple[str, ...]
    new_columns: list[ColumnSpec] = field(default_factory=list)
    variant_counts: dict[str, int] = field(default_factory=dict)
    new_variant_columns: list[str] = field(default_factory=list)  # those of ``new_columns`` that are variants


# How one field's values are written: (column, converter, a type whose values are stored as they
# are or None, whether the column is part of the key). A tuple: unpacked once per value.
_Plan = tuple[str, Converter, "type | None", bool]

# The last variant of a value no other column holds: its JSON text, NUL and surrogates escaped.
JSON_TEXT = "json_text"
_TO_OVERFLOW: Any = object()  # a misfit with no room left for its variant column


class BatchPreparer:
    """Prepares the batches of one resource for one table (keeps its field-to-column names)."""

    def __init__(
        self,
        *,
        resource: str,
        family: str,
        names: ColumnNames,
        hints: Mapping[str, ColumnHint],
        primary_key: Sequence[str],
        max_nesting: int | None,
        bookkeeping: Mapping[str, Any],
    ) -> None:
        self.resource = resource
        self.family = family
        self.names = names
        self.hints = dict(hints)
        self.hints_by_column = {names.convention.normalize(k): v for k, v in hints.items()}
        self.primary_key = list(primary_key)
        self.max_nesting = max_nesting or 0
        self.bookkeeping = dict(bookkeeping)
        self.max_columns = max_data_columns(family)
        self._warned: set[str] = set()
        self._overflowed: set[FieldKey] = set()  # fields that went to the overflow column: they stay there
        self._overflow_warned = False

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    # --- keys ----------------------------------------------------------------------------------

    def key_columns(self, fields: Iterable[FieldKey]) -> tuple[str, ...]:
        """Primary key columns; each key may be named as in the API (``ID``) or in snake_case (``id``).

        The field named exactly as the key wins; else the one field whose snake_case name equals the
        key's, whatever the naming of the columns (``id`` finds ``ID`` under ``direct`` naming too).
        """
        present = list(fields)
        columns: list[str] = []
        for key in self.primary_key:
            field_key = self._key_field(key, present)
            column = self.names.get(field_key) if field_key is not None else None
            columns.append(column or self.names.convention.normalize(key))
        return tuple(columns)

    def _key_field(self, key: str, fields: Sequence[FieldKey]) -> FieldKey | None:
        if key in fields:
            return key
        wanted = normalize_identifier(key)
        matches = [f for f in fields if isinstance(f, str) and normalize_identifier(f) == wanted]
        if len(matches) > 1:
            raise LoadError(
                f"resource {self.resource!r}: primary key {key!r} matches the fields "
                f"{', '.join(map(repr, matches))}; name one of them exactly in primary_key"
            )
        return matches[0] if matches else None

    def _check_keys(
        self, records: Sequence[Record], key: Sequence[str], by_column: Mapping[str, FieldKey]
    ) -> None:
        for name, column in zip(self.primary_key, key, strict=True):
            field_key = by_column.get(column)
            for index, record in enumerate(records):
                if field_key is None or record.get(field_key) is None:
                    raise _missing_key(self.resource, name, column, index, record)

    # --- batches -------------------------------------------------------------------------------

    def prepare(
        self, records: Sequence[Record], model: TableModel, *, dedup: bool, strict: bool = False
    ) -> PreparedBatch:
        """Turn records into rows for ``model``'s table (which may not exist yet).

        :param strict: the records came from strict JSON (no NaN or infinity anywhere), so JSON text
            is written without looking for them.
        """
        if not all(type(record) is dict for record in records):
            records = [r if isinstance(r, Mapping) else {"value": r} for r in records]  # scalars, as dlt
        if self.max_nesting > 0:
            records = [flatten(record, self.max_nesting) for record in records]
        fields = _fields(records)
        mapping = self.names.assign(fields)
        by_column = {mapping[f]: f for f in fields}
        key = self.key_columns(fields)
        if key:
            self._check_keys(records, key, by_column)

        room = self.max_columns - _data_columns(model)
        fields, overflow_fields = self._split(records, fields, mapping, model, key, room)
        new_columns = self._new_columns(records, fields, mapping, model, key)
        known = {spec.name: spec for spec in new_columns}
        plans: dict[FieldKey, _Plan] = {}
        for field_key in fields:
            column = mapping[field_key]
            spec = model.get(column) or known.get(column)
            if spec is not None:
                plans[field_key] = self._plan(spec, column in key)

        template: dict[str, Any] = dict.fromkeys(model.columns, None)
        template.update(dict.fromkeys(known, None))
        template.update(self.bookkeeping)
        room -= sum(1 for spec in new_columns if spec.name not in RESERVED)
        overflow: dict[int, dict[str, Any]] = {}
        data, variants = self._convert(records, plans, model, strict=strict, room=room, overflow=overflow)
        overflow_columns: list[ColumnSpec] = []
        if overflow_fields or overflow:
            overflow_columns = self._overflow(records, overflow_fields, overflow, model, data, strict=strict)
        columns = [*template, *(column for column in data if column not in template)]
        count = len(records)
        lists = [data[c] if c in data else [template.get(c)] * count for c in columns]
        rows = list(zip(*lists, strict=True)) if count else []
        if dedup and key:
            rows = _dedup(rows, [columns.index(k) for k in key])
        counts: dict[str, int] = {}
        for column in variants:
            index = columns.index(column)
            if found := sum(1 for row in rows if row[index] is not None):
                counts[column] = found
        for column, found in counts.items():
            log.warning(
                "resource %r: %d value(s) did not fit their column's type; stored in variant column %r",
                self.resource,
                found,
                column,
            )
        new_variants = [name for name in variants if model.get(name) is None]
        new_columns.extend(variants[name] for name in new_variants)
        new_columns.extend(spec for spec in overflow_columns if model.get(spec.name) is None)
        return PreparedBatch(rows, columns, key, new_columns, counts, new_variants)

    # --- the overflow column -------------------------------------------------------------------

    def _split(
        self,
        records: Sequence[Record],
        fields: Sequence[FieldKey],
        mapping: Mapping[FieldKey, str],
        model: TableModel,
        key: Sequence[str],
        room: int,
    ) -> tuple[list[FieldKey], list[FieldKey]]:
        """The fields that get (or have) columns, and those that go to the overflow column."""
        if room >= len(fields) and not self._overflowed:
            return list(fields), []  # the common case: a table well within its width
        with_columns: list[FieldKey] = []
        overflowed: list[FieldKey] = []
        for field_key in fields:
            column = mapping[field_key]
            if model.get(column) is not None or column in key:
                with_columns.append(field_key)
            elif field_key in self._overflowed:
                overflowed.append(field_key)
            elif self._hint(field_key, column) is not None:
                with_columns.append(field_key)  # a hinted field gets the column it was promised
                room -= 1
            elif all(record.get(field_key) is None for record in records):
                with_columns.append(field_key)  # only nulls: no column yet, nothing to keep either
            elif room > 0:
                with_columns.append(field_key)
                room -= 1
            else:
                overflowed.append(field_key)
                self._overflowed.add(field_key)
        return with_columns, overflowed

    def _overflow(
        self,
        records: Sequence[Record],
        fields: Sequence[FieldKey],
        misfits: Mapping[int, Mapping[str, Any]],
        model: TableModel,
        data: dict[str, list[Any]],
        *,
        strict: bool,
    ) -> list[ColumnSpec]:
        """Each record's overflowed fields as one JSON object in the overflow column (its JSON text in
        the overflow's text variant where the database's JSON type cannot hold it)."""
        names = [(field_key, plain_name(field_key)) for field_key in fields]
        spec = model.get(OVERFLOW) or ColumnSpec(OVERFLOW, "json")
        convert = self._converter(spec)
        if strict:
            convert = strict_variant(convert)
        values: list[Any] = [None] * len(records)
        texts: list[Any] = [None] * len(records)
        for index, record in enumerate(records):
            extra = {name: value for field_key, name in names if (value := record.get(field_key)) is not None}
            extra.update(misfits.get(index, ()))
            if not extra:
                continue
            converted = convert(extra)
            if converted is MISFIT:
                texts[index] = json_text(extra)
            else:
                values[index] = converted
        specs: list[ColumnSpec] = []
        if any(value is not None for value in values):
            data[OVERFLOW] = values
            specs.append(spec)
        if any(text is not None for text in texts):
            data[OVERFLOW_TEXT] = texts
            specs.append(model.get(OVERFLOW_TEXT) or ColumnSpec(OVERFLOW_TEXT, "text"))
        if fields and not self._overflow_warned:
            self._overflow_warned = True
            log.warning(
                "resource %r: %d field(s) past the table's %d data columns are stored in the JSON column "
                "%r as {field name: value}",
                self.resource,
                len(self._overflowed),
                self.max_columns,
                OVERFLOW,
            )
        elif fields:
            log.info(
                "resource %r: %d field(s) in the JSON column %r",
                self.resource,
                len(self._overflowed),
                OVERFLOW,
            )
        return specs

    def _hint(self, field_key: FieldKey | None, column: str) -> ColumnHint | None:
        hint = self.hints.get(plain_name(field_key)) if field_key is not None else None
        return hint or self.hints_by_column.get(column)

    def _new_columns(
        self,
        records: Sequence[Record],
        fields: Sequence[FieldKey],
        mapping: Mapping[FieldKey, str],
        model: TableModel,
        key: Sequence[str],
    ) -> list[ColumnSpec]:
        specs: dict[str, ColumnSpec] = {}
        for field_key in fields:
            column = mapping[field_key]
            hint = self._hint(field_key, column)
            existing = model.get(column)
            if existing is not None:
                if hint and hint.data_type and existing.data_type != hint.data_type:
                    self._warn_once(
                        f"resource {self.resource!r}: column {existing.name!r} is {existing.data_type} "
                        f"in the table and hinted {hint.data_type}; columns are never altered, values "
                        f"that do not fit go to variant columns"
                    )
                continue
            data_type = hint.data_type if hint and hint.data_type else None
            if data_type is None:
                data_type = infer_column_type(record.get(field_key) for record in records)
            if data_type is None:
                continue  # only nulls so far: no type to give it yet (as dlt does)
            specs[column] = _spec(column, data_type, hint, column in key)
        for name, hint in self.hints.items():
            column = self.names.get(name) or self.names.convention.normalize(name)
            if hint.data_type and model.get(column) is None and column not in specs:
                specs[column] = _spec(column, hint.data_type, hint, column in key)
        return list(specs.values())

    def _plan(self, spec: ColumnSpec, is_key: bool) -> _Plan:
        fast: type | None = None
        if spec.data_type == "text" and spec.precision is None:
            fast = str
        elif spec.data_type == "bool":
            fast = bool
        return (spec.name, self._converter(spec), fast, is_key)

    def _convert(
        self,
        records: Sequence[Record],
        plans: Mapping[FieldKey, _Plan],
        model: TableModel,
        *,
        strict: bool,
        room: int,
        overflow: dict[int, dict[str, Any]],
    ) -> tuple[dict[str, list[Any]], dict[str, ColumnSpec]]:
        """The batch column by column: each field's values converted for its column (None where a
        record lacks it), misfits moved to variant columns (to ``overflow``, by record, when there is no
        ``room`` for another column). A column whose values all have the type it stores as they are is
        taken as it is, without a call per value."""
        count = len(records)
        data: dict[str, list[Any]] = {}
        variants: dict[str, ColumnSpec] = {}
        variant_plans: dict[tuple[str, str], tuple[ColumnSpec, Converter]] = {}
        space = [room]
        for field_key, (column, convert, fast, is_key) in plans.items():
            values = [record.get(field_key) for record in records]
            kinds = set(map(type, values))
            kinds.discard(_NONE)
            if not kinds:
                continue
            if (
                fast is not None
                and len(kinds) == 1
                and fast in kinds
                and (fast is not str or holds_texts([v for v in values if v is not None], self.family))
            ):
                data[column] = values
                continue
            if strict:
                convert = strict_variant(convert)
            converted = [None if value is None else convert(value) for value in values]
            if MISFIT in converted:
                for index, value in enumerate(converted):
                    if value is not MISFIT:
                        continue
                    original = values[index]
                    if is_key:
                        raise LoadError(
                            f"resource {self.resource!r}: primary key column {column!r} cannot hold "
                            f"{original!r} ({type(original).__name__}); a key value cannot go to a variant "
                            f"column"
                        )
                    variant, fitted = self._variant(column, original, model, variants, variant_plans, space)
                    if variant is _TO_OVERFLOW:
                        overflow.setdefault(index, {})[plain_name(field_key)] = original
                    else:
                        data.setdefault(variant, [None] * count)[index] = fitted
                    converted[index] = None
            data[column] = converted
        return data, variants

    def _variant(
        self,
        column: str,
        value: Any,
        model: TableModel,
        variants: dict[str, ColumnSpec],
        plans: dict[tuple[str, str], tuple[ColumnSpec, Converter]],
        space: list[int],
    ) -> tuple[Any, Any]:
        """The variant column ``<column>__v_<type>`` for a misfit value, and the value converted for it:
        the value's own type, then text, then ``json_text`` (its JSON text, for a string no text column
        of the database holds: NUL on PostgreSQL, lone surrogates). ``_TO_OVERFLOW`` when the column it
        needs would pass the table's width (``space``: the columns still free)."""
        for kind in (infer_type(value), "text", JSON_TEXT):
            planned = plans.get((column, kind))
            if planned is None:
                name = self.names.variant(column, kind)
                spec = model.get(name) or ColumnSpec(name, "text" if kind == JSON_TEXT else kind)
                convert: Converter
                if kind == JSON_TEXT:
                    convert = json_text
                elif spec.data_type == "text" and spec.precision is None:
                    convert = lossless_text(self.family)
                else:
                    convert = self._converter(spec)
                planned = plans[(column, kind)] = (spec, convert)
            spec, convert = planned
            converted = convert(value)
            if converted is not MISFIT:
                if spec.name not in variants and model.get(spec.name) is None:
                    if space[0] <= 0:
                        return _TO_OVERFLOW, value
                    space[0] -= 1
                variants.setdefault(spec.name, spec)
                return spec.name, converted
        raise LoadError(
            f"resource {self.resource!r}: a {type(value).__name__} value of column {column!r} fits neither "
            f"the column nor its variant columns"
        )

    def _converter(self, spec: ColumnSpec) -> Converter:
        return converter(spec.data_type, self.family, precision=spec.precision, scale=spec.scale)


def _spec(column: str, data_type: str, hint: ColumnHint | None, is_key: bool) -> ColumnSpec:
    return ColumnSpec(
        column,
        data_type,
        nullable=not is_key and (hint.nullable if hint else True),
        precision=hint.precision if hint else None,
        scale=hint.scale if hint else None,
    )


def _data_columns(model: TableModel) -> int:
    """The table's data columns: all but the bookkeeping and overflow columns."""
    reserved = {name.casefold() for name in RESERVED}
    return sum(1 for name in model.columns if name.casefold() not in reserved)


def _fields(records: Sequence[Record]) -> list[FieldKey]:
    """Every field of the batch, in order of first appearance (most records repeat the same keys)."""
    fields: dict[FieldKey, None] = {}
    known = fields.keys()
    for record in records:
        if not record.keys() <= known:
            fields.update(dict.fromkeys(record))
    return list(fields)


def _dedup(rows: list[tuple[Any, ...]], key: Sequence[int]) -> list[tuple[Any, ...]]:
    """Keep the last occurrence of each key (``key``: the positions of its columns in a row)."""
    if len(key) == 1:
        (position,) = key
        last = {row[position]: index for index, row in enumerate(rows)}
    else:
        last = {tuple(row[p] for p in key): index for index, row in enumerate(rows)}
    if len(last) == len(rows):
        return rows
    return [rows[index] for index in sorted(last.values())]


def _missing_key(resource: str, key: str, column: str, index: int, record: Record) -> MissingPrimaryKeyError:
    present = [plain_name(k) for k in record]
    shown = ", ".join(present[:40]) + (f", ... ({len(present)} fields)" if len(present) > 40 else "")
    named = repr(key) if key == column else f"{key!r} (column {column!r})"
    return MissingPrimaryKeyError(
        f"resource {resource!r}: record {index} has no value for primary key {named}; "
        f"fields present: {shown or 'none'}. Nothing of this batch was written. Set primary_key to a field "
        f"the records carry."
    )
