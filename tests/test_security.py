"""Security, proven against real loopback servers, real databases and real Airflow.

1. Secrets (basic-auth password, API key in a header and in the query string, bearer token, a secret
   header from the connection's ``headers`` extra, OAuth2 client secret and the access token it gets)
   appear in no log line at any level, no exception or traceback, no task log file Airflow writes, no
   XCom, no rendered template field, no row of the metadata database and no destination table, for a run
   that succeeds and one that fails with an error body echoing the key in every spelling.
2. Credentials never follow a next link or a redirect to another origin, even one that carries
   ``api_key=<key>`` itself; a same-origin next link keeps them.
3. TLS verification is on unless a connection turns it off explicitly, which is warned about.
4. Field names and values from API data cannot inject SQL (SQLite, PostgreSQL, MariaDB).
5. Parent values put into a child's path stay one URL-encoded segment.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
import sqlalchemy as sa

from airflow_provider_restsync.config import load_source
from airflow_provider_restsync.errors import ApiRequestError, PagingError
from airflow_provider_restsync.fetch import iter_pages
from airflow_provider_restsync.hooks import resolve_api_hook
from airflow_provider_restsync.sql.destination import create_destination_engine
from airflow_provider_restsync.sql.write import TableWriter
from tests.support.capture import (
    capture_output,
    exception_text,
    find_secrets,
    spellings,
)
from tests.support.databases import postgres_database
from tests.support.http import LoopbackServer, Request, Response, serve
from tests.support.task_logs import run_dag

REPO = Path(__file__).resolve().parent.parent

# Each secret has characters that need encoding in a URL (+ / = ! &), and is told apart from the others.
LOGIN = "sync-user"
CLIENT_ID = "client-1"
SECRETS = {
    "basic-auth password": "B4sic+pw/s=cr3t!&x",
    "API key in a header": "H3ader+key/s=cr3t!&x",
    "secret header of the headers extra": "X3tra+hdr/s=cr3t!&x",
    "API key in the query string": "Qu3ry+key/s=cr3t!&x",
    "bearer token": "B3arer+tok/s=cr3t!&x",
    "OAuth2 client secret": "C1ient+sec/s=cr3t!&x",
    "OAuth2 access token": "Acc3ss+tok/s=cr3t!&x",
}
#: The secrets each style's API requests carry (the client secret only goes to the token endpoint).
SENT = {
    "basic": ("basic-auth password",),
    "header": ("API key in a header", "secret header of the headers extra"),
    "query": ("API key in the query string",),
    "bearer": ("bearer token",),
    "oauth": ("OAuth2 access token",),
    "oauthbad": ("OAuth2 client secret",),
}
STYLES = ("basic", "header", "query", "bearer", "oauth")
#: How each style's failing request fails: 400, 401 and 500 (retried once before it fails for good).
FAIL_STATUS = {"basic": 400, "header": 401, "query": 500, "bearer": 400, "oauth": 500, "oauthbad": 401}
BASIC_HEADER = "Basic " + base64.b64encode(f"{LOGIN}:{SECRETS['basic-auth password']}".encode()).decode()


def secret(name: str) -> str:
    return SECRETS[name]


def connection(style: str, origin: str, **extra: Any) -> dict[str, Any]:
    """The ``AIRFLOW_CONN_*`` JSON of ``style``'s connection; its base URL is ``<origin>/<style>``."""
    base = f"{origin}/{style}"
    extras: dict[str, Any] = {"max_retries": 1, "backoff_factor": 0, **extra}
    if style == "basic":
        return {
            "conn_type": "restsync_basic",
            "host": base,
            "login": LOGIN,
            "password": secret("basic-auth password"),
            "extra": extras,
        }
    if style in ("header", "query"):
        if style == "header":
            extras.update(
                key_name="X-Api-Key",
                key_location="header",
                headers={"X-Secret-Token": secret("secret header of the headers extra")},
            )
        else:
            extras.update(key_name="api_key", key_location="query")
        key = secret("API key in a header" if style == "header" else "API key in the query string")
        return {"conn_type": "restsync_api_key", "host": base, "password": key, "extra": extras}
    if style == "bearer":
        return {
            "conn_type": "restsync_bearer",
            "host": base,
            "password": secret("bearer token"),
            "extra": extras,
        }
    token_path = "/oauth/bad-token" if style == "oauthbad" else "/oauth/token"
    extras["token_url"] = f"{origin}{token_path}"
    return {
        "conn_type": "restsync_oauth2",
        "host": base,
        "login": CLIENT_ID,
        "password": secret("OAuth2 client secret"),
        "extra": extras,
    }


