"""Run a DAG so that Airflow writes task log files, as a worker does, without a scheduler or api-server.

``dag.test()`` runs each task inside its own process and prints the task log. A worker instead hands the
task to the supervisor (``supervise_task``), which forks the task process and writes every line the task
logs, as JSON, to ``$AIRFLOW_HOME/logs/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log``. This
module runs ``dag.test()``'s scheduling loop with each task given to ``supervise_task`` (talking to the
in-process Execution API instead of an api-server), so the log files are the ones a deployment writes.
Tasks run one after the other::

    python -m tests.support.task_logs <bundle name> <dag file> <dag id>

or, from a test, ``run_dag(dag_file, dag_id, home=..., metadata_url=..., env=...)``.

The DAG file must lie in the named bundle (``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST``): the forked
task process parses it from there, as a worker's does. Exits 0 whatever the run's state; it prints
``run state: <state>`` last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent


def run_dag(
    dag_file: Path, dag_id: str, *, home: Path, metadata_url: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``dag_id`` of ``dag_file`` (the only DAG file of its folder, which becomes a bundle named after
    the DAG) through this module in a process of its own, with ``home`` as AIRFLOW_HOME, the metadata in
    the migrated-here database ``metadata_url`` and ``env`` (connections, config) on top of this
    process's environment less its ``AIRFLOW_CONN_*`` and ``AIRFLOW__*`` variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    environment.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dag_file.parent),
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(
            [
                {
                    "name": dag_id,
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(dag_file.parent)},
                }
            ]
        ),
        PYTHONPATH=str(REPO),
        **env,
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=environment, check=True, capture_output=True, timeout=300)
    return subprocess.run(
        [sys.executable, "-m", "tests.support.task_logs", dag_id, str(dag_file), dag_id],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def _supervised(bundle: str, dag_file: Path) -> Any:
    def run_task(*, ti: Any, task: Any, run_triggerer: bool = False) -> None:
        from airflow.executors import workloads
        from airflow.executors.workloads import BundleInfo
        from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor, supervise_task
        from airflow.utils.state import TaskInstanceState

        # The Execution API starts only a queued task instance, as it does for an executor's.
        ti.set_state(TaskInstanceState.QUEUED)
        workload = workloads.ExecuteTask.make(
            ti, dag_rel_path=Path(dag_file.name), bundle_info=BundleInfo(name=bundle)
        )
        supervise_task(
            ti=workload.ti,
            bundle_info=workload.bundle_info,
            dag_rel_path=workload.dag_rel_path,
            token=workload.token,
            client=InProcessTestSupervisor._api_client(task.dag),
            log_path=workload.log_path,
        )
        return None

    return run_task


def main(bundle: str, dag_file: str, dag_id: str) -> int:
    import airflow.sdk.definitions.dag as dag_module
    from airflow.dag_processing.dagbag import DagBag

    path = Path(dag_file)
    bag = DagBag(dag_folder=str(path), bundle_name=bundle)
    if bag.import_errors:
        print(f"import errors: {bag.import_errors}", file=sys.stderr)
        return 2
    dag_module._run_task = _supervised(bundle, path)  # type: ignore[assignment]
    run = bag.get_dag(dag_id).test()
    print(f"run state: {run.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
