"""docker-compose.yaml, Dockerfile and .dockerignore, checked without a Docker engine.

The structure is read with PyYAML and held against the real parts it names: Airflow's CLI (each command
runs with --help), its configuration description (each AIRFLOW__SECTION__KEY), its simple auth manager
(the passwords file airflow-init writes), the sandbox's argparse and server (its command and healthcheck),
the example DAGs (one connection each, equal to sandbox_connection()) and Debian's docker-compose, a real
compose parser (``docker-compose config -q``, installed on demand by tests/support/debian.py).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from airflow_provider_restsync.sandbox import API_NAMES
from airflow_provider_restsync.sandbox.__main__ import READY, build_parser
from airflow_provider_restsync.sandbox.connections import sandbox_connection
from tests.support.debian import require_command

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DOCS = REPO / "docs" / "docker-compose.md"
AIRFLOW = Path(sys.executable).with_name("airflow")

DEFAULT_SERVICES = {
    "postgres",
    "warehouse",
    "sandbox",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
CELERY_SERVICES = {"redis", "airflow-worker"}
# The long-running Airflow components: each waits for airflow-init and the metadata database.
COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
# What runs tasks (LocalExecutor: the scheduler; Celery: the worker) or tests connections (the API
# server's Test button), so needs the destination and the sandbox up.
REACHES_APIS = ("airflow-scheduler", "airflow-worker", "airflow-apiserver", "airflow-triggerer")
CELERY_COMMAND_ENV = {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}  # as docs/docker-compose.md says


# ---------------------------------------------------------------------------------------------- helpers


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``$$`` is a ``$``; ``${X}``, ``$X``, ``${X:-default}``, ``${X-default}``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, default = match.group(2), match.group(3) or ""
        if operator == ":-":
            return env.get(name) or default
        if operator == "-":
            return env.get(name, default)
        return env.get(name, "")

    return _VARIABLE.sub(replace, value)


def resolved(value: Any, env: dict[str, str] | None = None) -> Any:
    """``value`` with every string interpolated as compose does (the shell's variables: ``env``)."""
    if isinstance(value, str):
        return interpolate(value, env or {})
    if isinstance(value, list):
        return [resolved(item, env) for item in value]
    if isinstance(value, dict):
        return {key: resolved(item, env) for key, item in value.items()}
    return value


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def profile_env(service: dict[str, Any]) -> dict[str, str]:
    """The shell variables a service runs with as documented: Celery ones with CeleryExecutor."""
    return CELERY_COMMAND_ENV if "celery" in service.get("profiles", []) else {}


def healthcheck_lines(service: dict[str, Any]) -> list[str]:
    """A healthcheck's command, as the one shell line (CMD-SHELL) or argv joined (CMD)."""
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return [test]
    if test[0] == "CMD-SHELL":
        return [test[1]]
    assert test[0] == "CMD", test
    return [shlex.join(test[1:])]


def init_script(services: dict[str, Any]) -> str:
    command = resolved(services["airflow-init"]["command"])
    assert services["airflow-init"]["entrypoint"] == "/bin/bash"
    assert command[0] == "-c"
    return str(command[1])


def airflow_argvs(services: dict[str, Any]) -> set[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]:
    """Every Airflow CLI call in the file (commands, healthchecks, airflow-init's script), with the shell
    variables its service runs with."""
    calls: set[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = set()

    def add(argv: list[str], service: dict[str, Any]) -> None:
        calls.add((tuple(argv), tuple(sorted(profile_env(service).items()))))

    for name, raw in services.items():
        if not name.startswith("airflow-"):
            continue
        service = resolved(raw, profile_env(raw))
        if name != "airflow-init":
            add(as_argv(service["command"]), service)
        for line in healthcheck_lines(service) if "healthcheck" in service else []:
            # The container's shell gives $HOSTNAME; any name will do for --help.
            argv = shlex.split(line.replace("${HOSTNAME}", "some-host").replace("$HOSTNAME", "some-host"))
            if argv[0] == "airflow":
                add(argv[1:], service)
    for line in init_script(services).splitlines():
        argv = shlex.split(line) if "airflow" in line.split() else []
        if argv[:2] == ["/entrypoint", "airflow"]:
            add(argv[2:], services["airflow-init"])
    return calls


def run_airflow_help(argv: tuple[str, ...], env_items: tuple[tuple[str, str], ...], home: Path) -> Any:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        **dict(env_items),
    }
    return subprocess.run(
        [str(AIRFLOW), *argv, "--help"], env=env, capture_output=True, text=True, timeout=180
    )


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each of a service's volumes, short syntax."""
    mounts = []
    for volume in resolved(service.get("volumes", [])):
        source, target = volume.split(":")[:2]
        mounts.append((source, target))
    return mounts


@cache
def configuration_description() -> dict[str, dict[str, Any]]:
    from airflow.configuration import retrieve_configuration_description

    return retrieve_configuration_description(include_airflow=True, include_providers=True)


def is_known_setting(variable: str) -> bool:
    _, section, key = variable.split("__", 2)
    section, key = section.lower(), key.lower()
    from airflow.configuration import conf

    options = configuration_description().get(section, {}).get("options", {})
    return key in options or conf.has_option(section, key)


def example_dags() -> dict[str, dict[str, Any]]:
    """Each dags/*.py's rest_sync_dag() keywords (constants only), by file stem."""
    dags = {}
    for path in sorted((REPO / "dags").glob("*.py")):
        tree = ast.parse(path.read_text())
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "rest_sync_dag"
        ]
        assert len(calls) == 1, f"{path.name}: one rest_sync_dag() call expected"
        keywords = {kw.arg: kw.value.value for kw in calls[0].keywords if isinstance(kw.value, ast.Constant)}
        keywords["source"] = path.read_text()
        dags[path.stem] = keywords
    return dags


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def common_env(compose: dict[str, Any]) -> dict[str, str]:
    """x-airflow-common.environment as the containers get it (the shell sets nothing)."""
    return resolved(compose["x-airflow-common"]["environment"])


