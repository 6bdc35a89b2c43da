"""The source config: dlt's ``rest_api_source`` format, parsed into one checked plan.

``load_source`` touches no network, connection or database, so it can run while Airflow parses a DAG file.
Every problem is a :class:`~airflow_provider_restsync.errors.ConfigError` whose ``key_path`` names the
place (``resources[2].endpoint.paginator.type``). A key we do not know is an error with a did-you-mean; a
key dlt has that we do not support yet is an error that says so. Nothing is silently ignored.

Each rule belongs to the layer that applies it, and this module calls that layer's validator with the
key path: paginators (:func:`paging.parse_paginator`), retries (:meth:`RetryOverrides.parse`), column
hints (:func:`sql.hints.parse_column_hints`), write dispositions
(:func:`sql.disposition.parse_write_disposition`), placeholders (:mod:`placeholders`) and parent
bindings (:mod:`bindings`). What it returns is typed all the way down: no later layer reads a raw
mapping of the config again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from airflow_provider_restsync.auth_styles import (
    API_KEY_LOCATIONS,
    AUTH_SECRET_KEYS,
    AUTH_SETTING_KEYS,
    AUTH_TYPES,
    check_auth_keys,
    style_for_type,
)
from airflow_provider_restsync.bindings import Binding, Lineage, References, bind, plural
from airflow_provider_restsync.errors import ConfigError, did_you_mean
from airflow_provider_restsync.hooks.retry import RetryOverrides
from airflow_provider_restsync.incremental import (
    PLACEHOLDER_PREFIX,
    IncrementalSpec,
    check_placeholder,
    parse_incremental,
)
from airflow_provider_restsync.paging import AUTO, SINGLE_PAGE, PaginatorSpec, parse_paginator
from airflow_provider_restsync.placeholders import (
    BodyTemplate,
    Template,
    encode_path_value,
    parse_body,
    parse_template,
    unescape_value,
)
from airflow_provider_restsync.selecting import compile_selector
from airflow_provider_restsync.sql.disposition import WriteDisposition, parse_write_disposition
from airflow_provider_restsync.sql.hints import ColumnHint, hinted_primary_key, parse_column_hints

__all__ = [
    "Binding",
    "ClientConfig",
    "EndpointConfig",
    "ResourceConfig",
    "ResponseAction",
    "SourceConfig",
    "load_source",
    "plural",
]

HTTP_METHODS = ("GET", "POST")
#: How deep a config may nest (a JSON body included); far beyond any API's, well within Python's stack.
MAX_NESTING = 64
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


@dataclass(frozen=True)
class ResponseAction:
    """dlt's ``response_actions`` entry: when the status and/or the content match, do ``action``."""

    action: str
    status_code: int | None = None
    content: str | None = None


@dataclass(frozen=True)
class ClientConfig:
    """The ``client`` block: headers with their escapes undone, auth settings without secrets."""

    base_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: Mapping[str, Any] | None = None
    paginator: PaginatorSpec | None = None


@dataclass(frozen=True)
class EndpointConfig:
    """One resource's request, checked and resolved against the client's defaults.

    :param path: the path; its placeholders are filled from ancestor records (static params named in
        it are already in).
    :param params: static query parameters, dlt's brace escapes undone.
    :param param_templates: query parameters filled from ancestor records (``{resources.x.id}``).
    :param paginator: the endpoint's paginator, else the client's, else auto-detection.
    :param retry: the endpoint's ``error_handler``: what it changes in the connection's retry policy.
    """

    path: Template
    method: str = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    param_templates: Mapping[str, Template] = field(default_factory=dict)
    json: Any = None
    json_template: BodyTemplate | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    data_selector: str | None = None
    paginator: PaginatorSpec = AUTO
    response_actions: tuple[ResponseAction, ...] = ()
    retry: RetryOverrides | None = None
    incremental: IncrementalSpec | None = None


