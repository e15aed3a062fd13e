"""Content rewrites (``rewrite:``): upstream content as the fork would have written it.

Rules are ordered, literal or regex, each limited to path globs, and applied to upstream
bytes before comparing and importing. Like Copybara's reversible check, a literal rule
is *not reversible* on a file whose upstream content already holds its ``to`` text:
mapping the fork's file back upstream would turn those too. Such files get a warning.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tasks.config import RewriteRule  # the rule is config data; this module applies it


def blob_oid(data: bytes) -> str:
    """The git blob id of ``data`` (sha1 object format), without calling git."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Rewriter:
    rules: tuple[RewriteRule, ...]

    def applies(self, path: str) -> bool:
        return any(r.applies(path) for r in self.rules)

    def apply(self, path: str, data: bytes) -> bytes:
        """``data`` rewritten for ``path``; binary content (a NUL byte) is left alone."""
        if b"\0" in data[:8000]:
            return data
        for rule in self.rules:
            if rule.applies(path):
                data = (rule.pattern.sub(rule.dst.encode(), data) if rule.regex
                        else data.replace(rule.src.encode(), rule.dst.encode()))
        return data

    def irreversible(self, path: str, data: bytes) -> list[str]:
        """Literal rules whose ``to`` text already occurs in the upstream ``data``."""
        if b"\0" in data[:8000]:
            return []
        return [f"{r.src!r} -> {r.dst!r}" for r in self.rules
                if not r.regex and r.applies(path) and r.dst and r.dst.encode() in data]


def rewriter(rules: Sequence[RewriteRule]) -> Rewriter:
    return Rewriter(tuple(rules))
