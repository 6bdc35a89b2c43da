"""The compose file's Airflow stack, run on this machine without Docker: ``LocalStack``.

What ``docker compose up`` runs, as local processes: a fresh PostgreSQL database for Airflow's metadata and
a fresh one for the warehouse (on the server of :mod:`tests.support.databases`), the sandbox API on a free
port, then what the compose file's init service does (``airflow db migrate``, the admin's password file),
then ``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``. Their environment is the
compose file's ``x-airflow-common.environment`` (``${VAR:-default}`` resolved to its default) with the
compose addresses replaced by local ones::

    with LocalStack(records=250) as stack:
        stack.unpause("communications")
        run_id = stack.trigger("communications")
        stack.wait_for_run("communications", run_id)

Every process starts in a session of its own; on exit (or a failed start, or Ctrl-C) each session gets
SIGTERM, then SIGKILL after a grace period, whatever process groups its members made (Airflow puts each
task in a group of its own), and both databases are dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import sqlalchemy as sa
import yaml

from tests.support.databases import postgres_database
from tests.support.processes import group_members, session_members

REPO = Path(__file__).resolve().parent.parent.parent
COMPOSE_FILE = REPO / "docker-compose.yaml"
DAGS_FOLDER = REPO / "dags"
STACK_HOMES = REPO / "airflow_home" / "stacks"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SANDBOX_READY = "sandbox ready on"  # airflow_provider_restsync.sandbox.__main__.READY
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
TERMINAL_RUN_STATES = {"success", "failed"}
CONTAINER_HOME = "/opt/airflow"  # AIRFLOW_HOME in the official image
#: Servers of Airflow's own on fixed ports: the scheduler's (or worker's) and the triggerer's task logs,
#: and the scheduler's health check that the compose file turns on.
LOCAL_PORTS = (
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
)
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


class StackError(RuntimeError):
    """The stack did not start, or a run did not end as it should; the message carries the logs."""


# --- the compose file -----------------------------------------------------------------------------

_BRACED = re.compile(r"\$\{([^{}]*)\}")
_BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_ESCAPED = "\x00dollar\x00"


def interpolate(value: str) -> str:
    """Compose interpolation with nothing set: ``${VAR:-default}`` and ``${VAR-default}`` give the default,
    ``${VAR}``, ``$VAR``, ``${VAR:+x}`` and ``${VAR:?err}`` give ``""``, ``$$`` gives ``$``."""

    def braced(match: re.Match[str]) -> str:
        expression = match.group(1)
        for operator in (":-", "-"):
            name, found, default = expression.partition(operator)
            if found and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                return default
        return ""

    text = value.replace("$$", _ESCAPED)
    while True:  # innermost first: ${A:-${B:-x}}
        resolved = _BRACED.sub(braced, text)
        if resolved == text:
            break
        text = resolved
    return _BARE.sub("", text).replace(_ESCAPED, "$")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class ComposeFile:
    """What the stack takes from a compose file: the Airflow environment, services, the admin's password."""

    path: Path
    environment: dict[str, str]
    services: tuple[str, ...]
    admin_password: str

    @classmethod
    def read(cls, path: str | os.PathLike[str] = COMPOSE_FILE) -> ComposeFile:
        path = Path(path)
        text = path.read_text()
        document = yaml.safe_load(text) or {}
        common = document.get("x-airflow-common")
        if not isinstance(common, Mapping) or "environment" not in common:
            raise StackError(f"{path} has no x-airflow-common.environment (the Airflow 3 compose layout)")
        raw = common["environment"]
        if isinstance(raw, Mapping):
            pairs = [(str(k), _as_text(v)) for k, v in raw.items()]
        else:  # the list form: ["KEY=VALUE", ...]
            pairs = [tuple(str(item).partition("=")[::2]) for item in raw]  # type: ignore[misc]
        environment = {key: interpolate(value) for key, value in pairs}
        # The init service writes the admin's password from ${_AIRFLOW_WWW_USER_PASSWORD:-<default>}.
        password = re.search(r"\$\{_AIRFLOW_WWW_USER_PASSWORD:?-([^}]*)\}", text)
        return cls(
            path=path,
            environment=environment,
            services=tuple(document.get("services") or ()),
            admin_password=password.group(1) if password else "admin",
        )


