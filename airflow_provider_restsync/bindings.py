"""Parent/child bindings: which ancestor record fills each placeholder, and each resource's parent.

A child endpoint takes values from records of other resources, written as dlt writes them:
``{resources.<parent>.<field>}`` in the path or a param, a legacy ``{type: resolve}`` param named in the
path, or (not in dlt) a bare ``{account_id}`` in the path, bound to ``accounts.id`` by its name. The
parent is the one resource whose ancestors include every other resource referenced; a grandchild
inherits its ancestors' bindings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from airflow_provider_restsync.errors import ConfigError, did_you_mean
from airflow_provider_restsync.placeholders import Template

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Binding:
    """A value a child request takes from a record of an ancestor resource.

    :param placeholder: the name in braces (``account_id``, ``resources.accounts.id``) or, for a legacy
        ``{type: resolve}`` param, the param name.
    :param location: ``path`` (URL-encoded into the path), ``param`` (a query parameter's value) or
        ``json`` (a value in the request body).
    :param inferred: bound by the naming rule (``{account_id}`` -> ``accounts.id``), not declared.
    """

    placeholder: str
    resource: str
    field: str
    location: Literal["path", "param", "json"] = "path"
    inferred: bool = False


@dataclass(frozen=True)
class References:
    """What one resource's endpoint refers to, as the config wrote it.

    :param path: the path template (static params already filled in).
    :param resolve_params: legacy ``{type: resolve}`` params: name -> (resource, field).
    :param param_templates: query params holding ``{resources...}`` placeholders.
    :param body_templates: strings of the JSON body holding placeholders, by their key path.
    """

    name: str
    key_path: str
    path: Template
    resolve_params: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    param_templates: Mapping[str, Template] = field(default_factory=dict)
    body_templates: Mapping[str, Template] = field(default_factory=dict)


@dataclass(frozen=True)
class Lineage:
    """A resource's parent (None for a root) and every binding it needs, its ancestors' included."""

    parent: str | None
    bindings: tuple[Binding, ...]


def plural(word: str) -> str:
    """English plural as API resource names use it: account -> accounts, inbox -> inboxes."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return f"{word}es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return f"{word[:-1]}ies"
    return f"{word}s"


def bind(resources: Sequence[References]) -> dict[str, Lineage]:
    """Each resource's :class:`Lineage`, by name.

    :raises ConfigError: a duplicate name, an unknown or self reference, an unbound placeholder, a cycle,
        or references that are not one line of ancestors.
    """
    return _Binder(resources).bind()


class _Binder:
    def __init__(self, resources: Sequence[References]) -> None:
        self.refs: dict[str, References] = {}
        for refs in resources:
            if refs.name in self.refs:
                raise ConfigError(f"resource {refs.name!r} is defined twice", f"{refs.key_path}.name")
            self.refs[refs.name] = refs
        self.own: dict[str, tuple[Binding, ...]] = {}
        self.parents: dict[str, str | None] = {}
        self.effective: dict[str, tuple[Binding, ...]] = {}

    def bind(self) -> dict[str, Lineage]:
        for refs in self.refs.values():
            self.own[refs.name] = tuple(dict.fromkeys(self._bindings(refs)))
        for name in self.refs:
            self._parent(name)
        return {name: Lineage(self.parents[name], self.effective[name]) for name in self.refs}

    def _bindings(self, refs: References) -> Iterator[Binding]:
        key_path = f"{refs.key_path}.endpoint"
        unused_resolve = dict(refs.resolve_params)
        for name in refs.path.names:
            if name.startswith("resources."):
                yield self._declared(refs, name, "path", f"{key_path}.path")
            elif name.startswith("incremental."):
                continue  # the incremental's values, checked by the config
            elif name in refs.resolve_params:
                resource, field_path = unused_resolve.pop(name, refs.resolve_params[name])
                self._check_resource(refs, resource, f"{key_path}.params.{name}.resource")
                yield Binding(name, resource, field_path, "path")
            else:
                yield self._inferred(refs, name, f"{key_path}.path")
        if unused_resolve:
            name = next(iter(unused_resolve))
            raise ConfigError(
                f"the resolve param {name!r} is not used in the path {str(refs.path)!r}; to send a "
                "parent's field as a query parameter write it as a string: '{resources.<parent>.<field>}'",
                f"{key_path}.params.{name}",
            )
        for param, template in refs.param_templates.items():
            for expression in template.names:
                if expression.startswith("incremental."):
                    continue
                yield self._declared(refs, expression, "param", f"{key_path}.params.{param}")
        for body_path, template in refs.body_templates.items():
            for expression in template.names:
                if expression.startswith("incremental."):
                    continue
                yield self._declared(refs, expression, "json", body_path)

    def _declared(
        self, refs: References, expression: str, location: Literal["path", "param", "json"], key_path: str
    ) -> Binding:
        parts = expression.split(".", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ConfigError(
                f"{{{expression}}} is not of the form {{resources.<resource>.<field>}}", key_path
            )
        self._check_resource(refs, parts[1], key_path)
        return Binding(expression, parts[1], parts[2], location)

    def _inferred(self, refs: References, name: str, key_path: str) -> Binding:
        base = name[:-3] if name.endswith("_id") else ""
        candidates = list(dict.fromkeys([plural(base), f"{base}s"])) if base else []
        for candidate in candidates:
            if candidate in self.refs and candidate != refs.name:
                # DEBUG: a DAG file is parsed over and over; the task doc and the docs say the rule.
                log.debug("Resource %r: {%s} bound to %s.id (inferred)", refs.name, name, candidate)
                return Binding(name, candidate, "id", "path", inferred=True)
        looked = (
            f" (no resource named {' or '.join(repr(c) for c in candidates)} to take it from)" if base else ""
        )
        raise ConfigError(
            f"the path placeholder {{{name}}} is not bound{looked}: write it as "
            "{resources.<parent>.<field>}, or declare it under endpoint.params as "
            f"{name}: {{type: resolve, resource: <parent>, field: <field>}}",
            key_path,
        )

    def _check_resource(self, refs: References, resource: str, key_path: str) -> None:
        if resource == refs.name:
            raise ConfigError(f"resource {resource!r} cannot take values from itself", key_path)
        if resource not in self.refs:
            raise ConfigError(
                f"refers to resource {resource!r}, which is not defined{did_you_mean(resource, self.refs)}",
                key_path,
            )

    def _parent(self, name: str) -> None:
        """Settle ``name``'s parent after those of every resource it references, depth first.

        An explicit stack rather than recursion: a chain of resources declared child first is as deep as
        it is long.
        """
        if name in self.parents:
            return
        stack = [(name, iter(self._referenced(name)))]
        visiting = [name]
        while stack:
            current, pending = stack[-1]
            for resource in pending:
                if resource in self.parents:
                    continue
                if resource in visiting:
                    cycle = " -> ".join([*visiting[visiting.index(resource) :], resource])
                    raise ConfigError(
                        f"resources take values from each other in a cycle: {cycle}",
                        self.refs[resource].key_path,
                    )
                stack.append((resource, iter(self._referenced(resource))))
                visiting.append(resource)
                break
            else:
                stack.pop()
                visiting.pop()
                self._settle(current)

    def _referenced(self, name: str) -> list[str]:
        return list(dict.fromkeys(binding.resource for binding in self.own[name]))

    def _settle(self, name: str) -> None:
        """``name``'s parent and effective bindings, once every resource it references is settled."""
        referenced = self._referenced(name)
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
                f"{self.refs[name].key_path}.endpoint",
            )
        self.parents[name] = parent
        own = self.own[name]
        inherited = self.effective[parent] if parent else ()
        placeholders = {binding.placeholder for binding in own}
        self.effective[name] = own + tuple(b for b in inherited if b.placeholder not in placeholders)

    def _ancestors(self, name: str) -> Iterator[str]:
        parent = self.parents.get(name)
        while parent is not None:
            yield parent
            parent = self.parents.get(parent)
