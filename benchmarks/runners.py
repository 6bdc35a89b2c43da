"""One measured run in a process of its own: this project's operator, dlt, or one of the two limits.

    python -m benchmarks.runners '{"kind": "restsync", "base_url": ..., "database": ..., ...}'

prints one JSON line: seconds of the sync itself, records, peak memory and the resident memory the
process had before the sync began (imports done, the task built), so ``peak - idle`` is what the sync
added. Peak memory is the process's resident high-water mark (``VmHWM``) plus the peak private memory
of its children (a fetch process's own pages; those it shares with its parent are in ``VmHWM``
already). Each run gets a process so peaks do not mix.

- ``restsync``: ``RestToSqlOperator.execute`` of the ``messages`` task of a DAG, connections from
  ``AIRFLOW_CONN_*`` variables: the code path a worker runs, its seconds from the operator's summary.
- ``dlt``: ``dlt.pipeline(...).run(rest_api_source(config))``, extract, normalize and load in-process,
  at dlt's defaults or with ``max_table_nesting=0``.
- ``fetch``: a plain loop that GETs every page with one ``requests`` session and parses its JSON.
- ``bulk``: the same rows (fetched first, untimed) loaded the bare way: COPY (PostgreSQL) or a
  multi-row INSERT (SQLite) into a staging table, then one set-based upsert into the keyed table.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
import sqlalchemy as sa

RESOURCE = "messages"
PATH = "/v1/messages"
KEY_PARAM = "api_key"


def peak_rss_mb() -> float:
    """The process's resident memory high-water mark, in MB.

    ``VmHWM`` belongs to this process's address space, which ``exec`` makes anew; ``ru_maxrss`` would
    not do: Linux carries it over from the parent (the benchmark driver) into the child.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def source_config(base_url: str, limit: int, api_key: str | None = None) -> dict[str, Any]:
    """Reference API 004's ``messages`` in dlt's ``rest_api_source`` format (the key only for dlt:
    this project takes it from the Airflow connection)."""
    auth: dict[str, Any] = {"type": "api_key", "name": KEY_PARAM, "location": "query"}
    if api_key is not None:
        auth["api_key"] = api_key
    return {
        "client": {"base_url": base_url, "auth": auth},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": RESOURCE,
                "endpoint": {
                    "path": PATH,
                    "data_selector": "data",
                    "paginator": {"type": "offset", "limit": limit, "total_path": "total"},
                },
            }
        ],
    }


class ChildMemory:
    """The peak private memory (MB) of this process's children, sampled in a thread while it runs."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> ChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, sum(map(_private_mb, _children())))


def _children() -> list[int]:
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids.extend(int(pid) for pid in children.read().split())
        except OSError:
            continue
    return pids


def _private_mb(pid: int) -> float:
    """Pages only ``pid`` maps (its own allocations and the pages it copied on write), in MB."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return 0.0
    return total / 1024


# --- this project ---------------------------------------------------------------------------------


def run_restsync(args: Mapping[str, Any]) -> dict[str, Any]:
    from airflow.sdk import DAG

    from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator
    from tests.support.databases import airflow_connection

    os.environ["AIRFLOW_CONN_BENCH_API"] = json.dumps(
        {"conn_type": "restsync_api_key", "host": args["base_url"], "password": args["api_key"]}
    )
    os.environ["AIRFLOW_CONN_BENCH_DB"] = json.dumps(airflow_connection(args["database"]))
    with DAG("restsync_bench", schedule=None):
        task = RestToSqlOperator(
            task_id=RESOURCE,
            conn_id="bench_api",
            source=source_config(args["base_url"], args["limit"]),
            resource=RESOURCE,
            destination_conn_id="bench_db",
            destination_schema=args.get("schema"),
            **args.get("options", {}),
        )
    idle = peak_rss_mb()
    with ChildMemory() as children:
        started = time.perf_counter()
        summary = task.execute({"run_id": args["run_id"], "params": {}})  # type: ignore[arg-type]
        wall = time.perf_counter() - started
    return {
        "seconds": summary["seconds"],
        "wall": wall,
        "records": summary["records"],
        "idle_mb": idle,
        "peak_mb": peak_rss_mb() + children.peak_mb,
        "children_mb": children.peak_mb,
        "requests": summary["requests"],
    }


# --- dlt ------------------------------------------------------------------------------------------


