"""Each auth style against a real loopback server: success, a clear 401, config auth blocks, mismatches."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from airflow_provider_restsync.errors import ApiRequestError, AuthConfigError, ConfigError
from airflow_provider_restsync.hooks import (
    ApiKeyHook,
    BasicAuthHook,
    BearerTokenHook,
    NoAuthHook,
    OAuth2ClientCredentialsHook,
    RestSyncHook,
    resolve_api_hook,
)
from tests.support.http import LoopbackServer, Request, Response, serve
from tests.support.oauth_server import OAuthServer

KEY = "k3y-0123456789abcdef"
MakeConn = Callable[..., str]


@pytest.fixture
def make_conn(monkeypatch: pytest.MonkeyPatch) -> MakeConn:
    """Create an Airflow connection from the environment (AIRFLOW_CONN_<ID> holding JSON)."""

    def _make(conn_id: str, conn_type: str, **fields: Any) -> str:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": conn_type, **fields}))
        return conn_id

    return _make


def _ok() -> Response:
    return Response(200, {"data": [{"id": 1}]})


def _unauthorized() -> Response:
    return Response(401, {"error": "invalid credentials"})


def _check_basic(user: str, password: str) -> Callable[[Request], Response]:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return lambda request: _ok() if request.headers.get("authorization") == expected else _unauthorized()


@pytest.fixture
def basic_server() -> Iterator[LoopbackServer]:
    with serve(_check_basic("api", KEY)) as server:
        yield server


def _assert_clear_401(exc: ApiRequestError, conn_id: str, secret: str) -> None:
    text = str(exc)
    assert exc.status == 401
    assert "401 Unauthorized" in text
    assert "rejected the credentials" in text
    assert repr(conn_id) in text
    assert "invalid credentials" in exc.body_excerpt
    assert secret not in text


# -- basic ----------------------------------------------------------------------------------------


def test_basic_auth_sends_login_and_password(basic_server: LoopbackServer, make_conn: MakeConn) -> None:
    conn_id = make_conn("hb_ok", "restsync_basic", host=basic_server.url, login="api", password=KEY)
    with resolve_api_hook(conn_id) as hook:
        assert isinstance(hook, BasicAuthHook)
        assert hook.request("GET", "/v1/messages").json() == {"data": [{"id": 1}]}


def test_basic_auth_wrong_password_is_a_clear_401(basic_server: LoopbackServer, make_conn: MakeConn) -> None:
    conn_id = make_conn("hb_bad", "restsync_basic", host=basic_server.url, login="api", password="wrong-pass")
    with resolve_api_hook(conn_id) as hook, pytest.raises(ApiRequestError) as raised:
        hook.request("GET", "/v1/messages")
    _assert_clear_401(raised.value, conn_id, "wrong-pass")
    assert "HTTP basic auth as user 'api'" in str(raised.value)
    assert len(basic_server.requests) == 1  # 401 is not retried


@pytest.mark.parametrize("auth_type", ["basic", "http_basic"])
def test_basic_auth_from_config_block_on_a_generic_connection(
    basic_server: LoopbackServer, make_conn: MakeConn, auth_type: str
) -> None:
    # The user name comes from the config, the secret from the connection.
    conn_id = make_conn(f"hb_cfg_{auth_type}", "http", password=KEY)
    config = {"type": auth_type, "username": "api"}
    with resolve_api_hook(conn_id, auth_config=config, base_url=basic_server.url) as hook:
        assert isinstance(hook, BasicAuthHook)
        assert hook.request("GET", "/v1/servers").status_code == 200


def test_generic_connection_with_login_means_basic(basic_server: LoopbackServer, make_conn: MakeConn) -> None:
    conn_id = make_conn("hb_http", "http", host=basic_server.url, login="api", password=KEY)
    with resolve_api_hook(conn_id) as hook:
        assert isinstance(hook, BasicAuthHook)
        assert hook.request("GET", "/").status_code == 200


# -- API key --------------------------------------------------------------------------------------


def _check_header(name: str, value: str) -> Callable[[Request], Response]:
    return lambda request: _ok() if request.headers.get(name.lower()) == value else _unauthorized()


def _check_query(name: str, value: str) -> Callable[[Request], Response]:
    return lambda request: _ok() if request.query.get(name) == [value] else _unauthorized()


def test_api_key_in_a_named_header(make_conn: MakeConn) -> None:
    with serve(_check_header("api_key", KEY)) as server:
        conn_id = make_conn(
            "hk_header", "restsync_api_key", host=server.url, password=KEY, extra={"key_name": "api_key"}
        )
        with resolve_api_hook(conn_id) as hook:
            assert isinstance(hook, ApiKeyHook)
            assert hook.request("GET", "/v1/domains").status_code == 200
            assert "api_key" not in server.requests[0].query


def test_api_key_defaults_to_the_authorization_header(make_conn: MakeConn) -> None:
    with serve(_check_header("Authorization", KEY)) as server:
        conn_id = make_conn("hk_default", "restsync_api_key", host=server.url, password=KEY)
        with resolve_api_hook(conn_id) as hook:
            assert hook.request("GET", "/v1/domains").status_code == 200


def test_api_key_in_the_query_string(make_conn: MakeConn) -> None:
    with serve(_check_query("api_key", KEY)) as server:
        conn_id = make_conn(
            "hk_query",
            "restsync_api_key",
            host=server.url,
            password=KEY,
            extra={"key_name": "api_key", "key_location": "query"},
        )
        with resolve_api_hook(conn_id) as hook:
            response = hook.request("GET", "/v1/resource", params={"offset": 100, "limit": 100})
            assert response.status_code == 200
            assert server.requests[0].query == {"offset": ["100"], "limit": ["100"], "api_key": [KEY]}
            assert hook.secret_param_names == {"api_key"}


def test_api_key_query_location_from_prefixed_form_extras(make_conn: MakeConn) -> None:
    with serve(_check_query("api_key", KEY)) as server:
        conn_id = make_conn(
            "hk_prefixed",
            "restsync_api_key",
            host=server.url,
            password=KEY,
            extra={
                "extra__restsync_api_key__key_name": "api_key",
                "extra__restsync_api_key__key_location": "query",
            },
        )
        with resolve_api_hook(conn_id) as hook:
            assert hook.request("GET", "/v1/resource").status_code == 200


def test_api_key_in_a_next_link_is_replaced_not_duplicated(make_conn: MakeConn) -> None:
    with serve(_check_query("api_key", KEY)) as server:
        conn_id = make_conn(
            "hk_next",
            "restsync_api_key",
            host=server.url,
            password=KEY,
            extra={"key_name": "api_key", "key_location": "query"},
        )
        with resolve_api_hook(conn_id) as hook:
            next_link = f"{server.url}/v1/resource?offset=200&api_key={KEY}&limit=100"
            assert hook.request("GET", next_link).status_code == 200
            assert server.requests[0].query == {"offset": ["200"], "limit": ["100"], "api_key": [KEY]}


def test_api_key_in_a_cookie(make_conn: MakeConn) -> None:
    with serve(_check_header("Cookie", f"session_key={KEY}")) as server:
        conn_id = make_conn(
            "hk_cookie",
            "restsync_api_key",
            host=server.url,
            password=KEY,
            extra={"key_name": "session_key", "key_location": "cookie"},
        )
        with resolve_api_hook(conn_id) as hook:
            assert hook.request("GET", "/v1/resource").status_code == 200


def test_api_key_wrong_key_is_a_clear_401(make_conn: MakeConn) -> None:
    with serve(_check_query("api_key", KEY)) as server:
        conn_id = make_conn(
            "hk_bad",
            "restsync_api_key",
            host=server.url,
            password="not-the-right-key",
            extra={"key_name": "api_key", "key_location": "query"},
        )
        with resolve_api_hook(conn_id) as hook, pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/resource", params={"offset": 0})
    _assert_clear_401(raised.value, conn_id, "not-the-right-key")
    assert "api_key=***" in raised.value.url
    assert "query parameter 'api_key'" in str(raised.value)


@pytest.mark.parametrize("location", ["header", "query"])
def test_api_key_settings_from_config_block(make_conn: MakeConn, location: str) -> None:
    check = _check_header("api_key", KEY) if location == "header" else _check_query("api_key", KEY)
    with serve(check) as server:
        conn_id = make_conn(f"hk_cfg_{location}", "restsync_api_key", password=KEY)
        config = {"type": "api_key", "name": "api_key", "location": location}
        with resolve_api_hook(conn_id, auth_config=config, base_url=server.url) as hook:
            assert hook.request("GET", "/v1/bounces").status_code == 200


def test_connection_extras_win_over_config_block(make_conn: MakeConn) -> None:
    with serve(_check_header("X-Key", KEY)) as server:
        conn_id = make_conn(
            "hk_wins", "restsync_api_key", host=server.url, password=KEY, extra={"key_name": "X-Key"}
        )
        config = {"type": "api_key", "name": "api_key", "location": "header"}
        with capture_logs() as logs, resolve_api_hook(conn_id, auth_config=config) as hook:
            assert hook.request("GET", "/").status_code == 200
    # The override is said in the task log, where a 401 would send the user looking.
    assert [entry["event"] for entry in logs if "overrides" in entry["event"]] == [
        "The connection 'hk_wins' extra 'key_name' = 'X-Key' overrides client.auth.name = 'api_key' of the "
        "source config; clear it in the connection to use the config's"
    ]


def _as_the_form_saves(conn_type: str) -> dict[str, Any]:
    """The extra a connection form saves when nobody touches its fields: each field's initial value."""
    from airflow_provider_restsync.get_provider_info import get_provider_info

    entry = next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type)
    return {name: field["schema"].get("default") for name, field in entry["conn-fields"].items()}


