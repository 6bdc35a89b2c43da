"""``python -m airflow_provider_restsync.sandbox``: serve the five reference APIs until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from airflow_provider_restsync.sandbox.apis import APIS, sizes_table
from airflow_provider_restsync.sandbox.faults import FAULT_KINDS, FaultConfig
from airflow_provider_restsync.sandbox.server import SandboxServer

READY = "sandbox ready on"


def secret_env_var(api: str) -> str:
    return f"RESTSYNC_SANDBOX_{api.upper()}_SECRET"


def build_parser() -> argparse.ArgumentParser:
    epilog = "\n".join(
        [
            "rows per resource (records = --records):",
            sizes_table(),
            "",
            "faults: a request faults with probability --fault-rate, decided by a hash of the request and",
            "how often it was seen; one request never faults more than --max-consecutive times in a row.",
            "Per API only faults its reference document retries are sent (inbox_testing: 429, drop, slow).",
            "",
            "secrets: --secret API=VALUE, or one of these environment variables, replaces a sandbox-only",
            "demo secret: " + ", ".join(secret_env_var(api) for api in APIS),
        ]
    )
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_restsync.sandbox",
        description="Serve the five reference APIs locally, each under /<api>, with deterministic data.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8080, help="TCP port, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--records", type=int, default=1000, help="size of each main resource (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=42, help="data seed (default: %(default)s)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that fault, 0..1")
    parser.add_argument(
        "--fault-kinds",
        default=",".join(FAULT_KINDS),
        help="comma-separated kinds to inject (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-after", type=float, default=1.0, help="Retry-After of a 429, seconds (sent rounded up)"
    )
    parser.add_argument("--slow-seconds", type=float, default=0.5, help="delay of a 'slow' fault, seconds")
    parser.add_argument("--fault-seed", type=int, default=7, help="seed of the fault decisions")
    parser.add_argument("--max-consecutive", type=int, default=1, help="most faults in a row for one request")
    parser.add_argument(
        "--secret", action="append", default=[], metavar="API=VALUE", help="replace one API's demo secret"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    return parser


def parse_secrets(pairs: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Secrets from the environment, then from ``--secret`` flags (which win)."""
    secrets = {api: environ[secret_env_var(api)] for api in APIS if environ.get(secret_env_var(api))}
    for pair in pairs:
        api, sep, value = pair.partition("=")
        if not sep or api not in APIS or not value:
            raise ValueError(f"--secret expects API=VALUE with API one of {', '.join(APIS)}")
        secrets[api] = value
    return secrets


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = FaultConfig(
            rate=args.fault_rate,
            kinds=FaultConfig.parse_kinds(args.fault_kinds),
            retry_after=args.retry_after,
            slow_seconds=args.slow_seconds,
            seed=args.fault_seed,
            max_consecutive=args.max_consecutive,
        )
        logger = (lambda line: print(line, file=sys.stderr, flush=True)) if args.verbose else None
        server = SandboxServer(
            args.host,
            args.port,
            args.records,
            args.seed,
            faults,
            secrets=parse_secrets(args.secret, os.environ),
            request_logger=logger,
        )
    except ValueError as error:
        parser.error(str(error))
    try:
        server.start()
    except OSError as error:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    fault_text = f"{faults.rate:.0%} of {','.join(faults.kinds)}" if faults.rate else "off"
    print(f"restsync sandbox: records={args.records} seed={args.seed} faults={fault_text}")
    for api in APIS.values():
        secrets = ", ".join(f"{key}={value}" for key, value in server.credentials[api.name].items())
        print(f"  {api.name:<15} {server.base_url(api.name):<40} {api.auth.describe()}: {secrets}")
    print("  (sandbox-only demo credentials: never reuse them for anything real)")
    print(f"{READY} {server.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()
    print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