@dataclass(frozen=True)
class ResourceConfig:
    """One resource: its request, its table and how records land there.

    :param primary_key: the ``primary_key`` setting and the fields hinted ``primary_key: true``.
    :param columns: column hints by field name.
    :param parent: the resource whose records this one's requests take values from.
    :param bindings: every value taken from an ancestor record, the ancestors' own included.
    """

    name: str
    key_path: str
    endpoint: EndpointConfig
    primary_key: tuple[str, ...] = ()
    write_disposition: WriteDisposition = field(default_factory=WriteDisposition)
    table_name: str = ""
    columns: Mapping[str, ColumnHint] = field(default_factory=dict)
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

    def descendants(self, name: str) -> tuple[ResourceConfig, ...]:
        """Every resource below ``name``: its children, theirs, and so on."""
        found: list[ResourceConfig] = []
        queue = [name]
        while queue:
            children = self.children_of(queue.pop())
            found.extend(children)
            queue.extend(child.name for child in children)
        return tuple(found)

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
    _check_nesting(config)
    _check_keys(config, "", _TOP_KEYS)
    # `None` (a key written without a value) is the empty block; `[]`, `0` or `""` are mistakes.
    client = _parse_client(_or_empty(config.get("client")), "client")
    defaults = _parse_defaults(_or_empty(config.get("resource_defaults")), "resource_defaults", client)
    entries = config.get("resources")
    if not isinstance(entries, Sequence) or isinstance(entries, (str, bytes)) or not entries:
        raise ConfigError("a source needs a non-empty list of resources", "resources")
    drafts = [
        _Draft.parse(entry, defaults, f"resources[{index}]", client) for index, entry in enumerate(entries)
    ]
    lineages = bind([draft.references for draft in drafts])
    resources = tuple(draft.freeze(lineages[draft.name]) for draft in drafts)
    return SourceConfig(client=client, resources=resources)


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
    except RecursionError:
        raise ConfigError(f"the config file {file} is nested too deeply to read") from None