@pytest.mark.parametrize("location", ["header", "query"])
def test_a_connection_saved_by_the_form_leaves_the_config_auth_alone(
    make_conn: MakeConn, location: str
) -> None:

    check = _check_header("api_key", KEY) if location == "header" else _check_query("api_key", KEY)
    with serve(check) as server:
        extra = _as_the_form_saves("restsync_api_key")
        prefixed = {f"extra__restsync_api_key__{name}": value for name, value in extra.items()}
        for saved in (extra, prefixed):
            conn_id = make_conn(
                f"hk_form_{location}", "restsync_api_key", host=server.url, password=KEY, extra=saved
            )
            config = {"type": "api_key", "name": "api_key", "location": location}
            with capture_logs() as logs, resolve_api_hook(conn_id, auth_config=config) as hook:
                assert hook.request("GET", "/v1/bounces").status_code == 200
                assert (hook.key_name, hook.key_location) == ("api_key", location)
            assert not [entry for entry in logs if "overrides" in entry["event"]]


def test_an_oauth2_connection_saved_by_the_form_takes_client_auth_from_the_config() -> None:
    extra = _as_the_form_saves("restsync_oauth2")
    assert extra["client_auth"] is None and extra["token_url"] is None


def test_secret_in_config_block_is_never_used(make_conn: MakeConn) -> None:
    conn_id = make_conn("hk_nosecret", "restsync_api_key", host="https://api.example.com")
    config = {"type": "api_key", "name": "api_key", "api_key": "literal-key-in-a-dag-file"}
    hook = resolve_api_hook(conn_id, auth_config=config)
    with pytest.raises(AuthConfigError) as raised:
        hook.get_conn()
    message = str(raised.value)
    assert "has no API key" in message and "Password field" in message
    assert "client.auth.api_key in the source config is not read" in message
    assert "literal-key-in-a-dag-file" not in message


