"""The main job, end to end on one machine: sandbox API -> five example DAGs -> embedded SQLite.

Run by ``make demo``: migrates the repo-local Airflow metadata database, starts the sandbox API, creates
the five API connections from environment variables, runs every example DAG with ``airflow dags test``,
stops the sandbox and prints a report per DAG: each task's table, the rows it holds, what the run
fetched, inserted, updated and left unchanged (the task's XCom summary), and how long it took. Exits
non-zero if anything failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.sandbox import SandboxServer
from airflow_provider_restsync.sandbox.connections import sandbox_environment
from airflow_provider_restsync.sql.destination import attach_sqlite_schema, create_destination_engine

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = ("mail_testing", "email_delivery", "communications", "inbox_testing", "email_service")


def main() -> int:
    airflow_home = Path(os.environ.setdefault("AIRFLOW_HOME", str(REPO / "airflow_home")))
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    os.environ.pop("RESTSYNC_DESTINATION_CONN_ID", None)
    airflow = str(Path(sys.executable).with_name("airflow"))

    step("airflow db migrate", f"AIRFLOW_HOME={airflow_home}")
    run([airflow, "db", "migrate"], quiet=True)

    records = int(os.environ.get("RESTSYNC_DEMO_RECORDS", "1000"))
    with SandboxServer(records=records) as sandbox:
        step("sandbox API", f"{sandbox.url} ({records} records per main resource)")
        os.environ.update(sandbox_environment({api: sandbox.base_url(api) for api in EXAMPLE_DAGS}))
        failed = []
        took = {}
        for dag_id in EXAMPLE_DAGS:
            step("airflow dags test", dag_id)
            started = time.monotonic()
            code = run([airflow, "dags", "test", dag_id], quiet=True, check=False)
            took[dag_id] = time.monotonic() - started
            status = "ok" if code == 0 else f"FAILED (exit {code})"
            print(f"    {status} in {took[dag_id]:.1f} s")
            if code != 0:
                failed.append(dag_id)
    print_report(airflow_home, took)
    if failed:
        print(f"\nFailed DAGs: {', '.join(failed)}; logs: {airflow_home / 'logs'}", file=sys.stderr)
        return 1
    return 0


def print_report(airflow_home: Path, took: dict[str, float]) -> None:
    """The demo's result, per example DAG: each task's table and rows, and what its last run did."""
    engine = create_destination_engine(airflow_home=str(airflow_home))
    for dag_id in EXAMPLE_DAGS:
        # Each example DAG writes into its own schema: on SQLite, an attached database file.
        attach_sqlite_schema(engine, dag_id)
    header = ("task", "table", "rows", "fetched", "inserted", "updated", "unchanged", "seconds")
    print(f"\nWhat landed in {engine.url.database} (schemas attached beside it):")
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for dag_id in EXAMPLE_DAGS:
            tables = set(inspector.get_table_names(schema=dag_id))
            summaries = last_run_summaries(dag_id)
            rows = []
            for resource in load_source(REPO / "dags" / f"{dag_id}.yaml").selected_resources():
                table = resource.table_name
                count = "missing"
                if table in tables:
                    query = sa.select(sa.func.count()).select_from(sa.table(table, schema=dag_id))
                    count = f"{conn.execute(query).scalar_one():,}"
                done = summaries.get(resource.name)
                numbers = (
                    [f"{done[key]:,}" for key in ("fetched", "inserted", "updated", "unchanged")]
                    + [f"{done['seconds']:.1f}"]
                    if done
                    else ["-"] * 5
                )
                rows.append((resource.name, f"{dag_id}.{table}", count, *numbers))
            tasks = f"{len(rows)} task" + ("" if len(rows) == 1 else "s")
            print(f"\n  {dag_id}: {tasks} in {took.get(dag_id, 0.0):.1f} s")
            print_table(header, rows)
    engine.dispose()


def last_run_summaries(dag_id: str) -> dict[str, dict]:
    """The XCom summary of each task of the DAG's latest run, by task id (empty if it never ran)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        latest = session.scalars(
            sa.select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)
        ).first()
        if latest is None:
            return {}
        found = session.scalars(XComModel.get_many(run_id=latest.run_id, key="return_value", dag_ids=dag_id))
        return {
            row.task_id: json.loads(row.value) if isinstance(row.value, str) else row.value for row in found
        }


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Text columns left-aligned, numbers right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        cells = [
            str(value).ljust(width) if index < 2 else str(value).rjust(width)
            for index, (value, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("    " + "  ".join(cells))


def step(what: str, detail: str) -> None:
    print(f"==> {what}: {detail}", flush=True)


def run(command: list[str], *, quiet: bool, check: bool = True) -> int:
    result = subprocess.run(command, capture_output=quiet, text=True, check=False)
    if result.returncode != 0 and quiet:
        sys.stdout.write(result.stdout[-4000:])
        sys.stderr.write(result.stderr[-4000:])
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed with exit code {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
