"""The compose file's deployment with the CeleryExecutor: a worker killed mid-sync, the retry on another.

Past one machine Airflow's executors carry the load, and nothing of a sync may live on a worker: its run
state and checkpoints are in the warehouse. One stack (tests/support/stack.py) runs the CeleryExecutor on
this machine's Redis (a database number of its own, flushed after) with two ``airflow celery worker``
processes of concurrency 1, each with a ``--celery-hostname`` of its own that it also reports as the host
of the tasks it runs (``[core] hostname_callable``, tests/deployment_dags/celery_worker_hostname.py).

The DAG ``celery_long_sync`` (tests/deployment_dags/celery_long_sync.py) syncs the communications API,
served slowly by the sandbox, and commits a checkpoint every three pages. Once it has committed a few,
the worker running it is SIGKILLed with its whole session (Celery's pool, Airflow's supervisor, the task
and its fetch process). The scheduler notices the missing heartbeats within seconds (the timeout is
shortened for the test) and the task's retry runs on the other worker, which must resume after the last
checkpoint: the sandbox's request log (``-v``) shows what each try fetched.

Why the retry does not wait for Redis: Celery acknowledges Airflow's messages late (``task_acks_late``), so
the killed worker's message stays unacknowledged in Redis until ``visibility_timeout`` (24 hours unless
set) and would then be delivered again. The retry does not come from that message: the scheduler fails
the try whose heartbeats stopped (``[scheduler] task_instance_heartbeat_timeout``), the task goes up for
retry and its second try is a new message. A visibility timeout shorter than a task would instead
redeliver tasks that are still running, so the test sets it, explicitly, longer than any task here.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.sandbox import expected_records
from airflow_provider_restsync.sql import state as run_state
from airflow_provider_restsync.sql.naming import normalize_identifier
from tests.support.processes import command_line, descendants, group_members, process_table, session_members
from tests.support.stack import LocalStack, StackError, StackProcess
from tests.support.tables import by_key, expected_rows, table_rows

pytestmark = pytest.mark.deployment

REPO = Path(__file__).resolve().parent.parent
DEPLOYMENT_DAGS = Path(__file__).resolve().parent / "deployment_dags"
API = "communications"
DAG_ID = "celery_long_sync"  # tests/deployment_dags/celery_long_sync.py
SCHEMA = DAG_ID
RESOURCE = load_source(REPO / "dags" / f"{API}.yaml").resource("communications_data")
TASK_ID = RESOURCE.name
RECORDS = 3000
PAGE = 100  # the communications paginator's limit; the API sends no total, so pages come one by one
BATCH_SIZE = 300  # celery_long_sync.BATCH_SIZE: a checkpoint every three pages
FULL_SYNC_REQUESTS = RECORDS // PAGE + 1  # the last page is empty: that is how the paginator stops
LATENCY = 0.6  # seconds per request: a full sync takes about 20 s here, more on a busy machine
KILL_AFTER = 3 * BATCH_SIZE  # records committed before the worker is killed
REQUEST = re.compile(r"^GET /communications/v1/resource\?(\S*) (\d+|dropped)")
RESUMED = "resumed an interrupted sync"  # RestToSqlOperator.execute's summary line
RESUMING = "resuming the sync"  # sync.py, when it finds a sync in progress in _restsync_state
SYNCED = f"Synced {TASK_ID} into"
HEARTBEAT_TIMEOUT = 20  # seconds without a heartbeat before the scheduler fails a try (default 300)
WORKERS = ("celery-worker-a", "celery-worker-b")
HOSTNAME_VARIABLE = "RESTSYNC_TEST_WORKER_HOSTNAME"  # celery_worker_hostname.VARIABLE
START_TIMEOUT = 240.0
STEP_TIMEOUT = 150.0
RUN_TIMEOUT = 180.0


# --- Redis: a database of the test's own ----------------------------------------------------------


def _unreachable(message: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (CI=true: deployment tests must not skip)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def redis_db() -> Iterator[int]:
    """A Redis database number (1-15) no one uses right now, flushed when the module is done."""
    try:
        import redis
    except ImportError as error:
        _unreachable(f"the redis client is not installed: {error}")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=10)
    try:
        used = {int(name[2:]) for name in client.info("keyspace")}
    except redis.RedisError as error:
        _unreachable(f"Redis at 127.0.0.1:6379 is not reachable: {error}")
    free = [number for number in range(1, 16) if number not in used]
    if not free:
        pytest.fail(f"every Redis database of 1-15 holds keys: {sorted(used)}")
    number = random.choice(free)
    try:
        yield number
    finally:
        own = redis.Redis(host="127.0.0.1", port=6379, db=number, socket_timeout=10)
        own.flushdb()
        own.close()
        client.close()


# --- the stack -------------------------------------------------------------------------------------


@dataclass
class Worker:
    name: str  # the stack's process name
    hostname: str  # its --celery-hostname, and the hostname of the tasks it runs
    process: StackProcess


def stack_env() -> dict[str, str]:
    return {
        # A try whose worker died is failed (and retried) after HEARTBEAT_TIMEOUT s, checked every 2 s.
        # Supervisors heartbeat every [workers] min_heartbeat_interval (5 s): four beats per timeout.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        # See the module's docstring: longer than any task of the test, so none is redelivered while it
        # runs; the killed worker's message is left to it (and flushed with the Redis database).
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
    }


def start_worker(stack: LocalStack, name: str) -> Worker:
    hostname = f"{name}@{socket.gethostname()}"
    pythonpath = os.pathsep.join(p for p in (str(DEPLOYMENT_DAGS), os.environ.get("PYTHONPATH")) if p)
    # The workers share this machine: the scheduler's log server port is not theirs to take, and the
    # API server reads the logs of finished tries from the shared log folder.
    args = ["celery", "worker", "--celery-hostname", hostname, "--concurrency", "1", "--skip-serve-logs"]
    process = stack.start_process(
        name,
        [*args, "--without-mingle", "--without-gossip"],
        env={
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "celery_worker_hostname.hostname",
            HOSTNAME_VARIABLE: hostname,
            "PYTHONPATH": pythonpath,
        },
    )
    return Worker(name, hostname, process)


def wait_for_workers(stack: LocalStack, workers: list[Worker], timeout: float = 120.0) -> None:
    """Until every worker answers a Celery ping on the stack's broker."""
    from celery import Celery

    app = Celery(broker=stack.broker_url)
    deadline = time.monotonic() + timeout
    answered: set[str] = set()
    try:
        while time.monotonic() < deadline:
            dead = [w.name for w in workers if w.process.popen.poll() is not None]
            if dead:
                raise StackError(f"{', '.join(dead)} exited at start-up\n{stack.log_tails()}")
            with contextlib.suppress(Exception):
                answered = {name for reply in app.control.ping(timeout=2) for name in reply}
            if {w.hostname for w in workers} <= answered:
                return
            time.sleep(1)
    finally:
        app.close()
    raise StackError(f"workers not ready after {timeout:.0f} s (answered: {answered})\n{stack.log_tails()}")


