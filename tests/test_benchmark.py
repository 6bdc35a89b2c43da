"""The benchmark against dlt, small: it runs end to end and every tool loads the same rows.

Timings are the benchmark's business (``make bench``), never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 2_000


@pytest.mark.postgres
def test_the_benchmark_runs_and_both_tools_load_identical_rows(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.sync_vs_dlt",
        "--records",
        str(RECORDS),
        "--limits",
        "100",
        "--databases",
        "sqlite,postgres",
        "--rounds",
        "1",
        "--memory-records",
        "0",
        "--json",
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["identical"] is True
    assert [(case["database"], case["limit"]) for case in report["cases"]] == [
        ("sqlite", 100),
        ("postgres", 100),
    ]
    for case in report["cases"]:
        for name, cell in case["cells"].items():
            (run,) = cell["runs"]
            assert run["seconds"] is not None and run["seconds"] > 0, name
            assert run["records"] == RECORDS, name
        assert case["fetch_seconds"] > 0 and case["bulk_seconds"]["first"] > 0
    # The table a user reads: one row per database, page size and phase, with both ratios.
    table = [line for line in done.stdout.splitlines() if line.startswith(("| sqlite", "| postgres"))]
    assert len(table) == 4
    assert all(line.count("x |") >= 1 for line in table)
    assert "Row sets identical across tools: yes" in done.stdout
