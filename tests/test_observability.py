"""What a sync tells the people and systems watching it, in a real supervised Airflow run.

One DAG run through Airflow's task supervisor (``tests.support.task_logs``: the task log files a worker
writes) against a sandbox slowed by ``latency``, with the OpenLineage provider writing its events to a
file and StatsD metrics sent to a UDP socket of this test:

- progress lines in the task logs while each resource syncs, and a summary line at the end, with the
  numbers of the XCom, the sandbox's request counter and the table;
- the table asset's events carry the counts and the cursor in their ``extra``;
- OpenLineage COMPLETE events name the endpoint as input and the table, with its schema, as output;
- the metrics arrive, per resource, with the same numbers.

Then the line-making itself (:mod:`airflow_provider_restsync.progress`) case by case, and a run without
the OpenLineage provider.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.fetch import Page
from airflow_provider_restsync.progress import ProgressTicker, SyncProgress, duration
from airflow_provider_restsync.sandbox import SANDBOX_CREDENTIALS, SandboxServer
from airflow_provider_restsync.sandbox.connections import sandbox_environment
from tests.support.databases import postgres_database
from tests.support.task_logs import run_dag

REPO = Path(__file__).resolve().parent.parent
LATENCY = 0.4  # seconds per request: each resource below takes a few seconds
CHANGING_ITEMS = 800  # 8 pages of 100, the API reporting its total
INBOX_MESSAGES = 90  # 10 per inbox, 9 inboxes

DAG_FILE = '''
"""A root resource with a total and a cursor (items), and a grandchild resource (messages)."""
from datetime import datetime, timezone
from pathlib import Path

import yaml
from airflow.sdk import DAG

from airflow_provider_restsync import RestToSqlOperator
from airflow_provider_restsync.assets import table_asset

INBOX_TESTING = yaml.safe_load(Path({inbox_yaml!r}).read_text())
CHANGING = {{
    "client": {{"auth": {{"type": "bearer"}}}},
    "resources": [
        {{
            "name": "items",
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {{
                "path": "/v1/items",
                "data_selector": "data",
                "paginator": {{"type": "offset", "limit": 100, "total_path": "total"}},
                "incremental": {{
                    "cursor_path": "updated_at",
                    "start_param": "updated_since",
                    "initial_value": "2024-01-01T00:00:00Z",
                }},
            }},
        }}
    ],
}}
TASK = dict(destination_conn_id="obs_db", concurrency=1, progress_interval=1, batch_size=100, retries=0)

with DAG("observed", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
    items = RestToSqlOperator(
        task_id="items",
        conn_id="changing_api",
        source=CHANGING,
        resource="items",
        outlets=[table_asset("items", "obs_db", None)],
        **TASK,
    )
    tasks = {{
        name: RestToSqlOperator(
            task_id=name,
            conn_id="inbox_testing_api",
            source=INBOX_TESTING,
            resource=name,
            outlets=[table_asset(name, "obs_db", None)],
            **TASK,
        )
        for name in ("accounts", "inboxes", "messages")
    }}
    tasks["accounts"] >> tasks["inboxes"] >> tasks["messages"]
    # fails on its first request (404): the failure line, and the failed-sync metric
    RestToSqlOperator(
        task_id="broken",
        conn_id="changing_api",
        source={{"client": {{"auth": {{"type": "bearer"}}}}}},
        resource={{"name": "broken", "endpoint": {{"path": "/v1/missing", "data_selector": "data"}}}},
        outlets=[table_asset("broken", "obs_db", None)],
        **TASK,
    )
'''


class StatsdCollector:
    """A UDP socket on 127.0.0.1 that keeps every StatsD line sent to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.lines.extend(data.decode().splitlines())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def counters(self, name: str) -> int:
        """The sum of the counter ``name`` (without the prefix) over every line sent."""
        total = 0
        for line in self.lines:
            stat, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            if stat == f"airflow.{name}" and kind.startswith("c"):
                total += int(value)
        return total