@pytest.fixture(scope="module")
def sandbox_args(services: dict[str, Any]) -> Any:
    argv = as_argv(resolved(services["sandbox"]["command"]))
    assert argv[:3] == ["python", "-m", "airflow_provider_restsync.sandbox"]
    return build_parser().parse_args(argv[3:])


# ------------------------------------------------------------------------------------------------ tests


def test_the_services_of_each_profile_and_their_healthchecks(services: dict[str, Any]) -> None:
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == DEFAULT_SERVICES
    celery = {name for name, service in services.items() if service.get("profiles") == ["celery"]}
    assert celery == CELERY_SERVICES
    assert set(services) == DEFAULT_SERVICES | CELERY_SERVICES
    for name, service in services.items():
        if name == "airflow-init":  # one-shot: the others wait for it to complete, not to be healthy
            assert "healthcheck" not in service and "restart" not in service
            continue
        assert service["healthcheck"]["test"], name
        assert service.get("restart") == "always", name

    for name, user in (("postgres", "airflow"), ("warehouse", "warehouse")):
        assert services[name]["image"] == "postgres:16"
        assert services[name]["healthcheck"]["test"][:4] == ["CMD", "pg_isready", "-U", user]
    warehouse = services["warehouse"]["environment"]
    assert (warehouse["POSTGRES_USER"], warehouse["POSTGRES_PASSWORD"], warehouse["POSTGRES_DB"]) == (
        "warehouse",
        "warehouse",
        "warehouse",
    )
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert services["airflow-worker"]["command"] == "celery worker"


