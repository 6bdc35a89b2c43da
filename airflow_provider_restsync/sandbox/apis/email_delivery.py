"""Reference API 001, an email-delivery service: ``api_key`` header, offset/limit (max 500), PascalCase.

Bodies are ``{"TotalCount": N, "<Selector>": [...]}``, except delivery stats:
``{"InactiveMails": n, "Bounces": [{"Name": ..., "Count": ...}]}`` with no total and rows without an id.
"""

from __future__ import annotations

from collections.abc import Mapping
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

NAME = "email_delivery"


def delivery_stat(scope: Scope, index: int, parents: Parents) -> Record:
    _, name, count = delivery.delivery_stats_rows(scope)[index]
    return {"Name": name, "Count": count}


def _stats_extra(scope: Scope) -> Mapping[str, Any]:
    return {"InactiveMails": delivery.inactive_mails(scope)}


def message_stream(scope: Scope, index: int, parents: Parents) -> Record:
    return delivery.message_stream(NAME, scope, index)


def domain(scope: Scope, index: int, parents: Parents) -> Record:
    return delivery.domain(NAME, scope, index)


def message(scope: Scope, index: int, parents: Parents) -> Record:
    return delivery.outbound_message(NAME, scope, index)


def bounce(scope: Scope, index: int, parents: Parents) -> Record:
    return delivery.bounce(NAME, scope, index)


def server(scope: Scope, index: int, parents: Parents) -> Record:
    return delivery.server(NAME, scope, index)


API = Api(
    name=NAME,
    document="001_63287301e3a9c0b8.txt",
    auth=Auth("header", name="api_key"),
    paging=OffsetPaging(max_limit=500, total_key="TotalCount", total_first=True),
    resources=(
        Resource(
            "deliverystats",
            "/v1/deliverystats",
            "Bounces",
            fixed(delivery.STATS_ROWS),
            delivery_stat,
            f"{delivery.STATS_ROWS} (All + one per bounce type), no ID",
            total=False,
            extra=_stats_extra,
        ),
        Resource(
            "message_streams",
            "/v1/message-streams",
            "MessageStreams",
            fixed(len(delivery.STREAMS)),
            message_stream,
            str(len(delivery.STREAMS)),
        ),
        Resource("domains", "/v1/domains", "Domains", fixed(delivery.DOMAINS), domain, str(delivery.DOMAINS)),
        Resource(
            "messages",
            "/v1/messages/outbound",
            "Messages",
            scaled,
            message,
            "records, keyed by MessageID",
        ),
        Resource("bounces", "/v1/bounces", "Bounces", scaled, bounce, "records"),
        Resource("servers", "/v1/servers", "Servers", fixed(delivery.SERVERS), server, str(delivery.SERVERS)),
    ),
)