def echo_body(request: Request, names: tuple[str, ...]) -> str:
    """An error body as careless APIs write it: the key in every spelling (the trickiest first, so all of
    them fit the 500 characters of body an error quotes), then the request URL as received."""
    order = ("percent-encoded lower-case", "JSON-escaped", "plus-encoded lower-case", "plus-encoded")
    forms = [spellings(secret(name)) for name in names]
    echoed = " ".join(form[spelling] for form in forms for spelling in (*order, "percent-encoded", "raw"))
    url = f"http://{request.headers.get('host')}{request.full_path}"  # type: ignore[attr-defined]
    auth = json.dumps(request.headers.get("authorization", ""))  # basic auth: base64 of login:password
    return (
        f'{{"auth": {auth}, "error": "request rejected", "echo": "{echoed}", "request": {json.dumps(url)}}}'
    )


def authorized(style: str, request: Request) -> bool:
    headers = request.headers
    if style == "basic":
        return headers.get("authorization") == BASIC_HEADER
    if style == "header":
        return headers.get("x-api-key") == secret("API key in a header") and headers.get(
            "x-secret-token"
        ) == secret("secret header of the headers extra")
    if style == "query":
        return request.query.get("api_key") == [secret("API key in the query string")]
    if style == "bearer":
        return headers.get("authorization") == f"Bearer {secret('bearer token')}"
    return headers.get("authorization") == f"Bearer {secret('OAuth2 access token')}"


