"""A local HTTP server that serves the five reference APIs, with deterministic data and fault injection,
and one mutable API for incremental-sync tests.

Start it with ``python -m airflow_provider_restsync.sandbox --port 8080 --records 1000`` or, in Python::

    with SandboxServer(records=1000) as sandbox:
        base_url = sandbox.base_url("email_delivery")   # http://127.0.0.1:PORT/email_delivery

Each API lives under its own prefix, with the auth, paging and envelope its document describes:

- ``mail_testing``: basic auth (user ``api``, API key as password); no paging; ``{"items": [...]}``.
- ``email_delivery``: API key in the header ``api_key``; offset/limit, limit at most 500;
  ``{"TotalCount": N, "<Selector>": [...]}``.
- ``communications``: API key in the query parameter ``api_key``; offset/limit, limit at most 100;
  ``{"data": [...]}`` with no total: a short or empty page ends it.
- ``inbox_testing``: ``Authorization: Bearer <token>``; no paging; ``{"data": [...]}``.
- ``email_service``: API key in the query parameter ``api_key``; offset/limit, limit at most 100;
  ``{"data": [...], "total": N}``.
- ``changing`` (not one of the reference APIs, not in ``APIS``): ``Authorization: Bearer <token>``; one
  resource ``/v1/items``; offset/limit, limit at most 500; ``{"data": [...], "total": N}``, filtered by
  ``updated_since`` (inclusive) and ``updated_until`` (exclusive) and ordered by ``updated_at`` then
  ``id``. Its records live in ``sandbox.changing`` (a ``ChangingItems``, ``--changing-items`` of them at
  the start), which tests ``add`` to and ``change`` between sync runs; each change stamps ``updated_at``
  from a logical clock, one step after the latest stamp, so runs stay deterministic.

The demo secrets are in ``SANDBOX_CREDENTIALS``. A wrong or missing secret answers 401 with a JSON error.
A missing ``limit`` means the maximum and a bigger one is capped to it. Row counts, with ``records`` the
``--records`` value (default 1000):

- mail_testing: messages ``min(records, 2000)``; servers 5; usage_transactions ``min(records, 2000)``
  (keyed by ``timestamp``, no ``id``).
- email_delivery: bounces and messages ``records`` (messages keyed by ``MessageID``, no ``ID``);
  deliverystats 8 rows ``{"Name", "Count"}`` with no ID and no TotalCount, beside ``InactiveMails``;
  message_streams 6 (``ID`` a string); domains 25; servers 8.
- communications: communications_data ``records`` (``id`` a string like ``cm_1a2b3c4d5e6f``).
- inbox_testing: accounts 3; per account: billing_usage 12, resources 4, sending_domains 2, inboxes 3,
  projects 2; messages ``min(records, 18000)`` in all, message ``g`` in inbox ``g % 9`` (parent-first
  order), at most 2000 per inbox. Unknown account or inbox ids answer 404.
- email_service: bounces and messages ``records``; deliverystats 8 (with ``id``); servers 8; domains 25.

Record ``i`` of a resource depends only on (seed, API, resource, i), so a page is made on request in
time proportional to its size, whatever ``records`` is, and a bigger ``records`` only appends rows.
Aggregates (delivery stats, an inbox's message counts) follow the record count. Timestamps are UTC
ISO-8601 with ``Z`` and start at 2024-01-01.

Faults (``FaultConfig``, ``--fault-rate``, ``--fault-kinds``): 429 with ``Retry-After`` in seconds,
``429-date`` (``Retry-After`` as an HTTP date), 500, 502/504 (HTML bodies, as gateways send), 503,
``drop`` (connection closed without a response), ``slow`` (a late but correct answer), and the body
faults of a 200: ``reset`` (the connection reset mid-body), ``truncated`` (JSON cut off, with a
matching Content-Length) and ``html`` (an HTML error page). By default the first seven are injected;
``--fault-kinds all`` injects every kind. Whether a request faults is a hash of the request and how
often it was seen, and no request faults more than ``max_consecutive`` times in a row, so a client with
a retry always gets through. An API only gets the statuses its document retries: inbox_testing gets
429, drop and slow only; changing gets 429, 500, 503, drop and slow. ``429-date`` goes wherever 429
goes; the body faults go to GET requests of every API.

``latency`` (``--latency``) delays every API request by that many seconds, for tests that stop a sync
half-way or watch its progress logs.

``/healthz`` answers ``{"status": "ok"}`` without auth (and never faults or waits); ``/`` lists the
reference APIs.
"""

from __future__ import annotations

from airflow_provider_restsync.sandbox.apis import APIS, expected_records
from airflow_provider_restsync.sandbox.auth import SANDBOX_CREDENTIALS, client_kwargs
from airflow_provider_restsync.sandbox.changing import ChangingItems
from airflow_provider_restsync.sandbox.faults import FAULT_KINDS, FaultConfig
from airflow_provider_restsync.sandbox.server import LoggedRequest, SandboxServer, SandboxStats

API_NAMES: tuple[str, ...] = tuple(APIS)

__all__ = [
    "API_NAMES",
    "FAULT_KINDS",
    "SANDBOX_CREDENTIALS",
    "ChangingItems",
    "FaultConfig",
    "LoggedRequest",
    "SandboxServer",
    "SandboxStats",
    "client_kwargs",
    "expected_records",
]