def test_every_airflow_service_is_built_from_the_common_block(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    assert common["build"] == "."
    assert resolved(common["image"]) == "airflow-provider-restsync:local"
    assert resolved(common["user"]) == "50000:0"
    assert ("./dags", "/opt/airflow/dags") in volume_mounts(common)
    assert "/opt/airflow/logs" in {target for _, target in volume_mounts(common)}
    airflow_services = {name: s for name, s in compose["services"].items() if name.startswith("airflow-")}
    for name, service in airflow_services.items():
        for key in ("image", "build", "volumes"):
            assert service[key] == common[key], (name, key)
        assert service["user"] == ("0:0" if name == "airflow-init" else common["user"]), name
        # Every Airflow setting lives in the common block: a service adds only non-Airflow variables.
        extra = {
            key: value for key, value in service["environment"].items() if key not in common["environment"]
        }
        assert all(not key.startswith("AIRFLOW") for key in extra), (name, extra)
        assert {key: service["environment"][key] for key in common["environment"]} == common["environment"]
    # The sandbox runs the same image.
    sandbox = compose["services"]["sandbox"]
    assert (sandbox["image"], sandbox["build"]) == (common["image"], common["build"])


def test_depends_on_conditions(services: dict[str, Any]) -> None:
    def conditions(name: str) -> dict[str, str]:
        return {target: spec["condition"] for target, spec in services[name].get("depends_on", {}).items()}

    for name in (*COMPONENTS, "airflow-worker"):
        assert conditions(name)["airflow-init"] == "service_completed_successfully", name
        assert conditions(name)["postgres"] == "service_healthy", name
    assert conditions("airflow-init")["postgres"] == "service_healthy"
    for name in REACHES_APIS:
        assert conditions(name)["warehouse"] == "service_healthy", name
        assert conditions(name)["sandbox"] == "service_healthy", name
    assert conditions("airflow-worker")["redis"] == "service_healthy"
    assert conditions("airflow-worker")["airflow-apiserver"] == "service_healthy"

    for name, service in services.items():
        for target, condition in conditions(name).items():
            assert target in services, (name, target)
            if condition == "service_healthy":
                assert "healthcheck" in services[target], (name, target)
            # A default service never waits for one that only a profile starts.
            if not service.get("profiles"):
                assert not services[target].get("profiles"), (name, target)


def test_build_context_dockerfile_and_dockerignore(services: dict[str, Any]) -> None:
    import airflow

    for name, service in services.items():
        if "build" not in service:
            continue
        build = service["build"]
        context = REPO / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert context.is_dir(), name
        assert (context / dockerfile).is_file(), name

    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert instructions[0] == f"FROM apache/airflow:{airflow.__version__}-python{python}"
    copied = []
    for line in instructions:
        if line.startswith("COPY"):
            *sources, target = [part for part in line.split()[1:] if not part.startswith("--")]
            assert target.startswith("/opt/restsync/"), line
            copied += sources
    assert sorted(copied) == ["README.md", "airflow_provider_restsync/", "pyproject.toml"]
    for source in copied:
        assert (REPO / source).exists(), source
    installs = [line for line in instructions if line.startswith("RUN pip install")]
    assert (
        len(installs) == 1 and '"/opt/restsync[postgres]"' in installs[0] and "--no-cache-dir" in installs[0]
    )
    # Installed as the image's airflow user, not root.
    users = [
        line.split()[1] for line in instructions[: instructions.index(installs[0])] if line.startswith("USER")
    ]
    assert users[-1] == "airflow"
    for text in (COMPOSE.read_text(), DOCKERFILE.read_text()):
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in text

    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()}
    assert {".venv", "airflow_home", ".git", ".demo", "**/__pycache__"} <= ignored
    assert not ignored & {"README.md", "pyproject.toml", "airflow_provider_restsync", "*.md"}


def test_every_bind_mount_exists_and_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in compose["services"].items():
        for source, target in volume_mounts(service):
            assert target.startswith("/"), (name, target)
            if source.startswith((".", "/")):
                assert (REPO / source).resolve().exists(), (name, source)
                assert (REPO / source).resolve().is_relative_to(REPO), (name, source)
            else:
                assert source in declared, (name, source)
                used.add(source)
    assert used == declared


