"""The package is a real Airflow provider: discovered, listed, and its DAG files import cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import airflow_provider_restsync
from airflow_provider_restsync.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
CONNECTION_TYPES = {
    "restsync_basic",
    "restsync_api_key",
    "restsync_bearer",
    "restsync_oauth2",
    "restsync_noauth",
}


def test_provider_info_names_the_distribution_and_its_version() -> None:
    info = get_provider_info()
    dist = distribution("airflow-provider-restsync")
    assert info["package-name"] == dist.metadata["Name"]
    assert info["versions"] == [dist.version] == [airflow_provider_restsync.__version__]
    assert {c["connection-type"] for c in info["connection-types"]} == CONNECTION_TYPES


def test_entry_point_points_at_get_provider_info() -> None:
    entry_points = distribution("airflow-provider-restsync").entry_points
    (entry,) = [ep for ep in entry_points if ep.group == "apache_airflow_provider"]
    assert entry.load() is get_provider_info


def test_airflow_cli_lists_the_provider_and_its_connection_types(airflow_home: Path) -> None:
    env = os.environ.copy()
    listed = subprocess.run(
        [AIRFLOW, "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    (line,) = [row for row in listed.stdout.splitlines() if "airflow-provider-restsync" in row]
    assert airflow_provider_restsync.__version__ in line
    hooks = subprocess.run(
        [AIRFLOW, "providers", "hooks", "--output", "plain"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    for conn_type in CONNECTION_TYPES:
        assert conn_type in hooks.stdout


def test_package_root_stays_light() -> None:
    """Airflow imports the provider info while it starts: the root must not import airflow.sdk."""
    code = (
        "import sys, airflow_provider_restsync.get_provider_info as m; m.get_provider_info();"
        "print(any(name.startswith('airflow.sdk') for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
