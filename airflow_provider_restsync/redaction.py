"""Keep secrets out of URLs and text that reach logs, exceptions and XComs: every redaction rule is here."""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query parameters whose values are secrets even when no connection told us so.
SENSITIVE_PARAM = re.compile(
    r"(api[_-]?key|apikey|token|access[_-]?token|secret|password|passwd|auth|signature|sig|key)$",
    re.IGNORECASE,
)

# name=value inside a query string, wherever it appears in a text (full URL, a bare path, a repr).
_QUERY_PAIR = re.compile(r"(?P<lead>[?&])(?P<name>[^=&?#\s'\"]+)=(?P<value>[^&#\s'\"]*)")
# user:password@ in a URL.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@")


def redact_url(url: str, secret_params: Iterable[str] = (), secret_values: Iterable[str] = ()) -> str:
    """Return ``url`` with credentials, secret query values and known secret values replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    names = {name.lower() for name in secret_params}
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if k.lower() in names or SENSITIVE_PARAM.search(k) else v) for k, v in pairs],
            safe="*",
        )
    redacted = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return redact_text(redacted, secret_values)


def redact_text(text: str, secret_values: Iterable[str]) -> str:
    """Replace every occurrence of each secret value, in any of the spellings a server may echo back
    (see :func:`spellings`), in ``text``."""
    pattern = _secrets_pattern(tuple(sorted({value for value in secret_values if value})))
    return pattern.sub(MASK, text) if pattern is not None else text


def spellings(value: str) -> set[str]:
    """The ways ``value`` appears when a server echoes it back: as it is; percent-encoded (path or
    query style, ``+`` for spaces); JSON-escaped (``\\/`` for ``/``, ``\\uXXXX``); HTML-escaped."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    for form in list(forms):
        escaped = json.dumps(form)[1:-1]
        forms.update({escaped, escaped.replace("/", "\\/"), json.dumps(form, ensure_ascii=False)[1:-1]})
        forms.add(html.escape(form, quote=True))
    return {form for form in forms if form}


def _case_free_escapes(form: str) -> str:
    """A regex for ``form`` whose percent escapes match in either case (``%2B`` and ``%2b``)."""
    parts = _PERCENT_ESCAPE.split(form)
    return "".join(
        f"(?i:{re.escape(part)})" if _PERCENT_ESCAPE.fullmatch(part) else re.escape(part) for part in parts
    )


_PERCENT_ESCAPE = re.compile(r"(%[0-9A-Fa-f]{2})")


@functools.lru_cache(maxsize=64)
def _secrets_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for every spelling of every secret, longest first (a secret that contains another one
    is replaced whole)."""
    forms = {form for value in values for form in spellings(value)}
    if not forms:
        return None
    return re.compile("|".join(_case_free_escapes(form) for form in sorted(forms, key=len, reverse=True)))


def redact_secrets(text: str, values: Iterable[str] = (), param_names: Iterable[str] = ()) -> str:
    """Return ``text`` with secret values, secret query parameters and URL credentials replaced by ``***``.

    Unlike :func:`redact_url` this works on any text (a log line, an exception message, a bare path).

    :param text: any text: a URL, a path with a query, a log message, an exception message.
    :param values: secret values, replaced wherever they appear (also URL-encoded).
    :param param_names: query parameters whose values are secret, on top of the usual suspects
        (``api_key``, ``token``, ``secret``, ... see :data:`SENSITIVE_PARAM`).
    """
    text = redact_text(text, values)
    names = {name.lower() for name in param_names}

    def _pair(match: re.Match[str]) -> str:
        name = unquote(match.group("name"))
        if name.lower() in names or SENSITIVE_PARAM.search(name):
            return f"{match.group('lead')}{match.group('name')}={MASK}"
        return match.group(0)

    text = _QUERY_PAIR.sub(_pair, text)
    return _USERINFO.sub(lambda match: f"{match.group('scheme')}{MASK}@", text)