@pytest.fixture(scope="module")
def observed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The DAG ``observed`` run once by Airflow's task supervisor; yields what there is to check."""
    root = tmp_path_factory.mktemp("observed")
    home, dags = root / "home", root / "dags"
    dags.mkdir()
    warehouse = root / "warehouse.db"
    lineage = root / "openlineage.jsonl"
    inbox_yaml = REPO / "dags" / "inbox_testing.yaml"
    (dags / "observed.py").write_text(DAG_FILE.format(inbox_yaml=str(inbox_yaml)))
    statsd = StatsdCollector()
    sandbox = SandboxServer(records=INBOX_MESSAGES, changing_items=CHANGING_ITEMS, latency=LATENCY).start()
    origin = sandbox.url.rstrip("/")
    try:
        with postgres_database() as metadata_url:
            env = {
                "AIRFLOW__OPENLINEAGE__NAMESPACE": "restsync-tests",
                "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                    {"type": "file", "log_file_path": str(lineage), "append": True}
                ),
                "AIRFLOW__METRICS__STATSD_ON": "True",
                "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
                "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
                "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
                "AIRFLOW_CONN_OBS_DB": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
                "AIRFLOW_CONN_CHANGING_API": json.dumps(
                    {
                        "conn_type": "restsync_bearer",
                        "host": sandbox.base_url("changing"),
                        "password": SANDBOX_CREDENTIALS["changing"]["token"],
                    }
                ),
                **sandbox_environment({"inbox_testing": sandbox.base_url("inbox_testing")}),
            }
            result = run_dag(dags / "observed.py", "observed", home=home, metadata_url=metadata_url, env=env)
            metadata = read_metadata(metadata_url)
    finally:
        sandbox.stop()
        statsd.close()
    logs = {
        path.parent.name.removeprefix("task_id="): [
            json.loads(line) for line in path.read_text().splitlines()
        ]
        for path in sorted((home / "logs").rglob("*.log"))
    }
    yield {
        "output": result.stdout + result.stderr,
        "logs": logs,
        "metadata": metadata,
        "requests": sandbox.stats.requests,
        "tables": table_counts(warehouse),
        "lineage": [json.loads(line) for line in lineage.read_text().splitlines()]
        if lineage.exists()
        else [],
        "statsd": statsd,
        "sandbox": sandbox,
        "origin": origin,
        "warehouse": warehouse,
    }


