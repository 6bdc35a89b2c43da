"""The source config: dlt's ``rest_api_source`` format, parsed, merged, validated and bound to parents.

``load_source`` touches no network, connection or database, so it can run while Airflow parses a DAG file.
Every problem is a :class:`~airflow_provider_restsync.errors.ConfigError` whose ``key_path`` names the
place (``resources[2].endpoint.paginator.type``). A key we do not know is an error with a did-you-mean; a
key dlt has that we do not support yet is an error that says so. Nothing is silently ignored.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import yaml

from airflow_provider_restsync.auth_styles import (
    API_KEY_LOCATIONS,
    AUTH_SECRET_KEYS,
    AUTH_SETTING_KEYS,
    AUTH_TYPES,
    ERROR_HANDLER_KEYS,
)
from airflow_provider_restsync.errors import ConfigError, did_you_mean
from airflow_provider_restsync.paging import validate_paginator
from airflow_provider_restsync.selecting import compile_selector

log = logging.getLogger(__name__)

WRITE_DISPOSITIONS = ("append", "replace", "merge")
MERGE_STRATEGIES = ("delete-insert", "upsert")
HTTP_METHODS = ("GET", "POST")
RESPONSE_ACTIONS = ("ignore",)

_TOP_KEYS = ("client", "resource_defaults", "resources")
_CLIENT_KEYS = ("base_url", "headers", "auth", "paginator")
_CLIENT_NOT_YET = ("session",)
_RESOURCE_KEYS = (
    "name",
    "endpoint",
    "primary_key",
    "write_disposition",
    "table_name",
    "columns",
    "include_from_parent",
    "selected",
    "max_table_nesting",
)
_RESOURCE_NOT_YET = (
    "merge_key",
    "parallelized",
    "processing_steps",
    "schema_contract",
    "table_format",
    "file_format",
    "references",
    "nested_hints",
    "parent",
)
_ENDPOINT_KEYS = (
    "path",
    "method",
    "params",
    "json",
    "headers",
    "data_selector",
    "paginator",
    "response_actions",
    "incremental",
    "error_handler",
)
_ENDPOINT_NOT_YET = ("auth",)
_RESPONSE_ACTION_KEYS = ("status_code", "content", "action")


# `{name}` in a path; `{resources.<parent>.<field>}` or `{incremental.<x>}` anywhere.
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_EXPRESSION = re.compile(r"\{((?:resources|incremental)\.[^{}]*)\}")
_LAST_SEGMENT_PLACEHOLDER = re.compile(r"\{[A-Za-z0-9.\-_]+\}")


@dataclass(frozen=True)
class Binding:
    """A value a child request takes from a record of an ancestor resource.

    :param placeholder: the name in braces (``account_id``, ``resources.accounts.id``) or, for a legacy
        ``{type: resolve}`` param, the param name.
    :param location: ``path`` (URL-encoded into the path) or ``param`` (a query parameter's value).
    :param inferred: bound by the naming rule (``{account_id}`` -> ``accounts.id``), not declared.
    """

    placeholder: str
    resource: str
    field: str
    location: Literal["path", "param"] = "path"
    inferred: bool = False


@dataclass(frozen=True)
class ResponseAction:
    """dlt's ``response_actions`` entry: when the status and/or the content match, do ``action``."""

    action: str
    status_code: int | None = None
    content: str | None = None


@dataclass(frozen=True)
class ClientConfig:
    base_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: Mapping[str, Any] | None = None
    paginator: Any = None


@dataclass(frozen=True)
class EndpointConfig:
    """One resource's request. ``params`` holds static values only; ``bound_params`` fills from parents."""

    path: str
    method: str = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    data_selector: str | None = None
    paginator: Any = None
    response_actions: tuple[ResponseAction, ...] = ()
    incremental: Mapping[str, Any] | None = None
    error_handler: Mapping[str, Any] | None = None
    bound_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceConfig:
    name: str
    key_path: str
    endpoint: EndpointConfig
    primary_key: tuple[str, ...] = ()
    write_disposition: str = "append"
    merge_strategy: str = "delete-insert"
    table_name: str = ""
    columns: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    include_from_parent: tuple[str, ...] = ()
    selected: bool = True
    max_table_nesting: int | None = None
    parent: str | None = None
    bindings: tuple[Binding, ...] = ()


@dataclass(frozen=True)
class SourceConfig:
    client: ClientConfig
    resources: tuple[ResourceConfig, ...]

    def resource(self, name: str) -> ResourceConfig:
        """The resource called ``name``.

        :raises ConfigError: no such resource (with a did-you-mean).
        """
        for resource in self.resources:
            if resource.name == name:
                return resource
        names = [resource.name for resource in self.resources]
        raise ConfigError(
            f"no resource named {name!r}{did_you_mean(name, names)}; resources: {', '.join(names)}",
            "resources",
        )

    def selected_resources(self) -> tuple[ResourceConfig, ...]:
        return tuple(resource for resource in self.resources if resource.selected)

    def children_of(self, name: str) -> tuple[ResourceConfig, ...]:
        return tuple(resource for resource in self.resources if resource.parent == name)

    def lineage(self, name: str) -> tuple[ResourceConfig, ...]:
        """The root ancestor first, ``name``'s resource last."""
        chain = [self.resource(name)]
        while chain[-1].parent is not None:
            chain.append(self.resource(chain[-1].parent))
        return tuple(reversed(chain))


def load_source(raw: Mapping[str, Any] | str | os.PathLike[str]) -> SourceConfig:
    """Parse a dlt ``rest_api_source`` config (a mapping, or a path to a ``.yaml``/``.yml``/``.json`` file).

    :raises ConfigError: anything wrong, with the key path of the first problem found.
    """
    config = _read(raw) if isinstance(raw, (str, os.PathLike)) else raw
    if not isinstance(config, Mapping):
        raise ConfigError(f"a source config is a mapping, not {type(config).__name__}")
    _check_keys(config, "", _TOP_KEYS)
    client = _parse_client(config.get("client") or {}, "client")
    defaults = _parse_defaults(config.get("resource_defaults") or {}, "resource_defaults")
    entries = config.get("resources")
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)) or not entries:
        raise ConfigError("a source needs a non-empty list of resources", "resources")
    drafts = [
        _ResourceDraft.parse(entry, defaults, f"resources[{index}]") for index, entry in enumerate(entries)
    ]
    return SourceConfig(client=client, resources=_Binder(drafts).bind())


