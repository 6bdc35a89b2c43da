"""This project's sync against dlt's ``rest_api_source`` on the same API, config and database.

    .venv/bin/python -m benchmarks.sync_vs_dlt [--records 100000] [--limits 100,500]
        [--databases sqlite,postgres] [--rounds 2] [--memory-records 1000000]

The sandbox serves reference API 004's ``messages`` (offset paging, ``{data, total}``, API key in the
query string) from a process of its own, its pages cached after a warm-up pass so that every tool meets
the same fast server. For each database and page size, each round runs, one after the other:

- ``restsync``: the ``messages`` task of a DAG through ``RestToSqlOperator.execute`` (merge on ``id``),
- ``dlt``: ``rest_api_source`` at dlt's defaults (nested lists become child tables),
- ``dlt flat``: the same with ``max_table_nesting=0`` (nested values stay JSON, as in this project),

each first into an empty destination, then again over it (a re-sync where every row exists), every run
in a fresh process. The limits of the machine are measured in the same run: a plain loop that GETs and
parses every page, and a bulk load of the same rows (COPY or a multi-row INSERT into staging, one
set-based upsert). The table reports the best round of each: records/s of the sync itself, the
process's wall time, peak memory (the process's peak RSS plus its children's own pages: this
project's fetch process) and what the sync added to it, ``vs dlt`` (this project's records/s over
the faster dlt's) and ``x limit`` (this project's time over the slower of the two limits).

A dlt run that takes longer than ``--dlt-timeout`` seconds is stopped and reported as ``>N s``; its
ratio is then a lower bound. ``--memory-records`` adds runs of this project over that many records
and compares what the sync added to the process's memory with the 100,000-record runs (the median of
at least 3 of each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.sandbox.__main__ import READY
from airflow_provider_restsync.sandbox.auth import SANDBOX_CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent
API = "email_service"
API_KEY = SANDBOX_CREDENTIALS[API]["api_key"]
TOOLS = ("restsync", "dlt", "dlt flat")
COMPARED = ("id", "subject", "status", "tag", "message_stream")


@dataclass
class Run:
    seconds: float | None  # None: stopped after the timeout
    records: int
    wall: float = 0.0
    peak_mb: float = 0.0
    added_mb: float = 0.0

    @property
    def rate(self) -> float | None:
        return self.records / self.seconds if self.seconds else None


@dataclass
class Cell:
    """The runs of one tool in one phase (first load or re-sync) of one database and page size."""

    runs: list[Run] = field(default_factory=list)

    def best(self) -> Run | None:
        done = [run for run in self.runs if run.seconds is not None]
        if done:
            return min(done, key=lambda run: run.seconds or 0.0)
        return self.runs[0] if self.runs else None


# --- processes ------------------------------------------------------------------------------------


@contextmanager
def sandbox(records: int, max_limit: int) -> Iterator[str]:
    """The sandbox in a process of its own; yields the API's base URL."""
    cache_mb = max(64, records * 2 // 1000)  # a page of this API is about 0.5 KB per record
    command = [
        sys.executable,
        "-m",
        "airflow_provider_restsync.sandbox",
        "--port",
        "0",
        "--records",
        str(records),
        "--max-limit",
        str(max_limit),
        "--cache-mb",
        str(cache_mb),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(READY):
                yield f"{line.split()[-1]}/{API}"
                return
        raise RuntimeError(f"the sandbox exited with {process.wait()} before it was ready")
    finally:
        process.terminate()
        process.wait(10)


def measure(kind: str, timeout: float | None = None, **args: Any) -> dict[str, Any] | None:
    """One run of ``benchmarks.runners`` in a fresh process; None when it outlived ``timeout``."""
    command = [sys.executable, "-m", "benchmarks.runners", json.dumps({"kind": kind, **args})]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{kind} run failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- destinations ---------------------------------------------------------------------------------


class Destination:
    """Fresh, empty destinations of one database kind, and the rows a run left in them."""

    def __init__(self, kind: str, stack: ExitStack) -> None:
        self.kind = kind
        self.directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="restsync-bench-")))
        self.server_url: str | None = None
        if kind == "postgres":
            from tests.support.databases import postgres_database

            self.server_url = stack.enter_context(postgres_database())
        self.count = 0

    def new(self, tool: str) -> dict[str, Any]:
        """Settings of a new destination for ``tool``: its URL, schema (dataset) and dlt's pipeline."""
        self.count += 1
        name = f"{tool.replace(' ', '_')}_{self.count}"
        url = self.server_url or f"sqlite:///{self.directory / name}.db"
        return {
            "database": url,
            "schema": f"bench_{name}" if self.server_url else ("bench" if tool != "restsync" else None),
            "pipeline": f"bench_{name}",
            "pipelines_dir": str(self.directory / "pipelines"),
        }

    def rows(self, tool: str, settings: dict[str, Any]) -> set[tuple[Any, ...]]:
        """The compared columns of every row the run loaded."""
        columns = ", ".join(f'"{c}"' for c in COMPARED)
        if self.server_url is None:
            path = settings["database"].removeprefix("sqlite:///")
            if tool != "restsync":  # dlt's SQLAlchemy destination keeps a dataset in a file of its own
                path = path.removesuffix(".db") + f"__{settings['schema']}.db"
            with sqlite3.connect(path) as conn:
                return set(conn.execute(f"SELECT {columns} FROM messages"))
        engine = sa.create_engine(self.server_url)
        try:
            with engine.connect() as conn:
                query = f'SELECT {columns} FROM "{settings["schema"]}".messages'
                return {tuple(row) for row in conn.exec_driver_sql(query)}
        finally:
            engine.dispose()