def _check_nesting(config: Mapping[str, Any]) -> None:
    """Refuse a config nested deeper than :data:`MAX_NESTING` (or holding itself), before the recursive
    checks below would exhaust the stack on it."""
    stack: list[tuple[Any, str, int]] = [(config, "", 0)]
    while stack:
        value, key_path, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ConfigError(f"nested more than {MAX_NESTING} levels deep (or holds itself)", key_path)
        if isinstance(value, Mapping):
            stack.extend((item, _join(key_path, str(key)), depth + 1) for key, item in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((item, f"{key_path}[{index}]", depth + 1) for index, item in enumerate(value))


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


def _or_empty(value: Any) -> Any:
    """``value``, or an empty mapping for ``None``: unlike ``value or {}``, a falsy wrong type stays."""
    return {} if value is None else value


def _string_map(value: Any, key_path: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, item in _mapping(_or_empty(value), key_path).items():
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise ConfigError(
                f"a header value must be a string, not {type(item).__name__}", _join(key_path, key)
            )
        result[str(key)] = str(item)
    return result


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
    style = style_for_type(kind) if isinstance(kind, str) else None
    if kind is not None and style is None:
        raise ConfigError(
            f"unknown auth type {kind!r}{did_you_mean(str(kind), AUTH_TYPES)}; "
            f"one of: {', '.join(AUTH_TYPES)}",
            f"{key_path}.type",
        )
    if style is not None:
        check_auth_keys(style, auth, key_path)
    location = auth.get("location")
    if location is not None and location not in API_KEY_LOCATIONS:
        raise ConfigError(
            f"unknown api key location {location!r}; one of: {', '.join(API_KEY_LOCATIONS)}",
            f"{key_path}.location",
        )
    return {key: value for key, value in auth.items() if key not in AUTH_SECRET_KEYS}


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


# --- client ---------------------------------------------------------------------------------------


def _parse_client(raw: Any, key_path: str) -> ClientConfig:
    client = _mapping(raw, key_path)
    _check_keys(client, key_path, _CLIENT_KEYS, _CLIENT_NOT_YET)
    base_url = client.get("base_url")
    if base_url is not None:
        base_url = _string(base_url, f"{key_path}.base_url")
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError(f"must be an http:// or https:// URL, not {base_url!r}", f"{key_path}.base_url")
    paginator = client.get("paginator")
    return ClientConfig(
        base_url=base_url,
        headers=_headers(client.get("headers"), f"{key_path}.headers"),
        auth=_parse_auth(client.get("auth"), f"{key_path}.auth"),
        paginator=None if paginator is None else parse_paginator(paginator, f"{key_path}.paginator"),
    )


def _headers(raw: Any, key_path: str) -> dict[str, str]:
    """Header names and values, dlt's brace escapes undone; placeholders are not supported there yet."""
    return unescape_value(_string_map(raw, key_path), key_path, keys=True)  # type: ignore[no-any-return]


# --- resources ------------------------------------------------------------------------------------


def _parse_defaults(raw: Any, key_path: str, client: ClientConfig) -> dict[str, Any]:
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
    _Draft.parse(stand_in, {}, key_path, client, partial=True)
    return defaults


class _Draft:
    """One resource parsed on its own; parent and bindings are settled once all resources are known."""

    def __init__(self, name: str, key_path: str) -> None:
        self.name = name
        self.key_path = key_path
        self.fields: dict[str, Any] = {}
        self.endpoint: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.param_templates: dict[str, Template] = {}
        self.resolve_params: dict[str, tuple[str, str]] = {}
        self.path = Template("", ())
        self.body: BodyTemplate | None = None

    @classmethod
    def parse(
        cls,
        raw: Any,
        defaults: Mapping[str, Any],
        key_path: str,
        client: ClientConfig,
        *,
        partial: bool = False,
    ) -> _Draft:
        """Parse one resource merged with ``defaults``; ``partial`` skips checks a resource may complete."""
        if isinstance(raw, str):
            raw = {"name": raw, "endpoint": {"path": raw}}
        resource = dict(_mapping(raw, key_path, "a resource name or a mapping"))
        _check_keys(resource, key_path, _RESOURCE_KEYS, _RESOURCE_NOT_YET)
        draft = cls(_string(resource.get("name"), f"{key_path}.name"), key_path)
        endpoint = resource.get("endpoint")
        if endpoint is None:
            endpoint = {}
        elif isinstance(endpoint, str):
            endpoint = {"path": endpoint}
        endpoint = dict(_mapping(endpoint, f"{key_path}.endpoint", "a path or a mapping"))
        _check_keys(endpoint, f"{key_path}.endpoint", _ENDPOINT_KEYS, _ENDPOINT_NOT_YET)
        endpoint.setdefault("path", draft.name)
        resource["endpoint"] = endpoint
        merged = _merge(defaults, resource)
        draft._parse_fields(merged, partial=partial)
        draft._parse_endpoint(merged["endpoint"], f"{key_path}.endpoint", client)
        return draft

    @property
    def references(self) -> References:
        return References(
            self.name,
            self.key_path,
            self.path,
            self.resolve_params,
            self.param_templates,
            self.body.templates if self.body is not None else {},
        )

    def freeze(self, lineage: Lineage) -> ResourceConfig:
        if self.fields["include_from_parent"] and lineage.parent is None:
            raise ConfigError(
                "include_from_parent needs a parent: the endpoint takes no values from another resource",
                f"{self.key_path}.include_from_parent",
            )
        endpoint = EndpointConfig(
            path=self.path, params=self.params, param_templates=self.param_templates, **self.endpoint
        )
        return ResourceConfig(
            name=self.name,
            key_path=self.key_path,
            endpoint=endpoint,
            parent=lineage.parent,
            bindings=lineage.bindings,
            **self.fields,
        )

    def _parse_fields(self, merged: Mapping[str, Any], *, partial: bool) -> None:
        key_path = self.key_path
        columns = parse_column_hints(merged.get("columns"), f"{key_path}.columns")
        primary_key = hinted_primary_key(
            _string_list(merged.get("primary_key"), f"{key_path}.primary_key"), columns
        )
        disposition = parse_write_disposition(
            merged.get("write_disposition"), f"{key_path}.write_disposition"
        )
        if not partial:
            disposition.require_key(primary_key, f"{key_path}.write_disposition")
        table_name = merged.get("table_name")
        selected = merged.get("selected", True)
        if not isinstance(selected, bool):
            raise ConfigError(f"must be true or false, not {selected!r}", f"{key_path}.selected")
        nesting = merged.get("max_table_nesting")
        self.fields = {
            "primary_key": primary_key,
            "write_disposition": disposition,
            "table_name": self.name if table_name is None else _string(table_name, f"{key_path}.table_name"),
            "columns": columns,
            "include_from_parent": _string_list(
                merged.get("include_from_parent"), f"{key_path}.include_from_parent"
            ),
            "selected": selected,
            "max_table_nesting": None
            if nesting is None
            else _whole(nesting, f"{key_path}.max_table_nesting"),
        }

    def _parse_endpoint(self, endpoint: dict[str, Any], key_path: str, client: ClientConfig) -> None:
        path = parse_template(_string(endpoint["path"], f"{key_path}.path"), f"{key_path}.path")
        method = endpoint.get("method")
        method = "GET" if method is None else _string(method, f"{key_path}.method").upper()
        if method not in HTTP_METHODS:
            raise ConfigError(f"method must be GET or POST, not {method!r}", f"{key_path}.method")
        incremental = self._parse_params(endpoint.get("params"), f"{key_path}.params")
        if endpoint.get("incremental") is not None:
            if incremental is not None:
                raise ConfigError(
                    "the endpoint has both an incremental setting and a param of type incremental; keep one",
                    f"{key_path}.incremental",
                )
            incremental = parse_incremental(endpoint["incremental"], f"{key_path}.incremental")
        body, self.body = parse_body(endpoint.get("json"), f"{key_path}.json")
        self._check_incremental_placeholders(path, incremental, key_path)
        data_selector = endpoint.get("data_selector")
        paginator_raw = endpoint.get("paginator")
        paginator = None if paginator_raw is None else parse_paginator(paginator_raw, f"{key_path}.paginator")
        # dlt: a path ending in a placeholder names one entity, so the body is the record and one page.
        last_segment = parse_template(str(path).rstrip("/").rsplit("/", 1)[-1], f"{key_path}.path")
        if last_segment.names:
            data_selector = "$" if data_selector is None else data_selector
            paginator = paginator or SINGLE_PAGE
        if data_selector is not None:
            try:
                compile_selector(data_selector)
            except ValueError as exc:
                raise ConfigError(str(exc), f"{key_path}.data_selector") from None
        self.path = self._fill_static(path, f"{key_path}.path")
        self.endpoint = {
            "method": method,
            "json": body,
            "json_template": self.body,
            "headers": _headers(endpoint.get("headers"), f"{key_path}.headers"),
            "data_selector": data_selector,
            "paginator": paginator or client.paginator or AUTO,
            "response_actions": _parse_response_actions(endpoint.get("response_actions"), key_path),
            "retry": RetryOverrides.parse(endpoint.get("error_handler"), f"{key_path}.error_handler"),
            "incremental": incremental,
        }

    def _check_incremental_placeholders(
        self, path: Template, incremental: IncrementalSpec | None, key_path: str
    ) -> None:
        for name in path.names:
            if name.startswith(PLACEHOLDER_PREFIX):
                check_placeholder(name, incremental, f"{key_path}.path")
        for param, template in self.param_templates.items():
            for name in template.names:
                if name.startswith(PLACEHOLDER_PREFIX):
                    check_placeholder(name, incremental, f"{key_path}.params.{param}")
        for body_path, template in (self.body.templates if self.body is not None else {}).items():
            for name in template.names:
                if name.startswith(PLACEHOLDER_PREFIX):
                    check_placeholder(name, incremental, body_path)
                elif not name.startswith("resources."):
                    raise ConfigError(
                        f"{{{name}}} is not a placeholder a JSON body can take: it takes "
                        "{resources.<parent>.<field>} and {incremental.start_value} (or end_value, "
                        "initial_value, last_value); a literal brace is written doubled, {{ and }}",
                        body_path,
                    )

    def _parse_params(self, raw: Any, key_path: str) -> IncrementalSpec | None:
        """Sort the params into literal values, templates and resolve bindings; return the incremental
        a param of type incremental declares (dlt allows one)."""
        incremental: IncrementalSpec | None = None
        for name, value in _mapping(_or_empty(raw), key_path).items():
            param_path = f"{key_path}.{name}"
            if isinstance(value, Mapping):
                kind = value.get("type")
                if kind == "incremental":
                    if incremental is not None:
                        raise ConfigError(
                            f"only one param of type incremental per endpoint; {incremental.start_param!r} "
                            "is one already",
                            param_path,
                        )
                    incremental = parse_incremental(value, param_path, param=str(name))
                    continue
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
            elif isinstance(value, str):
                template = parse_template(value, param_path)
                if template.literal is not None:
                    self.params[str(name)] = template.literal
                    continue
                for placeholder in template.names:
                    if not placeholder.startswith(("resources.", PLACEHOLDER_PREFIX)):
                        raise ConfigError(
                            f"{{{placeholder}}} is not a placeholder a param can take: params take "
                            "{resources.<parent>.<field>} and {incremental.start_value} (or end_value, "
                            "initial_value, last_value); a literal brace is written doubled, {{ and }}",
                            param_path,
                        )
                self.param_templates[str(name)] = template
            elif isinstance(value, list):
                self.params[str(name)] = unescape_value(value, param_path)
            elif value is None or isinstance(value, (int, float, bool)):
                self.params[str(name)] = value
            else:
                raise ConfigError(
                    f"a param value must be a scalar or a list, not {type(value).__name__}", param_path
                )
        return incremental

    def _fill_static(self, path: Template, key_path: str) -> Template:
        """Put static params named in the path into it (dlt does, then drops them from the query)."""
        values: dict[str, str] = {}
        for name in path.names:
            if name in self.params:
                try:
                    values[name] = encode_path_value(self.params.pop(name), name)
                except ValueError as exc:
                    raise ConfigError(str(exc), key_path) from None
        return path.fill(values)