def _read(path: str | os.PathLike[str]) -> Any:
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"a config file ends in .yaml, .yml or .json: {file}")
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {file}: {exc.strerror or exc}") from None
    try:
        return json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"the config file {file} is not valid {suffix[1:].upper()}: {exc}") from None


# --- small checks ----------------------------------------------------------------------------------


def _join(key_path: str, key: str) -> str:
    return f"{key_path}.{key}" if key_path else key


def _check_keys(
    mapping: Mapping[str, Any], key_path: str, supported: Sequence[str], not_yet: Sequence[str] = ()
) -> None:
    """Unknown keys are errors with a did-you-mean; dlt keys we lack are errors unless ``None``."""
    for key, value in mapping.items():
        if key in supported:
            continue
        if key in not_yet:
            if value is None:
                continue
            raise ConfigError(
                f"{key!r} is a dlt setting this provider does not support yet", _join(key_path, key)
            )
        raise ConfigError(
            f"unknown key {key!r}{did_you_mean(key, [*supported, *not_yet])}; "
            f"known keys: {', '.join(supported)}",
            _join(key_path, str(key)),
        )


def _mapping(value: Any, key_path: str, what: str = "a mapping") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be {what}, not {type(value).__name__}", key_path)
    return value


def _string(value: Any, key_path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"must be a non-empty string, not {value!r}", key_path)
    return value