# --- the benchmark --------------------------------------------------------------------------------


def run_tool(
    tool: str, base_url: str, limit: int, settings: dict[str, Any], round_id: str, timeout: float
) -> Run:
    if tool == "restsync":
        result = measure(
            "restsync",
            base_url=base_url,
            api_key=API_KEY,
            limit=limit,
            run_id=round_id,
            database=settings["database"],
            schema=settings["schema"],
        )
    else:
        nesting = {"max_table_nesting": 0} if tool == "dlt flat" else {}
        result = measure(
            "dlt", timeout=timeout, base_url=base_url, api_key=API_KEY, limit=limit, **settings, **nesting
        )
    if result is None:
        return Run(None, 0, timeout)
    return Run(
        result["seconds"],
        result["records"],
        result["wall"],
        result["peak_mb"],
        result["peak_mb"] - result["idle_mb"],
    )


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    limits = [int(v) for v in args.limits.split(",")]
    databases = args.databases.split(",")
    report: dict[str, Any] = {"records": args.records, "cases": [], "identical": True, "memory": None}
    with ExitStack() as stack:
        base_url = stack.enter_context(sandbox(args.records, max(limits)))
        for limit in limits:  # the warm-up pass fills the sandbox's page cache
            measure("fetch", base_url=base_url, api_key=API_KEY, limit=limit)
        for kind in databases:
            destination = Destination(kind, stack)
            for limit in limits:
                report["cases"].append(case(args, base_url, destination, limit, report))
        if args.memory_records:
            report["memory"] = memory(args, stack, report)
    return report


def case(
    args: argparse.Namespace, base_url: str, destination: Destination, limit: int, report: dict[str, Any]
) -> dict[str, Any]:
    print(f"# {destination.kind}, limit {limit}", file=sys.stderr, flush=True)
    cells = {(tool, phase): Cell() for tool in TOOLS for phase in ("first", "resync")}
    fetch = min(
        measure("fetch", base_url=base_url, api_key=API_KEY, limit=limit)["seconds"]  # type: ignore[index]
        for _ in range(args.rounds)
    )
    bulks = [
        measure("bulk", base_url=base_url, api_key=API_KEY, limit=limit, **destination.new("bulk"))
        for _ in range(args.rounds)
    ]
    bulk_first = min(b["seconds"] for b in bulks if b)
    bulk_resync = min(b["resync_seconds"] for b in bulks if b)
    reference: set[tuple[Any, ...]] | None = None
    for number in range(args.rounds):
        for tool in TOOLS:
            settings = destination.new(tool)
            for phase in ("first", "resync"):
                cell = cells[(tool, phase)]
                if cell.runs and cell.runs[0].seconds is None:
                    continue  # it outlived the timeout once: it would again
                run = run_tool(tool, base_url, limit, settings, f"{phase}-{number}", args.dlt_timeout)
                cell.runs.append(run)
                shown = f"{run.seconds:.2f} s" if run.seconds is not None else f"> {args.dlt_timeout:.0f} s"
                print(f"  round {number + 1} {tool:9} {phase:6} {shown}", file=sys.stderr, flush=True)
                if run.seconds is None:
                    continue
                rows = destination.rows(tool, settings)
                if reference is None:
                    reference = rows
                elif rows != reference:
                    report["identical"] = False
                    print(f"  {tool} {phase}: rows differ from restsync's", file=sys.stderr)
                if len(rows) != args.records:
                    report["identical"] = False
                    print(f"  {tool} {phase}: {len(rows)} rows, not {args.records}", file=sys.stderr)
    return {
        "database": destination.kind,
        "limit": limit,
        "fetch_seconds": fetch,
        "bulk_seconds": {"first": bulk_first, "resync": bulk_resync},
        "cells": {f"{tool}/{phase}": cell for (tool, phase), cell in cells.items()},
    }


