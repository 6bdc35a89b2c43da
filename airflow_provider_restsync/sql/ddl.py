"""DDL that SQLAlchemy Core lacks, as compiled constructs: identifiers go through the dialect's quoting.

``ALTER TABLE ... ADD COLUMN``, table and constraint renames, and a temporary-table drop that MySQL
does not turn into an implicit commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn, ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler


class AddColumns(ExecutableDDLElement):
    """``ALTER TABLE t ADD COLUMN a ..., ADD COLUMN b ...`` (SQLite: give it one column at a time)."""

    def __init__(self, table: sa.Table, columns: Sequence[sa.Column[Any]]) -> None:
        self.table = table
        self.columns = list(columns)


@compiles(AddColumns)
def _add_columns(element: AddColumns, compiler: DDLCompiler, **kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    specs = [compiler.process(CreateColumn(column), **kw) for column in element.columns]
    return f"ALTER TABLE {table} " + ", ".join(f"ADD COLUMN {spec}" for spec in specs)


class RenameTable(ExecutableDDLElement):
    """``ALTER TABLE t RENAME TO new`` (the table stays in its schema)."""

    def __init__(self, table: sa.Table, new_name: str) -> None:
        self.table = table
        self.new_name = new_name


@compiles(RenameTable)
def _rename_table(element: RenameTable, compiler: DDLCompiler, **kw: Any) -> str:
    table = compiler.preparer.format_table(element.table)
    return f"ALTER TABLE {table} RENAME TO {compiler.preparer.quote(element.new_name)}"


class RenameTables(ExecutableDDLElement):
    """MySQL's ``RENAME TABLE a TO b, c TO d``: every rename in one atomic statement."""

    def __init__(self, pairs: Sequence[tuple[sa.Table, sa.Table]]) -> None:
        self.pairs = list(pairs)


@compiles(RenameTables)
def _rename_tables(element: RenameTables, compiler: DDLCompiler, **kw: Any) -> str:
    fmt = compiler.preparer.format_table
    return "RENAME TABLE " + ", ".join(f"{fmt(old)} TO {fmt(new)}" for old, new in element.pairs)


class RenameConstraint(ExecutableDDLElement):
    """PostgreSQL's ``ALTER TABLE t RENAME CONSTRAINT a TO b`` (renames the key's index too)."""

    def __init__(self, table: sa.Table, old_name: str, new_name: str) -> None:
        self.table = table
        self.old_name = old_name
        self.new_name = new_name


@compiles(RenameConstraint)
def _rename_constraint(element: RenameConstraint, compiler: DDLCompiler, **kw: Any) -> str:
    quote = compiler.preparer.quote
    table = compiler.preparer.format_table(element.table)
    return f"ALTER TABLE {table} RENAME CONSTRAINT {quote(element.old_name)} TO {quote(element.new_name)}"


class DropTemporaryTable(ExecutableDDLElement):
    """Drop a temporary table if it exists; on MySQL ``DROP TEMPORARY TABLE``, which commits nothing."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table


@compiles(DropTemporaryTable)
def _drop_temporary(element: DropTemporaryTable, compiler: DDLCompiler, **kw: Any) -> str:
    return f"DROP TABLE IF EXISTS {compiler.preparer.format_table(element.table)}"


@compiles(DropTemporaryTable, "mysql")
def _drop_temporary_mysql(element: DropTemporaryTable, compiler: DDLCompiler, **kw: Any) -> str:
    return f"DROP TEMPORARY TABLE IF EXISTS {compiler.preparer.format_table(element.table)}"


@compiles(DropTemporaryTable, "mariadb")
def _drop_temporary_mariadb(element: DropTemporaryTable, compiler: DDLCompiler, **kw: Any) -> str:
    return _drop_temporary_mysql(element, compiler, **kw)
