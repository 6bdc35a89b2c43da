"""Every example DAG imports through Airflow's DagBag and has tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parent.parent / "dags"
EXAMPLES = {"mail_testing", "email_delivery", "communications", "inbox_testing", "email_service"}


@pytest.fixture(scope="module")
def dagbag(airflow_home):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXAMPLES


def test_every_dag_has_tasks_and_one_task_per_resource(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_restsync.config import load_source

    for dag_id in EXAMPLES:
        dag = dagbag.get_dag(dag_id)
        source = load_source(DAGS / f"{dag_id}.yaml")
        assert dag.task_ids, dag_id
        assert set(dag.task_ids) == {r.name for r in source.selected_resources()}


def test_child_tasks_run_after_their_parents(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.get_dag("inbox_testing")
    assert dag.get_task("inboxes").upstream_task_ids == {"accounts"}
    assert dag.get_task("messages").upstream_task_ids == {"inboxes"}
    assert dag.get_task("projects").upstream_task_ids == {"accounts"}
    assert dag.get_task("accounts").upstream_task_ids == set()