def read_metadata(url: str) -> dict[str, Any]:
    """The run's XCom summaries and asset events, by task and by asset URI."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            xcoms = conn.execute(
                sa.text("SELECT task_id, value FROM xcom WHERE dag_id = 'observed' AND key = 'return_value'")
            ).all()
            events = conn.execute(
                sa.text(
                    "SELECT a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id ORDER BY e.id"
                )
            ).all()
            states = conn.execute(
                sa.text("SELECT task_id, state FROM task_instance WHERE dag_id = 'observed'")
            ).all()
    finally:
        engine.dispose()
    return {
        "xcom": {task: value if isinstance(value, dict) else json.loads(value) for task, value in xcoms},
        "events": [(uri, extra if isinstance(extra, dict) else json.loads(extra)) for uri, extra in events],
        "states": dict(states),
    }


def table_counts(path: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            names = [n for n in sa.inspect(conn).get_table_names() if not n.startswith("_restsync")]
            return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        engine.dispose()


def events(observed: dict[str, Any], task: str) -> list[str]:
    """The messages a task logged, in order."""
    return [str(entry.get("event", "")) for entry in observed["logs"][task]]


PROGRESS = re.compile(
    r"Resource '(?P<name>\w+)': (?P<pages>[\d,]+) pages?, (?P<records>[\d,]+) records fetched "
    r"\((?P<committed>[\d,]+) committed\), (?P<rate>[\d,]+) records/s, (?P<retries>[\d,]+) retr(?:y|ies)"
    r"(?:; (?P<share>\d+)% of the API's total)?"
    r"(?:; parents (?P<done>[\d,]+) done of (?P<known>[\d,]+) known(?: \((?P<parents_share>\d+)%\))?)?"
    r"(?:, ETA (?P<eta>[\dhmins ]+))?$"
)
SUMMARY = re.compile(
    r"Synced (?P<name>\w+) into (?P<table>\w+) \((?P<disposition>\w+)\) in (?P<seconds>[\d.]+) s: "
    r"(?P<fetched>[\d,]+) records fetched in (?P<pages>[\d,]+) pages? and (?P<requests>[\d,]+) requests?; "
    r"rows (?P<inserted>[\d,]+) inserted, (?P<updated>[\d,]+) updated, (?P<unchanged>[\d,]+) unchanged; "
    r"(?P<columns>[\d,]+) columns? added \((?P<variants>[\d,]+) variant\); (?P<retries>[\d,]+) retr(?:y|ies)$"
)


def number(text: str | None) -> int:
    assert text is not None
    return int(text.replace(",", ""))


def progress_lines(observed: dict[str, Any], task: str) -> list[re.Match[str]]:
    lines = [line for line in events(observed, task) if line.startswith(f"Resource '{task}': ")]
    matches = [PROGRESS.fullmatch(line) for line in lines if "pages" in line or "page," in line]
    assert all(matches), [line for line, m in zip(lines, matches, strict=False) if m is None]
    return [m for m in matches if m is not None]


def summary_of(observed: dict[str, Any], task: str) -> re.Match[str]:
    found = [m for line in events(observed, task) if (m := SUMMARY.fullmatch(line))]
    assert len(found) == 1, events(observed, task)[-10:]
    return found[0]


@pytest.mark.airflow
@pytest.mark.postgres
def test_every_task_but_the_broken_one_succeeds_with_a_log_file_each(observed_run: dict[str, Any]) -> None:
    assert "run state: failed" in observed_run["output"], observed_run["output"][-3000:]
    assert observed_run["metadata"]["states"] == {
        "items": "success",
        "accounts": "success",
        "inboxes": "success",
        "messages": "success",
        "broken": "failed",
    }
    assert set(observed_run["logs"]) == {"items", "accounts", "inboxes", "messages", "broken"}


@pytest.mark.airflow
@pytest.mark.postgres
def test_a_failed_sync_says_what_it_had_done_and_counts_as_failed(observed_run: dict[str, Any]) -> None:
    lines = events(observed_run, "broken")
    failure = [line for line in lines if line.startswith("Resource 'broken' failed after ")]
    assert len(failure) == 1, lines[-10:]
    assert (
        "(ApiRequestError); committed before that, and kept: 0 records in 0 pages into broken" in failure[0]
    )
    assert failure[0].endswith("; 1 request, 0 retries"), failure[0]
    assert not any(line.startswith("Synced broken") for line in lines)
    statsd: StatsdCollector = observed_run["statsd"]
    assert statsd.counters("restsync.sync.failed.observed.broken") == 1
    assert statsd.counters("restsync.sync.success.observed.broken") == 0
    assert statsd.counters("restsync.requests.observed.broken") == 1
    assert "restsync://obs_db/broken" not in dict(observed_run["metadata"]["events"])  # no event when failed


@pytest.mark.airflow
@pytest.mark.postgres
def test_progress_lines_come_while_a_resource_with_a_total_syncs(observed_run: dict[str, Any]) -> None:
    lines = progress_lines(observed_run, "items")
    # 8 requests of 0.4 s and more: the 1 s interval gives a line at least every second of it
    assert len(lines) >= 2, events(observed_run, "items")
    summary = summary_of(observed_run, "items")
    records = [number(m["records"]) for m in lines]
    shares = [int(m["share"]) for m in lines]
    assert records == sorted(records) and records[-1] <= number(summary["fetched"])
    assert shares == sorted(shares) and all(0 <= s <= 100 for s in shares), shares
    assert all(number(m["committed"]) <= number(m["records"]) for m in lines)
    # An ETA is given once the share has moved, and never after the end
    assert any(m["eta"] for m in lines if 0 < int(m["share"]) < 100), [m.group(0) for m in lines]
    # Progress lines go to the task log no more often than once a second
    times = [
        datetime.fromisoformat(entry["timestamp"])
        for entry in observed_run["logs"]["items"]
        if "records fetched (" in str(entry.get("event"))
    ]
    assert len(times) == len(lines)
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 0.9 for gap in gaps), gaps


@pytest.mark.airflow
@pytest.mark.postgres
def test_progress_of_a_child_counts_parents_done_of_known(observed_run: dict[str, Any]) -> None:
    lines = progress_lines(observed_run, "messages")
    assert len(lines) >= 2, events(observed_run, "messages")
    for m in lines:
        # the parents come from the inboxes task of this run: all 9 known from the start
        assert number(m["known"]) == 9 and 0 <= number(m["done"]) <= 9, m.group(0)
        assert int(m["parents_share"]) == number(m["done"]) * 100 // 9, m.group(0)
    done = [number(m["done"]) for m in lines]
    assert done == sorted(done) and done[-1] > done[0], done
    assert any("taking the 9 parents from" in line for line in events(observed_run, "messages"))


@pytest.mark.airflow
@pytest.mark.postgres
@pytest.mark.parametrize("task", ["items", "accounts", "inboxes", "messages"])
def test_the_summary_line_matches_the_xcom_the_sandbox_and_the_table(
    observed_run: dict[str, Any], task: str
) -> None:
    summary = summary_of(observed_run, task)
    xcom = observed_run["metadata"]["xcom"][task]
    rows = observed_run["tables"][task]
    expected = {"items": CHANGING_ITEMS, "accounts": 3, "inboxes": 9, "messages": INBOX_MESSAGES}[task]
    assert rows == expected
    assert number(summary["fetched"]) == xcom["fetched"] == xcom["records"] == rows
    assert number(summary["inserted"]) == xcom["inserted"] == rows  # a first sync inserts every row
    assert number(summary["updated"]) == xcom["updated"] == 0 and number(summary["unchanged"]) == 0
    assert number(summary["pages"]) == xcom["pages"] and number(summary["retries"]) == xcom["retries"] == 0
    assert number(summary["columns"]) == xcom["columns_added"] > 0
    assert number(summary["variants"]) == xcom["variant_columns"] == 0
    assert float(summary["seconds"]) == pytest.approx(xcom["seconds"], abs=0.05)
    assert summary["table"] == xcom["table"] == task and summary["disposition"] == "merge"
    # Every request the sandbox answered for this resource, counted by the task
    requests = observed_run["requests"]
    by_resource = {
        "items": sum(n for path, n in requests.items() if path == "/changing/v1/items"),
        "accounts": requests.get("/inbox_testing/v1/accounts", 0),
        "inboxes": sum(n for path, n in requests.items() if path.endswith("/inboxes")),
        "messages": sum(n for path, n in requests.items() if path.endswith("/messages")),
    }
    assert number(summary["requests"]) == xcom["requests"] == by_resource[task]
    if task == "items":
        assert xcom["pages"] == by_resource["items"] == CHANGING_ITEMS // 100


@pytest.mark.airflow
@pytest.mark.postgres
def test_each_table_asset_event_carries_the_counts_and_the_cursor(observed_run: dict[str, Any]) -> None:
    sandbox: SandboxServer = observed_run["sandbox"]
    by_uri = dict(observed_run["metadata"]["events"])
    assert set(by_uri) == {
        f"restsync://obs_db/{task}" for task in ("items", "accounts", "inboxes", "messages")
    }
    for task in ("items", "accounts", "inboxes", "messages"):
        xcom, extra = observed_run["metadata"]["xcom"][task], by_uri[f"restsync://obs_db/{task}"]
        assert extra["rows"] == {k: xcom[k] for k in ("inserted", "updated", "unchanged")}
        assert extra["records"] == xcom["records"] and extra["table"] == task and extra["resource"] == task
        assert extra["cursor"] == xcom["cursor"]
    latest = max(record["updated_at"] for record in sandbox.changing.records())
    assert by_uri["restsync://obs_db/items"]["cursor"] == latest
    assert by_uri["restsync://obs_db/accounts"]["cursor"] is None  # no incremental: no cursor


@pytest.mark.airflow
@pytest.mark.postgres
def test_openlineage_events_name_the_endpoint_and_the_table_with_its_schema(
    observed_run: dict[str, Any],
) -> None:
    complete = {
        event["job"]["name"]: event
        for event in observed_run["lineage"]
        if event["eventType"] == "COMPLETE" and "." in event["job"]["name"]  # the tasks' (not the DAG's)
    }
    assert set(complete) == {f"observed.{task}" for task in ("items", "accounts", "inboxes", "messages")}
    origin = observed_run["origin"]
    engine = sa.create_engine(f"sqlite:///{observed_run['warehouse']}")
    try:
        with engine.connect() as conn:
            for task, path in [
                ("items", "/changing/v1/items"),
                ("messages", "/inbox_testing/v1/accounts/{account_id}/inboxes/{inbox_id}/messages"),
            ]:
                event = complete[f"observed.{task}"]
                assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(origin, path)]
                (output,) = event["outputs"]
                assert output["namespace"] == f"sqlite://{observed_run['warehouse']}"
                assert output["name"] == f"main.{task}"
                fields = [(f["name"], f["type"]) for f in output["facets"]["schema"]["fields"]]
                columns = [(c["name"], str(c["type"])) for c in sa.inspect(conn).get_columns(task)]
                assert fields == columns and ("id", "BIGINT") in fields
                xcom = observed_run["metadata"]["xcom"][task]
                assert output["outputFacets"]["outputStatistics"]["rowCount"] == xcom["inserted"]
    finally:
        engine.dispose()
    text = json.dumps(observed_run["lineage"])
    for secret in (SANDBOX_CREDENTIALS["changing"]["token"], SANDBOX_CREDENTIALS["inbox_testing"]["token"]):
        assert secret not in text


@pytest.mark.airflow
@pytest.mark.postgres
def test_metrics_reach_statsd_per_resource(observed_run: dict[str, Any]) -> None:
    statsd: StatsdCollector = observed_run["statsd"]
    for task in ("items", "accounts", "inboxes", "messages"):
        xcom = observed_run["metadata"]["xcom"][task]
        for metric, value in [
            ("records", xcom["records"]),
            ("requests", xcom["requests"]),
            ("pages", xcom["pages"]),
            ("rows.inserted", xcom["inserted"]),
            ("sync.success", 1),
        ]:
            assert statsd.counters(f"restsync.{metric}.observed.{task}") == value, (metric, task)
        assert any(line.startswith(f"airflow.restsync.duration.observed.{task}:") for line in statsd.lines)
    # The tagged names add up over the resources (plain StatsD drops the tags)
    assert statsd.counters("restsync.records") == sum(
        x["records"] for x in observed_run["metadata"]["xcom"].values()
    )
    assert statsd.counters("restsync.retries") == 0


# --- the lines themselves ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def page(
    records: int, *, progress: tuple[int, int] | None = None, sequence: int = 0, last: bool = False
) -> Page:
    return Page(
        "r",
        1,
        "http://x/v1/r",
        [{"id": i} for i in range(records)],
        progress=progress,
        sequence=sequence,
        last=last,
    )


def test_a_root_resource_with_a_total_shows_its_share_and_an_eta() -> None:
    clock = Clock()
    progress = SyncProgress("contacts", retries=lambda: 3, committed=lambda: 1000, clock=clock)
    clock.now += 5
    for done in (400, 800, 1200):
        progress.took(page(400, progress=(done, 3000)))
    assert progress.line() == (
        "Resource 'contacts': 3 pages, 1,200 records fetched (1,000 committed), 240 records/s, 3 retries; "
        "40% of the API's total, ETA 8 s"
    )
    progress.took(page(1800, progress=(3000, 3000)))
    assert progress.line().endswith("; 100% of the API's total")  # no ETA once done


def test_a_resource_without_a_total_shows_counts_and_rate_only() -> None:
    clock = Clock()
    progress = SyncProgress("communications", clock=clock)
    progress.took(page(100))
    clock.now += 2
    assert progress.line() == (
        "Resource 'communications': 1 page, 100 records fetched (0 committed), 50 records/s, 0 retries"
    )


def test_a_child_counts_parents_done_of_known() -> None:
    clock = Clock()
    listed = SyncProgress("messages", clock=clock)
    listed.child_of_parents(None)  # its parents listed from the API as it goes: no share, no ETA
    listed.took(page(10, sequence=1, last=True))
    listed.took(page(10, sequence=2))
    clock.now += 1
    assert listed.line().endswith("; parents 1 done of 2 known")
    stored = SyncProgress("messages", clock=clock)
    stored.child_of_parents(40)  # the parent task's 40 committed records
    clock.now += 10
    for sequence in range(1, 11):
        stored.took(page(5, sequence=sequence, last=True))
    assert stored.line().endswith("; parents 10 done of 40 known (25%), ETA 30 s")


def test_a_resumed_sync_measures_its_pace_from_its_own_first_page() -> None:
    clock = Clock()
    progress = SyncProgress("contacts", clock=clock, resumed=True)
    clock.now += 60  # the time before the first page (say, waiting for the lock) is not pace
    progress.took(page(100, progress=(2000, 4000)))  # half was done by the interrupted run
    assert progress.eta() is None  # not moved yet in this run
    clock.now += 10
    progress.took(page(100, progress=(3000, 4000)))
    assert progress.eta() == pytest.approx(10.0)


def test_the_ticker_logs_at_its_interval_and_never_more_than_once_a_second() -> None:
    progress = SyncProgress("r")
    said: list[str] = []
    with ProgressTicker(progress, 0.01, emit=said.append) as ticker:
        assert ticker.interval == 1.0
        threading.Event().wait(2.5)
    assert len(said) == 2 and all(line.startswith("Resource 'r': 0 pages") for line in said)


def test_durations_read_as_people_write_them() -> None:
    assert [duration(s) for s in (0.4, 7, 59.6, 125, 3725)] == [
        "0 s",
        "7 s",
        "1 min 00 s",
        "2 min 05 s",
        "1 h 02 min",
    ]


def test_a_progress_interval_below_a_second_is_refused() -> None:
    from airflow_provider_restsync import RestToSqlOperator
    from airflow_provider_restsync.errors import ConfigError

    resource = {"name": "r", "endpoint": {"path": "/v1/r"}}
    with pytest.raises(ConfigError, match=r"progress_interval must be a number of seconds, 1 or more.*0\.5"):
        RestToSqlOperator(task_id="r", conn_id="c", resource=resource, progress_interval=0.5)
    quiet = RestToSqlOperator(task_id="q", conn_id="c", resource=resource, progress_interval=None)
    assert quiet.progress_interval is None


WITHOUT_OPENLINEAGE = """
import importlib.abc, importlib.metadata, sys

