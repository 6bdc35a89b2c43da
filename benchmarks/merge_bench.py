"""Merge throughput of TableWriter on the local databases: first load, then a re-merge of every row.

    .venv/bin/python -m benchmarks.merge_bench --rows 100000 --batch 5000 [--only sqlite,postgres,mysql]

Records look like an email API's messages (17 fields: text, ints, a timestamp, a nested object, an
array). dlt's SQLAlchemy destination took 179 s to re-merge 100k rows without keys; this prints the
seconds and records/s of each phase per database.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.write import TableWriter


def make_records(count: int, version: int) -> list[dict[str, Any]]:
    return [
        {
            "MessageID": f"{i:08d}-5f1c-4a8e-9b7d-{version:012d}",
            "ServerID": i % 50,
            "Subject": f"Your receipt #{i} (v{version})",
            "From": "billing@example.com",
            "To": [{"Email": f"user{i}@example.com", "Name": f"User {i}"}],
            "Status": "Sent" if i % 7 else "Queued",
            "ReceivedAt": f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "Size": 1000 + i + version,
            "Score": (i % 100) / 10,
            "TrackOpens": bool(i % 2),
            "Tag": None if i % 3 else "invoice",
            "Metadata": {"customer": f"c{i % 997}", "plan": "pro", "seats": i % 13},
            "Attachments": [],
            "MessageStream": "outbound",
            "Recipients": i % 4 + 1,
            "Opens": i % 11,
            "Region": "eu-west-1",
        }
        for i in range(count)
    ]


@contextmanager
def database(name: str) -> Iterator[str]:
    from tests.support.databases import mysql_database, postgres_database

    if name == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/bench.db"
    elif name == "postgres":
        with postgres_database() as url:
            yield url
    else:
        with mysql_database() as url:
            yield url


def run_phase(engine: sa.Engine, records: list[dict[str, Any]], batch: int) -> float:
    started = time.perf_counter()
    with TableWriter(
        engine, resource="messages", table="messages", primary_key="MessageID", disposition="merge"
    ) as w:
        for start in range(0, len(records), batch):
            w.write(records[start : start + batch])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--only", default="sqlite,postgres,mysql")
    args = parser.parse_args()
    first = make_records(args.rows, 1)
    second = [{**r, "MessageID": r["MessageID"][:-12] + f"{1:012d}"} for r in make_records(args.rows, 2)]
    for name in args.only.split(","):
        with database(name) as url:
            engine = create_destination_engine(url=url)
            load = run_phase(engine, first, args.batch)
            remerge = run_phase(engine, second, args.batch)
            engine.dispose()
        print(
            f"{name:9} first load {load:6.2f} s ({args.rows / load:9,.0f} rec/s)   "
            f"re-merge {remerge:6.2f} s ({args.rows / remerge:9,.0f} rec/s)"
        )


if __name__ == "__main__":
    main()