@pytest.fixture(scope="module")
def stack(redis_db: int) -> Iterator[LocalStack]:
    with LocalStack(
        executor="CeleryExecutor",
        broker_url=f"redis://127.0.0.1:6379/{redis_db}",
        env=stack_env(),
        extra_dag_folders=[DEPLOYMENT_DAGS],
        records=RECORDS,
        latency=LATENCY,
        sandbox_args=["-v"],  # every request in processes/sandbox.log
        start_timeout=START_TIMEOUT,
    ) as running:
        yield running
        groups = running.process_groups()
    running.assert_nothing_left(groups)  # the workers included


@pytest.fixture(scope="module")
def workers(stack: LocalStack) -> list[Worker]:
    """Both workers, answering on the broker; the DAG parsed. The stack stops the workers."""
    started = [start_worker(stack, name) for name in WORKERS]
    wait_for_workers(stack, started)
    stack.wait_for_dags([DAG_ID], timeout=STEP_TIMEOUT)
    return started


@pytest.fixture(scope="module")
def warehouse(stack: LocalStack) -> Iterator[sa.Engine]:
    engine = sa.create_engine(stack.warehouse_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


# --- what the test reads from the outside ----------------------------------------------------------


def sandbox_requests(stack: LocalStack) -> list[int]:
    """The offset of every page request the sandbox answered (or dropped), in order."""
    offsets = []
    for line in stack.processes["sandbox"].log.read_text(errors="replace").splitlines():
        if match := REQUEST.match(line):
            offsets.append(int(parse_qs(match.group(1)).get("offset", ["0"])[0]))
    return offsets


def checkpoint(engine: sa.Engine) -> dict[str, Any] | None:
    """The resource's own row of ``_restsync_state`` (None before the first checkpoint)."""
    key = run_state.StateKey(DAG_ID, TASK_ID, RESOURCE.table_name)
    try:
        return run_state.read_state(engine, SCHEMA, key)
    except sa.exc.DBAPIError:  # the schema or table is being created
        return None


def committed_offset(engine: sa.Engine) -> int | None:
    position = (checkpoint(engine) or {}).get("position")
    return None if not position else int(position["value"])


def row_count(engine: sa.Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text(f'SELECT count(*) FROM "{SCHEMA}"."{RESOURCE.table_name}"')).scalar()
            )
    except sa.exc.DBAPIError:
        return 0


