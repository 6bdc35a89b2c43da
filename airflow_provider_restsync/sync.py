"""One sync of one resource: fetch -> incremental window -> batches -> table, with its run state.

Every batch commits in one transaction with the state that describes it, in the destination:

- where each request sequence stands (the paginator's position) and which parent partitions are done,
  so a task killed at any moment and retried resumes after its last commit, on any worker;
- each partition's cursor, advanced when its sequence is done, to what was committed, never further;
- the children's view of the records (parent keys), so a child task of the same DAG run reads them
  instead of listing its ancestors from the API again.

A completed sync clears its positions and marks the run complete. ``replace`` (a full refresh) stages the
table and resets the state in the swap's transaction: it restarts rather than resumes. One sync of a
resource runs at a time (:class:`sql.lock.ResourceLock`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.config import ResourceConfig, SourceConfig
from airflow_provider_restsync.cursor import CursorWindow, open_window, restore_window, window_state
from airflow_provider_restsync.fetch import ApiClient, Context, Fetcher, Page, fields_needed
from airflow_provider_restsync.fetch_process import (
    Sequenced,
    counts_reporter,
    page_packer,
    page_unpacker,
    stats_of,
)
from airflow_provider_restsync.forked import Forked, can_fork
from airflow_provider_restsync.prefetch import prefetched
from airflow_provider_restsync.progress import ProgressTicker, SyncProgress
from airflow_provider_restsync.runs import DEFAULT_BATCH_SIZE, RunInfo, SyncSummary
from airflow_provider_restsync.sql import state as run_state
from airflow_provider_restsync.sql.lock import ResourceLock
from airflow_provider_restsync.sql.state import ROOT, StateKey, partition_id, window_scope
from airflow_provider_restsync.sql.write import BatchResult, TableWriter

log = logging.getLogger(__name__)

# Done partitions without records are flushed with the next batch, or once this many are waiting.
MAX_PENDING_PARTITIONS = 1_000
# A slow API between two batches must not make the lock look abandoned (lock.DEFAULT_STALE_AFTER).
HEARTBEAT_SECONDS = 30.0


@dataclass
class _Partition:
    """One request sequence's state while the sync runs."""

    id: str
    state: dict[str, Any]
    window: CursorWindow | None = None


@dataclass
class _Buffer:
    records: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    states: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    strict: bool = True  # every page of the batch was strict JSON