def test_every_airflow_command_is_a_real_cli_command(services: dict[str, Any], tmp_path: Path) -> None:
    calls = sorted(airflow_argvs(services))
    argvs = {argv for argv, _ in calls}
    assert {
        ("api-server",),
        ("scheduler",),
        ("dag-processor",),
        ("triggerer",),
        ("celery", "worker"),
        ("db", "migrate"),
    } <= argvs
    assert ("jobs", "check", "--job-type", "DagProcessorJob", "--hostname", "some-host") in argvs
    assert ("jobs", "check", "--job-type", "TriggererJob", "--hostname", "some-host") in argvs
    # The check can fail: a made-up command or option value is refused the same way.
    unknown = [(("no-such-command",), ()), (("jobs", "check", "--job-type", "NoSuchJob"), ())]
    everything = calls + unknown
    homes = [tmp_path / f"home-{index}" for index in range(len(everything))]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda call, home: run_airflow_help(*call, home), everything, homes))
    for (argv, env), result in zip(calls, results[: len(calls)], strict=True):
        assert result.returncode == 0, (argv, env, result.stderr[-2000:])
        assert result.stdout.lower().startswith(f"usage: airflow {argv[0]}"), argv
    for (argv, _), result in zip(unknown, results[len(calls) :], strict=True):
        assert result.returncode != 0, argv


def test_the_worker_healthcheck_pings_the_celery_providers_app(services: dict[str, Any]) -> None:
    argv = shlex.split(healthcheck_lines(resolved(services["airflow-worker"]))[0])
    assert argv[:2] == ["celery", "--app"] and "ping" in argv
    module, _, attribute = argv[2].rpartition(".")
    assert attribute == "app"
    assert importlib.util.find_spec(module) is not None, module