def run_dlt(args: Mapping[str, Any]) -> dict[str, Any]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    url = sa.make_url(args["database"])
    if url.get_backend_name() == "sqlite":
        destination = dlt.destinations.sqlalchemy(credentials=args["database"])
    else:
        # dlt insists on a password; a server with trust authentication ignores it.
        url = url.set(drivername="postgresql", password=url.password or "unused")
        destination = dlt.destinations.postgres(credentials=url.render_as_string(hide_password=False))
    pipeline = dlt.pipeline(
        pipeline_name=args["pipeline"],
        pipelines_dir=args["pipelines_dir"],
        destination=destination,
        dataset_name=args["schema"],
        progress="log" if args.get("verbose") else None,
    )
    source = rest_api_source(source_config(args["base_url"], args["limit"], args["api_key"]))
    if args.get("max_table_nesting") is not None:
        source.max_table_nesting = args["max_table_nesting"]
    idle = peak_rss_mb()
    with ChildMemory() as children:
        started = time.perf_counter()
        info = pipeline.run(source)
        seconds = time.perf_counter() - started
    info.raise_on_failed_jobs()
    trace = pipeline.last_trace
    normalized = trace.last_normalize_info.row_counts if trace and trace.last_normalize_info else {}
    return {
        "seconds": seconds,
        "wall": seconds,
        "records": int(normalized.get(RESOURCE, 0)),
        "idle_mb": idle,
        "peak_mb": peak_rss_mb() + children.peak_mb,
        "children_mb": children.peak_mb,
    }


# --- the limits -----------------------------------------------------------------------------------


def pages(base_url: str, api_key: str, limit: int) -> Iterator[list[dict[str, Any]]]:
    """Every page of records, GET and JSON parse, nothing else."""
    session = requests.Session()
    offset = 0
    while True:
        response = session.get(
            base_url + PATH, params={KEY_PARAM: api_key, "offset": offset, "limit": limit}, timeout=30
        )
        response.raise_for_status()
        records = json.loads(response.content)["data"]
        if records:
            yield records
        if len(records) < limit:
            return
        offset += limit


def run_fetch(args: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    count = sum(len(page) for page in pages(args["base_url"], args["api_key"], args["limit"]))
    return {"seconds": time.perf_counter() - started, "records": count, "peak_mb": peak_rss_mb()}


def run_bulk(args: Mapping[str, Any]) -> dict[str, Any]:
    """The same rows into a keyed table twice: first load (empty) and re-sync (every row exists)."""
    records = [r for page in pages(args["base_url"], args["api_key"], args["limit"]) for r in page]
    columns = list(dict.fromkeys(key for record in records for key in record))
    engine = sa.create_engine(args["database"])
    load = _bulk_postgres if engine.dialect.name == "postgresql" else _bulk_sqlite
    timings = []
    try:
        for _ in range(2):
            started = time.perf_counter()
            load(engine, records, columns)
            timings.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return {"seconds": timings[0], "resync_seconds": timings[1], "records": len(records)}


def _json_or_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def _bulk_postgres(engine: sa.Engine, records: list[dict[str, Any]], columns: list[str]) -> None:
    quoted = [f'"{c}"' for c in columns]
    types = {c: _pg_type(records, c) for c in columns}
    definition = ", ".join(f'"{c}" {types[c]}' for c in columns)
    updates = ", ".join(f"{q} = EXCLUDED.{q}" for q in quoted if q != '"id"')
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"CREATE TABLE IF NOT EXISTS bulk_limit ({definition}, PRIMARY KEY (id))")
        cursor.execute(f"CREATE TEMP TABLE bulk_stage ({definition}) ON COMMIT DROP")
        with cursor.copy(f"COPY bulk_stage ({', '.join(quoted)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row([_json_or_value(record.get(c)) for c in columns])
        cursor.execute(
            f"INSERT INTO bulk_limit SELECT * FROM bulk_stage ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        raw.commit()
    finally:
        raw.close()


def _bulk_sqlite(engine: sa.Engine, records: list[dict[str, Any]], columns: list[str]) -> None:
    quoted = [f'"{c}"' for c in columns]
    definition = ", ".join(quoted)
    updates = ", ".join(f"{q} = excluded.{q}" for q in quoted if q != '"id"')
    marks = ", ".join("?" for _ in columns)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"CREATE TABLE IF NOT EXISTS bulk_limit ({definition}, PRIMARY KEY (id))")
        cursor.execute(f"CREATE TEMP TABLE bulk_stage ({definition})")
        cursor.executemany(
            f"INSERT INTO bulk_stage VALUES ({marks})",
            ([_json_or_value(record.get(c)) for c in columns] for record in records),
        )
        cursor.execute(
            "INSERT INTO bulk_limit SELECT * FROM bulk_stage WHERE true "
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        cursor.execute("DROP TABLE bulk_stage")
        raw.commit()
    finally:
        raw.close()


def _pg_type(records: list[dict[str, Any]], column: str) -> str:
    value = next((r[column] for r in records if r.get(column) is not None), None)
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, (dict, list)):
        return "jsonb"
    return "text"


RUNNERS: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "restsync": run_restsync,
    "dlt": run_dlt,
    "fetch": run_fetch,
    "bulk": run_bulk,
}


def main() -> None:
    args = json.loads(sys.argv[1])
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("AIRFLOW_HOME", scratch)
        result = RUNNERS[args["kind"]](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