def _driver_installed(drivername: str) -> bool:
    """Whether the DBAPI module a SQLAlchemy PostgreSQL driver name needs is importable."""
    dbapi = drivername.partition("+")[2] or "psycopg2"  # SQLAlchemy's default PostgreSQL driver
    module = {"psycopg": "psycopg", "psycopg2": "psycopg2", "asyncpg": "asyncpg", "pg8000": "pg8000"}
    return dbapi in module and find_spec(module[dbapi]) is not None


def metadata_url(compose_url: str, local_url: str) -> str:
    """The local database's URL with the driver the compose file names, if it is installed."""
    local = sa.make_url(local_url)
    drivername = sa.make_url(compose_url).drivername if compose_url else local.drivername
    if not drivername.startswith("postgresql") or not _driver_installed(drivername):
        drivername = "postgresql+psycopg"
    return local.set(drivername=drivername).render_as_string(hide_password=False)


def _replace_origin(value: str, compose_origin: str, local_origin: str) -> str:
    """``http://sandbox:8090/x`` -> ``http://127.0.0.1:PORT/x`` wherever the compose origin appears."""
    return re.sub(re.escape(compose_origin) + r"(?![\w.-])", local_origin, value)


def _sql_connection(compose_value: str, local_url: str) -> str:
    """A postgres ``AIRFLOW_CONN_*`` value pointed at a local database (its other fields kept)."""
    url = sa.make_url(local_url)
    try:
        conn = json.loads(compose_value)
    except ValueError:
        conn = {"conn_type": "postgres"}  # the URI form: nothing in it survives the move
    if not isinstance(conn, dict):
        conn = {"conn_type": "postgres"}
    local = {"host": url.host, "port": url.port or 5432, "login": url.username, "password": url.password}
    for field, value in {**local, "schema": url.database}.items():
        if value is None:
            conn.pop(field, None)
        else:
            conn[field] = value
    return json.dumps(conn)


# --- processes ------------------------------------------------------------------------------------


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens there on 127.0.0.1, else a free port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            # As the servers do: a port whose old connections linger in TIME_WAIT is free to listen on.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port")


@dataclass
class StackProcess:
    """One process of the stack, leader of a session of its own; its output goes to ``log``."""

    name: str
    command: list[str]
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def sid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        self.popen.poll()  # reaps the leader, so a dead one is not counted as a zombie
        return bool(session_members(self.sid))

    def signal_all(self, signum: int) -> None:
        """``signum`` to every process group of the session (the leader's and those its children made)."""
        self.popen.poll()
        groups = set()
        for pid in session_members(self.sid):
            with contextlib.suppress(OSError):
                groups.add(os.getpgid(pid))
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signum)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


# --- the stack ------------------------------------------------------------------------------------