def _string_list(value: Any, key_path: str) -> tuple[str, ...]:
    """A string or a list of strings (dlt accepts both for keys); ``None`` is the empty tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (_string(value, key_path),)
    if not isinstance(value, Sequence):
        raise ConfigError(f"must be a string or a list of strings, not {type(value).__name__}", key_path)
    return tuple(_string(item, f"{key_path}[{index}]") for index, item in enumerate(value))


def _whole(value: Any, key_path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"must be a whole number of at least {minimum}, not {value!r}", key_path)
    return value


def _string_map(value: Any, key_path: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, item in _mapping(value or {}, key_path).items():
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise ConfigError(
                f"a header value must be a string, not {type(item).__name__}", _join(key_path, key)
            )
        result[str(key)] = str(item)
    return result


def _no_expressions(value: Any, key_path: str) -> None:
    """Reject ``{resources...}`` / ``{incremental...}`` where they cannot be filled yet (json, headers)."""
    if isinstance(value, str):
        found = _EXPRESSION.search(value)
        if found:
            raise ConfigError(f"placeholders like {found.group(0)} are not supported here yet", key_path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _no_expressions(item, _join(key_path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_expressions(item, f"{key_path}[{index}]")


# --- client ---------------------------------------------------------------------------------------


def _parse_client(raw: Any, key_path: str) -> ClientConfig:
    client = _mapping(raw, key_path)
    _check_keys(client, key_path, _CLIENT_KEYS, _CLIENT_NOT_YET)
    base_url = client.get("base_url")
    if base_url is not None:
        base_url = _string(base_url, f"{key_path}.base_url")
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError(f"must be an http:// or https:// URL, not {base_url!r}", f"{key_path}.base_url")
    headers = _string_map(client.get("headers"), f"{key_path}.headers")
    _no_expressions(headers, f"{key_path}.headers")
    paginator = client.get("paginator")
    if paginator is not None:
        validate_paginator(paginator, f"{key_path}.paginator")
    return ClientConfig(
        base_url=base_url,
        headers=headers,
        auth=_parse_auth(client.get("auth"), f"{key_path}.auth"),
        paginator=paginator,
    )


def _parse_auth(raw: Any, key_path: str) -> dict[str, Any] | None:
    """The non-secret auth settings; a secret value here is an error whose message never shows it."""
    if raw is None:
        return None
    auth = (
        {"type": raw} if isinstance(raw, str) else dict(_mapping(raw, key_path, "a mapping or an auth type"))
    )
    for key, value in auth.items():
        if key in AUTH_SECRET_KEYS:
            if value is None or value == "":
                continue
            raise ConfigError(
                f"{key!r} holds a secret: leave it out of the config (or null) and put the secret in the "
                "Airflow connection of this source",
                _join(key_path, key),
            )
        if key not in AUTH_SETTING_KEYS:
            known = [*AUTH_SETTING_KEYS, *AUTH_SECRET_KEYS]
            raise ConfigError(
                f"unknown auth setting {key!r}{did_you_mean(key, known)}; "
                f"known: {', '.join(AUTH_SETTING_KEYS)}",
                _join(key_path, str(key)),
            )
    kind = auth.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.strip().lower() not in AUTH_TYPES):
        raise ConfigError(
            f"unknown auth type {kind!r}{did_you_mean(str(kind), AUTH_TYPES)}; "
            f"one of: {', '.join(AUTH_TYPES)}",
            f"{key_path}.type",
        )
    location = auth.get("location")
    if location is not None and location not in API_KEY_LOCATIONS:
        raise ConfigError(
            f"unknown api key location {location!r}; one of: {', '.join(API_KEY_LOCATIONS)}",
            f"{key_path}.location",
        )
    return {key: value for key, value in auth.items() if key not in AUTH_SECRET_KEYS}


# --- resources ------------------------------------------------------------------------------------


def _parse_defaults(raw: Any, key_path: str) -> dict[str, Any]:
    defaults = dict(_mapping(raw, key_path))
    _check_keys(defaults, key_path, [key for key in _RESOURCE_KEYS if key != "name"], _RESOURCE_NOT_YET)
    endpoint = defaults.get("endpoint")
    if endpoint is not None:
        endpoint = dict(_mapping(endpoint, f"{key_path}.endpoint"))
        _check_keys(endpoint, f"{key_path}.endpoint", _ENDPOINT_KEYS, _ENDPOINT_NOT_YET)
        if "path" in endpoint:
            raise ConfigError(
                "has no effect here: each resource has its own path", f"{key_path}.endpoint.path"
            )
        defaults["endpoint"] = endpoint
    # Parse a stand-in resource so that a bad default is reported where it is written.
    stand_in = {"name": "defaults", **defaults, "endpoint": {**(endpoint or {}), "path": "/"}}
    _ResourceDraft.parse(stand_in, {}, key_path, partial=True)
    return defaults


def _merge(defaults: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    """dlt's merge: the resource wins key by key; endpoint params, json and columns merge one level deeper."""
    default_endpoint = dict(defaults.get("endpoint") or {})
    endpoint = dict(resource["endpoint"])
    merged_endpoint = {
        **default_endpoint,
        **{k: v for k, v in endpoint.items() if k not in ("params", "json")},
    }
    for key in ("params", "json"):
        if key in endpoint:
            base, own = default_endpoint.get(key), endpoint[key]
            merged_endpoint[key] = (
                {**base, **own} if isinstance(base, Mapping) and isinstance(own, Mapping) else own
            )
    merged = {**defaults, **resource, "endpoint": merged_endpoint}
    base_columns, own_columns = defaults.get("columns"), resource.get("columns")
    if base_columns and own_columns and _is_columns(base_columns) and _is_columns(own_columns):
        base_map, own_map = _columns_map(base_columns), _columns_map(own_columns)
        merged["columns"] = {
            name: {**base_map.get(name, {}), **own_map.get(name, {})} for name in {**base_map, **own_map}
        }
    return merged


