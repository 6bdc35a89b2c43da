"""Parents are listed once per DAG run: each child task reads the parent keys its parent task committed.

Against the sandbox's inbox-testing API (reference 003: accounts -> inboxes -> messages and four more
children of accounts), the sandbox's own request counter shows every listing requested exactly once per
run, grandchildren included; a child selected alone (its ancestors skipped) lists its ancestors itself and
still lands exactly what the API serves.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from airflow_provider_restsync.sandbox import SandboxServer, expected_records
from airflow_provider_restsync.sandbox.apis.inbox_testing import account_id, inbox_id
from airflow_provider_restsync.sql.destination import attach_sqlite_schema, create_destination_engine
from tests import test_example_dags_e2e as e2e
from tests.support.tables import by_key, expected_rows, table_rows
from tests.test_example_dags_e2e import (
    RECORDS,
    assert_tables_match_sandbox,
    run_example,
    sandbox_env,
    task_states,
)

destination = e2e.destination  # the sqlite / postgres destination fixture

ACCOUNTS = 3
INBOXES_PER_ACCOUNT = 3
CHILDREN_OF_ACCOUNTS = ("billing/usage", "permissions/resources", "sending_domains", "inboxes", "projects")


def listings(sandbox: SandboxServer) -> Counter[str]:
    return Counter(
        {path: count for path, count in sandbox.stats.requests.items() if path.startswith("/inbox_testing")}
    )


def expected_listings() -> Counter[str]:
    expected: Counter[str] = Counter({"/inbox_testing/v1/accounts": 1})
    for account in range(ACCOUNTS):
        for child in CHILDREN_OF_ACCOUNTS:
            expected[f"/inbox_testing/v1/accounts/{account_id(account)}/{child}"] = 1
        for inbox in range(INBOXES_PER_ACCOUNT):
            inbox_path = (
                f"/inbox_testing/v1/accounts/{account_id(account)}/inboxes/{inbox_id(account, inbox)}"
            )
            expected[f"{inbox_path}/messages"] = 1
    return expected


@pytest.mark.airflow
def test_each_listing_is_requested_once_per_run(
    destination: str, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(records=RECORDS) as sandbox:
        sandbox_env(sandbox, monkeypatch)
        for _ in range(2):  # the second run reads its own run's parent keys, not the first run's
            sandbox.reset_stats()
            run = run_example("inbox_testing", monkeypatch)
            assert str(run.state) == "success", task_states(run)
            assert listings(sandbox) == expected_listings()
        engine = create_destination_engine(conn_id=destination)
        try:
            assert_tables_match_sandbox("inbox_testing", engine)
        finally:
            engine.dispose()


@pytest.mark.airflow
def test_a_child_selected_alone_lists_its_ancestors_itself(
    destination: str, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(records=RECORDS) as sandbox:
        sandbox_env(sandbox, monkeypatch)
        run = run_example("inbox_testing", monkeypatch, conf={"resources": ["messages"]})
        assert str(run.state) == "success", task_states(run)
        seen = listings(sandbox)
        # accounts once, each account's inboxes once, each inbox's messages once; nothing else
        assert seen["/inbox_testing/v1/accounts"] == 1
        inboxes = {path: n for path, n in seen.items() if path.endswith("/inboxes")}
        messages = {path: n for path, n in seen.items() if path.endswith("/messages")}
        assert set(inboxes.values()) == {1} and len(inboxes) == ACCOUNTS
        assert set(messages.values()) == {1} and len(messages) == ACCOUNTS * INBOXES_PER_ACCOUNT
        assert sum(seen.values()) == 1 + len(inboxes) + len(messages)
        engine = create_destination_engine(conn_id=destination)
        try:
            attach_sqlite_schema(engine, "inbox_testing")
            expected = by_key(
                expected_rows(expected_records("inbox_testing", "messages", records=RECORDS)), ["id"]
            )
            rows = table_rows(engine, "messages", schema="inbox_testing")
            assert len(rows) == len(expected)
            assert by_key(rows, ["id"]) == expected
        finally:
            engine.dispose()
