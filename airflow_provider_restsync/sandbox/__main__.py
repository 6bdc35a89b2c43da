"""``python -m airflow_provider_restsync.sandbox``: serve the sandbox APIs until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from airflow_provider_restsync.sandbox import changing
from airflow_provider_restsync.sandbox.apis import APIS, sizes_table
from airflow_provider_restsync.sandbox.auth import SANDBOX_CREDENTIALS
from airflow_provider_restsync.sandbox.faults import DEFAULT_FAULT_KINDS, FAULT_KINDS, FaultConfig
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
            "Per API only faults its reference document retries are sent (inbox_testing gets no 5xx).",
            "Kinds: 429 (Retry-After in seconds), 429-date (Retry-After as an HTTP date), 500, 502, 503,",
            "504, drop (closed without an answer), slow (answered after --slow-seconds), and three that",
            "break a 200 answer to a GET: reset (half the body, then a TCP reset), truncated (JSON cut in",
            "the middle, Content-Length matching) and html (an HTML error page, as a proxy sends).",
            "The default kinds are the first seven; --fault-kinds all injects every kind.",
            "",
            "changing: a mutable API at /changing/v1/items (bearer token) for incremental-sync tests:",
            "--changing-items records, paged by offset/limit (at most 500) as {data, total}, filtered by",
            "updated_since (inclusive) and updated_until (exclusive), ordered by updated_at then id.",
            "",
            "secrets: --secret API=VALUE, or one of these environment variables, replaces a sandbox-only",
            "demo secret: " + ", ".join(secret_env_var(api) for api in SANDBOX_CREDENTIALS),
        ]
    )
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_restsync.sandbox",
        description="Serve the five reference APIs and the changing API locally, each under /<api>.",
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
        default=",".join(DEFAULT_FAULT_KINDS),
        help=f"comma-separated kinds to inject, or 'all' ({','.join(FAULT_KINDS)}) (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        default=1.0,
        help="Retry-After of a 429, seconds (sent rounded up); a 429-date's date is that far ahead",
    )
    parser.add_argument("--slow-seconds", type=float, default=0.5, help="delay of a 'slow' fault, seconds")
    parser.add_argument("--fault-seed", type=int, default=7, help="seed of the fault decisions")
    parser.add_argument("--max-consecutive", type=int, default=1, help="most faults in a row for one request")
    parser.add_argument(
        "--secret", action="append", default=[], metavar="API=VALUE", help="replace one API's demo secret"
    )
    parser.add_argument(
        "--changing-items",
        type=int,
        default=0,
        metavar="N",
        help="records the changing API starts with (default: %(default)s)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay before answering each API request, not /healthz (default: %(default)s)",
    )
    parser.add_argument(
        "--max-limit",
        type=int,
        default=None,
        metavar="N",
        help="page size cap of every paginated API (default: each reference document's, mostly 100)",
    )
    parser.add_argument(
        "--cache-mb",
        type=int,
        default=0,
        metavar="MB",
        help="serve repeated page requests from up to MB of memory (default: %(default)s, off)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    return parser


def parse_secrets(pairs: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """Secrets from the environment, then from ``--secret`` flags (which win)."""
    apis = tuple(SANDBOX_CREDENTIALS)
    secrets = {api: environ[secret_env_var(api)] for api in apis if environ.get(secret_env_var(api))}
    for pair in pairs:
        api, sep, value = pair.partition("=")
        if not sep or api not in apis or not value:
            raise ValueError(f"--secret expects API=VALUE with API one of {', '.join(apis)}")
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
            changing_items=args.changing_items,
            latency=args.latency,
            max_limit=args.max_limit,
            cache_bytes=args.cache_mb * 1024 * 1024,
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
    print(
        f"restsync sandbox: records={args.records} seed={args.seed} faults={fault_text}"
        f" changing_items={args.changing_items} latency={args.latency}s"
    )
    served = [(api.name, api.auth) for api in APIS.values()] + [(changing.NAME, changing.AUTH)]
    for name, api_auth in served:
        secrets = ", ".join(f"{key}={value}" for key, value in server.credentials[name].items())
        print(f"  {name:<15} {server.base_url(name):<40} {api_auth.describe()}: {secrets}")
    print("  (sandbox-only demo credentials: never reuse them for anything real)")
    print(f"{READY} {server.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()
    print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
