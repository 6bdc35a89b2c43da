"""The five reference source configs as their documents write them (``dlt.secrets[...]`` -> ``None``).

Documents: /work/shared/reference-apis/000 ... 004. Use :func:`reference_config` for a copy a test may change.
"""

from __future__ import annotations

import copy
from typing import Any

_ERROR_HANDLER_003 = {"retry_on_status_codes": [429], "max_retries": 2, "backoff_factor": 5}
_DEFAULTS = {"primary_key": "id", "write_disposition": "merge"}


def _offset_resource(name: str, path: str, selector: str, limit: int, offset_param: bool) -> dict[str, Any]:
    paginator: dict[str, Any] = {"type": "offset", "limit": limit}
    if offset_param:
        paginator["offset_param"] = "offset"
    return {"name": name, "endpoint": {"path": path, "data_selector": selector, "paginator": paginator}}


def _inbox_resource(name: str, path: str) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint": {"path": path, "data_selector": "data", "error_handler": dict(_ERROR_HANDLER_003)},
    }


# 000: basic auth, no paginator stated, data under "items".
MAIL_TESTING: dict[str, Any] = {
    "client": {
        "base_url": "https://api.example.com",
        "auth": {"type": "basic", "username": None, "password": None},
    },
    "resource_defaults": dict(_DEFAULTS),
    "resources": [
        {"name": "messages", "endpoint": {"path": "/v1/messages", "data_selector": "items"}},
        {"name": "servers", "endpoint": {"path": "/v1/servers", "data_selector": "items"}},
        {
            "name": "usage_transactions",
            "endpoint": {"path": "/v1/usage/transactions", "data_selector": "items"},
        },
    ],
}

# 001: API key in a header named api_key; offset paging, limit 500; capitalised selectors.
EMAIL_DELIVERY: dict[str, Any] = {
    "client": {
        "base_url": "https://api.example.com",
        "auth": {"type": "api_key", "name": "api_key", "api_key": None, "location": "header"},
    },
    "resource_defaults": dict(_DEFAULTS),
    "resources": [
        _offset_resource("deliverystats", "/v1/deliverystats", "Bounces", 500, True),
        _offset_resource("message_streams", "/v1/message-streams", "MessageStreams", 500, True),
        _offset_resource("domains", "/v1/domains", "Domains", 500, True),
        _offset_resource("messages", "/v1/messages/outbound", "Messages", 500, True),
        _offset_resource("bounces", "/v1/bounces", "Bounces", 500, True),
        _offset_resource("servers", "/v1/servers", "Servers", 500, True),
    ],
}

# 002: API key in the query string; one offset-paged resource, limit 100.
COMMUNICATIONS: dict[str, Any] = {
    "client": {
        "base_url": "https://api.example.com",
        "auth": {"type": "api_key", "name": "api_key", "api_key": None, "location": "query"},
    },
    "resource_defaults": dict(_DEFAULTS),
    "resources": [_offset_resource("communications_data", "/v1/resource", "data", 100, False)],
}

# 003: bearer token; no paginator stated; {account_id} and {inbox_id} come from parent resources.
INBOX_TESTING: dict[str, Any] = {
    "client": {"base_url": "https://api.example.com", "auth": {"type": "bearer", "token": None}},
    "resource_defaults": dict(_DEFAULTS),
    "resources": [
        _inbox_resource("accounts", "/v1/accounts"),
        _inbox_resource("billing_usage", "/v1/accounts/{account_id}/billing/usage"),
        _inbox_resource("resources", "/v1/accounts/{account_id}/permissions/resources"),
        _inbox_resource("sending_domains", "/v1/accounts/{account_id}/sending_domains"),
        _inbox_resource("inboxes", "/v1/accounts/{account_id}/inboxes"),
        _inbox_resource("messages", "/v1/accounts/{account_id}/inboxes/{inbox_id}/messages"),
        _inbox_resource("projects", "/v1/accounts/{account_id}/projects"),
    ],
}

# 004: API key in the query string; five offset-paged resources, limit 100.
EMAIL_SERVICE: dict[str, Any] = {
    "client": {
        "base_url": "https://api.example.com",
        "auth": {"type": "api_key", "name": "api_key", "api_key": None, "location": "query"},
    },
    "resource_defaults": dict(_DEFAULTS),
    "resources": [
        _offset_resource("bounces", "/v1/bounces", "data", 100, False),
        _offset_resource("messages", "/v1/messages", "data", 100, False),
        _offset_resource("deliverystats", "/v1/deliverystats", "data", 100, False),
        _offset_resource("servers", "/v1/servers", "data", 100, False),
        _offset_resource("domains", "/v1/domains", "data", 100, False),
    ],
}

REFERENCE_CONFIGS: dict[str, dict[str, Any]] = {
    "mail_testing": MAIL_TESTING,
    "email_delivery": EMAIL_DELIVERY,
    "communications": COMMUNICATIONS,
    "inbox_testing": INBOX_TESTING,
    "email_service": EMAIL_SERVICE,
}

# The document each config comes from, by its number.
DOCUMENTS = {
    "mail_testing": "000_c77ca0f0f95d7595.txt",
    "email_delivery": "001_63287301e3a9c0b8.txt",
    "communications": "002_9f8effdc8d5be964.txt",
    "inbox_testing": "003_91797927eb36970c.txt",
    "email_service": "004_f272898b00a32942.txt",
}


def reference_config(name: str, base_url: str | None = None) -> dict[str, Any]:
    """A deep copy of one reference config, optionally pointed at ``base_url`` (a test server)."""
    config = copy.deepcopy(REFERENCE_CONFIGS[name])
    if base_url is not None:
        config["client"]["base_url"] = base_url
    return config