import importlib_metadata


def hidden(name):
    return name.split(".")[0] == "openlineage" or name.startswith("airflow.providers.openlineage")


class Hidden(importlib.abc.MetaPathFinder):
    # as if the OpenLineage provider and client were not installed: no module, no package metadata
    def find_spec(self, name, path=None, target=None):
        if hidden(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Hidden())
for module in (importlib.metadata, importlib_metadata):
    listed = module.distributions
    module.distributions = lambda listed=listed, **kw: (
        d for d in listed(**kw) if "openlineage" not in (d.metadata["name"] or "").lower()
    )

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.get_dag("obs_without_lineage").test()
print("run state:", run.state)
print("openlineage imported:", any(hidden(name) for name in sys.modules))
"""


@pytest.mark.airflow
def test_without_the_openlineage_provider_the_sync_runs_as_before(airflow_home: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.db"
    with SandboxServer(changing_items=250) as sandbox:
        env = {
            **os.environ,
            "AIRFLOW_CONN_OBS_DB": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
            "AIRFLOW_CONN_CHANGING_API": json.dumps(
                {
                    "conn_type": "restsync_bearer",
                    "host": sandbox.base_url("changing"),
                    "password": SANDBOX_CREDENTIALS["changing"]["token"],
                }
            ),
            "PYTHONPATH": str(REPO),
        }
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                WITHOUT_OPENLINEAGE,
                str(REPO / "tests" / "dags" / "observability_checks.py"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "run state: success" in output and "openlineage imported: False" in output, output[-3000:]
    assert "Synced items into items (merge)" in output
    assert table_counts(warehouse) == {"items": 250}


def test_the_lineage_input_is_the_endpoint_without_credentials_query_or_parent_values() -> None:
    from airflow_provider_restsync.lineage import endpoint_of

    endpoint = endpoint_of("https://api:s3cret@api.example.com:8443/base/?api_key=k3y#top", "v1/{id}/items")
    assert (endpoint.namespace, endpoint.name) == ("https://api.example.com:8443", "/base/v1/{id}/items")
    assert endpoint_of("http://[::1]/", "/v1/items").namespace == "http://[::1]"
    absolute = endpoint_of("https://api.example.com", "https://files.example.com/v2/export?token=t")
    assert (absolute.namespace, absolute.name) == ("https://files.example.com", "/v2/export")