class SecretApi:
    """Every style's API under ``/<style>/``, and an OAuth2 token endpoint.

    ``/<style>/v1/items``: two pages linked by a same-origin ``next``; ``/<style>/v1/flaky``: page 1,
    then a failure (``FAIL_STATUS``) whose body echoes the request and the style's secrets.
    ``/oauth/bad-token`` refuses the client and echoes its secret.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.signed: list[str] = []  # the style of each request that carried its credentials

    def __call__(self, request: Request) -> Response:
        if request.path == "/oauth/token":
            header = request.headers.get("authorization", "")
            good = base64.b64encode(f"{CLIENT_ID}:{secret('OAuth2 client secret')}".encode()).decode()
            if header != f"Basic {good}":
                return Response(401, {"error": "invalid_client"})
            return Response(200, {"access_token": secret("OAuth2 access token"), "expires_in": 3600})
        if request.path == "/oauth/bad-token":
            return Response(401, echo_body(request, SENT["oauthbad"]))
        style, _, rest = request.path.lstrip("/").partition("/")
        if style not in STYLES or not authorized(style, request):
            return Response(401, {"error": "unauthorized"})
        with self.lock:
            self.signed.append(style)
        page = int(request.param("page") or 1)
        if rest in ("v1/items", "v1/flaky"):
            if page == 2 and rest == "v1/flaky":
                return Response(FAIL_STATUS[style], echo_body(request, SENT[style]))
            # The query-string API echoes its key in the next link, as some APIs do.
            echo = f"&api_key={quote(secret('API key in the query string'))}" if style == "query" else ""
            next_url = f"/{style}/{rest}?page=2{echo}" if page == 1 else None
            return Response(200, {"data": [{"id": page, "name": f"{style} {page}"}], "next": next_url})
        return Response(404, {"error": "no such path"})


def source(resource: str = "items", path: str = "/v1/items", paginator: Any = None) -> dict[str, Any]:
    return {
        "client": {},
        "resources": [
            {
                "name": resource,
                "endpoint": {
                    "path": path,
                    "data_selector": "data",
                    "paginator": paginator or {"type": "json_link", "next_url_path": "next"},
                },
                "primary_key": "id",
            }
        ],
    }


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture(scope="module")
def secret_api() -> Iterator[tuple[SecretApi, LoopbackServer]]:
    api = SecretApi()
    with serve(api) as server:
        yield api, server


# --- 1. no secret in logs, exceptions, task logs, XComs, rendered fields, tables --------------------


@pytest.mark.parametrize("style", [*STYLES, "oauthbad"])
def test_no_secret_in_any_log_line_or_exception_of_a_good_and_a_failing_sync(
    style: str,
    secret_api: tuple[SecretApi, LoopbackServer],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    api, server = secret_api
    conn_id = set_connection(monkeypatch, f"sec_inproc_{style}", connection(style, server.url))
    signed_before = len(api.signed)
    with capture_output() as captured, resolve_api_hook(conn_id) as hook:
        good: list[Any] = []
        if style != "oauthbad":
            good = list(iter_pages(hook, load_source(source()), "items"))
        with pytest.raises(ApiRequestError) as raised:
            list(iter_pages(hook, load_source(source("flaky", "/v1/flaky")), "flaky"))
        tested = hook.test_connection()
    out, err = capfd.readouterr()
    error = raised.value
    everything = "\n".join([captured.text(), exception_text(error), repr(tested), out, err])

    # The capture is meaningful: the API got the credentials, urllib3 logged every request line, and the
    # failure carries the status and the echoed body.
    if style != "oauthbad":
        assert [page.records[0]["id"] for page in good] == [1, 2]
        assert len(api.signed) - signed_before >= 3
    assert any("GET /" in line or "POST /" in line for line in captured.library_lines("urllib3"))
    assert error.status == FAIL_STATUS[style], str(error)
    assert "request rejected" in str(error)
    assert error.body_excerpt.endswith("}"), error.body_excerpt  # the whole echoing body is quoted
    assert find_secrets(everything, SECRETS) == []
    assert BASIC_HEADER.split()[1] not in everything, "the basic-auth header (base64 of login:password)"


@pytest.fixture(scope="module")
def airflow_run(
    secret_api: tuple[SecretApi, LoopbackServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One DAG run through Airflow's task supervisor: per style a task that syncs a page and then fails on
    the echoing error, an OAuth2 client the token endpoint refuses, and a task that succeeds.

    Metadata in a fresh PostgreSQL database, AIRFLOW_HOME and the destination (SQLite) in a temporary
    folder; yields what there is to search.
    """
    _api, server = secret_api
    root = tmp_path_factory.mktemp("airflow-run")
    home, dags = root / "home", root / "dags"
    dags.mkdir()
    warehouse = root / "warehouse.db"
    (dags / "security_run.py").write_text(DAG_FILE)
    with postgres_database() as metadata_url:
        env = {"AIRFLOW_CONN_SEC_DB": json.dumps({"conn_type": "sqlite", "host": str(warehouse)})}
        for style in [*STYLES, "oauthbad"]:
            env[f"AIRFLOW_CONN_SEC_{style.upper()}"] = json.dumps(connection(style, server.url))
        result = run_dag(dags / "security_run.py", "sec", home=home, metadata_url=metadata_url, env=env)
        metadata = dump_database(metadata_url)
    yield {
        "output": result.stdout + result.stderr,
        "returncode": result.returncode,
        "logs": {path: path.read_text() for path in sorted((home / "logs").rglob("*.log"))},
        "metadata": metadata,
        "warehouse": dump_database(f"sqlite:///{warehouse}"),
    }


