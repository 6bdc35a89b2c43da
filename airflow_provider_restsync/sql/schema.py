"""A table's shape: reflected, created, evolved (columns added, never altered), swapped for replace."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from airflow_provider_restsync.errors import LoadError
from airflow_provider_restsync.sql import ddl
from airflow_provider_restsync.sql.dialects import lock_first_ddl
from airflow_provider_restsync.sql.types import logical_type, sql_type

LOADED_AT = "_restsync_loaded_at"
RUN_ID = "_restsync_run_id"
BOOKKEEPING = (LOADED_AT, RUN_ID)
# The JSON column of the fields past a table's width, {field name as in the API: value}; its text
# variant holds the JSON text where the database's JSON type cannot (NUL or surrogates).
OVERFLOW = "_restsync_overflow"
OVERFLOW_TEXT = f"{OVERFLOW}__v_text"
RESERVED = (*BOOKKEEPING, OVERFLOW, OVERFLOW_TEXT)

# Text key columns on MySQL must be VARCHAR and fit InnoDB's 3072-byte key (4 bytes a character).
_MYSQL_KEY_CHARS = 760
_MYSQL_KEY_CHARS_MAX = 512


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its name, data type and (for text and decimal) precision and scale."""

    name: str
    data_type: str | None  # None: a type this writer did not create; values go in as they are
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    collation: str | None = None
    reflected_type: TypeEngine[Any] | None = None


@dataclass
class TableModel:
    """What the writer knows of a table, with its primary key and every unique key (primary included)."""

    name: str
    schema: str | None
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = ()
    exists: bool = False

    def copy(self, **changes: Any) -> TableModel:
        changes.setdefault("columns", dict(self.columns))
        return replace(self, **changes)

    def get(self, name: str) -> ColumnSpec | None:
        """The column called ``name``, compared as the database compares (case-insensitively here)."""
        column = self.columns.get(name)
        if column is None:
            folded = name.casefold()
            column = next((c for c in self.columns.values() if c.name.casefold() == folded), None)
        return column


def bookkeeping_columns() -> list[ColumnSpec]:
    return [ColumnSpec(LOADED_AT, "timestamp"), ColumnSpec(RUN_ID, "text")]


