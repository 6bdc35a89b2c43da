"""Reference API 000, a mail-testing platform: basic auth, ``{"items": [...]}``, no paging."""

from __future__ import annotations

from functools import lru_cache

from airflow_provider_restsync.sandbox import fake
from airflow_provider_restsync.sandbox.spec import (
    UNPAGINATED_CAP,
    Api,
    Auth,
    Parents,
    Record,
    Resource,
    Scope,
    capped,
    fixed,
)

NAME = "mail_testing"
SERVERS = 5


@lru_cache(maxsize=64)
def server_id(seed: int, index: int) -> str:
    # Five random characters plus the index in base 36: short like the real ids, and never repeated.
    return fake.token(fake.rng(seed, NAME, "server-id", index), 5) + _base36(index).rjust(3, "0")


def _base36(value: int) -> str:
    digits = ""
    while True:
        value, digit = divmod(value, 36)
        digits = fake.ALNUM[(digit + 26) % 36] + digits
        if not value:
            return digits


def _address(r: fake.Draw, sms: bool) -> dict[str, str]:
    name, email = fake.person(r)
    return {"name": name, "email": "" if sms else email, "phone": fake.phone(r) if sms else ""}


def message(scope: Scope, index: int, parents: Parents) -> Record:
    r = fake.rng(scope.seed, NAME, "messages", index)
    sms = r.random() < 0.15
    ident = fake.unique_uuid(r, index, fake.salt(scope.seed, NAME, "messages"))
    sender = [_address(r, sms)]
    to = [_address(r, sms) for _ in range(1 if sms else r.choice((1, 1, 1, 2, 3)))]
    return {
        "id": ident,
        "type": fake.maybe(r, "SMS" if sms else "Email", 0.03),
        "from": fake.maybe(r, sender, 0.02),
        "to": fake.maybe(r, to, 0.02),
        "cc": None if sms else fake.maybe(r, [_address(r, False)] if r.random() < 0.2 else [], 0.1),
        "bcc": None if sms else fake.maybe(r, [], 0.1),
        "received": fake.maybe(r, fake.iso(index * 30 + r.randrange(30), r.randrange(1000)), 0.01),
        "subject": None if sms else fake.maybe(r, fake.subject(r), 0.05),
        "summary": fake.maybe(r, fake.sentence(r), 0.1),
        "attachments": 0 if sms else fake.maybe(r, r.choice((0, 0, 0, 1, 2, 3)), 0.05),
        "read": fake.maybe(r, r.random() < 0.6, 0.05),
        "server": fake.maybe(r, server_id(scope.seed, r.randrange(SERVERS)), 0.02),
    }


def server(scope: Scope, index: int, parents: Parents) -> Record:
    r = fake.rng(scope.seed, NAME, "servers", index)
    ident = server_id(scope.seed, index)
    return {
        "id": ident,
        "name": fake.maybe(
            r, f"{fake.pick(r, ('Staging', 'QA', 'Checkout', 'Signup', 'Billing'))} tests {index + 1}"
        ),
        "customId": fake.maybe(r, f"team-{fake.token(r, 4)}", 0.6),
        "domain": fake.maybe(r, f"{ident}.mail-testing.example", 0.05),
        "messages": fake.maybe(r, r.randrange(0, 5000), 0.05),
        "restricted": fake.maybe(r, r.random() < 0.3, 0.2),
        "retention": fake.maybe(r, r.choice((7, 14, 30, 90)), 0.2),
        "users": fake.maybe(r, [fake.token(r, 8) for _ in range(r.randrange(0, 4))], 0.2),
    }


def usage_transaction(scope: Scope, index: int, parents: Parents) -> Record:
    r = fake.rng(scope.seed, NAME, "usage_transactions", index)
    # One row per hour at a random minute: strictly increasing, so the key `timestamp` is unique.
    emails = r.randrange(0, 400)
    sms = r.randrange(0, 40)
    return {
        "timestamp": fake.iso(index * 3600 + r.randrange(3600)),
        "email": fake.maybe(r, emails, 0.05),
        "emailSent": fake.maybe(r, r.randrange(0, emails + 1), 0.1),
        "previews": fake.maybe(r, r.randrange(0, 50), 0.2),
        "screenshots": fake.maybe(r, r.randrange(0, 20), 0.3),
        "sms": fake.maybe(r, sms, 0.05),
        "smsSent": fake.maybe(r, r.randrange(0, sms + 1), 0.1),
    }


API = Api(
    name=NAME,
    document="000_c77ca0f0f95d7595.txt",
    auth=Auth("basic", username="api"),
    paging=None,
    resources=(
        Resource("messages", "/v1/messages", "items", capped, message, f"min(records, {UNPAGINATED_CAP})"),
        Resource("servers", "/v1/servers", "items", fixed(SERVERS), server, str(SERVERS)),
        Resource(
            "usage_transactions",
            "/v1/usage/transactions",
            "items",
            capped,
            usage_transaction,
            f"min(records, {UNPAGINATED_CAP}), keyed by timestamp",
        ),
    ),
)
