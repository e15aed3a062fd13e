"""Keep credentials out of every output: URLs with user:password@, tokens in env values."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact_url(url: str) -> str:
    """``https://user:tok@host/x`` -> ``https://***@host/x``; local paths pass through.

    >>> redact_url("https://bob:s3cret@github.com/a/b.git")
    'https://***@github.com/a/b.git'
    """
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"***@{host}"))
    return url


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove URL userinfo and any of ``secrets`` from free text (git's stderr, logs)."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def url_secrets(url: str) -> tuple[str, ...]:
    """The credential parts of a URL, so they can be scrubbed even when git re-quotes them."""
    parts = urlsplit(url)
    return tuple(s for s in (parts.username, parts.password) if s and len(s) >= 3)