def _is_columns(value: Any) -> bool:
    return isinstance(value, (Mapping, list))


def _columns_map(value: Any) -> dict[str, dict[str, Any]]:
    if isinstance(value, Mapping):
        return {
            str(name): dict(hints or {})
            for name, hints in value.items()
            if hints is None or isinstance(hints, Mapping)
        }
    return {str(item["name"]): dict(item) for item in value if isinstance(item, Mapping) and "name" in item}


@dataclass
class _ResourceDraft:
    """A resource parsed on its own; parents and bindings are settled once all resources are known."""

    name: str
    key_path: str
    fields: dict[str, Any]
    path: str
    params: dict[str, Any]
    resolve_params: dict[str, tuple[str, str]]
    bound_params: dict[str, str]

    @classmethod
    def parse(
        cls, raw: Any, defaults: Mapping[str, Any], key_path: str, *, partial: bool = False
    ) -> _ResourceDraft:
        """Parse one resource merged with ``defaults``; ``partial`` skips checks a resource may complete."""
        if isinstance(raw, str):
            raw = {"name": raw, "endpoint": {"path": raw}}
        resource = dict(_mapping(raw, key_path, "a resource name or a mapping"))
        _check_keys(resource, key_path, _RESOURCE_KEYS, _RESOURCE_NOT_YET)
        name = _string(resource.get("name"), f"{key_path}.name")
        endpoint = resource.get("endpoint")
        if endpoint is None:
            endpoint = {}
        elif isinstance(endpoint, str):
            endpoint = {"path": endpoint}
        endpoint = dict(_mapping(endpoint, f"{key_path}.endpoint", "a path or a mapping"))
        _check_keys(endpoint, f"{key_path}.endpoint", _ENDPOINT_KEYS, _ENDPOINT_NOT_YET)
        endpoint.setdefault("path", name)
        resource["endpoint"] = endpoint
        merged = _merge(defaults, resource)
        fields = _parse_resource_fields(merged, name, key_path, partial=partial)
        draft = cls(name, key_path, fields, "", {}, {}, {})
        draft._parse_endpoint(merged["endpoint"], f"{key_path}.endpoint")
        return draft

    def _parse_endpoint(self, endpoint: dict[str, Any], key_path: str) -> None:
        path = _string(endpoint["path"], f"{key_path}.path")
        method = _string(endpoint.get("method") or "GET", f"{key_path}.method").upper()
        if method not in HTTP_METHODS:
            raise ConfigError(f"method must be GET or POST, not {method!r}", f"{key_path}.method")
        if endpoint.get("incremental") is not None:
            raise ConfigError(
                "incremental loading is not supported yet: remove it and the resource loads in full each run",
                f"{key_path}.incremental",
            )
        self._parse_params(endpoint.get("params"), f"{key_path}.params")
        data_selector = endpoint.get("data_selector")
        paginator = endpoint.get("paginator")
        # dlt: a path ending in a placeholder names one entity, so the body is the record and one page.
        if _LAST_SEGMENT_PLACEHOLDER.search(path.rstrip("/").rsplit("/", 1)[-1]):
            data_selector = "$" if data_selector is None else data_selector
            paginator = "single_page" if paginator is None else paginator
        if data_selector is not None:
            try:
                compile_selector(data_selector)
            except ValueError as exc:
                raise ConfigError(str(exc), f"{key_path}.data_selector") from None
        if paginator is not None:
            validate_paginator(paginator, f"{key_path}.paginator")
        self.path = self._bind_static(path, f"{key_path}.path")
        body = endpoint.get("json")
        _no_expressions(body, f"{key_path}.json")
        headers = _string_map(endpoint.get("headers"), f"{key_path}.headers")
        _no_expressions(headers, f"{key_path}.headers")
        self.fields["endpoint"] = {
            "method": method,
            "json": body,
            "headers": headers,
            "data_selector": data_selector,
            "paginator": paginator,
            "response_actions": _parse_response_actions(endpoint.get("response_actions"), key_path),
            "error_handler": _parse_error_handler(endpoint.get("error_handler"), f"{key_path}.error_handler"),
        }

    def _parse_params(self, raw: Any, key_path: str) -> None:
        for name, value in _mapping(raw or {}, key_path).items():
            param_path = _join(key_path, str(name))
            if isinstance(value, Mapping):
                kind = value.get("type")
                if kind == "incremental":
                    raise ConfigError("incremental params are not supported yet", param_path)
                if kind != "resolve":
                    raise ConfigError(
                        f"a param mapping is {{type: resolve, resource, field}}, not type {kind!r}",
                        f"{param_path}.type",
                    )
                _check_keys(value, param_path, ("type", "resource", "field"))
                self.resolve_params[str(name)] = (
                    _string(value.get("resource"), f"{param_path}.resource"),
                    _string(value.get("field"), f"{param_path}.field"),
                )
            elif isinstance(value, str) and _EXPRESSION.search(value):
                if "{incremental." in value:
                    raise ConfigError("incremental placeholders are not supported yet", param_path)
                self.bound_params[str(name)] = value
            elif value is None or isinstance(value, (str, int, float, bool, list)):
                self.params[str(name)] = value
            else:
                raise ConfigError(
                    f"a param value must be a scalar or a list, not {type(value).__name__}", param_path
                )

    def _bind_static(self, path: str, key_path: str) -> str:
        """Put static params named in the path into it (dlt does, then drops them from the query)."""
        if _PLACEHOLDER.sub("", path).count("{") or _PLACEHOLDER.sub("", path).count("}"):
            raise ConfigError(f"unbalanced braces in path {path!r}", key_path)

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in self.params:
                return encode_path_value(self.params.pop(name), name)
            return match.group(0)

        try:
            return _PLACEHOLDER.sub(replace, path)
        except ValueError as exc:
            raise ConfigError(str(exc), key_path) from None