def test_the_sandbox_command_parses_and_its_healthcheck_answers(
    services: dict[str, Any], sandbox_args: Any
) -> None:
    assert (sandbox_args.host, sandbox_args.port, sandbox_args.records) == ("0.0.0.0", 8090, 1000)
    sandbox = resolved(services["sandbox"])
    assert sandbox["environment"]["CONNECTION_CHECK_MAX_COUNT"] == "0"
    test = sandbox["healthcheck"]["test"]
    assert test[:3] == ["CMD", "curl", "--fail"]
    url = urlsplit(test[3])
    assert (url.hostname, url.port) == ("127.0.0.1", sandbox_args.port)

    # The same command, on a free local port: the healthcheck's path answers 200.
    argv = as_argv(sandbox["command"])
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = "0"
    process = subprocess.Popen(
        [sys.executable, *argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert process.stdout is not None
        base = None
        for line in process.stdout:
            if line.startswith(READY):
                base = line.split()[-1].rstrip("/")
                break
        assert base, process.stderr.read() if process.stderr else "no output"
        with urllib.request.urlopen(base + url.path, timeout=10) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_every_airflow_setting_is_a_known_option(compose: dict[str, Any]) -> None:
    variables = set(compose["x-airflow-common"]["environment"])
    for service in compose["services"].values():
        environment = service.get("environment", {})
        variables |= set(environment if isinstance(environment, dict) else ())
    settings = sorted(name for name in variables if name.startswith("AIRFLOW__"))
    assert len(settings) >= 10
    unknown = [name for name in settings if not is_known_setting(name)]
    assert not unknown
    # The check tells a typo from a setting, providers' (celery) included.
    assert is_known_setting("AIRFLOW__CELERY__RESULT_BACKEND")
    assert not is_known_setting("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORD_FILE")


def test_the_airflow_settings(common_env: dict[str, str], services: dict[str, Any]) -> None:
    from airflow.configuration import conf

    assert common_env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert resolved(services["airflow-scheduler"]["environment"], CELERY_COMMAND_ENV)[
        "AIRFLOW__CORE__EXECUTOR"
    ] == ("CeleryExecutor")
    assert common_env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert common_env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true"
    assert common_env["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"
    assert common_env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert common_env["AIRFLOW__CORE__FERNET_KEY"] == ""
    assert len(common_env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 32

    metadata = urlsplit(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    postgres = services["postgres"]["environment"]
    assert metadata.scheme.startswith("postgresql")
    assert (metadata.hostname, metadata.port, metadata.username, metadata.password, metadata.path) == (
        "postgres",
        5432,
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        "/" + postgres["POSTGRES_DB"],
    )
    backend = urlsplit(common_env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert (backend.scheme, backend.hostname, backend.port) == ("db+postgresql", "postgres", 5432)
    broker = urlsplit(common_env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)

    # The execution API is the API server's, on the port it listens on and publishes.
    execution = urlsplit(common_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    api_port = conf.getint("api", "port")
    assert (execution.hostname, execution.port, execution.path) == (
        "airflow-apiserver",
        api_port,
        "/execution/",
    )
    apiserver_check = urlsplit(services["airflow-apiserver"]["healthcheck"]["test"][-1])
    assert (apiserver_check.port, apiserver_check.path) == (api_port, "/api/v2/version")
    scheduler_check = urlsplit(services["airflow-scheduler"]["healthcheck"]["test"][-1])
    assert scheduler_check.port == conf.getint("scheduler", "scheduler_health_check_server_port")
    assert scheduler_check.path == "/health"


def test_only_the_api_server_publishes_a_port(services: dict[str, Any]) -> None:
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert published == {"airflow-apiserver": ["8080:8080"]}


def test_the_simple_auth_manager_and_the_passwords_file_airflow_init_writes(
    services: dict[str, Any], common_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    module, _, name = common_env["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is SimpleAuthManager
    assert "providers.fab" not in COMPOSE.read_text()

    # The passwords file is on a volume airflow-init and the API server both mount.
    passwords_dir = str(Path(common_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent)
    for name in ("airflow-init", "airflow-apiserver"):
        assert passwords_dir in {target for _, target in volume_mounts(services[name])}, name

    script = init_script(services)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert "/entrypoint airflow db migrate" in script.splitlines()
    heredoc = re.search(r"^python - <<'(\w+)'\n(.*?)^\1$", script, re.DOTALL | re.MULTILINE)
    assert heredoc, "airflow-init writes the passwords file with an inline Python script"

    # That script, run with airflow-init's environment (the file in a temporary folder) ...
    init_env = resolved(services["airflow-init"]["environment"])
    assert init_env["_AIRFLOW_WWW_USER_PASSWORD"] == "admin"
    passwords_file = tmp_path / "passwords.json"
    env = {**os.environ, **init_env, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file)}
    subprocess.run([sys.executable, "-"], input=heredoc.group(2), text=True, env=env, check=True)
    written = passwords_file.read_text()

    # ... gives the simple auth manager admin / admin, with the admin role, and nothing to generate.
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords_file))
    monkeypatch.setenv(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", common_env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    users = SimpleAuthManager.get_users()
    assert [(user.username, user.role) for user in users] == [("admin", "admin")]
    assert SimpleAuthManager.get_passwords() == {"admin": "admin"}
    SimpleAuthManager().init()
    assert passwords_file.read_text() == written


def test_the_connections(common_env: dict[str, str], services: dict[str, Any], sandbox_args: Any) -> None:
    from airflow_provider_restsync.get_provider_info import get_provider_info

    restsync_types = {entry["connection-type"] for entry in get_provider_info()["connection-types"]}
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    registered = set(ProvidersManagerTaskRuntime().hooks)
    connections = {
        name.removeprefix("AIRFLOW_CONN_").lower(): json.loads(value)
        for name, value in common_env.items()
        if name.startswith("AIRFLOW_CONN_")
    }
    for conn_id, conn in connections.items():
        assert conn["conn_type"] in (restsync_types | {"postgres"}) & registered, conn_id
        host = urlsplit(conn["host"]).hostname if "://" in conn["host"] else conn["host"]
        assert host in services, conn_id

    # The destination: the warehouse service, with its credentials.
    destination = connections[common_env["RESTSYNC_DESTINATION_CONN_ID"]]
    warehouse = services["warehouse"]["environment"]
    assert destination == {
        "conn_type": "postgres",
        "host": "warehouse",
        "port": 5432,
        "login": warehouse["POSTGRES_USER"],
        "password": warehouse["POSTGRES_PASSWORD"],
        "schema": warehouse["POSTGRES_DB"],
    }

    # One per example DAG, exactly the sandbox's own connection for the compose sandbox's address.
    dags = example_dags()
    assert set(dags) == set(API_NAMES)
    for api, dag in dags.items():
        assert "RESTSYNC_DESTINATION_CONN_ID" in dag["source"], api
        url = f"http://sandbox:{sandbox_args.port}/{api}"
        assert connections.pop(dag["conn_id"]) == sandbox_connection(api, url), api
    assert set(connections) == {common_env["RESTSYNC_DESTINATION_CONN_ID"]}


def test_the_celery_profile_adds_redis_and_a_worker_and_nothing_else_uses_redis(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["redis"]["image"].startswith("redis:")
    worker = resolved(services["airflow-worker"], CELERY_COMMAND_ENV)
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"
    assert compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == (
        "${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
    )
    for name, service in services.items():
        if service.get("profiles"):
            continue
        assert "redis" not in str(service.get("image", "")), name
        assert "redis" not in service.get("depends_on", {}), name
        # Only the (idle without CeleryExecutor) broker setting names Redis.
        environment = service.get("environment", {})
        mentions = sorted(key for key, value in environment.items() if "redis" in str(value).lower())
        assert mentions in ([], ["AIRFLOW__CELERY__BROKER_URL"]), name
        assert "redis" not in json.dumps(service.get("command", "")).lower(), name


def test_the_docs_name_real_commands_and_tables() -> None:
    text = DOCS.read_text()
    for command in (
        "docker compose build",
        "docker compose up",
        "http://localhost:8080",
        "AIRFLOW__CORE__EXECUTOR=CeleryExecutor docker compose --profile celery up",
        "docker compose down -v",
    ):
        assert command in text, command
    dags = example_dags()
    queried = re.findall(r"count\(\*\) from (\w+)\.(\w+)", text)
    assert queried
    for schema, table in queried:
        dag = next(d for d in dags.values() if d.get("destination_schema") == schema)
        config = yaml.safe_load((REPO / "dags" / f"{dag['dag_id']}.yaml").read_text())
        assert table in {resource["name"] for resource in config["resources"]}, (schema, table)


@pytest.mark.parametrize("profile", [None, "celery"])
def test_docker_compose_validates_the_file(profile: str | None, common_env: dict[str, str]) -> None:
    docker_compose = require_command("docker-compose", "docker-compose")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    if profile:
        env |= CELERY_COMMAND_ENV
    argv = [docker_compose, "-f", str(COMPOSE), *(["--profile", profile] if profile else [])]
    check = subprocess.run(
        [*argv, "config", "-q"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stderr
    assert check.stderr.strip() == "", check.stderr  # no warning: every variable has its default

    # Its interpolation is this test's: the environment the API server gets is the common block.
    rendered = subprocess.run(
        [*argv, "config"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, rendered.stderr
    apiserver = yaml.safe_load(rendered.stdout)["services"]["airflow-apiserver"]
    expected = {**common_env, **(CELERY_COMMAND_ENV if profile else {})}
    assert apiserver["environment"] == expected
    assert apiserver["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
