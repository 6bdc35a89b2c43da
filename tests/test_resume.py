"""A sync killed with SIGKILL resumes after its last committed batch; two syncs of one resource never overlap.

Every task runs as a real ``airflow tasks test`` process (its own session, so the test SIGKILLs its whole
process group) against the sandbox's ``changing`` API, with the DAGs of tests/dags/resume_checks.py, into
SQLite and PostgreSQL. The killed try and its retry run the same DAG run, so they are one task instance
(the SQLite lock row is its own to take over at once). Everything the tests check is read from the outside:
the sandbox's request counter and log, the destination's tables, the task's output, the metadata DB.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.sandbox import SandboxServer
from airflow_provider_restsync.sandbox.auth import SANDBOX_CREDENTIALS
from tests.support.databases import airflow_connection
from tests.support.tables import comparable

REPO = Path(__file__).resolve().parent.parent
TEST_DAGS = REPO / "tests" / "dags"
DAG_FILE = TEST_DAGS / "resume_checks.py"
BUNDLE = "test-dags"  # the tests' DAG bundle, as tests/conftest.py configures it
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ITEMS_PATH = "/changing/v1/items"
RECORDS = 50_000
LIMIT = 500
BATCH_SIZE = 5_000
PAGES = RECORDS // LIMIT  # a full sync's requests: the offset paginator knows the end from "total"
PAGES_PER_BATCH = BATCH_SIZE // LIMIT
TASK_TIMEOUT = 180.0
RESUMED = "resumed an interrupted sync"
STATE_TABLES = ("_restsync_state", "_restsync_parent_keys", "_restsync_locks", "_restsync_columns")
COLUMNS = ("id", "name", "status", "version", "updated_at")  # the changing API's records

pytestmark = pytest.mark.airflow


# --- the destination ------------------------------------------------------------------------------


@dataclass
class Destination:
    kind: str  # sqlite or postgres
    url: str
    conn: dict[str, Any]  # the Airflow connection changing_db
    path: Path | None = None  # the SQLite file
    engine: sa.Engine = field(init=False)

    def __post_init__(self) -> None:
        connect_args = {"timeout": 30} if self.kind == "sqlite" else {}
        # No pool: the test's own connections close when it is done with them, so the sessions left on
        # the server are the tasks'.
        self.engine = sa.create_engine(self.url, connect_args=connect_args, poolclass=sa.pool.NullPool)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def root_state(self, dag_id: str) -> dict[str, Any] | None:
        """The resource's own row of ``_restsync_state`` (None before the first checkpoint)."""
        try:
            value = self.scalar(
                "SELECT state FROM _restsync_state WHERE source = :source AND resource = 'items' "
                "AND partition_id = ''",
                source=dag_id,
            )
        except sa.exc.DBAPIError:  # the task has not created the table yet
            return None
        if value is None:
            return None
        return json.loads(value) if isinstance(value, (str, bytes)) else dict(value)

    def committed_offset(self, dag_id: str) -> int | None:
        """The next offset the last committed checkpoint recorded."""
        state = self.root_state(dag_id)
        position = (state or {}).get("position")
        return None if not position else int(position["value"])

    def count(self, sql: str) -> int:
        try:
            return int(self.scalar(sql) or 0)
        except sa.exc.DBAPIError:
            return 0

    def lock_rows(self) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text("SELECT owner, holder FROM _restsync_locks"))]

    def tables(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())

    def other_sessions(self) -> int:
        """PostgreSQL: the backends connected to the destination besides this query's own."""
        return int(
            self.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        )


