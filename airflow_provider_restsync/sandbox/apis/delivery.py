"""Records of an email-delivery service, shared by references 001 (PascalCase) and 004 (snake_case).

Both documents describe the same kind of service: bounces, outbound messages, delivery stats, servers,
domains. Here the records are made once, in the PascalCase of 001; ``email_service`` renames the keys.
The ``api`` argument keys the generators, so the two APIs serve different data.
"""

from __future__ import annotations

from typing import NamedTuple

from airflow_provider_restsync.sandbox import fake
from airflow_provider_restsync.sandbox.spec import Record, Scope

SERVERS = 8
DOMAINS = 25
STATS_ROWS = 8  # "All" and one row per bounce type
HEX = "0123456789abcdef"


class BounceType(NamedTuple):
    type: str
    code: int
    name: str
    description: str
    details: str
    deactivates: bool


BOUNCE_TYPES = (
    BounceType(
        "HardBounce",
        1,
        "Hard bounce",
        "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        True,
    ),
    BounceType(
        "SoftBounce",
        4096,
        "Soft bounce",
        "Unable to temporarily deliver this email.",
        "smtp;452 4.2.2 The email account that you tried to reach is over quota.",
        False,
    ),
    BounceType(
        "Transient",
        2,
        "Message delayed",
        "The server could not temporarily deliver your message "
        "(ex: Message is delayed due to network troubles).",
        "smtp;421 4.7.0 Try again later, closing connection.",
        False,
    ),
    BounceType(
        "SpamNotification",
        512,
        "Spam notification",
        "The message was delivered, but was either blocked by the user, or classified as spam, "
        "bulk mail, or had rejected content.",
        "",
        False,
    ),
    BounceType(
        "SpamComplaint",
        100001,
        "Spam complaint",
        "The subscriber explicitly marked this message as spam.",
        "",
        True,
    ),
    BounceType("DnsError", 256, "DNS error", "A temporary DNS error.", "DNS lookup failed: SERVFAIL", False),
    BounceType(
        "Blocked",
        100006,
        "ISP block",
        "Blocked from this ISP due to content or blacklisting.",
        "smtp;554 5.7.1 Service unavailable; client host blocked using a block list.",
        True,
    ),
)
# Bounce ``i`` has type ``_CYCLE[(i * 7) % 20]``: realistic proportions, and the per-type counts of the
# delivery stats follow from the record count in O(1) instead of from reading every bounce.
_WEIGHTS = (7, 4, 4, 2, 1, 1, 1)
_CYCLE = tuple(kind for kind, weight in zip(BOUNCE_TYPES, _WEIGHTS, strict=True) for _ in range(weight))

# (ID, Name, MessageStreamType, Description)
STREAMS = (
    ("outbound", "Default Transactional Stream", "Transactional", "Default transactional stream"),
    ("inbound", "Default Inbound Stream", "Inbound", "Default inbound stream"),
    ("broadcast", "Default Broadcast Stream", "Broadcasts", "Default broadcast stream"),
    ("password-resets", "Password resets", "Transactional", "Password reset and account recovery emails"),
    ("receipts", "Receipts", "Transactional", "Order confirmations and receipts"),
    ("newsletter", "Monthly newsletter", "Broadcasts", "Product news, once a month"),
)
_SENDING_STREAMS = tuple(stream[0] for stream in STREAMS if stream[2] != "Inbound")
COMPANIES = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
)
TAGS = ("welcome", "password-reset", "invoice", "digest", "receipt", "onboarding")
SERVICE_HOST = "email-delivery.example"


def bounce_type(index: int) -> BounceType:
    return _CYCLE[(index * 7) % len(_CYCLE)]


def bounce_type_counts(bounces: int) -> dict[str, int]:
    """How many of the first ``bounces`` bounces have each type."""
    full, rest = divmod(bounces, len(_CYCLE))
    counts = {kind.type: weight * full for kind, weight in zip(BOUNCE_TYPES, _WEIGHTS, strict=True)}
    for index in range(rest):
        counts[bounce_type(index).type] += 1
    return counts


def server_id(index: int) -> int:
    return 11_635 + index * 7


