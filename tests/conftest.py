from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Airflow reads its home when first imported: point it at a throwaway folder before any test imports it,
# inside the repo's own airflow_home/ (git-ignored) so nothing of a test run ever reaches ~/airflow.
REPO = Path(__file__).resolve().parent.parent
_TEST_HOMES = REPO / "airflow_home" / "test-runs"
_TEST_HOMES.mkdir(parents=True, exist_ok=True)
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="home-", dir=_TEST_HOMES)
atexit.register(shutil.rmtree, _AIRFLOW_HOME, True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
# Two DAG bundles: the example DAGs, and DAGs only the tests run (dag.test() finds a DAG through them).
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path)},
        }
        for name, path in (("dags-folder", REPO / "dags"), ("test-dags", REPO / "tests" / "dags"))
    ]
)
os.environ.pop("RESTSYNC_DESTINATION_CONN_ID", None)

import pytest  # noqa: E402

from tests.support.databases import mysql_database, postgres_database  # noqa: E402


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dest.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    with mysql_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each of the three real databases in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dest.db'}"
    elif request.param == "postgres":
        with postgres_database() as url:
            yield url
    else:
        with mysql_database() as url:
            yield url


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The tests' own AIRFLOW_HOME, with a migrated SQLite metadata database (once per session)."""
    import subprocess
    import sys

    home = Path(_AIRFLOW_HOME)
    if not (home / ".migrated").exists():
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
        (home / ".migrated").touch()
    return home