def task_instance(stack: LocalStack, run_id: str) -> dict[str, Any]:
    return dict(stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}"))


def tries(stack: LocalStack, run_id: str) -> dict[int, dict[str, Any]]:
    answer = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}/tries")
    return {int(t["try_number"]): t for t in answer["task_instances"]}


def unacknowledged_tries(broker_url: str) -> list[tuple[str, str, str, int]]:
    """(dag, task, run, try) of each task message the broker holds as delivered but not acknowledged.

    Kombu's Redis transport keeps such messages in the hash ``unacked`` until the worker acknowledges them
    (Airflow's Celery tasks: when they end) or ``visibility_timeout`` passes; the Celery task's argument
    is Airflow's workload, as JSON.
    """
    import base64
    import json

    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        held = client.hvals("unacked")
    finally:
        client.close()
    found = []
    for raw in held:
        message = json.loads(raw)[0]
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        ti = json.loads(args[0])["ti"]
        found.append((ti["dag_id"], ti["task_id"], ti["run_id"], int(ti["try_number"])))
    return found


def diagnostics(stack: LocalStack, run_id: str | None = None) -> str:
    """Task states, tries and log tails: what a failure message needs."""
    parts = []
    if run_id is not None:
        with contextlib.suppress(Exception):
            parts.append(f"task states: {stack.task_states(DAG_ID, run_id)}")
            parts.append(
                "tries: "
                + str(
                    {
                        n: (t["state"], t["hostname"], t["start_date"], t["end_date"])
                        for n, t in tries(stack, run_id).items()
                    }
                )
            )
            parts.append(stack.failure_logs(DAG_ID, run_id, lines=30))
    parts.append(stack.log_tails(lines=25))
    return "\n".join(parts)