class ResourceSync:
    """Runs one sync of ``resource`` into ``writer``'s table; see the module docstring.

    :param batch_size: records per transaction: the checkpoint interval.
    :param lock_wait: seconds to wait for another run of the same resource before failing.
    :param concurrency: page requests in flight at once where the paginator knows the pages ahead.
    :param fetch_process: fetch in a forked process of its own (where the platform forks), so fetching
        and loading run on two cores; else in a thread of this process.
    :param on_batch: called with the summary after each committed batch.
    :param progress_interval: seconds between progress lines in the log (:mod:`.progress`); None: none.
    """

    def __init__(
        self,
        client: ApiClient,
        source: SourceConfig,
        resource: ResourceConfig,
        writer: TableWriter,
        run: RunInfo,
        *,
        full_refresh: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_pages: int = 100_000,
        params: Mapping[str, Any] | None = None,
        lock_wait: float = 300.0,
        concurrency: int = 1,
        fetch_process: bool = False,
        summary: SyncSummary | None = None,
        on_batch: Callable[[SyncSummary], None] | None = None,
        progress_interval: float | None = None,
    ) -> None:
        self.source = source
        self.resource = resource
        self.writer = writer
        self.run = run
        self.engine: sa.Engine = writer.engine
        self.schema = writer.schema
        self.full_refresh = full_refresh or writer.disposition == "replace"
        self.batch_size = batch_size
        self.lock_wait = lock_wait
        self.on_batch = on_batch
        self.progress_interval = progress_interval
        self.client = client
        self.fetch_process = fetch_process and can_fork()
        self.summary = summary or SyncSummary(resource.name, writer.table, writer.disposition)
        self.spec = resource.endpoint.incremental
        self.key = StateKey(run.source, resource.name, writer.table)
        self.scope = self._scope(resource)
        if self.spec is not None and self.spec.allow_external_schedulers and run.interval is None:
            log.info(
                "Resource %r: the run has no data interval (Airflow 3's default timetables for cron and "
                "timedelta schedules give none: set [scheduler] create_cron_data_intervals / "
                "create_delta_data_intervals, or a data-interval timetable); following the stored cursor",
                resource.name,
            )
        self.children = source.descendants(resource.name)
        self.fetcher = Fetcher(
            client,
            source,
            resource.name,
            max_pages=max_pages,
            params=params,
            interval=run.interval,
            also_for=self.children,
            concurrency=concurrency,
        )
        self._partition_fields = fields_needed(source.lineage(resource.name)[1:])
        # What the children need of this resource's records: stored as parent keys when there are any.
        self._key_projection = fields_needed(self.children).get(resource.name)
        self._key_seq = 0
        self._replace_states: dict[str, dict[str, Any] | None] = {}

    # --- the sync -------------------------------------------------------------------------------

    def run_sync(self) -> SyncSummary:
        run_state.ensure_state_tables(self.engine, self.schema)
        lock = ResourceLock(
            self.engine,
            self.schema,
            self.key,
            scope=self.scope,
            owner=self.run.owner,
            holder=self.run.holder,
            wait=self.lock_wait,
        )
        with lock:
            self._lock = lock
            self._sync()
        return self.summary

    def _sync(self) -> None:
        stored = {} if self.full_refresh else run_state.read_states(self.engine, self.schema, self.key)
        header = dict(stored.get(self.scope) or {})
        sync = header.get("sync")
        if sync is not None:
            self.sync_id = str(sync["id"])
            self.summary.resumed = True
            log.info(
                "Resource %r: resuming the sync %s began (its committed batches stay; the rest follows)",
                self.resource.name,
                sync.get("run_id"),
            )
        else:
            self.sync_id = f"{self.run.run_id}~{uuid.uuid4().hex[:8]}"
            sync = {"id": self.sync_id, "run_id": self.run.run_id, "started_at": _now()}
        header["sync"] = sync
        self.header = header
        if self._key_projection is not None and self.summary.resumed:
            with self.engine.connect() as conn:
                self._key_seq = run_state.count_parent_keys(
                    conn,
                    self.schema,
                    source=self.key.source,
                    resource=self.key.resource,
                    sync_id=self.sync_id,
                )
        buffer = _Buffer()
        stats = stats_of(self.client)
        self.progress = SyncProgress(
            self.resource.name,
            retries=(lambda: stats.retries) if stats is not None else (lambda: 0),
            committed=lambda: self.summary.records,
            resumed=self.summary.resumed,
        )
        contexts = self._context_source()
        ticker = ProgressTicker(self.progress, self.progress_interval) if self.progress_interval else None
        try:
            self._run_pages(stored, contexts, buffer, stats, ticker)
            self._flush(buffer, final=True)
        finally:
            if ticker is not None:
                ticker.stop()
            self.summary.fetched = self.progress.records
        self.summary.cursor = (self.header.get("cursor") or {}).get("last_value")

    def _run_pages(
        self,
        stored: Mapping[str, Mapping[str, Any]],
        contexts: Iterator[Context] | None,
        buffer: _Buffer,
        stats: Any,
        ticker: ProgressTicker | None,
    ) -> None:
        """Take every page still to load into batches, committing each batch once it is full; the
        progress lines start once the fetch process is forked (a fork copies no thread)."""
        fetch: Forked[Sequenced] | None = None
        if self.fetch_process:
            # The pages come from a forked process (fetching on a core of its own); the parent contexts
            # this task reads from the database are fed to it.
            fetch = Forked(
                lambda feed: self._fetched_pages(stored, feed),
                pack=page_packer(stats),
                unpack=page_unpacker(stats),
                feed=contexts,
                name=f"restsync-fetch-{self.resource.name}",
                report=counts_reporter(stats),
            )
            fetch.start()
            produced: Iterator[Sequenced] | Forked[Sequenced] = fetch
        else:
            produced = self._pages(stored, contexts)
        if ticker is not None:
            ticker.start()
        # Pages are read in a thread of their own while this one converts and commits batches; at most
        # about one batch of records waits between the two.
        pages = prefetched(
            produced,
            limit=self.batch_size,
            weight=lambda item: len(item[1].records),
            name=f"restsync-pages-{self.resource.name}",
        )
        try:
            partition: _Partition | None = None
            for new, page in pages:
                if new or partition is None:
                    partition = self._partition(page.context, stored)
                self._take(partition, page, buffer)
        finally:
            if fetch is not None:
                fetch.close()
            pages.close()
            self.fetcher.close()

    def _fetched_pages(
        self, stored: Mapping[str, Mapping[str, Any]], fed: Iterator[Context] | None
    ) -> Iterator[Sequenced]:
        """In the fetch process: the pages, under the contexts fed from here or listed from the API."""
        try:
            yield from self._pages(stored, fed)
        finally:
            self.fetcher.close()

    def _pages(
        self, stored: Mapping[str, Mapping[str, Any]], contexts: Iterable[Context] | None
    ) -> Iterator[Sequenced]:
        """Every page still to load, marked when it starts a request sequence (a partition).

        :param contexts: the parent contexts; None: the fetcher lists them (one empty context for a root).
        """
        listed = contexts if contexts is not None else self.fetcher.contexts()
        for sequence, context in enumerate(listed, 1):
            partition = self._partition(context, stored)
            if partition.state.get("sync_id") == self.sync_id:
                if partition.state.get("done"):
                    continue
                position = partition.state.get("position")
            else:
                position = None
            new = True
            for page in self.fetcher.walk(context, position=position, window=partition.window):
                page.sequence = sequence
                yield new, page
                new = False

    def _take(self, partition: _Partition, page: Page, buffer: _Buffer) -> None:
        """Add one page to the batch, which is committed once it is full."""
        self.progress.took(page)
        kept = page.records
        if partition.window is not None:
            kept = [record for record in page.records if partition.window.keeps(record)]
            self.summary.filtered += len(page.records) - len(kept)
        buffer.records.extend(kept)
        buffer.strict = buffer.strict and page.strict
        buffer.pages += 1
        if self._key_projection is not None:
            for record in kept:
                view = {**page.context, self.resource.name: self._key_projection(record)}
                buffer.keys[partition_id("", view)] = view
        buffer.states[partition.id] = self._progress(partition, page.position, done=page.last)
        self._lock.heartbeat(every=HEARTBEAT_SECONDS)
        if len(buffer.records) >= self.batch_size or len(buffer.states) >= MAX_PENDING_PARTITIONS:
            self._flush(buffer, final=False)

    def _progress(
        self, partition: _Partition, position: Mapping[str, Any] | None, *, done: bool
    ) -> dict[str, Any]:
        """A partition's state after a page: its position (or done, with the cursor advanced)."""
        state = {key: value for key, value in partition.state.items() if key == "cursor"}
        state["sync_id"] = self.sync_id
        window = partition.window
        if done:
            state["done"] = True
            if (
                window is not None
                and self.spec is not None
                and self.spec.keeps_state(interval=self.run.interval is not None)
            ):
                last_value, boundary = window.advanced()
                if last_value is not None:
                    state["cursor"] = {"last_value": last_value, "boundary": boundary}
        else:
            state["position"] = dict(position) if position is not None else None
            if window is not None:
                state["window"] = window_state(window)
        return state

    # --- where the records come from ------------------------------------------------------------

    def _context_source(self) -> Iterator[Context] | None:
        """The parent contexts the parent task committed in this run; None: the API lists them (or the
        resource has no parent)."""
        parent = self.resource.parent
        if parent is None:
            self.summary.parents_from = ""
            return None
        parent_scope = self._scope(self.source.resource(parent))
        completed = [
            state.get("completed_sync")
            for state in run_state.read_resource_states(
                self.engine, self.schema, source=self.key.source, resource=parent, partition=parent_scope
            )
        ]
        for done in completed:
            if done and done.get("run_id") == self.run.run_id:
                self.summary.parents_from = f"the {parent!r} records its task committed in this run"
                with self.engine.connect() as conn:
                    total = run_state.count_parent_keys(
                        conn, self.schema, source=self.key.source, resource=parent, sync_id=done["id"]
                    )
                self.progress.child_of_parents(total)
                log.info(
                    "Resource %r: taking the %d parents from %s",
                    self.resource.name,
                    total,
                    self.summary.parents_from,
                )
                return run_state.read_parent_keys(
                    self.engine, self.schema, source=self.key.source, resource=parent, sync_id=done["id"]
                )
        self.summary.parents_from = "the API"
        self.progress.child_of_parents(None)  # known as they are listed
        log.info(
            "Resource %r: the %r task did not complete in this run; listing its parents from the API",
            self.resource.name,
            parent,
        )
        return None

    def _partition(self, context: Context, stored: Mapping[str, Mapping[str, Any]]) -> _Partition:
        if self.resource.parent is None:
            pid, saved = self.scope, self.header
        else:
            view = {
                name: {f: values[f] for f in projection.fields if f in values}
                for name, projection in self._partition_fields.items()
                if (values := context.get(name)) is not None
            }
            pid = partition_id(self.scope, view)
            saved = dict(stored.get(pid) or {})
        partition = _Partition(pid, dict(saved))
        if self.spec is not None:
            where = f"resource {self.resource.name!r}"
            window_saved = saved.get("window")
            if saved.get("sync_id") == self.sync_id and isinstance(window_saved, Mapping):
                partition.window = restore_window(self.spec, window_saved, where=where)
            else:
                partition.window = open_window(
                    self.spec, saved.get("cursor"), interval=self.run.interval, where=where
                )
        return partition

    # --- commits --------------------------------------------------------------------------------

    def _flush(self, buffer: _Buffer, *, final: bool) -> None:
        records, states, keys = buffer.records, dict(buffer.states), dict(buffer.keys)
        buffer.records, buffer.states, buffer.keys = [], {}, {}
        pages, buffer.pages = buffer.pages, 0
        strict, buffer.strict = buffer.strict, True
        root = self.resource.parent is None
        if root and self.scope in states:
            self.header.update(states.pop(self.scope) or {})
        if final:
            self._complete_header()
        replace = self.writer.disposition == "replace"
        first_seq, self._key_seq = self._key_seq, self._key_seq + len(keys)

        def in_batch(conn: sa.Connection) -> None:
            if keys:
                run_state.write_parent_keys(
                    conn,
                    self.schema,
                    source=self.key.source,
                    resource=self.key.resource,
                    sync_id=self.sync_id,
                    contexts=keys,
                    first_seq=first_seq,
                )
            if not replace:
                self._write_states(conn, {**states, self.scope: dict(self.header)}, final=final)

        if replace:
            self._replace_states.update(states)
        if records or keys or not replace or final:
            result = self.writer.write(records, in_transaction=in_batch, strict=strict)
            self._count(result, len(records), pages)
        if final:
            if replace:
                reset = {**self._replace_states, self.scope: dict(self.header)}
                finished = self.writer.finish(
                    in_transaction=lambda conn: self._write_states(conn, reset, final=True, reset=True)
                )
                if finished is not None:
                    self.summary.inserted = finished.inserted
                    self.summary.updated = 0
                    self.summary.columns_added = len(finished.new_columns)
                    self.summary.variant_columns = len(finished.new_variant_columns)
            else:
                self.writer.finish()
        else:
            self._lock.heartbeat()
        if self.on_batch is not None and (records or final):
            self.on_batch(self.summary)

    def _complete_header(self) -> None:
        header = self.header
        sync = header.pop("sync", None) or {}
        for key in ("position", "window", "done", "sync_id"):
            header.pop(key, None)
        header["completed_sync"] = {"id": self.sync_id, "run_id": self.run.run_id, "at": _now()}
        header["started_run"] = sync.get("run_id")

    def _write_states(
        self,
        conn: sa.Connection,
        states: Mapping[str, Mapping[str, Any] | None],
        *,
        final: bool,
        reset: bool = False,
    ) -> None:
        if reset:
            run_state.delete_states(conn, self.schema, self.key)
        if final and self._key_projection is not None:
            # The children of this run read this sync's keys from now on; older syncs' keys go.
            run_state.delete_parent_keys(
                conn, self.schema, source=self.key.source, resource=self.key.resource, keep_sync=self.sync_id
            )
        rows = dict(states)
        keeps = self.spec is not None and self.spec.keeps_state(interval=self.run.interval is not None)
        if final and self.resource.parent is not None and not keeps:
            # Nothing to remember per parent once the sync is complete: only cursors outlive a sync.
            run_state.delete_states(conn, self.schema, self.key, keep=[self.scope])
            rows = {pid: state for pid, state in rows.items() if pid == self.scope}
        run_state.write_states(conn, self.schema, self.key, rows, run_id=self.run.run_id)

    def _count(self, result: BatchResult, records: int, pages: int) -> None:
        summary = self.summary
        summary.records += records
        summary.pages += pages
        summary.inserted += result.inserted
        summary.updated += result.updated
        summary.unchanged += result.unchanged
        summary.columns_added += len(result.new_columns)
        summary.variant_columns += len(result.new_variant_columns)

    def _scope(self, resource: ResourceConfig) -> str:
        spec = resource.endpoint.incremental
        if spec is not None and spec.allow_external_schedulers and self.run.interval is not None:
            start, end = self.run.interval
            return window_scope(start.isoformat(), end.isoformat())
        return ROOT


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


__all__ = ["ResourceSync"]
