"""Reference API 002, a communications API: ``api_key`` query parameter, offset/limit (max 100).

Bodies are ``{"data": [...]}`` with no total at all: a client knows it is done from a short (or empty) page.
"""

from __future__ import annotations

from airflow_provider_restsync.sandbox import fake
from airflow_provider_restsync.sandbox.spec import (
    Api,
    Auth,
    OffsetPaging,
    Parents,
    Record,
    Resource,
    Scope,
    scaled,
)

NAME = "communications"
CHANNELS = ("sms", "sms", "email", "email", "email", "whatsapp", "voice")
OUTBOUND_STATUSES = ("delivered", "delivered", "delivered", "sent", "read", "queued", "failed", "undelivered")
ERRORS = {"failed": (30003, "Unreachable destination"), "undelivered": (30005, "Unknown destination")}


def communication(scope: Scope, index: int, parents: Parents) -> Record:
    r = fake.rng(scope.seed, NAME, "communications_data", index)
    channel = fake.pick(r, CHANNELS)
    direction = "inbound" if r.random() < 0.25 else "outbound"
    status = "received" if direction == "inbound" else fake.pick(r, OUTBOUND_STATUSES)
    created = index * 45 + r.randrange(45)
    _, customer_email = fake.person(r)
    company = f"support@{fake.pick(r, ('acme', 'globex', 'initech', 'hooli'))}.example"
    if channel == "email":
        ours, theirs = company, customer_email
    else:
        ours, theirs = fake.phone(r), fake.phone(r)
    sender, recipient = (theirs, ours) if direction == "inbound" else (ours, theirs)
    delivered = status in {"delivered", "read", "received"}
    error = ERRORS.get(status)
    return {
        # An opaque string id: a bijection of the index, so it is unique without looking sequential.
        "id": f"cm_{fake.permute48(index, fake.salt(scope.seed, NAME)):012x}",
        "customer_id": f"cus_{r.randrange(1, 50_000):06d}",
        "channel": channel,
        "direction": direction,
        "status": status,
        "from": sender,
        "to": recipient,
        "subject": fake.maybe(r, fake.subject(r), 0.1) if channel == "email" else None,
        "body": None if channel == "voice" else fake.sentence(r, 4, 30),
        "segments": r.randint(1, 4) if channel == "sms" else None,
        "duration_seconds": r.randrange(5, 900) if channel == "voice" else None,
        "price": round(r.uniform(0.001, 0.09), 4) if direction == "outbound" and status != "queued" else None,
        "currency": "USD",
        "error_code": error[0] if error else None,
        "error_message": error[1] if error else None,
        "tags": [fake.pick(r, fake.WORDS) for _ in range(r.randrange(0, 3))],
        "created_at": fake.iso(created),
        "updated_at": fake.iso(created + r.randrange(30, 600)),
        "delivered_at": fake.iso(created + r.randrange(1, 30)) if delivered else None,
    }


API = Api(
    name=NAME,
    document="002_9f8effdc8d5be964.txt",
    auth=Auth("query", name="api_key"),
    paging=OffsetPaging(max_limit=100, total_key=None),
    resources=(Resource("communications_data", "/v1/resource", "data", scaled, communication, "records"),),
)