def _parse_resource_fields(
    merged: Mapping[str, Any], name: str, key_path: str, *, partial: bool = False
) -> dict[str, Any]:
    primary_key = _string_list(merged.get("primary_key"), f"{key_path}.primary_key")
    disposition, strategy = _parse_disposition(
        merged.get("write_disposition"), f"{key_path}.write_disposition"
    )
    if disposition == "merge" and not primary_key and not partial:
        raise ConfigError("write_disposition 'merge' needs a primary_key", f"{key_path}.write_disposition")
    table_name = merged.get("table_name")
    selected = merged.get("selected", True)
    if not isinstance(selected, bool):
        raise ConfigError(f"must be true or false, not {selected!r}", f"{key_path}.selected")
    nesting = merged.get("max_table_nesting")
    return {
        "primary_key": primary_key,
        "write_disposition": disposition,
        "merge_strategy": strategy,
        "table_name": name if table_name is None else _string(table_name, f"{key_path}.table_name"),
        "columns": _parse_columns(merged.get("columns"), f"{key_path}.columns"),
        "include_from_parent": _string_list(
            merged.get("include_from_parent"), f"{key_path}.include_from_parent"
        ),
        "selected": selected,
        "max_table_nesting": None if nesting is None else _whole(nesting, f"{key_path}.max_table_nesting"),
    }