def wait_until(
    condition: Callable[[], Any], what: str, stack: LocalStack, run_id: str | None, timeout: float
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise StackError(f"{what}: not within {timeout:.0f} s\n{diagnostics(stack, run_id)}")


# --- the scenario ----------------------------------------------------------------------------------


@dataclass
class KilledRun:
    """What the test saw of one run whose worker it killed half-way."""

    run_id: str
    killed: Worker
    other: Worker
    killed_pids: dict[int, str] = field(default_factory=dict)  # the worker and all below it: command lines
    survivors: dict[str, Any] = field(default_factory=dict)
    task_pid: int | None = None
    fetch_pids: set[int] = field(default_factory=set)  # below the task: the process that fetches pages
    committed_at_kill: int | None = None
    rows_at_kill: int = 0
    state_at_kill: dict[str, Any] | None = None
    requests_of_first_try: list[int] = field(default_factory=list)
    requests_after_kill: list[int] = field(default_factory=list)
    unacknowledged: list[tuple[str, str, str, int]] = field(default_factory=list)
    error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def killed_run(stack: LocalStack, workers: list[Worker], warehouse: sa.Engine) -> KilledRun:
    """Trigger the long sync, SIGKILL its worker after a few checkpoints, wait for the run to end."""
    began = time.monotonic()
    stack.unpause(DAG_ID)
    run_id = stack.trigger(DAG_ID)

    def running_with_checkpoints() -> dict[str, Any] | None:
        ti = task_instance(stack, run_id)
        if ti["state"] in ("success", "failed", "up_for_retry"):
            raise StackError(
                f"the first try ended before the kill: {ti['state']}\n{diagnostics(stack, run_id)}"
            )
        committed = committed_offset(warehouse)
        if ti["state"] == "running" and ti["hostname"] and committed and committed >= KILL_AFTER:
            return ti
        return None

    ti = wait_until(
        running_with_checkpoints,
        f"the first try running with {KILL_AFTER} records committed",
        stack,
        run_id,
        STEP_TIMEOUT,
    )
    by_hostname = {worker.hostname: worker for worker in workers}
    if ti["hostname"] not in by_hostname or int(ti["try_number"]) != 1:
        raise StackError(
            f"try {ti['try_number']} runs on {ti['hostname']!r}, no worker of {sorted(by_hostname)}"
        )
    killed = by_hostname[ti["hostname"]]
    other = next(worker for worker in workers if worker is not killed)
    run = KilledRun(run_id, killed, other, task_pid=ti.get("pid"))

    # The worker's session leader and every process below it: Celery's pool, the supervisor, the task
    # (in a process group of its own) and the fetch process it forked.
    tree = {killed.process.sid, *descendants(killed.process.sid)}
    run.killed_pids = {pid: command_line(pid) for pid in sorted(tree)}
    run.fetch_pids = descendants(run.task_pid) if run.task_pid else set()
    groups = set()
    for pid in tree:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    stack.kill_process(killed.name, signal.SIGKILL, wait=15)
    killed_at = time.monotonic()
    run.seconds["kill"] = killed_at - began
    time.sleep(LATENCY + 2)  # a request in flight at the kill is answered (and logged) by now
    alive = set(process_table())
    run.survivors = {
        "session": session_members(killed.process.sid),
        "groups": group_members(groups),
        "descendants": sorted(tree & alive),
    }
    run.committed_at_kill = committed_offset(warehouse)
    run.rows_at_kill = row_count(warehouse)
    run.state_at_kill = checkpoint(warehouse)
    run.requests_of_first_try = sandbox_requests(stack)

    try:
        stack.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT)
    except StackError as error:
        run.error = f"{error}\n{diagnostics(stack, run_id)}"
    run.seconds["retry"] = time.monotonic() - killed_at
    run.requests_after_kill = sandbox_requests(stack)[len(run.requests_of_first_try) :]
    # The retry's Celery task is acknowledged as it returns, just after the run is seen to succeed.
    deadline = time.monotonic() + 30
    run.unacknowledged = unacknowledged_tries(stack.broker_url)
    while any(held[3] > 1 for held in run.unacknowledged) and time.monotonic() < deadline:
        time.sleep(0.5)
        run.unacknowledged = unacknowledged_tries(stack.broker_url)
    return run


def needs_success(run: KilledRun) -> None:
    if run.error:
        pytest.fail(f"the run whose worker was killed did not succeed: {run.error}")


# --- the tests -------------------------------------------------------------------------------------


def test_the_killed_worker_left_nothing_behind(killed_run: KilledRun) -> None:
    """SIGKILL to the worker's session: its pool, the supervisor, the task and its fetch process all die."""
    run = killed_run
    assert run.task_pid in run.killed_pids, (run.task_pid, run.killed_pids)
    assert run.fetch_pids, f"the task {run.task_pid} had no fetch process: {run.killed_pids}"
    assert run.fetch_pids <= run.killed_pids.keys(), (run.fetch_pids, run.killed_pids)
    assert run.survivors == {"session": [], "groups": {}, "descendants": []}, run.killed_pids
    assert run.killed.process.popen.returncode == -signal.SIGKILL