# -- bearer ---------------------------------------------------------------------------------------


def test_bearer_token(make_conn: MakeConn) -> None:
    with serve(_check_header("Authorization", f"Bearer {KEY}")) as server:
        conn_id = make_conn("hbr_ok", "restsync_bearer", host=server.url, password=KEY)
        with resolve_api_hook(conn_id) as hook:
            assert isinstance(hook, BearerTokenHook)
            assert hook.request("GET", "/v1/accounts").status_code == 200


def test_bearer_wrong_token_is_a_clear_401(make_conn: MakeConn) -> None:
    with serve(_check_header("Authorization", f"Bearer {KEY}")) as server:
        conn_id = make_conn("hbr_bad", "restsync_bearer", host=server.url, password="expired-token-xyz")
        with resolve_api_hook(conn_id) as hook, pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/accounts")
    _assert_clear_401(raised.value, conn_id, "expired-token-xyz")
    assert "token (Password field)" in str(raised.value)


def test_bearer_from_config_block_on_a_generic_connection(make_conn: MakeConn) -> None:
    with serve(_check_header("Authorization", f"Bearer {KEY}")) as server:
        conn_id = make_conn("hbr_cfg", "generic", host=server.url, password=KEY)
        with resolve_api_hook(conn_id, auth_config={"type": "bearer"}) as hook:
            assert isinstance(hook, BearerTokenHook)
            assert hook.request("GET", "/v1/accounts").status_code == 200


