"""No auth (``restsync_noauth``): public APIs; the connection, if any, only carries URL and extras."""

from __future__ import annotations

from airflow_provider_restsync.auth_styles import NO_AUTH
from airflow_provider_restsync.hooks.base import RestSyncHook


class NoAuthHook(RestSyncHook):
    """Sends requests without credentials. Works without a connection: pass ``base_url`` then."""

    style = NO_AUTH
    requires_connection = False
    secret_label = "credentials"