class LocalStack:
    """The compose file's Airflow stack as local processes; a context manager.

    :param compose_file: the compose file whose ``x-airflow-common.environment`` the stack runs.
    :param executor: ``AIRFLOW__CORE__EXECUTOR`` (default: the compose file's). For ``CeleryExecutor``
        the broker is ``broker_url`` and the result backend the metadata database; start workers with
        ``start_process("worker-1", ["celery", "worker"])`` or ``celery_workers``.
    :param celery_workers: ``airflow celery worker`` processes to start once the stack is healthy.
    :param broker_url: the Celery broker replacing the compose file's.
    :param env: overrides applied last (a value of None removes the variable).
    :param extra_dag_folders: more DAG folders, each a LocalDagBundle beside the repo's dags/.
    :param records: the sandbox's ``--records``.
    :param latency: the sandbox's ``--latency`` (seconds per API request).
    :param sandbox_args: more arguments for the sandbox.
    :param api_port: the api-server's port; None for a free one.
    :param start_timeout: seconds for the services to report healthy.
    :param grace: seconds between SIGTERM and SIGKILL on exit.
    :param keep_home: leave the AIRFLOW_HOME (logs, config) behind on exit.
    """

    def __init__(
        self,
        *,
        compose_file: str | os.PathLike[str] = COMPOSE_FILE,
        executor: str | None = None,
        celery_workers: int = 0,
        broker_url: str = "redis://127.0.0.1:6379/0",
        env: Mapping[str, str | None] | None = None,
        extra_dag_folders: Sequence[str | os.PathLike[str]] = (),
        records: int = 1000,
        latency: float = 0.0,
        sandbox_args: Sequence[str] = (),
        api_port: int | None = None,
        start_timeout: float = 120.0,
        grace: float = 15.0,
        keep_home: bool = False,
    ) -> None:
        self.compose = ComposeFile.read(compose_file)
        self.executor = executor or self.compose.environment.get("AIRFLOW__CORE__EXECUTOR") or "LocalExecutor"
        self.celery_workers = celery_workers
        self.broker_url = broker_url
        self.overrides = dict(env or {})
        self.extra_dag_folders = [Path(folder).resolve() for folder in extra_dag_folders]
        self.records = records
        self.latency = latency
        self.sandbox_args = list(sandbox_args)
        self.requested_port = api_port
        self.start_timeout = start_timeout
        self.grace = grace
        self.keep_home = keep_home
        self.processes: dict[str, StackProcess] = {}
        self.started: list[StackProcess] = []  # every process ever started, for the leak check
        self.home = Path()
        self.environment: dict[str, str] = {}
        self.metadata_url = ""
        self.warehouse_url = ""
        self.sandbox_url = ""
        self.api_port = 0
        self.api_url = ""
        self.warehouse_conn_id = self.compose.environment.get("RESTSYNC_DESTINATION_CONN_ID", "")
        self._resources = ExitStack()
        self._session = requests.Session()
        self._token: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        STACK_HOMES.mkdir(parents=True, exist_ok=True)
        self.home = Path(tempfile.mkdtemp(prefix="stack-", dir=STACK_HOMES))
        if not self.keep_home:
            self._resources.callback(shutil.rmtree, self.home, True)
        (self.home / "processes").mkdir()
        # Callbacks run last-in first-out: the processes stop before the databases are dropped.
        self.metadata_url = self._resources.enter_context(postgres_database())
        self.warehouse_url = self._resources.enter_context(postgres_database())
        self._resources.callback(self.stop_processes)
        self.sandbox_url = self._start_sandbox()
        self.api_port = free_port(self.requested_port)
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.environment = self.build_environment()
        self._init()
        for service in SERVICES:
            command = ["api-server", "--port", str(self.api_port), "--host", "127.0.0.1"]
            self.start_process(service, command if service == "api-server" else [service])
        self.wait_healthy(self.start_timeout)
        for number in range(1, self.celery_workers + 1):
            name = f"celery-worker-{number}"
            self.start_process(name, ["celery", "worker", "--celery-hostname", f"{name}@%h"])

    def stop(self) -> None:
        """Stop every process, drop both databases, remove the home; safe to call more than once."""
        self._session.close()
        self._resources.close()

    def stop_processes(self) -> None:
        """SIGTERM to every session, SIGKILL after ``grace`` to what is left; raises if anything survives."""
        running = [process for process in self.started if process.alive()]
        for process in running:
            process.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(process.alive() for process in running):
            time.sleep(0.2)
        for process in running:
            if process.alive():
                process.signal_all(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(process.alive() for process in running):
            time.sleep(0.1)
        survivors = {p.name: session_members(p.sid) for p in running if p.alive()}
        if survivors:
            raise StackError(f"processes survived SIGKILL: {survivors}")

    def leftover_processes(self) -> dict[str, list[int]]:
        """The live processes of every session the stack started (empty once it has stopped)."""
        return {p.name: session_members(p.sid) for p in self.started if p.alive()}

    def assert_nothing_left(self, groups: Collection[int]) -> None:
        """After the stack stopped: no process lives in any of its sessions or in ``groups`` (what
        :meth:`process_groups` said while it ran: Airflow gives each task a group of its own)."""
        assert self.leftover_processes() == {}
        assert {sid: session_members(sid) for sid in self.sessions if session_members(sid)} == {}
        assert group_members(groups) == {}, "processes of the stack's process groups survived it"

    def process_groups(self) -> set[int]:
        """The process groups the stack's live processes are in (Airflow gives each task its own)."""
        groups = set()
        for process in self.started:
            for pid in session_members(process.sid):
                with contextlib.suppress(OSError):
                    groups.add(os.getpgid(pid))
        return groups

    @property
    def sessions(self) -> list[int]:
        """The session ids of every process the stack started (each process leads its own)."""
        return [process.sid for process in self.started]

    # --- the seam: processes by name ---------------------------------------------------------------

    def start_process(
        self,
        name: str,
        airflow_args: Sequence[str] | None = None,
        command: Sequence[str] | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> StackProcess:
        """Start ``airflow <airflow_args>`` (or any ``command``) as process ``name`` in the stack's
        environment, in a session of its own, its stdout and stderr in ``processes/<name>.log``.

        :param env: overrides of the stack's environment for this process alone (None removes a variable).
        """
        if name in self.processes and self.processes[name].alive():
            raise StackError(f"process {name!r} is already running")
        argv = list(command) if command is not None else [AIRFLOW, *(airflow_args or [])]
        log = self.home / "processes" / f"{name}.log"
        environment: dict[str, str] | None = self.environment or None
        if env:
            environment = dict(self.environment or os.environ)
            for key, value in env.items():
                if value is None:
                    environment.pop(key, None)
                else:
                    environment[key] = value
        with log.open("ab") as output:
            popen = subprocess.Popen(
                argv,
                env=environment,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = StackProcess(name, argv, popen, log)
        self.processes[name] = process
        self.started.append(process)
        return process

    def kill_process(self, name: str, signum: int = signal.SIGKILL, wait: float = 10.0) -> None:
        """Send ``signum`` to every process group of process ``name``'s session; wait until it is empty
        (for SIGKILL; other signals only wait as long as the process takes)."""
        process = self.processes[name]
        process.signal_all(signum)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process.alive():
            time.sleep(0.1)
        if signum == signal.SIGKILL and process.alive():
            raise StackError(f"{name} still runs {wait} s after SIGKILL: {session_members(process.sid)}")

    # --- start-up ----------------------------------------------------------------------------------

    def _start_sandbox(self) -> str:
        command = [sys.executable, "-m", "airflow_provider_restsync.sandbox", "--port", "0"]
        command += ["--records", str(self.records), "--latency", str(self.latency), *self.sandbox_args]
        process = self.start_process("sandbox", command=command)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in process.log.read_text(errors="replace").splitlines():
                if line.startswith(SANDBOX_READY):
                    return line.split()[-1]
            if process.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise StackError(f"the sandbox did not start:\n{process.tail()}")

    def build_environment(self) -> dict[str, str]:
        """The compose file's Airflow environment, its addresses and container paths made local."""
        compose = self.compose.environment
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "_AIRFLOW", "RESTSYNC_"))
        }
        sandbox = urlsplit(self.sandbox_url)
        for key, value in compose.items():
            if value.startswith(CONTAINER_HOME):  # /opt/airflow/config/airflow.cfg -> <home>/config/...
                value = str(self.home) + value[len(CONTAINER_HOME) :]
            for origin in re.findall(r"https?://sandbox(?::\d+)?", value):
                value = _replace_origin(value, origin, f"{sandbox.scheme}://{sandbox.netloc}")
            env[key] = value
        env["AIRFLOW_HOME"] = str(self.home)
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
        env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        env["AIRFLOW__CORE__EXECUTOR"] = self.executor
        env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(self.home / "logs")
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.passwords_file)
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_url(
            compose.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""), self.metadata_url
        )
        execution = urlsplit(compose.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL") or "/execution/")
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = urlunsplit(
            ("http", f"127.0.0.1:{self.api_port}", execution.path or "/execution/", "", "")
        )
        # Ports every stack would otherwise share with any other on this machine (each is a container's own).
        taken = {self.api_port}
        for key in LOCAL_PORTS:
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            env[key] = str(port)
        if self.warehouse_conn_id:
            key = f"AIRFLOW_CONN_{self.warehouse_conn_id.upper()}"
            env[key] = _sql_connection(compose.get(key, ""), self.warehouse_url)
        if compose.get("AIRFLOW__API__BASE_URL"):
            env["AIRFLOW__API__BASE_URL"] = self.api_url + urlsplit(compose["AIRFLOW__API__BASE_URL"]).path
        celery = ("AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND")
        if "Celery" in self.executor or any(key in compose for key in celery):
            env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if self.extra_dag_folders:
            bundles = [("dags-folder", DAGS_FOLDER)]
            bundles += [(f"extra-{i}-{p.name}", p) for i, p in enumerate(self.extra_dag_folders, 1)]
            env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
                [{"name": n, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(p)}} for n, p in bundles]
            )
        for key, value in self.overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        self._check_local({key: env[key] for key in compose if key in env})
        return env

    def _check_local(self, env: Mapping[str, str]) -> None:
        """No compose value may still point at a compose service (``//postgres:5432``, ``@redis``)."""
        services = "|".join(re.escape(name) for name in self.compose.services)
        if not services:
            return
        pattern = re.compile(rf"(?://|@)({services})(?=[:/\"]|$)")
        left = {key: m.group(1) for key, value in env.items() if (m := pattern.search(value))}
        if left:
            raise StackError(f"compose addresses the local stack does not replace: {left}")

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def _init(self) -> None:
        """What the compose file's init service does: migrate the metadata database, write the password."""
        users = [
            u.split(":")[0]
            for u in self.environment.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "").split(",")
        ]
        passwords = {user.strip(): self.compose.admin_password for user in users if user.strip()}
        self.passwords_file.write_text(json.dumps(passwords or {"admin": self.compose.admin_password}))
        log = self.home / "processes" / "db-migrate.log"
        with log.open("wb") as output:
            done = subprocess.run(
                [AIRFLOW, "db", "migrate"],
                env=self.environment,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise StackError(f"airflow db migrate failed ({done.returncode}):\n{tail}")

    def health(self) -> dict[str, Any]:
        response = self._session.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        response.raise_for_status()
        return dict(response.json())

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Until /api/v2/monitor/health says every component is healthy; raises with the logs' tails."""
        deadline = time.monotonic() + timeout
        last: Any = "no answer"
        while time.monotonic() < deadline:
            dead = [p.name for p in self.processes.values() if p.popen.poll() is not None]
            if dead:
                raise StackError(f"{', '.join(dead)} exited during start-up\n{self.log_tails()}")
            try:
                last = self.health()
            except (requests.RequestException, ValueError) as error:
                last = repr(error)
            else:
                if all((last.get(part) or {}).get("status") == "healthy" for part in HEALTH_COMPONENTS):
                    return last
            time.sleep(1)
        raise StackError(f"not healthy after {timeout:.0f} s: {last}\n{self.log_tails()}")

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name} ({p.log}) ---\n{p.tail(lines)}" for p in self.processes.values())

    # --- the warehouse -----------------------------------------------------------------------------

    def warehouse_engine(self) -> sa.Engine:
        """An engine on the warehouse database (dispose it when done)."""
        return sa.create_engine(self.warehouse_url)

    def warehouse_psql(self) -> str:
        """A psql command line for the warehouse."""
        url = sa.make_url(self.warehouse_url)
        return f"psql -h {url.host} -p {url.port or 5432} -U {url.username} {url.database}"

    # --- REST API ----------------------------------------------------------------------------------

    def token(self) -> str:
        """A bearer token for the admin, from POST /auth/token."""
        username = self.environment.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
        body = {"username": username.split(",")[0].split(":")[0], "password": self.compose.admin_password}
        response = self._session.post(f"{self.api_url}/auth/token", json=body, timeout=30)
        if response.status_code >= 400:
            raise StackError(f"POST /auth/token: {response.status_code} {response.text[:500]}")
        self._token = str(response.json()["access_token"])
        return self._token

    def api(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Sequence[int] | None = None,
    ) -> Any:
        """One REST call with the bearer token (fetched again once on a 401); the JSON answer.

        :param expect: accepted statuses (default: any below 400); another raises ``StackError``.
        """
        for attempt in (1, 2):
            if self._token is None:
                self.token()
            response = self._session.request(
                method,
                f"{self.api_url}{path}",
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {self._token}", **(headers or {})},
                timeout=60,
            )
            if response.status_code == 401 and attempt == 1:
                self._token = None
                continue
            break
        ok = response.status_code in expect if expect is not None else response.status_code < 400
        if not ok:
            raise StackError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def wait_for_dags(self, dag_ids: Sequence[str], timeout: float = 120.0) -> None:
        """Until the dag-processor has parsed every DAG in ``dag_ids``; raises naming the missing ones."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            found = self.api("GET", "/api/v2/dags", params={"limit": 1000})
            missing = set(dag_ids) - {dag["dag_id"] for dag in found["dags"]}
            if not missing:
                return
            time.sleep(1)
        errors = self.api("GET", "/api/v2/importErrors")
        raise StackError(
            f"DAGs not parsed after {timeout:.0f} s: {sorted(missing)}; import errors: {errors}\n"
            + self.log_tails()
        )

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """A manual run of ``dag_id`` with ``conf``; its run id."""
        run = self.api(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})}
        )
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.api(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        )
        return list(answer["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int | None = None) -> str:
        """A task's log as text, one line per event (``level event key=value ...``).

        :param try_number: default: the task instance's latest try.
        """
        if try_number is None:
            ti = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
            try_number = int(ti["try_number"]) or 1
        answer = self.api(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        return "\n".join(_log_line(item) for item in answer.get("content") or [])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """Until the run ends; its JSON if it succeeded. Raises with the task states and the failed
        tasks' logs if it failed or outlived ``timeout``."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL_RUN_STATES:
                break
            time.sleep(1)
        if run.get("state") == "success":
            return run
        what = f"run {run_id} of {dag_id} is {run.get('state')}"
        if run.get("state") not in TERMINAL_RUN_STATES:
            what += f" after {timeout:.0f} s"
        raise StackError(f"{what}: {self.task_states(dag_id, run_id)}\n{self.failure_logs(dag_id, run_id)}")

    def failure_logs(self, dag_id: str, run_id: str, lines: int = 60) -> str:
        """The log tails of the run's failed (or upstream-failed, or still running) tasks."""
        parts = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] in ("failed", "up_for_retry", "running", "queued") and ti.get("try_number"):
                try:
                    text = self.task_log(dag_id, run_id, ti["task_id"], int(ti["try_number"]))
                except StackError as error:
                    text = str(error)
                tail = "\n".join(text.splitlines()[-lines:])
                parts.append(f"--- {ti['task_id']} ({ti['state']}, try {ti['try_number']}) ---\n{tail}")
        return "\n".join(parts) or "(no failed task has a log)"


def _log_line(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    fields = dict(item)
    head = " ".join(str(fields.pop(k)) for k in ("timestamp", "level", "logger") if fields.get(k))
    event = fields.pop("event", "")
    rest = " ".join(f"{k}={v}" for k, v in fields.items())
    return " ".join(part for part in (head, str(event), rest) if part)
