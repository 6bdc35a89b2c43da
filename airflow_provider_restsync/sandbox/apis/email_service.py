"""Reference API 004, an email service: ``api_key`` query parameter, offset/limit (max 100), snake_case.

Bodies are ``{"data": [...], "total": N}``; every resource's rows carry an ``id`` (the document says so),
and unset strings are JSON nulls rather than the empty strings of 001.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from airflow_provider_restsync.sandbox.apis import delivery
from airflow_provider_restsync.sandbox.spec import (
    Api,
    Auth,
    OffsetPaging,
    Parents,
    Record,
    Resource,
    Scope,
    fixed,
    scaled,
)

NAME = "email_service"
# Keys under these fields are the user's own (``customer-id``), so they keep their spelling.
_OPAQUE = frozenset({"Metadata"})


@lru_cache(maxsize=512)
def snake(name: str) -> str:
    """``SPFVerified`` -> ``spf_verified``, ``MessageID`` -> ``message_id``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


def _snake_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {snake(key): _snake_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_snake_value(item) for item in value]
    return None if value == "" else value


def snake_record(record: Record) -> Record:
    return {snake(key): value if key in _OPAQUE else _snake_value(value) for key, value in record.items()}


def bounce(scope: Scope, index: int, parents: Parents) -> Record:
    return snake_record(delivery.bounce(NAME, scope, index))


def message(scope: Scope, index: int, parents: Parents) -> Record:
    record = snake_record(delivery.outbound_message(NAME, scope, index))
    # This service names the message's key ``id``; nothing else changes.
    return {"id": record.pop("message_id"), **record}


def delivery_stat(scope: Scope, index: int, parents: Parents) -> Record:
    kind, name, count = delivery.delivery_stats_rows(scope)[index]
    return {"id": index + 1, "type": kind, "name": name, "count": count}


def server(scope: Scope, index: int, parents: Parents) -> Record:
    return snake_record(delivery.server(NAME, scope, index))


def domain(scope: Scope, index: int, parents: Parents) -> Record:
    return snake_record(delivery.domain(NAME, scope, index))


API = Api(
    name=NAME,
    document="004_f272898b00a32942.txt",
    auth=Auth("query", name="api_key"),
    paging=OffsetPaging(max_limit=100, total_key="total"),
    resources=(
        Resource("bounces", "/v1/bounces", "data", scaled, bounce, "records"),
        Resource("messages", "/v1/messages", "data", scaled, message, "records"),
        Resource(
            "deliverystats",
            "/v1/deliverystats",
            "data",
            fixed(delivery.STATS_ROWS),
            delivery_stat,
            f"{delivery.STATS_ROWS} (all + one per bounce type)",
        ),
        Resource("servers", "/v1/servers", "data", fixed(delivery.SERVERS), server, str(delivery.SERVERS)),
        Resource("domains", "/v1/domains", "data", fixed(delivery.DOMAINS), domain, str(delivery.DOMAINS)),
    ),
)
