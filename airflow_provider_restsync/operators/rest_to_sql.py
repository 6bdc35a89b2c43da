"""RestToSqlOperator: one resource of a REST source -> one SQL table."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_restsync.assets import table_asset
from airflow_provider_restsync.collector import fewer_collections
from airflow_provider_restsync.config import ResourceConfig, SourceConfig, load_source
from airflow_provider_restsync.errors import ConfigError
from airflow_provider_restsync.metrics import emit_sync_metrics
from airflow_provider_restsync.progress import DEFAULT_INTERVAL, check_interval
from airflow_provider_restsync.report import asset_extra, failure_line, summary_line
from airflow_provider_restsync.runs import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, RunInfo, SyncSummary
from airflow_provider_restsync.sql.disposition import WriteDisposition
from airflow_provider_restsync.sql.naming import STYLES

if TYPE_CHECKING:
    import sqlalchemy as sa
    from airflow.sdk import Context

    from airflow_provider_restsync.hooks import RestSyncHook
    from airflow_provider_restsync.lineage import DatasetRef


class RestToSqlOperator(BaseOperator):
    """
    Page through one resource of a dlt-style REST source and merge its records into a SQL table.

    Templated (Jinja) are ``request_params``, ``table_name``, ``destination_schema`` and the config
    file's path, nothing else: the source config itself is never rendered, so ``{{ ... }}`` in it means
    what it means in dlt (``{{`` and ``}}`` are literal braces: ``"{{not_this}}"`` is sent as
    ``{not_this}``). Put run-dependent values such as ``{{ data_interval_start | ts }}`` in
    ``request_params``. A source given as a mapping (or a file path without Jinja) is checked here, when
    the DAG file is parsed.

    :param conn_id: Airflow connection of the API (a ``restsync_*`` connection type).
    :param source: the source config: a mapping in dlt's ``rest_api_source`` format or a path to a
        YAML/JSON file holding one (the path is templated). Optional when ``resource`` is an inline
        resource mapping.
    :param resource: the name of the resource to sync, or an inline resource mapping (``name``,
        ``endpoint``, ``primary_key``, ...) for a single-endpoint task.
    :param destination_conn_id: Airflow connection of the destination database (sqlite, postgres,
        mysql). ``None`` writes into the embedded SQLite file ``$AIRFLOW_HOME/restsync.db``.
    :param table_name: overrides the table name the config gives (templated).
    :param destination_schema: PostgreSQL schema / MySQL database for the table (templated).
    :param request_params: extra query parameters for every request of the resource (templated), e.g.
        ``{"since": "{{ data_interval_start | ts }}"}``.
    :param full_refresh: reset the resource's run state (cursor, positions) and reload the whole table
        atomically (``replace``), whatever the config's disposition says. ``None`` takes the run's
        ``full_refresh`` param when the DAG has one.
    :param naming: ``snake_case`` (dlt's column naming) or ``direct`` (keep the API's names).
    :param batch_size: records per write transaction, which is also the checkpoint: a killed task's
        retry resumes after the last committed batch.
    :param max_pages: guard against endless paging.
    :param lock_timeout: seconds to wait while another run syncs the same resource before failing
        with a message that names that run.
    :param concurrency: page requests in flight at once (1 to 10), where the paginator knows the next
        pages before their responses come (offset and page-number paging with a total). Pages are still
        taken and committed in order, so checkpoints stay exact. Lower it for APIs with tight rate limits.
    :param fetch_process: fetch in a process of its own, forked from the task's process once the
        connection is read, so fetching and loading use two cores (Linux and macOS; elsewhere, and with
        ``False``, a thread of the task's process fetches). Its log lines go to the task log.
    :param progress_interval: seconds between the progress lines the task logs while it syncs (pages,
        records, records/s, retries, and the share done with an ETA when the API reports a total);
        at least 1; None logs none. The summary line at the end is always logged.

    What the task reports:

    - the summary line in the task log, and the same numbers as its XCom (``return_value``, a
      :class:`~airflow_provider_restsync.runs.SyncSummary` as a dict);
    - on its table's asset (:func:`~airflow_provider_restsync.assets.table_asset`, among ``outlets``),
      an event whose ``extra`` holds the rows inserted / updated / unchanged and the cursor;
    - metrics through Airflow's ``Stats`` (:mod:`~airflow_provider_restsync.metrics`);
    - OpenLineage: the endpoint as input, the table with its schema as output, when the OpenLineage
      provider is installed (:mod:`~airflow_provider_restsync.lineage`).
    """

    template_fields: Sequence[str] = ("source_path", "table_name", "request_params", "destination_schema")
    template_fields_renderers = {"request_params": "json"}
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        conn_id: str,
        resource: str | Mapping[str, Any],
        source: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        destination_conn_id: str | None = None,
        destination_schema: str | None = None,
        table_name: str | None = None,
        request_params: Mapping[str, Any] | None = None,
        full_refresh: bool | None = None,
        naming: str = "snake_case",
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_pages: int = 100_000,
        lock_timeout: float = 300.0,
        concurrency: int = DEFAULT_CONCURRENCY,
        fetch_process: bool = True,
        progress_interval: float | None = DEFAULT_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(resource, Mapping):
            if "name" not in resource:
                raise ConfigError("an inline resource needs a 'name'", key_path=f"{self.task_id}.resource")
            self.resource_name = str(resource["name"])
            source = _with_inline_resource(source, resource)
        else:
            self.resource_name = resource
        if source is None:
            raise ConfigError("give a source config, or an inline resource mapping", key_path=self.task_id)
        self.conn_id = conn_id
        # A path is templated; a mapping is not (dlt's {{ }} escapes must reach load_source unrendered).
        self.source_path: str | None = None
        self.source: Mapping[str, Any] | None = None
        if isinstance(source, (str, os.PathLike)):
            self.source_path = os.fspath(source)
        else:
            self.source = source
        # Checked (and kept) now when it can be, so a broken config fails the DAG file, not the task.
        self._plan: SourceConfig | None = None
        if self.source is not None or "{{" not in (self.source_path or ""):
            self._plan = load_source(self._source())
            self._plan.resource(self.resource_name)
        self._planned_path = self.source_path
        if naming not in STYLES:
            raise ConfigError(
                f"unknown naming {naming!r}; one of: {', '.join(STYLES)}", key_path=f"{self.task_id}.naming"
            )
        self.destination_conn_id = destination_conn_id
        self.destination_schema = destination_schema
        self.table_name = table_name
        self.request_params = dict(request_params or {})
        self.full_refresh = full_refresh
        self.naming = naming
        if batch_size < 1:
            raise ConfigError("batch_size must be at least 1", key_path=f"{self.task_id}.batch_size")
        self.batch_size = batch_size
        self.max_pages = max_pages
        if lock_timeout < 0:
            raise ConfigError("lock_timeout must be 0 or more", key_path=f"{self.task_id}.lock_timeout")
        self.lock_timeout = lock_timeout
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 10:
            raise ConfigError(
                f"concurrency must be a whole number from 1 to 10, got {concurrency!r}",
                key_path=f"{self.task_id}.concurrency",
            )
        self.concurrency = concurrency
        if not isinstance(fetch_process, bool):
            raise ConfigError(
                f"fetch_process must be true or false, got {fetch_process!r}",
                key_path=f"{self.task_id}.fetch_process",
            )
        self.fetch_process = fetch_process
        self.progress_interval = check_interval(
            progress_interval, key_path=f"{self.task_id}.progress_interval"
        )
        self._lineage: tuple[DatasetRef, DatasetRef] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        params = context.get("params") or {}
        self._skip_if_not_selected(params)
        # The plan made when the DAG file was parsed, unless rendering changed the config's path.
        source = self._plan
        if source is None or self.source_path != self._planned_path:
            source = load_source(self._source())
        resource = source.resource(self.resource_name)
        full_refresh = (
            self.full_refresh if self.full_refresh is not None else bool(params.get("full_refresh"))
        )
        run = self._run_info(context)
        disposition = WriteDisposition("replace") if full_refresh else resource.write_disposition
        summary = SyncSummary(
            resource=resource.name,
            table=self.table_name or resource.table_name,
            disposition=disposition.disposition,
        )
        try:
            self._sync(source, resource, summary, disposition, run=run)
        except BaseException as error:
            self.log.warning("%s", failure_line(summary, error))
            emit_sync_metrics(summary, dag_id=run.source, task_id=self.task_id, succeeded=False)
            raise
        self.log.info("%s", summary_line(summary, schema=self.destination_schema or None))
        emit_sync_metrics(summary, dag_id=run.source, task_id=self.task_id, succeeded=True)
        self._annotate_table_asset(context, summary, run)
        return asdict(summary)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """For the OpenLineage listener: the endpoint read (input) and the table written (output, with
        its schema facet); None when the task did not reach its table."""
        from airflow_provider_restsync.lineage import operator_lineage

        return operator_lineage(*self._lineage) if self._lineage is not None else None

    def _annotate_table_asset(self, context: Context, summary: SyncSummary, run: RunInfo) -> None:
        """Put the run's counts and cursor on the event of the table's asset, if it is an outlet."""
        schema = self.destination_schema or None
        asset = table_asset(summary.table, self.destination_conn_id, schema)
        if not any(getattr(outlet, "uri", None) == asset.uri for outlet in self.outlets or ()):
            return
        events = context.get("outlet_events")
        if events is not None:
            events[asset].extra = asset_extra(summary, run_id=run.run_id, schema=schema)

    def _note_lineage(
        self,
        hook: RestSyncHook,
        engine: sa.Engine,
        resource: ResourceConfig,
        table: str,
        summary: SyncSummary,
    ) -> None:
        """What the OpenLineage listener is told; a failure to find out is logged, never the task's."""
        from airflow_provider_restsync.lineage import endpoint_of, table_of

        try:
            endpoint = endpoint_of(hook.base_url, str(resource.endpoint.path))
            rows = summary.inserted + summary.updated
            written = table_of(engine, table, self.destination_schema or None, rows_written=rows)
        except Exception as error:
            reason = hook.redact(str(error))
            self.log.warning("Resource %r: no lineage for this run: %s", resource.name, reason)
            return
        self._lineage = (endpoint, written)

    def _run_info(self, context: Context) -> RunInfo:
        run_id = str(context.get("run_id") or "manual")
        ti = context.get("ti")
        map_index = getattr(ti, "map_index", -1)
        try_number = getattr(ti, "try_number", None)
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        # A manual run of an unscheduled DAG has an empty interval (start == end): no window to take.
        interval = (start, end) if start is not None and end is not None and start < end else None
        host = socket.gethostname()
        dag_id = self.dag_id if self.has_dag() else "restsync"
        return RunInfo(
            source=dag_id,
            run_id=run_id,
            owner=f"{dag_id}/{self.task_id}/{run_id}/{map_index}",
            holder=(f"run {run_id!r} (task {self.task_id!r}, try {try_number}, pid {os.getpid()} on {host})"),
            interval=interval,
        )

    def _source(self) -> Mapping[str, Any] | str:
        source = self.source if self.source is not None else self.source_path
        assert source is not None
        return source

    def _skip_if_not_selected(self, params: Mapping[str, Any]) -> None:
        selection = params.get("resources") or []
        if selection and self.resource_name not in selection:
            raise AirflowSkipException(
                f"resource {self.resource_name!r} is not among the run's selected resources {list(selection)}"
            )

    def _sync(
        self,
        source: SourceConfig,
        resource: ResourceConfig,
        summary: SyncSummary,
        disposition: WriteDisposition,
        *,
        run: RunInfo,
    ) -> None:
        from airflow_provider_restsync.hooks import resolve_api_hook
        from airflow_provider_restsync.sql.destination import create_destination_engine

        started = time.monotonic()
        hook = resolve_api_hook(
            self.conn_id,
            auth_config=source.client.auth,
            base_url=source.client.base_url,
            headers=source.client.headers,
        )
        try:
            hook.get_conn()  # the connection is read here, in the task's own thread, not by a fetch thread
            engine = create_destination_engine(conn_id=self.destination_conn_id or None)
            try:
                with fewer_collections():
                    table = self._load(hook, engine, source, resource, summary, disposition, run=run)
                self._note_lineage(hook, engine, resource, table, summary)
            finally:
                engine.dispose()
        finally:
            summary.requests = hook.stats.requests
            summary.retries = hook.stats.retries
            summary.retries_by_cause = dict(sorted(hook.stats.by_cause.items()))
            hook.close()
            summary.seconds = round(time.monotonic() - started, 3)

    def _load(
        self,
        hook: RestSyncHook,
        engine: sa.Engine,
        source: SourceConfig,
        resource: ResourceConfig,
        summary: SyncSummary,
        disposition: WriteDisposition,
        *,
        run: RunInfo,
    ) -> str:
        """Stream the resource's pages into its table, one transaction per batch with its run state;
        returns the table's name as the database has it."""
        from airflow_provider_restsync.sql.write import TableWriter
        from airflow_provider_restsync.sync import ResourceSync

        writer = TableWriter(
            engine,
            resource=resource.name,
            table=summary.table,
            primary_key=resource.primary_key,
            disposition=disposition,
            columns=resource.columns,
            naming=self.naming,
            max_table_nesting=resource.max_table_nesting,
            schema=self.destination_schema or None,
            run_id=run.run_id,
        )
        sync = ResourceSync(
            hook,
            source,
            resource,
            writer,
            run,
            full_refresh=disposition.disposition == "replace",
            batch_size=self.batch_size,
            max_pages=self.max_pages,
            params=self.request_params,
            lock_wait=self.lock_timeout,
            concurrency=self.concurrency,
            fetch_process=self.fetch_process,
            summary=summary,
            progress_interval=self.progress_interval,
        )
        try:
            sync.run_sync()
        except BaseException:
            # Nothing half-written: a replace's staging table goes; committed batches stay, with their state.
            writer.abort()
            raise
        return writer.table


def _with_inline_resource(source: Any, resource: Mapping[str, Any]) -> dict[str, Any]:
    """A source holding only ``resource``, keeping the client (and defaults) of ``source`` if given."""
    if source is None:
        return {"client": {}, "resources": [dict(resource)]}
    if not isinstance(source, Mapping):
        raise ConfigError(
            "an inline resource needs the source as a mapping (its client block), not a path",
            key_path="source",
        )
    return {**source, "resources": [dict(resource)]}