DAG_FILE = '''
"""Per auth style: a task that syncs a page and then fails; one that succeeds."""
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_restsync import RestToSqlOperator

STYLES = ("basic", "header", "query", "bearer", "oauth")
PAGING = {"type": "json_link", "next_url_path": "next"}

with DAG("sec", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
    # Each style's task commits page 1 (batch_size=1), then fails on page 2's echoing error; the OAuth2
    # client the token endpoint refuses fails at once; the query-string key's task succeeds.
    for style, kind, path in [
        *((style, "fail", "/v1/flaky") for style in (*STYLES, "oauthbad")),
        ("query", "ok", "/v1/items"),
    ]:
        RestToSqlOperator(
            task_id=f"{style}_{kind}",
            conn_id=f"sec_{style}",
            destination_conn_id="sec_db",
            source={"client": {}},
            resource={
                "name": f"{style}_{kind}",
                "endpoint": {"path": path, "data_selector": "data", "paginator": PAGING},
                "primary_key": "id",
                "write_disposition": "merge",
            },
            request_params={"since": "{{ ds }}"},
            batch_size=1,
            retries=0,
        )
'''


def dump_database(url: str) -> dict[str, str]:
    """Every row of every table, as text, by table name."""
    engine = sa.create_engine(url)
    try:
        tables = {}
        with engine.connect() as conn:
            for name in sa.inspect(conn).get_table_names():
                rows = conn.execute(sa.select(sa.text("*")).select_from(sa.table(name))).all()
                tables[name] = "\n".join(repr(tuple(row)) for row in rows)
        return tables
    finally:
        engine.dispose()


@pytest.mark.airflow
@pytest.mark.postgres
def test_airflow_writes_no_secret_to_task_logs_xcoms_rendered_fields_or_tables(
    airflow_run: dict[str, Any],
) -> None:
    output, logs = airflow_run["output"], airflow_run["logs"]
    assert airflow_run["returncode"] == 0, output[-3000:]
    assert "run state: failed" in output, output[-3000:]  # the failing tasks failed the run
    # A log file per task, written by the supervisor; each says what happened.
    by_task = {path.parent.name.removeprefix("task_id="): text for path, text in logs.items()}
    tasks = {f"{style}_fail" for style in (*STYLES, "oauthbad")} | {"query_ok"}
    assert set(by_task) == tasks, sorted(by_task)
    assert "Synced" in by_task["query_ok"] and "2 records" in by_task["query_ok"]
    for style in STYLES:
        text = by_task[f"{style}_fail"]
        assert "committed before that, and kept: 1 record in 1 page" in text, text[-2000:]
        assert f"HTTP {FAIL_STATUS[style]}" in text and "request rejected" in text, text[-2000:]
    assert "Could not get an OAuth2 access token" in by_task["oauthbad_fail"]
    metadata, warehouse = airflow_run["metadata"], airflow_run["warehouse"]
    assert "records" in metadata["xcom"]  # the good task's summary
    assert metadata["rendered_task_instance_fields"].count("since") == len(tasks)
    assert warehouse["query_ok"] and all(warehouse[f"{style}_fail"] for style in STYLES)

    leaks = {
        where: found
        for where, text in [
            ("the runner's stdout/stderr", output),
            *((f"task log {path.relative_to(path.parents[3])}", text) for path, text in logs.items()),
            *((f"metadata table {name}", text) for name, text in metadata.items()),
            *((f"destination table {name}", text) for name, text in warehouse.items()),
        ]
        if (
            found := find_secrets(text, SECRETS) + (["basic-auth header"] if BASIC_HEADER[6:] in text else [])
        )
    }
    assert leaks == {}


# --- 2. credentials stay with their origin ----------------------------------------------------------


HOPS = ("next link", "302", "307")


