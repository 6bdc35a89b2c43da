"""Load tests' helpers: the sandbox in a process of its own, order-free checksums of what it serves and of
what landed, and syncs run in processes of their own, all at once.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from airflow_provider_restsync.sandbox.__main__ import READY
from tests.support.tables import comparable

REPO = Path(__file__).resolve().parent.parent.parent
_MASK = (1 << 64) - 1


@contextmanager
def sandbox_process(records: int, *, max_limit: int | None = None, cache_mb: int = 0) -> Iterator[str]:
    """``python -m airflow_provider_restsync.sandbox`` on a free port; yields its root URL.

    In a process of its own, the sandbox makes its pages beside the syncs rather than between their
    turns on the test process's interpreter lock, and its memory is not the test's.
    """
    command = [sys.executable, "-m", "airflow_provider_restsync.sandbox", "--port", "0"]
    command += ["--records", str(records), "--cache-mb", str(cache_mb)]
    if max_limit is not None:
        command += ["--max-limit", str(max_limit)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
    lines: queue.Queue[str | None] = queue.Queue()
    # A thread reads its output to the end, so the pipe never fills while the sandbox runs.
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        yield _ready_url(process, lines)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready_url(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> str:
    deadline = time.monotonic() + 60
    try:
        while (line := lines.get(timeout=max(0.1, deadline - time.monotonic()))) is not None:
            if line.startswith(READY):
                return line.split()[-1]
    except queue.Empty:
        raise RuntimeError("the sandbox was not ready within 60 s") from None
    raise RuntimeError(f"the sandbox exited with {process.wait()} before it was ready")


def _read_lines(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    assert stream is not None
    for line in stream:
        lines.put(line)
    lines.put(None)


# --- checksums ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checksum:
    """How many rows, and the sum (mod 2**64) of a 64-bit hash of each row's compared values.

    A sum does not depend on the order rows come in, and unlike a XOR a duplicated row does not cancel.
    """

    rows: int
    total: int


def row_hash(values: Sequence[Any]) -> int:
    """A 64-bit hash of one row's values in the form :func:`tests.support.tables.comparable` gives them,
    whether they come from the API's JSON or back from a database column."""
    text = json.dumps([comparable(value) for value in values], sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def checksum(rows: Iterable[Sequence[Any]]) -> Checksum:
    count = total = 0
    for row in rows:
        count += 1
        total = (total + row_hash(row)) & _MASK
    return Checksum(count, total)


def records_checksum(records: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Checksum:
    return checksum([record[column] for column in columns] for record in records)


def table_checksum(
    engine: sa.Engine, table: str, columns: Sequence[str], schema: str | None = None
) -> Checksum:
    """The checksum of ``columns`` over every row of a table, read a few thousand rows at a time.

    Read through the reflected table, so each column comes back as its type's Python value (a SQLite
    boolean as ``True``, a JSON column parsed), as the API's JSON had it.
    """
    with engine.connect() as conn:
        reflected = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
        query = sa.select(*(reflected.c[column] for column in columns))
        result = conn.execution_options(yield_per=5_000).execute(query)
        return checksum(tuple(row) for row in result)


# --- syncs in processes of their own --------------------------------------------------------------


@dataclass(frozen=True)
class SyncJob:
    """One resource's sync as an Airflow worker would run it: ``RestToSqlOperator.execute`` of one task.

    :param connections: ``AIRFLOW_CONN_<ID>`` variables the process sets before it runs (API and
        destination).
    """

    dag_id: str
    task_id: str
    source: str  # the config file
    resource: str
    conn_id: str
    destination_conn_id: str
    schema: str | None
    table_name: str | None
    run_id: str
    connections: Mapping[str, str]


def run_job(job: SyncJob, start: Any, results: Any) -> None:
    """A process's target: wait at ``start`` (a barrier) with the others, sync, put the outcome on
    ``results`` as ``(task_id, summary, None)`` or ``(task_id, None, traceback)``."""
    passed = False
    try:
        os.environ.update(job.connections)
        from airflow.sdk import DAG

        from airflow_provider_restsync.operators.rest_to_sql import RestToSqlOperator

        with DAG(job.dag_id, schedule=None):
            task = RestToSqlOperator(
                task_id=job.task_id,
                conn_id=job.conn_id,
                source=job.source,
                resource=job.resource,
                destination_conn_id=job.destination_conn_id,
                destination_schema=job.schema,
                table_name=job.table_name,
            )
        start.wait(120)
        passed = True
        summary = task.execute({"run_id": job.run_id, "params": {}})  # type: ignore[arg-type]
        results.put((job.task_id, summary, None))
    except BaseException:
        if not passed:
            start.abort()  # the others stop waiting for this one
        results.put((job.task_id, None, traceback.format_exc()[-4000:]))


def _forkserver_context(preload: list[str]) -> ForkServerContext:
    """The ``forkserver`` context, its server started (if it is not yet) with ``preload`` imported.

    Python 3.11's server does not take the test process's ``sys.path``: it finds the repository
    through ``PYTHONPATH``, set for it alone.
    """
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    context.set_forkserver_preload(preload)
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), before)))
    try:
        forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    return context


def run_at_once(jobs: Sequence[SyncJob], *, timeout: float = 300.0) -> dict[str, dict[str, Any]]:
    """Every job in a process of its own, their syncs begun at the same moment; the summaries by task id.

    The processes fork from a server process that imported the operator once (``forkserver``): each
    starts as a worker's task process would, without importing Airflow anew or inheriting the test
    process's threads. A job that fails fails the whole run, with its traceback.
    """
    assert len({job.task_id for job in jobs}) == len(jobs), "task ids must be unique"
    context = _forkserver_context([__name__, "airflow_provider_restsync.operators.rest_to_sql"])
    start = context.Barrier(len(jobs))
    results = context.Queue()
    processes = [context.Process(target=run_job, args=(job, start, results), daemon=True) for job in jobs]
    for process in processes:
        process.start()
    outcomes: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    try:
        deadline = time.monotonic() + timeout
        while len(outcomes) < len(jobs):
            try:
                task_id, summary, error = results.get(timeout=1)
            except queue.Empty:
                # A process that died without a word (killed, out of memory) fails the run at once.
                if time.monotonic() > deadline or not any(process.is_alive() for process in processes):
                    missing = sorted({job.task_id for job in jobs} - set(outcomes))
                    codes = [process.exitcode for process in processes]
                    raise AssertionError(f"no outcome from {missing} (exit codes {codes})") from None
                continue
            outcomes[task_id] = (summary, error)
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
    failed = {task_id: error for task_id, (_, error) in outcomes.items() if error is not None}
    assert not failed, "\n\n".join(f"{task_id}:\n{error}" for task_id, error in failed.items())
    return {task_id: summary for task_id, (summary, _) in outcomes.items() if summary is not None}
