"""The main job, end to end on one machine: sandbox API -> five example DAGs -> embedded SQLite.

Run by ``make demo``: migrates the repo-local Airflow metadata database, starts the sandbox API, creates
the five API connections from environment variables, runs every example DAG with ``airflow dags test``,
prints what landed (DAG, task, table, rows) and stops the sandbox. Exits non-zero if anything failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from airflow_provider_restsync.sandbox import SandboxServer
from airflow_provider_restsync.sandbox.connections import sandbox_environment

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
        for dag_id in EXAMPLE_DAGS:
            step("airflow dags test", dag_id)
            started = time.monotonic()
            code = run([airflow, "dags", "test", dag_id], quiet=True, check=False)
            status = "ok" if code == 0 else f"FAILED (exit {code})"
            print(f"    {status} in {time.monotonic() - started:.1f} s")
            if code != 0:
                failed.append(dag_id)
    print_tables(airflow_home / "restsync.db")
    if failed:
        print(f"\nFailed DAGs: {', '.join(failed)}; logs: {airflow_home / 'logs'}", file=sys.stderr)
        return 1
    return 0


def print_tables(database: Path) -> None:
    """The demo's result: every example DAG's task, its table and how many rows it holds."""
    from airflow_provider_restsync.config import load_source
    from airflow_provider_restsync.dags import rest_sync_dag  # noqa: F401 - fail early if broken

    engine = sa.create_engine(f"sqlite:///{database}")
    rows = []
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        for dag_id in EXAMPLE_DAGS:
            source = load_source(REPO / "dags" / f"{dag_id}.yaml")
            for resource in source.selected_resources():
                # Each DAG writes its own tables; the embedded database is shared, so names are DAG-prefixed.
                table = resource.table_name
                count = "-"
                if table in tables:
                    count = str(
                        conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar()
                    )
                rows.append((dag_id, resource.name, table, count))
    engine.dispose()
    header = ("DAG", "task", "table", "rows")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(f"\nWhat landed in {database}:\n")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  " + "  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)))


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