# -- OAuth2 client credentials --------------------------------------------------------------------


@pytest.fixture
def oauth() -> Iterator[tuple[OAuthServer, LoopbackServer]]:
    auth_server = OAuthServer()
    with serve(auth_server) as server:
        yield auth_server, server


def _oauth_conn(make_conn: MakeConn, conn_id: str, server: LoopbackServer, **extra: Any) -> str:
    return make_conn(
        conn_id,
        "restsync_oauth2",
        host=server.url,
        login="client-1",
        password="s3cret-client-secret",
        extra={"token_url": f"{server.url}/oauth/token", "scopes": "read write", **extra},
    )


def test_oauth2_token_fetched_once_and_reused(
    oauth: tuple[OAuthServer, LoopbackServer], make_conn: MakeConn
) -> None:
    auth_server, server = oauth
    conn_id = _oauth_conn(make_conn, "ho_ok", server, audience="https://api.example.com")
    with resolve_api_hook(conn_id) as hook:
        assert isinstance(hook, OAuth2ClientCredentialsHook)
        for _ in range(3):
            assert hook.request("GET", "/v1/items").json() == {"data": [{"id": 1}, {"id": 2}]}
        assert len(auth_server.token_requests) == 1
        assert auth_server.token_requests[0] == {
            "grant_type": "client_credentials",
            "scope": "read write",
            "audience": "https://api.example.com",
            "client_auth": "basic",
        }
        assert auth_server.issued[0] in hook.secret_values
        assert hook.stats.requests == 3  # token requests are not counted


def test_oauth2_client_credentials_in_the_body(
    oauth: tuple[OAuthServer, LoopbackServer], make_conn: MakeConn
) -> None:
    auth_server, server = oauth
    conn_id = _oauth_conn(make_conn, "ho_body", server, client_auth="body")
    with resolve_api_hook(conn_id) as hook:
        assert hook.request("GET", "/v1/items").status_code == 200
    assert auth_server.token_requests[0]["client_auth"] == "body"
    assert auth_server.token_requests[0]["client_secret"] == "s3cret-client-secret"


def test_oauth2_token_refreshed_before_expiry(
    oauth: tuple[OAuthServer, LoopbackServer], make_conn: MakeConn
) -> None:
    auth_server, server = oauth
    auth_server.expires_in = 300
    conn_id = _oauth_conn(make_conn, "ho_expiry", server)
    now = [1000.0]
    with resolve_api_hook(conn_id) as hook:
        assert isinstance(hook, OAuth2ClientCredentialsHook)
        hook.get_conn()
        assert hook.oauth is not None
        hook.oauth.clock = lambda: now[0]
        hook.request("GET", "/v1/items")
        now[0] += 260  # 300 s lifetime, refreshed 30 s (a tenth) before expiry: still valid
        hook.request("GET", "/v1/items")
        assert len(auth_server.token_requests) == 1
        now[0] += 15  # 275 s: inside the refresh margin
        hook.request("GET", "/v1/items")
        assert len(auth_server.token_requests) == 2
    assert auth_server.revoked == set()
    assert auth_server.api_requests == 3  # no request was sent with an expiring token