@pytest.mark.parametrize("target", ["another port", "localhost"])
@pytest.mark.parametrize("hop", HOPS)
@pytest.mark.parametrize("style", STYLES)
def test_no_credential_follows_a_next_link_or_redirect_to_another_origin(
    style: str, hop: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's page 1 sends the client elsewhere, with ``api_key=<key>`` in the URL it gives."""
    key = secret(SENT[style][0])

    def other(request: Request) -> Response:
        return Response(200, {"data": [{"id": 99}], "next": None})

    with serve(other) as elsewhere:
        api = SecretApi()

        def origin(request: Request) -> Response:
            if request.headers.get("host", "").startswith("localhost"):
                return other(request)
            if request.path.endswith("/v1/items") and request.param("page") is None:
                api(request)  # records whether page 1 was signed
                host = elsewhere.url if target == "another port" else f"http://localhost:{server.port}"
                url = f"{host}/{style}/v1/items?page=2&api_key={quote(key, safe='')}"
                if hop == "next link":
                    return Response(200, {"data": [{"id": 1}], "next": url})
                return Response(int(hop), {"moved": True}, {"Location": url})
            return api(request)

        with serve(origin) as server:
            conn_id = set_connection(monkeypatch, f"sec_hop_{style}", connection(style, server.url))
            refused = False
            with resolve_api_hook(conn_id) as hook:
                try:
                    list(iter_pages(hook, load_source(source()), "items"))
                except (ApiRequestError, PagingError):
                    refused = True  # refusing to follow is as good as following without credentials
            foreign = list(elsewhere.requests) + [
                r for r in server.requests if r.headers.get("host", "").startswith("localhost")
            ]
            assert api.signed == [style]  # the origin got the credentials on page 1
            assert foreign or refused

    for request in foreign:
        seen = "\n".join(
            [
                f"{request.method} {request.full_path}",  # type: ignore[attr-defined]
                unquote(request.full_path),  # type: ignore[attr-defined]
                *(f"{name}: {value}" for name, value in request.headers.items()),
                request.body.decode(errors="replace"),
            ]
        )
        assert find_secrets(seen, SECRETS) == [], seen
        assert BASIC_HEADER[6:] not in seen
        assert not {"authorization", "x-api-key", "x-secret-token"} & set(request.headers), seen


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("style", STYLES)
def test_a_same_origin_next_link_keeps_the_credentials(
    style: str, absolute: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = SecretApi()

    def handler(request: Request) -> Response:
        response = api(request)
        if absolute and isinstance(response.body, dict) and response.body.get("next"):
            response.body["next"] = f"http://{request.headers['host']}{response.body['next']}"
        return response

    with serve(handler) as server:
        conn_id = set_connection(monkeypatch, f"sec_same_{style}", connection(style, server.url))
        with resolve_api_hook(conn_id) as hook:
            pages = list(iter_pages(hook, load_source(source()), "items"))
    assert [page.records[0]["id"] for page in pages] == [1, 2]
    assert api.signed == [style, style]


# --- 3. TLS -----------------------------------------------------------------------------------------


def test_tls_is_verified_by_default_and_a_self_signed_server_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography")
    from tests.support.tls import serve_tls

    with serve_tls(lambda request: Response(200, {"data": []}), tmp_path) as server:
        conn = connection("query", server.url)
        conn["host"] = server.url
        conn_id = set_connection(monkeypatch, "sec_tls_default", conn)
        with resolve_api_hook(conn_id) as hook:
            assert hook.get_conn().verify is True
            with pytest.raises(ApiRequestError) as raised:
                hook.request("GET", "/v1/items")
        assert server.requests == []  # the handshake failed: nothing was sent
    message = str(raised.value)
    assert "TLS" in message and "verify" in message, message
    assert f"{server.url}/v1/items" in message, message
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message, message
    assert find_secrets(exception_text(raised.value), SECRETS) == []


def ca_bundle_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set REQUESTS_CA_BUNDLE as Debian images and corporate machines do: a connection's verify extra
    must still decide."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())


def test_turning_tls_verification_off_is_an_explicit_extra_and_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography")
    from tests.support.tls import serve_tls

    ca_bundle_in_environment(monkeypatch)
    with serve_tls(lambda request: Response(200, {"data": [{"id": 1}]}), tmp_path) as server:
        conn = connection("bearer", server.url, verify=False)
        conn["host"] = server.url
        conn_id = set_connection(monkeypatch, "sec_tls_off", conn)
        with capture_output() as captured, resolve_api_hook(conn_id) as hook:
            assert hook.get_conn().verify is False
            warned = [line for line in captured.warnings() if conn_id in line and "TLS" in line]
            assert warned, captured.warnings()
            assert hook.request("GET", "/v1/items").json() == {"data": [{"id": 1}]}
        assert server.requests[0].headers["authorization"] == f"Bearer {secret('bearer token')}"


def test_a_private_ca_bundle_in_the_verify_extra_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography")
    from tests.support.tls import serve_tls

    ca_bundle_in_environment(monkeypatch)
    with serve_tls(lambda request: Response(200, {"data": [{"id": 1}]}), tmp_path) as server:
        conn = connection("bearer", server.url, verify=str(tmp_path / "cert.pem"))
        conn["host"] = server.url
        conn_id = set_connection(monkeypatch, "sec_tls_ca", conn)
        with resolve_api_hook(conn_id) as hook:
            assert hook.request("GET", "/v1/items").json() == {"data": [{"id": 1}]}


# --- 4. SQL injection -------------------------------------------------------------------------------


NASTY_FIELDS = [
    'a"; DROP TABLE t; --',
    "x'); DELETE FROM y; --",
    "`b`; DROP TABLE z; --",
    "50% off %s %(x)s ?",
]
NASTY_VALUES = [
    "'); DROP TABLE users; --",
    '"; DROP TABLE t; --',
    "\\'; DELETE FROM y; --",
    "`; DROP TABLE z; --",
    "%s %(x)s ? :1 $1",
]
NASTY_CHILD = 'c"; DROP TABLE users; --'
BYSTANDERS = ("t", "y", "z", "users")


def nasty_records(version: int) -> list[dict[str, Any]]:
    records = []
    for number in range(1, 3):
        record: dict[str, Any] = {"id": number}
        for index, name in enumerate(NASTY_FIELDS):
            record[name] = f"{NASTY_VALUES[index]} v{version}"
        record["plain"] = NASTY_VALUES[4]
        record[NASTY_CHILD] = [{"v": NASTY_VALUES[0]}, {"v": NASTY_VALUES[1]}]  # a JSON column
        records.append(record)
    return records


@pytest.mark.parametrize("naming", ["snake_case", "direct"])
def test_field_names_and_values_from_the_api_cannot_inject_sql(
    naming: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = {"version": 1}
    with serve(lambda request: Response(200, {"data": nasty_records(served["version"])})) as server:
        conn_id = set_connection(monkeypatch, "sec_sql", {"conn_type": "restsync_noauth", "host": server.url})
        engine = create_destination_engine(url=database_url)
        try:
            with engine.begin() as conn:
                for name in BYSTANDERS:
                    table = sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
                    table.create(conn)
                    conn.execute(table.insert().values(id=1))
            for version in (1, 2):  # a first load, then a merge that updates every row
                served["version"] = version
                with (
                    resolve_api_hook(conn_id) as hook,
                    TableWriter(
                        engine,
                        resource="items",
                        table="items",
                        primary_key="id",
                        disposition="merge",
                        naming=naming,
                    ) as writer,
                ):
                    for page in iter_pages(hook, load_source(source(paginator="single_page")), "items"):
                        writer.write(page.records)
            inspector = sa.inspect(engine)
            tables = set(inspector.get_table_names())
            with engine.connect() as conn:
                for name in BYSTANDERS:
                    assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar() == 1, name
                rows = [
                    dict(row._mapping)
                    for row in conn.execute(sa.select(sa.text("*")).select_from(sa.table("items")))
                ]
                # Beside the table: at most the provider's own bookkeeping (the field -> column map).
                assert tables - {"items", *BYSTANDERS} <= {"_restsync_state", "_restsync_columns"}
        finally:
            engine.dispose()
    assert len(rows) == 2
    for row in rows:
        values = {value for value in row.values() if isinstance(value, str)}
        assert {f"{value} v2" for value in NASTY_VALUES[:4]} <= values, row
        assert NASTY_VALUES[4] in values
    # The list lands as JSON text, its strings verbatim.
    nested = [
        v if isinstance(v, str) else json.dumps(v) for v in rows[0].values() if isinstance(v, (str, list))
    ]
    assert any(json.dumps(NASTY_VALUES[1]) in v for v in nested), rows[0]
    # Every field got a column of its own (id, the four, plain, the list, two bookkeeping columns).
    assert len(rows[0]) == len(NASTY_FIELDS) + 5, sorted(rows[0])


# --- 5. parent values in a child's path -------------------------------------------------------------


TRICKY_IDS = ["../../admin", "x?api_key=y#", "a/b", "%2e%2e", " ", "ünï/çødé", "..%2f..", "...", "a;b=c", "7"]


def tree_api(ids: list[str]) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        if request.path == "/v1/users":
            return Response(200, {"data": [{"id": value} for value in ids]})
        return Response(200, {"data": [{"raw": request.full_path}]})  # type: ignore[attr-defined]

    return handler


def tree_source() -> dict[str, Any]:
    return {
        "client": {},
        "resources": [
            {
                "name": "users",
                "endpoint": {"path": "/v1/users", "data_selector": "data", "paginator": "single_page"},
            },
            {
                "name": "details",
                "endpoint": {
                    "path": "/v1/users/{user_id}/details",
                    "data_selector": "data",
                    "paginator": "single_page",
                    "params": {"user_id": {"type": "resolve", "resource": "users", "field": "id"}},
                },
            },
        ],
    }


def test_a_parent_value_in_a_child_path_stays_one_encoded_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = secret("API key in the query string")
    with serve(tree_api(TRICKY_IDS)) as server:
        conn = {
            "conn_type": "restsync_api_key",
            "host": server.url,
            "password": key,
            "extra": {"key_name": "api_key", "key_location": "query"},
        }
        conn_id = set_connection(monkeypatch, "sec_paths", conn)
        with resolve_api_hook(conn_id) as hook:
            pages = list(iter_pages(hook, load_source(tree_source()), "details"))
        details = [request for request in server.requests if request.path != "/v1/users"]
    assert len(pages) == len(TRICKY_IDS)
    seen = []
    for request in details:
        assert request.headers["host"] == f"127.0.0.1:{server.port}"
        segments = request.path.split("/")
        assert len(segments) == 5 and segments[:3] == ["", "v1", "users"] and segments[4] == "details", (
            request.path
        )
        seen.append(unquote(segments[3]))
        assert request.query == {"api_key": [key]}, request.full_path  # type: ignore[attr-defined]
        assert "#" not in request.full_path  # type: ignore[attr-defined]
    assert sorted(seen) == sorted(TRICKY_IDS)


@pytest.mark.parametrize("value", [".", ".."])
def test_a_parent_value_that_would_move_the_path_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(tree_api([value])) as server:
        conn_id = set_connection(
            monkeypatch, "sec_dots", {"conn_type": "restsync_noauth", "host": server.url}
        )
        with resolve_api_hook(conn_id) as hook, pytest.raises(PagingError, match="change the path"):
            list(iter_pages(hook, load_source(tree_source()), "details"))
    assert [request.path for request in server.requests] == ["/v1/users"]
