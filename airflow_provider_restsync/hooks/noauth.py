"""No auth (``restsync_noauth``): public APIs; the connection, if any, only carries URL and extras."""

from __future__ import annotations

import requests

from airflow_provider_restsync.auth_styles import NO_AUTH
from airflow_provider_restsync.hooks.base import RestSyncHook


class NoAuthHook(RestSyncHook):
    """Sends requests without credentials. Works without a connection: pass ``base_url`` then."""

    conn_type = NO_AUTH.conn_type
    hook_name = "REST Sync: no auth (public API)"
    auth_types = NO_AUTH.types
    requires_connection = False
    secret_label = "credentials"

    def _status_hint(self, status: int, response: requests.Response) -> str:
        if status == 401:
            return (
                "The API wants credentials and this hook sends none: use a connection of type "
                "restsync_basic, restsync_api_key, restsync_bearer or restsync_oauth2 instead."
            )
        return super()._status_hint(status, response)