def memory(args: argparse.Namespace, stack: ExitStack, report: dict[str, Any]) -> dict[str, Any]:
    """What the sync adds to the process's memory, at ``--records`` and at ``--memory-records``.

    A peak moves by a few MB from run to run (how the allocator's arenas happen to fill), about 10% of
    what a sync adds: each size runs at least 3 times and the median run is compared."""
    limit = max(int(v) for v in args.limits.split(","))
    added = {}
    for count in (args.records, args.memory_records):
        with sandbox(count, limit) as base_url:
            destination = Destination("sqlite", stack)
            runs = []
            for number in range(max(args.rounds, 3)):
                settings = destination.new("restsync")
                run = run_tool("restsync", base_url, limit, settings, f"memory-{number}", 0)
                runs.append(run)
                print(f"# memory: {count} records, +{run.added_mb:.0f} MB", file=sys.stderr, flush=True)
            added[count] = sorted(runs, key=lambda run: run.added_mb)[len(runs) // 2]
    return {"limit": limit, "runs": added}


# --- the table ------------------------------------------------------------------------------------


def render(report: dict[str, Any], args: argparse.Namespace) -> str:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("airflow-provider-restsync", "apache-airflow", "dlt", "sqlalchemy", "psycopg")
    )
    lines = [
        f"{report['records']:,} records of reference API 004's messages, merge on id; best of "
        f"{args.rounds} round(s); {datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {versions}",
        "",
        "| database | limit | phase | restsync rec/s | wall s | peak MB (+sync) | dlt rec/s "
        "| dlt flat rec/s | dlt peak MB | vs dlt | limit rec/s (fetch / bulk) | x limit |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    records = report["records"]
    for item in report["cases"]:
        for phase in ("first", "resync"):
            ours = item["cells"][f"restsync/{phase}"].best()
            dlt = item["cells"][f"dlt/{phase}"].best()
            flat = item["cells"][f"dlt flat/{phase}"].best()
            fetch = item["fetch_seconds"]
            bulk = item["bulk_seconds"][phase]
            limit_seconds = max(fetch, bulk)
            dlt_times = [r.seconds if r.seconds is not None else args.dlt_timeout for r in (dlt, flat) if r]
            faster = min(dlt_times) if dlt_times else None
            bound = "≥ " if faster is not None and all(r.seconds is None for r in (dlt, flat) if r) else ""
            vs_dlt = f"{bound}{faster / ours.seconds:.1f}x" if ours and ours.seconds and faster else "-"
            peaks = [r.peak_mb for r in (dlt, flat) if r and r.seconds is not None]
            dlt_peak = f"{max(peaks):.0f}" if peaks else "-"
            lines.append(
                f"| {item['database']} | {item['limit']} | {phase} | {_timed(ours, args)} | "
                f"{ours.wall:.2f} | {ours.peak_mb:.0f} (+{ours.added_mb:.0f}) | "
                f"{_timed(dlt, args)} | {_timed(flat, args)} | {dlt_peak} | {vs_dlt} | "
                f"{records / limit_seconds:,.0f} ({records / fetch:,.0f} / {records / bulk:,.0f}) | "
                f"{ours.seconds / limit_seconds:.2f} |"
                if ours and ours.seconds
                else f"| {item['database']} | {item['limit']} | {phase} | failed |"
            )
    memory = report.get("memory")
    if memory:
        runs = memory["runs"]
        small, large = runs[args.records], runs[args.memory_records]
        lines += [
            "",
            f"Memory (SQLite, limit {memory['limit']}, median of {max(args.rounds, 3)} runs): the sync added "
            f"{small.added_mb:.0f} MB to the task "
            f"process (with its fetch process) for {args.records:,} records and {large.added_mb:.0f} MB for "
            f"{args.memory_records:,} ({large.added_mb / max(small.added_mb, 1):.2f}x); peak "
            f"{small.peak_mb:.0f} MB and {large.peak_mb:.0f} MB.",
        ]
    lines.append(f"\nRow sets identical across tools: {'yes' if report['identical'] else 'NO'}")
    return "\n".join(lines)


def _timed(run: Run | None, args: argparse.Namespace) -> str:
    if run is None:
        return "-"
    if run.seconds is None:
        return f"< {args.records / args.dlt_timeout:,.0f} (> {args.dlt_timeout:.0f} s)"
    return f"{run.rate:,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--limits", default="100,500", help="page sizes, comma-separated")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite and/or postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dlt-timeout", type=float, default=180.0, metavar="SECONDS")
    parser.add_argument("--memory-records", type=int, default=1_000_000, help="0 skips the memory run")
    parser.add_argument("--json", type=Path, help="also write the results here, as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = benchmark(args)
    print(render(report, args))
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(report, default=lambda o: o.__dict__, indent=1))
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