def test_the_killed_try_had_committed_checkpoints_and_not_finished(killed_run: KilledRun) -> None:
    run = killed_run
    committed = run.committed_at_kill
    assert committed is not None and committed % BATCH_SIZE == 0, committed
    assert KILL_AFTER <= committed < RECORDS, committed
    # Rows and checkpoint are one transaction: what the killed try left is exactly what it committed.
    assert run.rows_at_kill == committed, (run.rows_at_kill, committed)
    assert run.state_at_kill is not None and run.state_at_kill["sync"]["run_id"] == run.run_id
    assert max(run.requests_of_first_try) < RECORDS, "the first try fetched every page before the kill"


def test_the_retry_ran_on_the_other_worker(stack: LocalStack, killed_run: KilledRun) -> None:
    run = killed_run
    needs_success(run)
    found = tries(stack, run.run_id)
    assert sorted(found) == [1, 2], {n: (t["state"], t["hostname"]) for n, t in found.items()}
    assert found[1]["hostname"] == run.killed.hostname
    assert found[1]["state"] != "success", found[1]
    assert found[2]["hostname"] == run.other.hostname, (found[2]["hostname"], run.other.hostname)
    assert found[2]["state"] == "success"
    assert SYNCED not in stack.task_log(DAG_ID, run.run_id, TASK_ID, try_number=1)


def test_the_retry_was_a_new_message_not_the_killed_one_delivered_again(killed_run: KilledRun) -> None:
    """The killed try's message is still unacknowledged in Redis (``task_acks_late``); the retry did not
    wait for its visibility timeout: the scheduler failed the silent try and queued a second one."""
    needs_success(killed_run)
    assert killed_run.unacknowledged == [(DAG_ID, TASK_ID, killed_run.run_id, 1)]


def test_the_retry_resumed_after_the_last_checkpoint(stack: LocalStack, killed_run: KilledRun) -> None:
    run = killed_run
    needs_success(run)
    committed = run.committed_at_kill
    assert committed is not None
    log = stack.task_log(DAG_ID, run.run_id, TASK_ID, try_number=2)
    assert SYNCED in log and RESUMED in log, "\n".join(log.splitlines()[-30:])
    assert RESUMING in log, "\n".join(log.splitlines()[-30:])
    # The retry's requests start at the checkpoint: nothing committed was fetched again.
    after = run.requests_after_kill
    assert after and after[0] == committed and min(after) == committed, after[:5]
    assert len(after) == (RECORDS - committed) // PAGE + 1, after
    total = len(run.requests_of_first_try) + len(after)
    assert total < 2 * FULL_SYNC_REQUESTS, (total, FULL_SYNC_REQUESTS)
    summary = stack.api(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run.run_id}/taskInstances/{TASK_ID}/xcomEntries/return_value"
    )["value"]
    assert summary["resumed"] is True, summary
    assert summary["records"] == summary["inserted"] == RECORDS - committed, summary


def test_the_table_equals_the_api(warehouse: sa.Engine, killed_run: KilledRun) -> None:
    """No row lost, none twice, every value as the API serves it; the sync in progress is closed."""
    needs_success(killed_run)
    key = [normalize_identifier(k) for k in RESOURCE.primary_key]
    expected = by_key(expected_rows(expected_records(API, TASK_ID, records=RECORDS)), key)
    rows = table_rows(warehouse, RESOURCE.table_name, schema=SCHEMA)
    landed = by_key(rows, key)
    assert len(rows) == len(landed) == RECORDS, (len(rows), len(landed))
    assert landed.keys() == expected.keys()
    different = [k for k, row in expected.items() if landed[k] != row]
    assert different == [], [(landed[k], expected[k]) for k in different[:3]]
    state = checkpoint(warehouse)
    assert state is not None and "sync" not in state and "position" not in state, state
    assert state["completed_sync"]["run_id"] == killed_run.run_id, state
