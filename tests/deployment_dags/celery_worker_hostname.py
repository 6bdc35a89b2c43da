"""The host name a Celery worker of tests/test_deployment_celery.py reports for the tasks it runs.

``[core] hostname_callable`` of each worker points here. Two workers on one machine share its name; each
is started with ``RESTSYNC_TEST_WORKER_HOSTNAME`` set to its own ``--celery-hostname``, so a task
instance's ``hostname`` says which worker ran it. The module holds no workflow, so nothing parses it.
"""

from __future__ import annotations

import os
import socket

VARIABLE = "RESTSYNC_TEST_WORKER_HOSTNAME"


def hostname() -> str:
    return os.environ.get(VARIABLE) or socket.getfqdn()