def test_oauth2_refreshes_once_on_401(oauth: tuple[OAuthServer, LoopbackServer], make_conn: MakeConn) -> None:
    auth_server, server = oauth
    conn_id = _oauth_conn(make_conn, "ho_401", server)
    with resolve_api_hook(conn_id) as hook:
        hook.request("GET", "/v1/items")
        auth_server.revoke_all()  # rotated on the server side before expiry
        response = hook.request("GET", "/v1/items")
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [401]
    assert len(auth_server.token_requests) == 2
    assert auth_server.api_requests == 3


def test_oauth2_persistent_401_is_refreshed_only_once(make_conn: MakeConn) -> None:
    auth_server = OAuthServer()

    def handler(request: Request) -> Response:
        if request.path == auth_server.token_path:
            return auth_server(request)
        return _unauthorized()  # the API refuses every token (wrong audience, say)

    with serve(handler) as server:
        conn_id = _oauth_conn(make_conn, "ho_401x", server)
        with resolve_api_hook(conn_id) as hook, pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/items")
        assert len(auth_server.token_requests) == 2
        assert len(server.requests) == 4  # token, api, token, api again: then give up
    _assert_clear_401(raised.value, conn_id, "s3cret-client-secret")
    for token in auth_server.issued:
        assert token not in str(raised.value)


def test_oauth2_wrong_client_secret_is_a_clear_error(
    oauth: tuple[OAuthServer, LoopbackServer], make_conn: MakeConn
) -> None:
    _, server = oauth
    conn_id = make_conn(
        "ho_bad",
        "restsync_oauth2",
        host=server.url,
        login="client-1",
        password="not-the-secret",
        extra={"token_url": f"{server.url}/oauth/token"},
    )
    with resolve_api_hook(conn_id) as hook, pytest.raises(ApiRequestError) as raised:
        hook.request("GET", "/v1/items")
    message = str(raised.value)
    assert raised.value.status == 401
    assert "Could not get an OAuth2 access token" in message
    assert "POST" in message and "/oauth/token" in message and "invalid_client" in message
    assert "not-the-secret" not in message


def test_oauth2_settings_from_dlt_config_block(
    oauth: tuple[OAuthServer, LoopbackServer], make_conn: MakeConn
) -> None:
    auth_server, server = oauth
    conn_id = make_conn("ho_cfg", "restsync_oauth2", password="s3cret-client-secret")
    config = {
        "type": "oauth2_client_credentials",
        "access_token_url": f"{server.url}/oauth/token",
        "client_id": "client-1",
        "access_token_request_data": {"resource": "api"},
        "client_secret": "ignored: secrets come from the connection",
    }
    with resolve_api_hook(conn_id, auth_config=config, base_url=server.url) as hook:
        assert hook.request("GET", "/v1/items").status_code == 200
    assert auth_server.token_requests[0]["resource"] == "api"


# -- no auth --------------------------------------------------------------------------------------


def test_noauth_without_a_connection() -> None:
    with (
        serve(lambda request: _ok() if "authorization" not in request.headers else _unauthorized()) as server,
        resolve_api_hook(None, base_url=server.url) as hook,
    ):
        assert isinstance(hook, NoAuthHook)
        assert hook.request("GET", "/v1/public").status_code == 200


def test_noauth_connection_and_its_401_hint(make_conn: MakeConn) -> None:
    with serve(lambda request: _unauthorized()) as server:
        conn_id = make_conn("hn_401", "restsync_noauth", host=server.url)
        with resolve_api_hook(conn_id) as hook, pytest.raises(ApiRequestError) as raised:
            hook.request("GET", "/v1/private")
    assert "sends none" in str(raised.value)


# -- resolution rules -----------------------------------------------------------------------------


def test_config_auth_type_contradicting_connection_type_names_both(make_conn: MakeConn) -> None:
    conn_id = make_conn(
        "hr_mismatch", "restsync_basic", host="https://api.example.com", login="a", password="b"
    )
    with pytest.raises(AuthConfigError) as raised:
        resolve_api_hook(conn_id, auth_config={"type": "bearer", "token": "x"})
    message = str(raised.value)
    assert "'bearer'" in message and "restsync_basic" in message and repr(conn_id) in message
    assert raised.value.key_path == "client.auth.type"


