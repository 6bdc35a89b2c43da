"""The placeholder grammar of paths, params, headers and JSON bodies, as dlt writes it.

``{name}`` is a placeholder; ``{{`` and ``}}`` are the escape for a literal brace (``"{{not_this}}"`` is
sent as ``{not_this}``, exactly as dlt's ``str.format`` expansion sends it); a lone ``{`` or ``}`` is an
error. Every template is parsed once, at config time, into literal text and placeholder names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_restsync.errors import ConfigError


@dataclass(frozen=True)
class Template:
    """A string split into literal text (escapes already undone) and placeholder names.

    :param source: the string as the config writes it.
    :param parts: literal strings and :class:`Placeholder` items, in order.
    """

    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The placeholder names, each once, in order of appearance."""
        return tuple(dict.fromkeys(part.name for part in self.parts if isinstance(part, Placeholder)))

    @property
    def literal(self) -> str | None:
        """The text with the escapes undone, when the template has no placeholder; else None."""
        if any(isinstance(part, Placeholder) for part in self.parts):
            return None
        return "".join(part for part in self.parts if isinstance(part, str))

    @property
    def single(self) -> str | None:
        """The name when the whole template is one placeholder (its value keeps its type); else None."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Placeholder):
            return self.parts[0].name
        return None

    def render(self, value_of: Callable[[str], str]) -> str:
        """The text with each placeholder replaced by ``value_of(name)``."""
        return "".join(part if isinstance(part, str) else value_of(part.name) for part in self.parts)

    def fill(self, values: Mapping[str, str]) -> Template:
        """This template with the placeholders named in ``values`` turned into literal text."""
        parts: list[str | Placeholder] = []
        for part in self.parts:
            text = values.get(part.name) if isinstance(part, Placeholder) else part
            if text is None:
                parts.append(part)
            elif parts and isinstance(parts[-1], str):
                parts[-1] += text
            else:
                parts.append(text)
        return Template(self.source, tuple(parts))

    def __str__(self) -> str:
        """The template written back in the config's grammar (literal braces doubled)."""
        return "".join(
            part.replace("{", "{{").replace("}", "}}") if isinstance(part, str) else f"{{{part.name}}}"
            for part in self.parts
        )


@dataclass(frozen=True)
class Placeholder:
    name: str


def parse_template(text: str, key_path: str) -> Template:
    """Split ``text`` into literal text and placeholders.

    :raises ConfigError: an unbalanced brace or an empty ``{}``, at ``key_path``.
    """
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char in "{}" and text.startswith(char * 2, index):
            literal.append(char)
            index += 2
        elif char == "{":
            end = text.find("}", index + 1)
            name = text[index + 1 : end] if end != -1 else ""
            if end == -1 or "{" in name:
                raise ConfigError(_unbalanced(text, "{"), key_path)
            if not name.strip():
                raise ConfigError(
                    f"empty placeholder {{}} in {text!r}; write a literal brace as {{{{", key_path
                )
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Placeholder(name))
            index = end + 1
        elif char == "}":
            raise ConfigError(_unbalanced(text, "}"), key_path)
        else:
            literal.append(char)
            index += 1
    if literal:
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def _unbalanced(text: str, brace: str) -> str:
    return f"unbalanced {brace!r} in {text!r}: a literal brace is written doubled, {brace * 2}"


def unescape_value(value: Any, key_path: str, *, keys: bool = False) -> Any:
    """A literal value (a header, a JSON body, a static param) with dlt's ``{{``/``}}`` escapes undone.

    Strings inside mappings and lists are handled too (mapping keys when ``keys``). Such a value takes no
    placeholders yet: one is an error that says so.

    :raises ConfigError: a placeholder or an unbalanced brace, at its key path.
    """
    if isinstance(value, str):
        template = parse_template(value, key_path)
        if template.literal is None:
            raise ConfigError(
                f"placeholders like {{{template.names[0]}}} are not supported here yet; a literal brace "
                "is written doubled, {{ and }}",
                key_path,
            )
        return template.literal
    if isinstance(value, Mapping):
        return {
            (unescape_value(key, f"{key_path}.{key}") if keys and isinstance(key, str) else key): (
                unescape_value(item, f"{key_path}.{key}", keys=keys)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [unescape_value(item, f"{key_path}[{index}]", keys=keys) for index, item in enumerate(value)]
    return value


@dataclass(frozen=True)
class BodyTemplate:
    """A JSON request body whose string values hold placeholders (keys are literal), parsed once.

    :param value: the body with each string that holds a placeholder replaced by its :class:`Template`
        (other strings have their escapes undone).
    :param templates: every such template by its key path inside the body (``json.filter.since``).
    """

    value: Any
    templates: Mapping[str, Template]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for template in self.templates.values() for name in template.names))

    def render(self, value_of: Callable[[str], Any]) -> Any:
        """The body with each placeholder replaced by ``value_of(name)``; a string that is one
        placeholder takes the value itself, keeping its type."""
        return _render_body(self.value, value_of)


def parse_body(value: Any, key_path: str) -> tuple[Any, BodyTemplate | None]:
    """A JSON body as a literal value (escapes undone), or a :class:`BodyTemplate` when it holds
    placeholders: ``(literal, None)`` or ``(None, template)``.

    :raises ConfigError: an unbalanced brace, at its key path.
    """
    templates: dict[str, Template] = {}
    parsed = _parse_body(value, key_path, templates)
    if not templates:
        return parsed, None
    return None, BodyTemplate(parsed, templates)


def _parse_body(value: Any, key_path: str, templates: dict[str, Template]) -> Any:
    if isinstance(value, str):
        template = parse_template(value, key_path)
        if template.literal is not None:
            return template.literal
        templates[key_path] = template
        return template
    if isinstance(value, Mapping):
        return {
            (unescape_value(key, f"{key_path}.{key}") if isinstance(key, str) else key): (
                _parse_body(item, f"{key_path}.{key}", templates)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_parse_body(item, f"{key_path}[{index}]", templates) for index, item in enumerate(value)]
    return value


def _render_body(value: Any, value_of: Callable[[str], Any]) -> Any:
    if isinstance(value, Template):
        if value.single is not None:
            return value_of(value.single)
        return value.render(lambda name: str(value_of(name)))
    if isinstance(value, dict):
        return {key: _render_body(item, value_of) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_body(item, value_of) for item in value]
    return value


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