def _parse_disposition(raw: Any, key_path: str) -> tuple[str, str]:
    strategy: Any = "delete-insert"
    if raw is None:
        return "append", strategy
    if isinstance(raw, Mapping):
        _check_keys(raw, key_path, ("disposition", "strategy"))
        disposition = raw.get("disposition")
        if raw.get("strategy") is not None:
            strategy = raw["strategy"]
            if disposition != "merge":
                raise ConfigError(
                    "a strategy is supported with the merge disposition only", f"{key_path}.strategy"
                )
            if strategy not in MERGE_STRATEGIES:
                raise ConfigError(
                    f"merge strategy {strategy!r} is not supported"
                    f"{did_you_mean(str(strategy), MERGE_STRATEGIES)}; one of: {', '.join(MERGE_STRATEGIES)}",
                    f"{key_path}.strategy",
                )
        key_path = f"{key_path}.disposition"
    else:
        disposition = raw
    if disposition not in WRITE_DISPOSITIONS:
        raise ConfigError(
            f"unknown write disposition {disposition!r}{did_you_mean(str(disposition), WRITE_DISPOSITIONS)}; "
            f"one of: {', '.join(WRITE_DISPOSITIONS)}",
            key_path,
        )
    return disposition, strategy


def _parse_columns(raw: Any, key_path: str) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        columns: dict[str, dict[str, Any]] = {}
        for name, hints in raw.items():
            columns[str(name)] = dict(
                _mapping(hints or {}, _join(key_path, str(name)), "a mapping of column hints")
            )
        return columns
    if isinstance(raw, list):
        columns = {}
        for index, item in enumerate(raw):
            hints = _mapping(item, f"{key_path}[{index}]", "a mapping of column hints")
            columns[_string(hints.get("name"), f"{key_path}[{index}].name")] = dict(hints)
        return columns
    raise ConfigError(f"must be a mapping (or list) of column hints, not {type(raw).__name__}", key_path)


def _parse_response_actions(raw: Any, key_path: str) -> tuple[ResponseAction, ...]:
    key_path = f"{key_path}.response_actions"
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"must be a list, not {type(raw).__name__}", key_path)
    actions = []
    for index, item in enumerate(raw):
        item_path = f"{key_path}[{index}]"
        if callable(item):
            raise ConfigError("callable response actions are not supported yet", item_path)
        entry = _mapping(item, item_path)
        _check_keys(entry, item_path, _RESPONSE_ACTION_KEYS)
        action = entry.get("action")
        if callable(action) or isinstance(action, list):
            raise ConfigError("callable response actions are not supported yet", f"{item_path}.action")
        if action not in RESPONSE_ACTIONS:
            raise ConfigError(
                f"unknown action {action!r}{did_you_mean(str(action), RESPONSE_ACTIONS)}; one of: "
                f"{', '.join(RESPONSE_ACTIONS)}",
                f"{item_path}.action",
            )
        status = entry.get("status_code")
        if status is not None:
            if isinstance(status, str) and status.strip().isdigit():
                status = int(status)
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise ConfigError(f"must be an HTTP status code, not {status!r}", f"{item_path}.status_code")
        content = entry.get("content")
        if content is not None:
            content = _string(content, f"{item_path}.content")
        if status is None and content is None:
            raise ConfigError("a response action needs a status_code, a content, or both", item_path)
        actions.append(ResponseAction(action=action, status_code=status, content=content))
    return tuple(actions)