def test_auth_type_needing_a_secret_needs_a_connection() -> None:
    with pytest.raises(AuthConfigError, match="restsync_bearer connection"):
        resolve_api_hook(None, auth_config={"type": "bearer"}, base_url="https://api.example.com")


def test_unknown_auth_type_and_unknown_auth_key() -> None:
    with pytest.raises(AuthConfigError, match="unknown auth type 'digest'"):
        resolve_api_hook(None, auth_config={"type": "digest"})
    with pytest.raises(AuthConfigError) as raised:
        ApiKeyHook("whatever", auth_config={"type": "api_key", "nmae": "api_key"})
    assert raised.value.key_path == "client.auth.nmae"


def test_non_http_connection_type_is_refused(make_conn: MakeConn) -> None:
    conn_id = make_conn("hr_pg", "postgres", host="db", login="u", password="p")
    with pytest.raises(AuthConfigError, match="not an HTTP API connection"):
        resolve_api_hook(conn_id)


def test_hook_class_used_directly_with_another_connection_type(make_conn: MakeConn) -> None:
    conn_id = make_conn(
        "hr_direct", "restsync_bearer", host="https://api.example.com", password="t0ken-value"
    )
    with pytest.raises(AuthConfigError, match="restsync_bearer"):
        BasicAuthHook(conn_id).get_conn()


def test_base_url_from_config_when_connection_has_no_host(make_conn: MakeConn) -> None:
    conn_id = make_conn("hr_base", "restsync_bearer", password="t0ken-value")
    hook = resolve_api_hook(conn_id, base_url="https://api.example.com/api/")
    assert hook.base_url == "https://api.example.com/api"
    assert hook.url_for("/v1/accounts") == "https://api.example.com/api/v1/accounts"
    assert hook.url_for("https://other.example.com/x?page=2") == "https://other.example.com/x?page=2"


def test_connection_host_wins_over_config_base_url(make_conn: MakeConn) -> None:
    conn_id = make_conn("hr_host", "restsync_noauth", host="http://127.0.0.1", port=8080)
    hook = resolve_api_hook(conn_id, base_url="https://api.example.com")
    assert hook.base_url == "http://127.0.0.1:8080"


def test_missing_or_bad_base_url_is_a_config_error(make_conn: MakeConn) -> None:
    conn_id = make_conn("hr_nobase", "restsync_bearer", password="t0ken-value")
    with pytest.raises(ConfigError, match="no base URL") as raised:
        _ = resolve_api_hook(conn_id).base_url
    assert raised.value.key_path == "client.base_url"
    with pytest.raises(ConfigError, match="carries credentials"):
        _ = NoAuthHook(None, base_url="https://user:pw@api.example.com").base_url
    with pytest.raises(ConfigError, match="not an http"):
        _ = NoAuthHook(None, base_url="ftp://files.example.com").base_url


def test_credentials_are_never_sent_to_another_host(make_conn: MakeConn) -> None:
    with serve(lambda request: _ok()) as api, serve(lambda request: _ok()) as elsewhere:
        conn_id = make_conn(
            "hr_origin",
            "restsync_api_key",
            host=api.url,
            password=KEY,
            extra={"key_name": "api_key", "key_location": "query"},
        )
        with resolve_api_hook(conn_id) as hook:
            hook.request("GET", "/v1/resource")
            hook.request("GET", f"{elsewhere.url}/v1/resource?offset=100")
        assert api.requests[0].query["api_key"] == [KEY]
        assert elsewhere.requests[0].query == {"offset": ["100"]}


def test_every_style_is_a_restsync_hook() -> None:
    for cls in (BasicAuthHook, ApiKeyHook, BearerTokenHook, OAuth2ClientCredentialsHook, NoAuthHook):
        assert issubclass(cls, RestSyncHook)
        assert cls.conn_name_attr == "restsync_conn_id"
        assert cls.default_conn_name == "restsync_default"
        assert cls.conn_type.startswith("restsync_")