def key_column(spec: ColumnSpec, dialect: sa.Dialect, text_keys: int) -> ColumnSpec:
    """A key column: NOT NULL; on MySQL a binary-collated VARCHAR (TEXT cannot be a key there, and the
    default collation would call ``"abc"`` and ``"ABC"`` the same key)."""
    spec = replace(spec, nullable=False)
    if dialect.name in ("mysql", "mariadb") and spec.data_type == "text":
        precision = spec.precision or min(_MYSQL_KEY_CHARS_MAX, _MYSQL_KEY_CHARS // max(1, text_keys))
        spec = replace(spec, precision=precision, collation=_mysql_binary_collation(dialect))
    return spec


def _mysql_binary_collation(dialect: sa.Dialect) -> str:
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    version = getattr(dialect, "server_version_info", None) or (0,)
    return "utf8mb4_0900_bin" if version >= (8,) else "utf8mb4_bin"


def column_type(spec: ColumnSpec, family: str) -> TypeEngine[Any]:
    if spec.data_type is None and spec.reflected_type is not None:
        return spec.reflected_type
    return sql_type(
        spec.data_type or "text", family, precision=spec.precision, scale=spec.scale, collation=spec.collation
    )


def sa_column(spec: ColumnSpec, family: str) -> sa.Column[Any]:
    return sa.Column(spec.name, column_type(spec, family), nullable=spec.nullable, autoincrement=False)


def sa_table(
    model: TableModel,
    family: str,
    *,
    columns: Iterable[ColumnSpec] | None = None,
    name: str | None = None,
    schema: str | None = None,
    temporary: bool = False,
    key: Sequence[str] = (),
    key_name: str | None = None,
) -> sa.Table:
    """A Core table for statements (and CREATE TABLE) over the model's columns."""
    specs = list(model.columns.values()) if columns is None else list(columns)
    items: list[Any] = [sa_column(spec, family) for spec in specs]
    if key:
        items.append(sa.PrimaryKeyConstraint(*key, name=key_name))
    kwargs: dict[str, Any] = {}
    if temporary:
        kwargs["prefixes"] = ["TEMPORARY"]
        if family == "postgresql":
            kwargs["postgresql_on_commit"] = "DROP"
    table_schema = schema if schema is not None or temporary else model.schema
    return sa.Table(name or model.name, sa.MetaData(), *items, schema=table_schema, **kwargs)


def temporary_schema(family: str, schema: str | None) -> str | None:
    """Where a temporary table is named explicitly, so a drop never reaches a real table of that name."""
    return {"postgresql": "pg_temp", "sqlite": "temp"}.get(family, schema)


# --- reflection --------------------------------------------------------------------------------

_JSON_VALID = re.compile(r"json_valid\(`((?:[^`]|``)+)`\)", re.IGNORECASE)


def _mariadb_json_columns(conn: sa.Connection, name: str, schema: str | None) -> set[str]:
    """MariaDB reports JSON columns as LONGTEXT; their ``json_valid`` check says what they are."""
    query = sa.text(
        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name"
    )
    clauses = conn.execute(query, {"schema": schema, "name": name}).scalars()
    return {m.group(1).replace("``", "`") for clause in clauses for m in _JSON_VALID.finditer(clause)}


def reflect(conn: sa.Connection, name: str, schema: str | None, family: str) -> TableModel:
    """The table as it is in the database (``exists`` False when there is none)."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(name, schema=schema):
        return TableModel(name, schema)
    json_columns: set[str] = set()
    if family == "mysql" and getattr(conn.dialect, "is_mariadb", False):
        json_columns = _mariadb_json_columns(conn, name, schema)
    columns: dict[str, ColumnSpec] = {}
    for info in inspector.get_columns(name, schema=schema):
        data_type, precision, scale = logical_type(info["type"], json_check=info["name"] in json_columns)
        columns[info["name"]] = ColumnSpec(
            info["name"],
            data_type,
            nullable=bool(info.get("nullable", True)),
            precision=precision,
            scale=scale,
            collation=getattr(info["type"], "collation", None) if data_type == "text" else None,
            reflected_type=info["type"] if data_type is None else None,
        )
    primary = tuple(inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or ())
    uniques = [primary] if primary else []
    for index in inspector.get_indexes(name, schema=schema):
        if index.get("unique") and all(index["column_names"]):
            uniques.append(tuple(str(c) for c in index["column_names"]))
    uniques.extend(tuple(c["column_names"]) for c in inspector.get_unique_constraints(name, schema=schema))
    return TableModel(name, schema, columns, primary, tuple(dict.fromkeys(uniques)), exists=True)


def has_key(model: TableModel, key: Sequence[str]) -> bool:
    """Whether the table has a primary key or unique index on exactly ``key`` (in any order)."""
    wanted = {c.casefold() for c in key}
    return bool(key) and any({c.casefold() for c in unique} == wanted for unique in model.unique_keys)


# --- changes -----------------------------------------------------------------------------------


def ensure_schema(conn: sa.Connection, schema: str | None) -> None:
    """Create the PostgreSQL schema / MySQL database if it is missing (parallel tasks take turns)."""
    if not schema or sa.inspect(conn).has_schema(schema):
        return
    lock_first_ddl(conn, schema)
    if not sa.inspect(conn).has_schema(schema):  # or another task made it while this one waited
        conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))


def create_table(
    conn: sa.Connection, model: TableModel, family: str, key: Sequence[str], key_name: str | None
) -> TableModel:
    """CREATE TABLE with the model's columns and, if given, a named primary key."""
    table = sa_table(model, family, key=key, key_name=key_name)
    conn.execute(sa.schema.CreateTable(table))
    return model.copy(exists=True, primary_key=tuple(key), unique_keys=(tuple(key),) if key else ())


def add_columns(
    conn: sa.Connection, model: TableModel, family: str, specs: Sequence[ColumnSpec]
) -> TableModel:
    """ALTER TABLE ... ADD COLUMN for new nullable columns; existing rows are not rewritten."""
    if not specs:
        return model
    table = sa_table(model, family, columns=[])
    columns = [sa_column(replace(spec, nullable=True), family) for spec in specs]
    if family == "sqlite":
        for column in columns:
            conn.execute(ddl.AddColumns(table, [column]))
    else:
        conn.execute(ddl.AddColumns(table, columns))
    updated = model.copy()
    for spec in specs:
        updated.columns[spec.name] = replace(spec, nullable=True)
    return updated


def add_unique_key(
    conn: sa.Connection, model: TableModel, family: str, key: Sequence[str], index_name: str
) -> TableModel:
    """A unique index on ``key`` for a table made without one, so a merge finds rows by index."""
    table = sa_table(model, family)
    try:
        conn.execute(sa.schema.CreateIndex(sa.Index(index_name, *(table.c[k] for k in key), unique=True)))
    except sa.exc.SQLAlchemyError as error:
        raise LoadError(
            f"table {model.name!r} has no primary key and a unique index on {list(key)} cannot be "
            f"created (duplicate keys already in it, or a text column MySQL cannot index): "
            f"{getattr(error, 'orig', None) or error}"
        ) from error
    return model.copy(unique_keys=(*model.unique_keys, tuple(key)))


def drop_table(conn: sa.Connection, name: str, schema: str | None) -> None:
    conn.execute(sa.schema.DropTable(sa.Table(name, sa.MetaData(), schema=schema), if_exists=True))


def swap_in(
    conn: sa.Connection,
    family: str,
    staging: TableModel,
    target: TableModel,
    *,
    old_name: str,
    staging_key_name: str | None,
    target_key_name: str | None,
) -> None:
    """Put ``staging`` in the place of ``target`` so readers see the old table or the new, never neither.

    PostgreSQL and SQLite: DROP and RENAME inside the caller's transaction (readers wait on the lock
    for its few milliseconds). MySQL: one atomic ``RENAME TABLE target TO old, staging TO target``,
    then the old table is dropped.
    """
    staged = sa_table(staging, family, columns=[])
    final = sa_table(target, family, columns=[])
    if family == "mysql":
        if target.exists:
            old = sa.Table(old_name, sa.MetaData(), schema=target.schema)
            drop_table(conn, old_name, target.schema)
            conn.execute(ddl.RenameTables([(final, old), (staged, final)]))
            drop_table(conn, old_name, target.schema)
        else:
            conn.execute(ddl.RenameTables([(staged, final)]))
        return
    if target.exists:
        conn.execute(sa.schema.DropTable(final))
    conn.execute(ddl.RenameTable(staged, target.name))
    if family == "postgresql" and staging_key_name and target_key_name:
        conn.execute(ddl.RenameConstraint(final, staging_key_name, target_key_name))
