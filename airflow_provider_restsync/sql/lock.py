"""One sync of a resource at a time, whatever worker runs it: a lock in the destination.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection held for the sync; MySQL
and MariaDB: ``GET_LOCK`` the same way. Both end with the session, so a killed task never leaves one
behind. SQLite has neither: the row in ``_restsync_locks`` is the lock itself, with a heartbeat; a row
left by a killed task is taken over by that task's own retry (same DAG, task, run and map index) at once,
and by anyone else once its heartbeat is older than ``stale_after`` seconds.

Everywhere the row says who holds the lock, so a sync that cannot get it fails with a message naming the
other run.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from datetime import datetime
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.errors import RestSyncError
from airflow_provider_restsync.sql.dialects import family, transaction
from airflow_provider_restsync.sql.dml import upsert
from airflow_provider_restsync.sql.state import StateKey, db_now, ensure_tables
from airflow_provider_restsync.sql.types import sql_type

log = logging.getLogger(__name__)

LOCK_TABLE = "_restsync_locks"
DEFAULT_STALE_AFTER = 600.0


class SyncLockedError(RestSyncError):
    """Another run holds the resource's lock and did not let go within the wait."""


def _lock_table(dialect: sa.Dialect, schema: str | None) -> sa.Table:
    return _lock_table_of(family(dialect), schema)


@functools.lru_cache(maxsize=64)  # one object per family and schema: see state._state_table_of
def _lock_table_of(name: str, schema: str | None) -> sa.Table:
    return sa.Table(
        LOCK_TABLE,
        sa.MetaData(),
        sa.Column("lock_id", sa.String(40), primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(250), nullable=False),
        sa.Column("holder", sa.String(500), nullable=False),
        sa.Column("acquired_at", sql_type("timestamp", name), nullable=False),
        sa.Column("heartbeat_at", sql_type("timestamp", name), nullable=False),
        schema=schema,
    )


class ResourceLock:
    """The lock of one (source, resource, table, scope); a context manager.

    :param owner: who asks, stable across retries of one task instance (``dag/task/run/map_index``).
    :param holder: the owner as people read it, for the message of a run that has to wait.
    :param wait: seconds to wait for another run to finish before failing.
    """

    def __init__(
        self,
        engine: sa.Engine,
        schema: str | None,
        key: StateKey,
        *,
        scope: str,
        owner: str,
        holder: str,
        wait: float = 300.0,
        poll: float = 0.5,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> None:
        self.engine = engine
        self.schema = schema
        self.key = key
        self.owner = owner[:250]
        self.holder = holder[:500]
        self.wait = wait
        self.poll = poll
        self.stale_after = stale_after
        text = f"restsync\x00{key.source}\x00{key.resource}\x00{schema or ''}\x00{key.table}\x00{scope}"
        self.lock_id = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        self.family = family(engine.dialect)
        self._session: sa.Connection | None = None
        self._held = False
        self._beat = time.monotonic()

    def __enter__(self) -> ResourceLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait`` seconds for another run to let go.

        :raises SyncLockedError: the other run still holds it; the message names that run.
        """
        ensure_tables(self.engine, self.schema, _lock_table)
        deadline = time.monotonic() + self.wait
        told = False
        while True:
            if self._try():
                self._held = True
                return
            other = self._current_holder()
            if time.monotonic() >= deadline:
                raise SyncLockedError(
                    f"resource {self.key.resource!r} (table {self.key.table!r}) is being synced by "
                    f"{other or 'another run'}; waited {self.wait:g} s for it to finish. Two syncs of one "
                    "resource never write at once: retry when that run is done."
                )
            if not told:
                log.info("Resource %r: waiting for %s to finish", self.key.resource, other or "another run")
                told = True
            time.sleep(self.poll)

    def heartbeat(self, *, every: float = 0.0) -> None:
        """Tell other workers the holder is alive (SQLite's lock row goes stale without it); with
        ``every``, only if that many seconds have passed since the last heartbeat."""
        if not self._held or time.monotonic() - self._beat < every:
            return
        self._beat = time.monotonic()
        with transaction(self.engine) as conn:
            table = _lock_table(conn.dialect, self.schema)
            conn.execute(
                sa.update(table)
                .where(table.c.lock_id == self.lock_id, table.c.owner == self.owner)
                .values(heartbeat_at=db_now(conn))
            )

    def release(self) -> None:
        if not self._held:
            self._close_session()
            return
        self._held = False
        try:
            with transaction(self.engine) as conn:
                table = _lock_table(conn.dialect, self.schema)
                conn.execute(
                    sa.delete(table).where(table.c.lock_id == self.lock_id, table.c.owner == self.owner)
                )
            if self._session is not None:
                unlock = (
                    "SELECT pg_advisory_unlock(:key)"
                    if self.family == "postgresql"
                    else "SELECT RELEASE_LOCK(:name)"
                )
                self._session.execute(sa.text(unlock), {"key": self._advisory_key(), "name": self.lock_id})
        except sa.exc.SQLAlchemyError as error:
            log.warning("Resource %r: could not release its lock cleanly: %s", self.key.resource, error)
        finally:
            self._close_session()

    # --- the three ways ---------------------------------------------------------------------------

    def _try(self) -> bool:
        if self.family in ("postgresql", "mysql"):
            params: dict[str, Any]
            if self._session is None:
                self._session = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self.family == "postgresql":
                statement, params = "SELECT pg_try_advisory_lock(:key)", {"key": self._advisory_key()}
            else:
                statement, params = "SELECT GET_LOCK(:name, 0)", {"name": self.lock_id}
            if not self._session.execute(sa.text(statement), params).scalar():
                return False
            self._write_row(take_over=True)
            return True
        return self._write_row(take_over=False)

    def _write_row(self, *, take_over: bool) -> bool:
        """Claim the row; without ``take_over`` only if it is free, ours, or stale."""
        with transaction(self.engine) as conn:
            table = _lock_table(conn.dialect, self.schema)
            now = db_now(conn)
            if not take_over:
                row = conn.execute(
                    sa.select(table.c.owner, table.c.heartbeat_at).where(table.c.lock_id == self.lock_id)
                ).first()
                if row is not None and row.owner != self.owner:
                    age = (now - _naive(row.heartbeat_at)).total_seconds() if row.heartbeat_at else 1e9
                    if age < self.stale_after:
                        return False
                    log.warning(
                        "Resource %r: taking over a lock whose holder stopped %.0f s ago",
                        self.key.resource,
                        age,
                    )
            values = {
                "lock_id": self.lock_id,
                "owner": self.owner,
                "holder": self.holder,
                "acquired_at": now,
                "heartbeat_at": now,
            }
            upsert(conn, table, ("lock_id",), row=values)
        return True

    def _current_holder(self) -> str | None:
        with self.engine.connect() as conn:
            table = _lock_table(conn.dialect, self.schema)
            row = conn.execute(
                sa.select(table.c.holder, table.c.acquired_at).where(table.c.lock_id == self.lock_id)
            ).first()
        if row is None:
            return None
        return f"{row.holder} (since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC)"

    def _advisory_key(self) -> int:
        return int.from_bytes(bytes.fromhex(self.lock_id[:16]), "big", signed=True)

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()


def _naive(moment: Any) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=None) if moment.tzinfo else moment
