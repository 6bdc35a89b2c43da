"""The sandbox's records, without a server: keys, counts, nulls, timestamps, consistency, stability."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import datetime
from itertools import islice
from typing import Any

import pytest

from airflow_provider_restsync.sandbox import expected_records
from airflow_provider_restsync.sandbox.apis import APIS, sizes_table

# The key each reference config (dags/*.yaml) uses for each resource.
PRIMARY_KEYS = {
    ("mail_testing", "messages"): "id",
    ("mail_testing", "servers"): "id",
    ("mail_testing", "usage_transactions"): "timestamp",
    ("email_delivery", "deliverystats"): "Name",
    ("email_delivery", "message_streams"): "ID",
    ("email_delivery", "domains"): "ID",
    ("email_delivery", "messages"): "MessageID",
    ("email_delivery", "bounces"): "ID",
    ("email_delivery", "servers"): "ID",
    ("communications", "communications_data"): "id",
    ("inbox_testing", "accounts"): "id",
    ("inbox_testing", "billing_usage"): "id",
    ("inbox_testing", "resources"): "id",
    ("inbox_testing", "sending_domains"): "id",
    ("inbox_testing", "inboxes"): "id",
    ("inbox_testing", "messages"): "id",
    ("inbox_testing", "projects"): "id",
    ("email_service", "bounces"): "id",
    ("email_service", "messages"): "id",
    ("email_service", "deliverystats"): "id",
    ("email_service", "servers"): "id",
    ("email_service", "domains"): "id",
}


def size(api: str, resource: str, records: int) -> int:
    """The documented row count of every resource (see the sandbox package docstring)."""
    fixed = {
        ("mail_testing", "servers"): 5,
        ("email_delivery", "deliverystats"): 8,
        ("email_delivery", "message_streams"): 6,
        ("email_delivery", "domains"): 25,
        ("email_delivery", "servers"): 8,
        ("inbox_testing", "accounts"): 3,
        ("inbox_testing", "billing_usage"): 3 * 12,
        ("inbox_testing", "resources"): 3 * 4,
        ("inbox_testing", "sending_domains"): 3 * 2,
        ("inbox_testing", "inboxes"): 3 * 3,
        ("inbox_testing", "projects"): 3 * 2,
        ("email_service", "deliverystats"): 8,
        ("email_service", "servers"): 8,
        ("email_service", "domains"): 25,
    }
    if (api, resource) in fixed:
        return fixed[api, resource]
    if api == "mail_testing":
        return min(records, 2000)
    if api == "inbox_testing":
        return min(records, 18000)
    return records


def rows(api: str, resource: str, records: int = 1000, seed: int = 42) -> list[dict[str, Any]]:
    return list(expected_records(api, resource, records=records, seed=seed))


def test_every_resource_has_its_documented_key() -> None:
    assert set(PRIMARY_KEYS) == {(api.name, r.name) for api in APIS.values() for r in api.resources}


@pytest.mark.parametrize(("api", "resource"), sorted(PRIMARY_KEYS))
def test_primary_keys_are_present_unique_and_not_null(api: str, resource: str) -> None:
    key = PRIMARY_KEYS[api, resource]
    values = [row[key] for row in rows(api, resource, records=3000)]
    assert None not in values
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("records", [0, 1, 7, 1000, 2500])
def test_row_counts_follow_the_documented_sizes(records: int) -> None:
    for api in APIS.values():
        for resource in api.resources:
            count = sum(1 for _ in expected_records(api.name, resource.name, records=records))
            assert count == size(api.name, resource.name, records), (api.name, resource.name)


def test_the_sizes_table_names_every_resource() -> None:
    table = sizes_table()
    for api in APIS.values():
        for resource in api.resources:
            assert re.search(rf"{api.name}\s+{resource.name}\s", table)


def test_documents_inconsistencies_are_served_as_documented() -> None:
    # 001 messages carry MessageID and deliverystats Name/Count, neither an ID; 000 usage rows no id.
    assert "ID" not in rows("email_delivery", "messages", 5)[0]
    assert all(set(row) == {"Name", "Count"} for row in rows("email_delivery", "deliverystats"))
    assert "id" not in rows("mail_testing", "usage_transactions", 5)[0]
    assert isinstance(rows("email_delivery", "message_streams")[0]["ID"], str)
    assert isinstance(rows("email_delivery", "domains")[0]["ID"], int)


# The fields each reference document lists (002 names only a few; 003 and 004 list none).
DOCUMENTED_FIELDS = {
    ("mail_testing", "messages"): """
        id type attachments bcc cc from read received server subject summary to""",
    ("mail_testing", "servers"): """
        id customId domain messages name restricted retention users""",
    ("mail_testing", "usage_transactions"): """
        timestamp email emailSent previews screenshots sms smsSent""",
    ("email_delivery", "deliverystats"): """
        Count Name""",
    ("email_delivery", "message_streams"): """
        ArchivedAt CreatedAt Description ID MessageStreamType Name ServerID
        SubscriptionManagementConfiguration""",
    ("email_delivery", "domains"): """
        DKIMVerified ID Name ReturnPathDomainVerified SPFVerified WeakDKIM""",
    ("email_delivery", "messages"): """
        Attachments Bcc Cc From MessageID MessageStream Metadata ReceivedAt Recipients Sandboxed Status
        Subject Tag To TrackLinks TrackOpens""",
    ("email_delivery", "bounces"): """
        BouncedAt CanActivate Description Details DumpAvailable Email From ID Inactive MessageID
        MessageStream Name ServerID Subject Tag Type TypeCode""",
    ("email_delivery", "servers"): """
        ApiTokens BounceHookUrl ClickHookUrl Color DeliveryHookUrl DeliveryType EnableSmtpApiErrorHooks ID
        InboundAddress InboundDomain InboundHash InboundHookUrl InboundSpamThreshold
        IncludeBounceContentInHook Name OpenHookUrl PostFirstOpenOnly RawEmailEnabled ServerLink
        SmtpApiActivated TrackLinks TrackOpens""",
    ("communications", "communications_data"): """
        id customer_id channel direction status created_at body""",
}


@pytest.mark.parametrize(("api", "resource"), sorted(DOCUMENTED_FIELDS))
def test_documented_fields_are_all_there(api: str, resource: str) -> None:
    documented = set(DOCUMENTED_FIELDS[api, resource].split())
    for row in rows(api, resource, 20):
        assert documented <= set(row), documented - set(row)


@pytest.mark.parametrize(("resource", "key"), [("messages", "id"), ("usage_transactions", "timestamp")])
def test_nullable_fields_of_mail_testing_are_sometimes_null(resource: str, key: str) -> None:
    sample = rows("mail_testing", resource, 2000)
    null_somewhere = {field for row in sample for field, value in row.items() if value is None}
    assert null_somewhere == set(sample[0]) - {key}
    # Only five servers: some of their nullable fields are null, not necessarily each one.
    assert any(value is None for row in rows("mail_testing", "servers") for value in row.values())


def test_array_and_object_fields_have_their_shapes() -> None:
    message = rows("mail_testing", "messages", 1)[0]
    assert isinstance(message["to"], list) and set(message["to"][0]) == {"name", "email", "phone"}
    outbound = rows("email_delivery", "messages", 50)
    assert all(isinstance(row["Metadata"], dict) and isinstance(row["To"], list) for row in outbound)
    assert any(row["Metadata"] for row in outbound)
    stream = rows("email_delivery", "message_streams")[0]
    assert stream["ArchivedAt"] is None
    assert "UnsubscribeHandlingType" in stream["SubscriptionManagementConfiguration"]


TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
TIMESTAMP_FIELDS = {
    ("mail_testing", "messages"): "received",
    ("mail_testing", "usage_transactions"): "timestamp",
    ("email_delivery", "messages"): "ReceivedAt",
    ("email_delivery", "bounces"): "BouncedAt",
    ("email_delivery", "message_streams"): "CreatedAt",
    ("communications", "communications_data"): "created_at",
    ("inbox_testing", "messages"): "sent_at",
    ("email_service", "bounces"): "bounced_at",
}


@pytest.mark.parametrize(("api", "resource"), sorted(TIMESTAMP_FIELDS))
def test_timestamps_are_iso_8601_utc_with_z(api: str, resource: str) -> None:
    for row in rows(api, resource, 300):
        value = row[TIMESTAMP_FIELDS[api, resource]]
        if value is not None:
            assert TIMESTAMP.match(value), value
            assert datetime.fromisoformat(value).utcoffset() is not None


def test_uuids_are_valid_version_4() -> None:
    for row in rows("email_delivery", "messages", 200):
        assert uuid.UUID(row["MessageID"]).version == 4


def test_email_service_speaks_snake_case_and_nulls_where_001_sends_empty_strings() -> None:
    snake = re.compile(r"^[a-z][a-z0-9_]*$")
    for resource in ("bounces", "messages", "deliverystats", "servers", "domains"):
        for row in rows("email_service", resource, 30):
            assert all(snake.match(key) for key in row), (resource, list(row))
    servers = rows("email_service", "servers")
    assert any(row["inbound_domain"] is None for row in servers)
    assert all(row["inbound_domain"] != "" for row in servers)


def test_delivery_stats_agree_with_the_bounces_served() -> None:
    bounces = rows("email_delivery", "bounces", 300)
    stats = {row["Name"]: row["Count"] for row in rows("email_delivery", "deliverystats", 300)}
    by_name = Counter(row["Name"] for row in bounces)
    assert stats.pop("All") == len(bounces)
    assert {name: count for name, count in stats.items() if count} == dict(by_name)
    service = rows("email_service", "deliverystats", 300)
    assert service[0] == {"id": 1, "type": None, "name": "All", "count": 300}


def test_bounces_refer_to_messages_that_exist() -> None:
    message_ids = {row["MessageID"] for row in rows("email_delivery", "messages", 400)}
    assert {row["MessageID"] for row in rows("email_delivery", "bounces", 400)} <= message_ids


def test_inboxes_count_the_messages_they_hold() -> None:
    inboxes = rows("inbox_testing", "inboxes", 500)
    messages = rows("inbox_testing", "messages", 500)
    per_inbox = Counter(message["inbox_id"] for message in messages)
    unread = Counter(message["inbox_id"] for message in messages if not message["is_read"])
    for inbox in inboxes:
        assert inbox["emails_count"] == per_inbox[inbox["id"]]
        assert inbox["emails_unread_count"] == unread[inbox["id"]]
    assert max(message["id"] for message in messages) > 2**31  # real ids outgrow 32-bit columns


def test_child_rows_come_parent_first() -> None:
    inbox_ids = [inbox["id"] for inbox in rows("inbox_testing", "inboxes")]
    order = [message["inbox_id"] for message in rows("inbox_testing", "messages", 90)]
    assert order == sorted(order, key=inbox_ids.index)
    accounts = [row["account_id"] for row in rows("inbox_testing", "billing_usage")]
    assert accounts == sorted(accounts)


@pytest.mark.parametrize(
    ("api", "resource"),
    [
        ("mail_testing", "messages"),
        ("email_delivery", "bounces"),
        ("communications", "communications_data"),
        ("email_service", "messages"),
    ],
)
def test_more_records_only_append_rows(api: str, resource: str) -> None:
    assert rows(api, resource, 100) == rows(api, resource, 160)[:100]


def test_more_inbox_messages_keep_the_ones_already_served() -> None:
    fewer = {row["id"]: row for row in rows("inbox_testing", "messages", 90)}
    more = {row["id"]: row for row in rows("inbox_testing", "messages", 140)}
    assert all(more[key] == row for key, row in fewer.items())


def test_the_seed_changes_the_data_but_not_the_shape() -> None:
    one, other = rows("email_service", "bounces", 20, seed=1), rows("email_service", "bounces", 20, seed=2)
    assert one != other
    assert [list(row) for row in one] == [list(row) for row in other]


def test_expected_records_is_lazy() -> None:
    first = list(islice(expected_records("email_delivery", "bounces", records=10**12), 3))
    assert len(first) == 3


def test_unknown_names_fail_clearly() -> None:
    with pytest.raises(KeyError, match="the APIs are"):
        next(expected_records("nope", "x"))
    with pytest.raises(KeyError, match="has no resource"):
        next(expected_records("email_delivery", "nope"))