def domain_name(r: fake.Draw, index: int) -> str:
    # The company and a round number from the index keep names unique; the prefix is decoration.
    suffix = "" if index < len(COMPANIES) else str(index // len(COMPANIES) + 1)
    prefix = fake.pick(r, ("", "mail.", "news.", "notify."))
    return f"{prefix}{COMPANIES[index % len(COMPANIES)]}{suffix}.example"


def message_id(api: str, seed: int, index: int) -> str:
    """The ``MessageID`` of outbound message ``index``: its first draw, so bounces can refer to it cheaply."""
    return fake.unique_uuid(fake.rng(seed, api, "messages", index), index, fake.salt(seed, api, "messages"))


def _recipient(r: fake.Draw) -> dict[str, str | None]:
    name, email = fake.person(r)
    return {"Email": email, "Name": fake.maybe(r, name, 0.3)}


def outbound_message(api: str, scope: Scope, index: int) -> Record:
    r = fake.rng(scope.seed, api, "messages", index)
    ident = fake.unique_uuid(r, index, fake.salt(scope.seed, api, "messages"))
    to = [_recipient(r) for _ in range(r.choice((1, 1, 1, 2)))]
    cc = [_recipient(r)] if r.random() < 0.15 else []
    bcc = [_recipient(r)] if r.random() < 0.05 else []
    sender_name, _ = fake.person(r)
    company = fake.pick(r, COMPANIES)
    metadata = {"customer-id": str(r.randrange(10_000, 99_999)), "campaign": fake.pick(r, TAGS)}
    return {
        "Tag": fake.maybe(r, fake.pick(r, TAGS), 0.3),
        "MessageID": ident,
        "MessageStream": fake.pick(r, _SENDING_STREAMS),
        "To": to,
        "Cc": cc,
        "Bcc": bcc,
        "Recipients": [recipient["Email"] for recipient in to + cc + bcc],
        "ReceivedAt": fake.iso(index * 30 + r.randrange(30)),
        "From": f'"{sender_name}" <notifications@{company}.example>',
        "Subject": fake.subject(r),
        "Attachments": ["invoice.pdf"] if r.random() < 0.1 else [],
        "Status": fake.pick(r, ("Sent", "Sent", "Sent", "Sent", "Processed", "Queued")),
        "TrackOpens": r.random() < 0.7,
        "TrackLinks": fake.pick(r, ("None", "HtmlAndText", "HtmlOnly", "TextOnly")),
        "Metadata": metadata if r.random() < 0.6 else {},
        "Sandboxed": False,
    }


def bounce(api: str, scope: Scope, index: int) -> Record:
    r = fake.rng(scope.seed, api, "bounces", index)
    kind = bounce_type(index)
    _, email = fake.person(r)
    company = fake.pick(r, COMPANIES)
    return {
        # Disjoint ranges per index keep IDs unique while they look irregular.
        "ID": 692_560_173 + index * 3 + r.randrange(3),
        "Type": kind.type,
        "TypeCode": kind.code,
        "Name": kind.name,
        "Tag": fake.maybe(r, fake.pick(r, TAGS), 0.4),
        "MessageID": message_id(api, scope.seed, r.randrange(index + 1)),
        "ServerID": server_id(0),
        "MessageStream": fake.pick(r, ("outbound", "outbound", "broadcast")),
        "Description": kind.description,
        "Details": kind.details,
        "Email": email,
        "From": f"notifications@{company}.example",
        "BouncedAt": fake.iso(index * 60 + r.randrange(60)),
        "DumpAvailable": r.random() < 0.7,
        "Inactive": kind.deactivates,
        "CanActivate": kind.type != "SpamComplaint",
        "Subject": fake.subject(r),
    }


def delivery_stats_rows(scope: Scope) -> list[tuple[str | None, str, int]]:
    """(type, name, count) rows: "All" first, then one per bounce type, counted over the bounces served."""
    counts = bounce_type_counts(scope.records)
    return [(None, "All", scope.records)] + [
        (kind.type, kind.name, counts[kind.type]) for kind in BOUNCE_TYPES
    ]


def inactive_mails(scope: Scope) -> int:
    counts = bounce_type_counts(scope.records)
    return sum(counts[kind.type] for kind in BOUNCE_TYPES if kind.deactivates)


def message_stream(api: str, scope: Scope, index: int) -> Record:
    r = fake.rng(scope.seed, api, "message_streams", index)
    ident, name, kind, description = STREAMS[index]
    return {
        "ID": ident,
        "ServerID": server_id(0),
        "Name": name,
        "Description": description,
        "MessageStreamType": kind,
        "CreatedAt": fake.iso(-r.randrange(30 * 86_400, 400 * 86_400)),
        "ArchivedAt": None,
        "SubscriptionManagementConfiguration": {
            "UnsubscribeHandlingType": "Custom" if kind == "Broadcasts" else "None"
        },
    }


def domain(api: str, scope: Scope, index: int) -> Record:
    r = fake.rng(scope.seed, api, "domains", index)
    spf = r.random() < 0.8
    return {
        "ID": 36_735 + index * 13,
        "Name": domain_name(r, index),
        "SPFVerified": spf,
        "DKIMVerified": spf and r.random() < 0.9,
        "WeakDKIM": r.random() < 0.1,
        "ReturnPathDomainVerified": r.random() < 0.6,
    }


def server(api: str, scope: Scope, index: int) -> Record:
    r = fake.rng(scope.seed, api, "servers", index)
    ident = server_id(index)
    inbound_hash = fake.token(r, 32, HEX)
    company = fake.pick(r, COMPANIES)

    def hook(event: str) -> str:
        # The real service sends "" for a hook that is not set.
        return f"https://hooks.{company}.example/mail/{event}" if r.random() < 0.4 else ""

    return {
        "ID": ident,
        "Name": f"{fake.pick(r, ('Production', 'Staging', 'Marketing', 'Support', 'Billing'))} {index + 1}",
        "ApiTokens": [fake.unique_uuid(r, index, fake.salt(api, "server-token"))],
        "Color": fake.pick(r, ("purple", "blue", "turquoise", "green", "red", "yellow", "grey", "orange")),
        "SmtpApiActivated": r.random() < 0.8,
        "RawEmailEnabled": r.random() < 0.2,
        "DeliveryType": fake.pick(r, ("Live", "Live", "Live", "Sandbox")),
        "ServerLink": f"https://account.{SERVICE_HOST}/servers/{ident}/streams",
        "InboundAddress": f"{inbound_hash}@inbound.{SERVICE_HOST}",
        "InboundHookUrl": hook("inbound"),
        "BounceHookUrl": hook("bounce"),
        "OpenHookUrl": hook("open"),
        "DeliveryHookUrl": hook("delivery"),
        "ClickHookUrl": hook("click"),
        "PostFirstOpenOnly": r.random() < 0.3,
        "InboundDomain": f"inbound.{company}.example" if r.random() < 0.3 else "",
        "InboundHash": inbound_hash,
        "InboundSpamThreshold": fake.pick(r, (0, 5, 10, 15)),
        "TrackOpens": r.random() < 0.6,
        "TrackLinks": fake.pick(r, ("None", "HtmlAndText", "HtmlOnly", "TextOnly")),
        "IncludeBounceContentInHook": r.random() < 0.5,
        "EnableSmtpApiErrorHooks": r.random() < 0.3,
    }