def _parse_error_handler(raw: Any, key_path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    handler = dict(_mapping(raw, key_path))
    _check_keys(handler, key_path, ERROR_HANDLER_KEYS)
    codes = handler.get("retry_on_status_codes")
    if codes is not None:
        if not isinstance(codes, list):
            raise ConfigError("must be a list of HTTP status codes", f"{key_path}.retry_on_status_codes")
        for index, code in enumerate(codes):
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                raise ConfigError(
                    f"not an HTTP status code: {code!r}", f"{key_path}.retry_on_status_codes[{index}]"
                )
    if handler.get("max_retries") is not None:
        _whole(handler["max_retries"], f"{key_path}.max_retries")
    for key in ("backoff_factor", "backoff_max"):
        value = handler.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            raise ConfigError(f"must be a number of at least 0, not {value!r}", f"{key_path}.{key}")
    return handler


def encode_path_value(value: Any, placeholder: str) -> str:
    """``value`` as one URL path segment: every reserved character encoded, so it cannot change the path.

    :raises ValueError: the value is empty, ``.`` or ``..`` (segments that would move the path), or not a
        scalar.
    """
    if isinstance(value, (dict, list)) or value is None:
        raise ValueError(f"{{{placeholder}}} needs a scalar value, not {type(value).__name__}")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text in ("", ".", ".."):
        raise ValueError(f"{{{placeholder}}} cannot be {text!r}: it would change the path")
    return quote(text, safe="")


# --- parents and bindings -------------------------------------------------------------------------


def plural(word: str) -> str:
    """English plural as API resource names use it: account -> accounts, inbox -> inboxes."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return f"{word}es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return f"{word[:-1]}ies"
    return f"{word}s"


class _Binder:
    """Turns placeholders into bindings, finds each resource's parent, and freezes the resources."""

    def __init__(self, drafts: list[_ResourceDraft]) -> None:
        self.drafts: dict[str, _ResourceDraft] = {}
        for draft in drafts:
            if draft.name in self.drafts:
                raise ConfigError(f"resource {draft.name!r} is defined twice", f"{draft.key_path}.name")
            self.drafts[draft.name] = draft
        self.own: dict[str, tuple[Binding, ...]] = {}
        self.parents: dict[str, str | None] = {}
        self.effective: dict[str, tuple[Binding, ...]] = {}
        self._told: set[tuple[str, str]] = set()

    def bind(self) -> tuple[ResourceConfig, ...]:
        for draft in self.drafts.values():
            self.own[draft.name] = tuple(dict.fromkeys(self._bindings(draft)))
        for name in self.drafts:
            self._parent(name, ())
        return tuple(self._freeze(draft) for draft in self.drafts.values())

    def _bindings(self, draft: _ResourceDraft) -> Iterator[Binding]:
        key_path = f"{draft.key_path}.endpoint"
        unused_resolve = dict(draft.resolve_params)
        for match in _PLACEHOLDER.finditer(draft.path):
            name = match.group(1)
            if name.startswith("resources."):
                yield self._declared(draft, name, "path", f"{key_path}.path")
            elif name.startswith("incremental."):
                raise ConfigError(
                    f"{{{name}}}: incremental placeholders are not supported yet", f"{key_path}.path"
                )
            elif name in draft.resolve_params:
                resource, field_path = unused_resolve.pop(name, draft.resolve_params[name])
                self._check_resource(draft, resource, f"{key_path}.params.{name}.resource")
                yield Binding(name, resource, field_path, "path")
            else:
                yield self._inferred(draft, name, f"{key_path}.path")
        if unused_resolve:
            name = next(iter(unused_resolve))
            raise ConfigError(
                f"the resolve param {name!r} is not used in the path {draft.path!r}; to send a parent's "
                "field as a query parameter write it as a string: '{resources.<parent>.<field>}'",
                f"{key_path}.params.{name}",
            )
        for param, template in draft.bound_params.items():
            for expression in _EXPRESSION.findall(template):
                yield self._declared(draft, expression, "param", f"{key_path}.params.{param}")

    def _declared(
        self, draft: _ResourceDraft, expression: str, location: Literal["path", "param"], key_path: str
    ) -> Binding:
        parts = expression.split(".", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ConfigError(
                f"{{{expression}}} is not of the form {{resources.<resource>.<field>}}", key_path
            )
        self._check_resource(draft, parts[1], key_path)
        return Binding(expression, parts[1], parts[2], location)

    def _inferred(self, draft: _ResourceDraft, name: str, key_path: str) -> Binding:
        base = name[:-3] if name.endswith("_id") else ""
        candidates = list(dict.fromkeys([plural(base), f"{base}s"])) if base else []
        for candidate in candidates:
            if candidate in self.drafts and candidate != draft.name:
                binding = Binding(name, candidate, "id", "path", inferred=True)
                if (draft.name, name) in self._told:
                    return binding
                self._told.add((draft.name, name))
                log.info(
                    "Resource %r: path placeholder {%s} bound to %s.id (inferred from the name; declare "
                    "{resources.%s.id} to make it explicit)",
                    draft.name,
                    name,
                    candidate,
                    candidate,
                )
                return binding
        looked = (
            f" (no resource named {' or '.join(repr(c) for c in candidates)} to take it from)" if base else ""
        )
        raise ConfigError(
            f"the path placeholder {{{name}}} is not bound{looked}: write it as "
            "{resources.<parent>.<field>}, or declare it under endpoint.params as "
            f"{name}: {{type: resolve, resource: <parent>, field: <field>}}",
            key_path,
        )

    def _check_resource(self, draft: _ResourceDraft, resource: str, key_path: str) -> None:
        if resource == draft.name:
            raise ConfigError(f"resource {resource!r} cannot take values from itself", key_path)
        if resource not in self.drafts:
            raise ConfigError(
                f"refers to resource {resource!r}, which is not defined{did_you_mean(resource, self.drafts)}",
                key_path,
            )

    def _parent(self, name: str, visiting: tuple[str, ...]) -> str | None:
        if name in self.parents:
            return self.parents[name]
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ConfigError(
                f"resources take values from each other in a cycle: {cycle}", self.drafts[name].key_path
            )
        referenced = list(dict.fromkeys(binding.resource for binding in self.own[name]))
        for resource in referenced:
            self._parent(resource, (*visiting, name))
        parent = None
        for candidate in referenced:
            ancestors = set(self._ancestors(candidate))
            if all(other == candidate or other in ancestors for other in referenced):
                parent = candidate
                break
        if referenced and parent is None:
            raise ConfigError(
                f"resource {name!r} takes values from {', '.join(map(repr, referenced))}, which are not "
                "one line of parent and ancestors",
                f"{self.drafts[name].key_path}.endpoint",
            )
        self.parents[name] = parent
        own = self.own[name]
        inherited = self.effective[parent] if parent else ()
        placeholders = {binding.placeholder for binding in own}
        self.effective[name] = own + tuple(b for b in inherited if b.placeholder not in placeholders)
        return parent

    def _ancestors(self, name: str) -> Iterator[str]:
        parent = self.parents.get(name)
        while parent is not None:
            yield parent
            parent = self.parents.get(parent)

    def _freeze(self, draft: _ResourceDraft) -> ResourceConfig:
        fields = draft.fields
        if fields["include_from_parent"] and self.parents[draft.name] is None:
            raise ConfigError(
                "include_from_parent needs a parent: the endpoint takes no values from another resource",
                f"{draft.key_path}.include_from_parent",
            )
        endpoint = EndpointConfig(
            path=draft.path, params=draft.params, bound_params=draft.bound_params, **fields["endpoint"]
        )
        rest = {key: value for key, value in fields.items() if key != "endpoint"}
        return ResourceConfig(
            name=draft.name,
            key_path=draft.key_path,
            endpoint=endpoint,
            parent=self.parents[draft.name],
            bindings=self.effective[draft.name],
            **rest,
        )
