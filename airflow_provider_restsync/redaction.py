"""Keep secrets out of URLs and text that reach logs, exceptions and XComs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query parameters whose values are secrets even when no connection told us so.
SENSITIVE_PARAM = re.compile(
    r"(api[_-]?key|apikey|token|access[_-]?token|secret|password|passwd|auth|signature|sig|key)$",
    re.IGNORECASE,
)


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
    """Replace every occurrence of each secret value (and its URL-encoded form) in ``text``."""
    from urllib.parse import quote, quote_plus

    for value in secret_values:
        if not value:
            continue
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            text = text.replace(form, MASK)
    return text
