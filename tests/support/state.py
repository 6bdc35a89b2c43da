"""Run state as the writer tests use it: a checkpoint written in a batch's transaction, read back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.sql import state as run_state


def checkpoint(
    engine: sa.Engine,
    state: Mapping[str, Any],
    *,
    resource: str = "r",
    table: str = "t",
    schema: str | None = None,
) -> Callable[[sa.Connection], None]:
    """An ``in_transaction`` callback that stores ``state`` as (test, resource, table)'s own row."""
    run_state.ensure_state_tables(engine, schema)
    key = run_state.StateKey("test", resource, table)

    def write(conn: sa.Connection) -> None:
        run_state.write_states(conn, schema, key, {run_state.ROOT: state}, run_id="test")

    return write


def read_checkpoint(
    engine: sa.Engine, *, resource: str = "r", table: str = "t", schema: str | None = None
) -> dict[str, Any] | None:
    return run_state.read_state(engine, schema, run_state.StateKey("test", resource, table))
