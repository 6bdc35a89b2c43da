"""``make up``: the compose file's Airflow stack on this machine, without Docker, until Ctrl-C.

Starts what ``docker compose up`` would (tests/support/stack.py): a fresh PostgreSQL database for Airflow's
metadata and one for the warehouse on 127.0.0.1:5432, the sandbox API, ``airflow db migrate``, then the
api-server (port 8080 if free), scheduler, dag-processor and triggerer, with the compose file's
environment. Prints where the UI and the warehouse are, then waits. Ctrl-C (or SIGTERM) stops every
process and drops both databases.

Options: ``--port`` (the api-server's, default 8080, a free one if taken), ``--records`` (the sandbox's,
default 1000), ``--latency`` (seconds per sandbox request), ``--keep-home`` (leave the AIRFLOW_HOME and its
logs behind).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from tests.support.stack import LocalStack

EXAMPLE_DAGS = ("mail_testing", "email_delivery", "communications", "inbox_testing", "email_service")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make up", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="api-server port if free (default: 8080)")
    parser.add_argument("--records", type=int, default=1000, help="sandbox records (default: 1000)")
    parser.add_argument("--latency", type=float, default=0.0, help="sandbox delay per request, seconds")
    parser.add_argument("--keep-home", action="store_true", help="keep the AIRFLOW_HOME and its logs")
    args = parser.parse_args(argv)

    import pytest

    from tests.support.stack import LocalStack, StackError

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Ctrl-C raises KeyboardInterrupt even where the shell started this with SIGINT ignored (a background
    # job); SIGTERM (kill, a closing terminal) stops the stack as cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)
    print("starting the local stack (PostgreSQL databases, sandbox, Airflow): about 20 s ...", flush=True)
    stack = LocalStack(
        records=args.records, latency=args.latency, api_port=args.port, keep_home=args.keep_home
    )
    code = 0
    try:
        stack.start()
        stack.wait_for_dags(EXAMPLE_DAGS)
        print(banner(stack, args.port), flush=True)
        while True:
            time.sleep(1)
            exited = [p.name for p in stack.processes.values() if p.popen.poll() is not None]
            if exited:
                print(f"{', '.join(exited)} exited:\n{stack.log_tails()}", file=sys.stderr)
                code = 1
                break
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    except StackError as error:
        print(f"the local stack failed: {error}", file=sys.stderr)
        code = 1
    except (pytest.skip.Exception, pytest.fail.Exception) as error:  # PostgreSQL is not reachable
        print(f"the local stack needs PostgreSQL on 127.0.0.1:5432: {error}", file=sys.stderr)
        code = 1
    finally:
        # Another Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    print("stopped", flush=True)
    return code


def banner(stack: LocalStack, wanted_port: int) -> str:
    moved = "" if stack.api_port == wanted_port else f"   (port {wanted_port} is taken)"
    user = stack.environment.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin").split(":")[0]
    return "\n".join(
        [
            "",
            "Airflow is up.",
            f"  UI           {stack.api_url}{moved}",
            f"  login        {user} / {stack.compose.admin_password}",
            f"  sandbox API  {stack.sandbox_url}   ({stack.records} records per main resource)",
            f"  warehouse    {stack.warehouse_url}",
            f"               {stack.warehouse_psql()}",
            "               e.g. SELECT count(*) FROM communications.communications_data;",
            f"  AIRFLOW_HOME {stack.home}   (logs: processes/, logs/)",
            "",
            "The five example DAGs are paused: unpause one in the UI and press Trigger, or run",
            f"  curl -s -X POST {stack.api_url}/auth/token -H 'Content-Type: application/json' \\",
            f"       -d '{json.dumps({'username': user, 'password': stack.compose.admin_password})}'",
            "and use the access_token as 'Authorization: Bearer <token>' on /api/v2.",
            "",
            "Ctrl-C stops everything and drops both databases.",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