@pytest.fixture(params=["sqlite", "postgres"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Destination]:
    if request.param == "sqlite":
        path = tmp_path / "dest.db"
        dest = Destination("sqlite", f"sqlite:///{path}", {"conn_type": "sqlite", "host": str(path)}, path)
    else:
        url = request.getfixturevalue("postgres_url")
        dest = Destination("postgres", url, airflow_connection(url))
    try:
        yield dest
    finally:
        dest.engine.dispose()


def assert_table_is_exact(dest: Destination, sandbox: SandboxServer) -> None:
    """The table equals the source: the same ids once each, the same versions and values."""
    with dest.engine.connect() as conn:
        columns = {column["name"] for column in sa.inspect(conn).get_columns("items")}
        count, distinct = conn.execute(sa.text("SELECT count(*), count(DISTINCT id) FROM items")).one()
        rows = conn.execute(sa.text(f"SELECT {', '.join(COLUMNS)} FROM items ORDER BY id")).all()
    assert count == distinct, "duplicate ids in the table"
    assert {column for column in columns if not column.startswith("_restsync_")} == set(COLUMNS)
    landed = [(*row[:-1], comparable(row[-1])) for row in rows]
    expected = [
        (*(record[column] for column in COLUMNS[:-1]), comparable(record["updated_at"]))
        for record in sandbox.changing.records()
    ]
    assert len(landed) == len(expected)
    assert [row[0] for row in landed] == [row[0] for row in expected], "not the same ids"
    assert [row[3] for row in landed] == [row[3] for row in expected], "not the same versions"
    assert landed == expected


def assert_sync_completed(dest: Destination, dag_id: str, run_id: str) -> dict[str, Any]:
    state = dest.root_state(dag_id)
    assert state is not None
    assert "position" not in state, state
    assert "sync" not in state, state
    assert state["completed_sync"]["run_id"] == run_id, state
    return state


# --- Airflow: DAG runs and task processes ---------------------------------------------------------


@pytest.fixture(scope="module")
def resume_dags(airflow_home: Path) -> None:
    """The DAGs of resume_checks.py, serialized into the tests' metadata DB under the test bundle."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = BundleDagBag(dag_folder=str(DAG_FILE), bundle_path=str(TEST_DAGS), bundle_name=BUNDLE)
    assert bag.import_errors == {}
    sync_bag_to_db(bag, BUNDLE, None)


def create_dag_run(dag_id: str, name: str) -> str:
    """A DAG run (no logical date) the task processes run in; returns its run_id."""
    from airflow._shared.timezones import timezone
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    run_id = f"{name}_{uuid.uuid4().hex[:6]}"
    dag = SerializedDagModel.get_dag(dag_id)
    assert dag is not None
    with create_session() as session:
        dag.create_dagrun(
            run_id=run_id,
            run_after=timezone.utcnow(),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
    return run_id


def task_instance_state(dag_id: str, run_id: str) -> str:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.scalars(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == "items"
            )
        ).one()
        return str(ti.state)


def xcom_summary(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, key="return_value", task_ids="items", dag_ids=dag_id)
        (row,) = session.scalars(query).all()
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class TaskProcess:
    """One ``airflow tasks test`` process, in a session of its own, its output in a file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group, as the OOM killer or a lost worker would end it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def wait(self, timeout: float = TASK_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not finish in {timeout:g} s:\n{self.tail()}")

    def tail(self, chars: int = 6000) -> str:
        return self.output()[-chars:]


@pytest.fixture
def tasks(tmp_path: Path) -> Iterator[Callable[..., TaskProcess]]:
    """Start task processes; any still running when the test ends is killed (by its process group)."""
    started: list[TaskProcess] = []

    def start(name: str, dag_id: str, run_id: str, env: dict[str, str]) -> TaskProcess:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [AIRFLOW, "tasks", "test", "-B", BUNDLE, dag_id, "items", run_id],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
        task = TaskProcess(name, proc, log)
        started.append(task)
        return task

    yield start
    for task in started:
        if task.alive():
            task.kill()


def task_env(
    sandbox: SandboxServer, dest: Destination, *, lock_timeout: float = 300, gate: Path | None = None
) -> dict[str, str]:
    """The tests' Airflow environment (tests/conftest.py set it up) plus the connections and settings.

    :param gate: the task waits for this file before it executes (see tests/dags/resume_checks.py): its
        process starts up while the test still sets the scene.
    """
    api = {
        "conn_type": "restsync_bearer",
        "host": sandbox.base_url("changing"),
        "password": SANDBOX_CREDENTIALS["changing"]["token"],
    }
    return {
        **os.environ,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_CHANGING_API": json.dumps(api),
        "AIRFLOW_CONN_CHANGING_DB": json.dumps(dest.conn),
        "RESTSYNC_RESUME_LIMIT": str(LIMIT),
        "RESTSYNC_RESUME_BATCH_SIZE": str(BATCH_SIZE),
        "RESTSYNC_RESUME_LOCK_TIMEOUT": str(lock_timeout),
        "RESTSYNC_RESUME_GATE": str(gate or ""),
    }


def wait_until(
    predicate: Callable[[], Any], what: str, task: TaskProcess | None = None, timeout: float = 90
) -> Any:
    """Poll ``predicate`` until it is truthy; fail early if ``task`` ends before."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if task is not None and not task.alive():
            pytest.fail(f"{task.name} ended (exit {task.proc.returncode}) before {what}:\n{task.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}" + (f":\n{task.tail()}" if task else ""))
        time.sleep(0.005)


def settle(sandbox: SandboxServer, quiet: float = 0.5) -> None:
    """Wait until no request has arrived for ``quiet`` seconds: requests a killed task had in flight
    (up to its concurrency) are answered, and counted, after the kill."""
    last, since = sandbox.stats.requests.get(ITEMS_PATH, 0), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.05)
        now = sandbox.stats.requests.get(ITEMS_PATH, 0)
        if now != last:
            last, since = now, time.monotonic()


def wait_until_stalled(sandbox: SandboxServer, task: TaskProcess, quiet: float = 1.5) -> int:
    """Wait until the task's requests stop growing for ``quiet`` seconds (~35 pages' time at this
    pace: a task that is not blocked moves on); returns their count."""
    last, since = item_requests(sandbox), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < quiet:
        if not task.alive():
            pytest.fail(f"{task.name} ended (exit {task.proc.returncode}), not blocked:\n{task.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{task.name} kept fetching for 30 s: it is not blocked")
        time.sleep(0.05)
        now = item_requests(sandbox)
        if now != last:
            last, since = now, time.monotonic()
    return last


def item_requests(sandbox: SandboxServer) -> int:
    return sandbox.stats.requests.get(ITEMS_PATH, 0)


def offsets(sandbox: SandboxServer) -> list[int]:
    """The offset of every request to the items endpoint, in order."""
    found = []
    for request in sandbox.request_log():
        parts = urlsplit(request.target)
        if parts.path == ITEMS_PATH:
            found.append(int(parse_qs(parts.query).get("offset", ["0"])[0]))
    return found


# --- holding the destination's write lock from the outside ----------------------------------------


class WriteBlocker:
    """A transaction of the test's own that the task's next batch transaction has to wait for.

    SQLite: ``BEGIN IMMEDIATE`` on the file (the task's write waits on its busy timeout). PostgreSQL:
    ``LOCK TABLE items IN ACCESS EXCLUSIVE MODE`` in an open transaction.
    """

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self._sqlite: sqlite3.Connection | None = None
        self._pg: sa.Connection | None = None

    def hold(self) -> None:
        if self.dest.kind == "sqlite":
            assert self.dest.path is not None
            self._sqlite = sqlite3.connect(self.dest.path, timeout=30, isolation_level=None)
            self._sqlite.execute("BEGIN IMMEDIATE")
        else:
            self._pg = self.dest.engine.connect()
            self._pg.execute(sa.text("LOCK TABLE items IN ACCESS EXCLUSIVE MODE"))

    def waiting_on_it(self) -> bool:
        """PostgreSQL: another session waits for a lock; SQLite cannot tell (the busy wait is in-process)."""
        if self.dest.kind != "postgres":
            return True
        return bool(
            self.dest.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        )

    def release(self) -> None:
        if self._sqlite is not None:
            self._sqlite.rollback()
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            self._pg.rollback()
            self._pg.close()
            self._pg = None


# --- 1 and 3: kill and resume ---------------------------------------------------------------------


def kill_and_resume(
    moment: str, dag_id: str, dest: Destination, tasks: Callable[..., TaskProcess], gate: Path
) -> None:
    run_id = create_dag_run(dag_id, f"kill_{moment}_{dest.kind}")
    # A slower sandbox before the first checkpoint leaves a window of 10 pages to kill in, with up to
    # `concurrency` (4) of them in flight at once.
    with SandboxServer(changing_items=RECORDS, latency=0.2 if moment == "before_checkpoint" else 0.01) as sb:
        env = task_env(sb, dest)
        first = tasks("first_try", dag_id, run_id, env)
        wait_until(lambda: item_requests(sb) >= 1, "the first try to sync", first)
        # Airflow's start-up of the retry's process overlaps the rest; the retry executes nothing before the
        # gate opens, after the kill. (Started before the first try runs, its start-up would race the first
        # try's for the task instance's running state.)
        retry = tasks("retry", dag_id, run_id, task_env(sb, dest, gate=gate))
        blocker = WriteBlocker(dest)
        try:
            if moment == "before_checkpoint":
                wait_until(lambda: item_requests(sb) >= 3, "3 requests", first)
                first.kill()
                assert item_requests(sb) < PAGES_PER_BATCH
            elif moment == "mid_way":
                wait_until(
                    lambda: item_requests(sb) >= PAGES // 2 and dest.committed_offset(dag_id),
                    "half the pages and a checkpoint",
                    first,
                )
                first.kill()
            else:  # during_commit: the next batch's transaction waits on the test's, then the kill
                wait_until(lambda: dest.committed_offset(dag_id), "the first checkpoint", first)
                blocker.hold()
                held_at = dest.committed_offset(dag_id)
                # The task fetches the rest of its batch, then its commit waits: the requests stop.
                wait_until(blocker.waiting_on_it, "the task to wait for the lock", first, timeout=30)
                stalled = wait_until_stalled(sb, first)
                assert stalled < PAGES, "the task fetched everything before the lock was taken"
                assert dest.committed_offset(dag_id) == held_at, "a batch committed through the lock"
                assert first.alive()
                first.kill()
        finally:
            blocker.release()
        settle(sb)
        killed_at = item_requests(sb)
        assert first.proc.returncode == -signal.SIGKILL
        assert "Synced items" not in first.output()
        if dest.kind == "postgres":
            # The killed task's sessions end with it (and its advisory lock with them).
            wait_until(lambda: dest.other_sessions() == 0, "the killed task's sessions to close", timeout=30)

        # What the killed try left: every committed batch with the state saying where it stands.
        committed = dest.committed_offset(dag_id)
        rows = dest.count("SELECT count(*) FROM items")
        if moment == "before_checkpoint":
            assert committed is None and rows == 0, (committed, rows)
        else:
            assert committed is not None and committed % BATCH_SIZE == 0, committed
            assert 0 < committed < RECORDS
            assert rows == committed, "the rows and the checkpoint are not one transaction"
            state = dest.root_state(dag_id)
            assert state is not None and state["sync"]["run_id"] == run_id, state
            # The paginator's position is the next offset; an incremental sync keeps its window too.
            assert state["position"] == {"value": committed}, state
            if dag_id == "resume_full_merge":
                assert "window" not in state and "cursor" not in state, state
            else:
                assert "window" in state, state
        if moment == "mid_way":
            assert killed_at >= PAGES // 2
        if dest.kind == "sqlite":
            # The killed try's lock row stays behind; its retry (the same task instance) takes it over.
            assert [owner for owner, _ in dest.lock_rows()] == [f"{dag_id}/items/{run_id}/-1"]

        assert retry.alive(), retry.tail()
        sb.reset_stats()
        sb.latency = 0.0  # the retry has no moment to be caught at
        gate.touch()
        assert retry.wait() == 0, retry.tail()
        out = retry.output()
        assert "Synced items into items" in out, retry.tail()
        assert "waiting for run" not in out, "the retry waited for its own killed try's lock"
        requests = offsets(sb)
        summary = xcom_summary(dag_id, run_id)
        if committed is not None:
            # It resumed: the first request is the checkpoint's offset, nothing before it is fetched again.
            assert RESUMED in out and "resuming the sync" in out, retry.tail()
            assert summary["resumed"] is True
            assert requests[0] == committed, requests[:3]
            assert min(requests) == committed
            assert len(requests) <= (RECORDS - committed) // LIMIT + 1
            assert len(requests) < PAGES + 1
            # Only the records after the checkpoint, each new to the table.
            assert summary["records"] == summary["inserted"] == RECORDS - committed, summary
            assert summary["updated"] == 0, summary
        else:
            assert RESUMED not in out, retry.tail()
            assert summary["resumed"] is False
            assert requests[0] == 0
            assert len(requests) <= PAGES + 1
            assert summary["records"] == summary["inserted"] == RECORDS, summary
        assert summary["requests"] == summary["pages"] == len(requests), (summary, len(requests))
        assert task_instance_state(dag_id, run_id) == "success"
        assert_table_is_exact(dest, sb)
    assert assert_sync_completed(dest, dag_id, run_id)["started_run"] == run_id
    if dest.kind == "postgres":
        wait_until(lambda: dest.other_sessions() == 0, "the retry's sessions to close", timeout=30)
    assert dest.lock_rows() == []
    assert dest.tables() == {"items", *STATE_TABLES}, "a killed try left a table behind"


@pytest.mark.parametrize("moment", ["before_checkpoint", "mid_way", "during_commit"])
def test_a_killed_sync_resumes_after_its_last_commit(
    moment: str,
    destination: Destination,
    resume_dags: None,
    tasks: Callable[..., TaskProcess],
    tmp_path: Path,
) -> None:
    """SIGKILL before the first checkpoint, mid-way, and while a batch's commit waits for a lock: the
    retry of the same task instance goes on from the last committed offset and the table is exact."""
    kill_and_resume(moment, "resume_cursor", destination, tasks, tmp_path / "gate")


def test_a_killed_full_merge_resumes_from_the_next_offset(
    destination: Destination, resume_dags: None, tasks: Callable[..., TaskProcess], tmp_path: Path
) -> None:
    """No incremental: the checkpoint is the paginator's next offset alone, and the retry starts there."""
    kill_and_resume("mid_way", "resume_full_merge", destination, tasks, tmp_path / "gate")


# --- 2: two syncs of one resource at once -----------------------------------------------------------


def test_two_runs_of_one_resource_never_sync_at_once(
    destination: Destination, resume_dags: None, tasks: Callable[..., TaskProcess], tmp_path: Path
) -> None:
    """While run A syncs, run B (lock_timeout 2 s) fails naming A, and run C (a long lock_timeout) waits,
    then syncs once A is done. The table is exact and no lock row is left."""
    dag_id = "resume_cursor"
    run_a = create_dag_run(dag_id, f"lock_a_{destination.kind}")
    run_b = create_dag_run(dag_id, f"lock_b_{destination.kind}")
    run_c = create_dag_run(dag_id, f"lock_c_{destination.kind}")
    with SandboxServer(changing_items=RECORDS, latency=0.01) as sb:
        gate = tmp_path / "gate"
        a = tasks("a", dag_id, run_a, task_env(sb, destination))
        # B and C start up meanwhile, and ask for the lock once the gate opens, while A holds it.
        b = tasks("b", dag_id, run_b, task_env(sb, destination, lock_timeout=2, gate=gate))
        c = tasks("c", dag_id, run_c, task_env(sb, destination, lock_timeout=300, gate=gate))
        wait_until(lambda: item_requests(sb) >= 1, "A to sync (it holds the lock)", a)
        # A crawls (0.5 s a page) until B has given up and C is waiting.
        sb.latency = 0.5
        wait_until(lambda: "waiting for the gate" in b.output() + c.output(), "B or C at the gate", b)
        gate.touch()
        wait_until(lambda: not b.alive(), "B to give up", timeout=120)
        assert a.alive(), "A finished before B gave up: nothing was tested"
        waiting = f"waiting for run {run_a!r}"
        wait_until(lambda: waiting in c.output(), "C to wait for the lock", c, timeout=120)
        assert a.alive(), "A finished before C asked for the lock: nothing was tested"
        # Neither touched A's sync in progress.
        state = destination.root_state(dag_id)
        assert state is None or state["sync"]["run_id"] == run_a, state
        sb.latency = 0.0
        assert a.wait() == 0, a.tail()
        assert c.wait() == 0, c.tail()

        # `airflow tasks test` exits 0 whatever the task did: the task instance's state tells.
        out_b = b.output()
        assert "SyncLockedError" in out_b, b.tail()
        assert f"run {run_a!r}" in out_b, b.tail()
        assert "waited 2 s" in out_b, b.tail()
        assert "Synced items" not in out_b
        assert task_instance_state(dag_id, run_b) == "failed"

        out_c = c.output()
        assert waiting in out_c, c.tail()
        assert "Synced items into items" in out_c, c.tail()
        assert task_instance_state(dag_id, run_a) == "success"
        assert task_instance_state(dag_id, run_c) == "success"
        # A synced everything; C started after A's commit, from A's cursor.
        assert xcom_summary(dag_id, run_a)["records"] == RECORDS
        assert xcom_summary(dag_id, run_c)["resumed"] is False
        assert_table_is_exact(destination, sb)
    assert_sync_completed(destination, dag_id, run_c)
    if destination.kind == "postgres":
        wait_until(lambda: destination.other_sessions() == 0, "the tasks' sessions to close", timeout=30)
    assert destination.lock_rows() == []
    assert destination.tables() == {"items", *STATE_TABLES}
