"""A source's drift (``drift.json``) as one typed record: what differs between the source and the fork, and why.

Every mode writes the same top-level shape; a commit mode adds ``commits`` (the upstream commits
it offers, oldest first) and a ``cooldown``. ``entries`` stays plain data (path -> class, bucket and
the ``mode oid`` of each side): it is the bulk of the file and is read by the repository layer as is.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Entries = Mapping[str, Mapping[str, Any]]

_KNOWN = ("upstream", "fork", "base", "warnings", "mode", "totals", "buckets", "critical_buckets", "paths", "renamed",
          "entries", "commits", "cooldown")


@dataclass(frozen=True)
class Drift:
    upstream: Mapping[str, Any]             # {"ref", "sha"}
    fork: Mapping[str, Any]                 # {"branch", "sha"}
    base: Mapping[str, Any] | None          # {"source", "rev", "sha", "groups"}
    entries: Entries
    mode: str = ""
    totals: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    buckets: Mapping[str, Any] = field(default_factory=dict)
    critical_buckets: tuple[str, ...] = ()
    paths: Mapping[str, Any] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    commits: tuple[Mapping[str, Any], ...] = ()   # commit modes: the upstream commits offered, oldest first
    cooldown: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def upstream_sha(self) -> str:
        return str(self.upstream.get("sha") or "")

    @property
    def fork_sha(self) -> str:
        return str(self.fork.get("sha") or "")

    def base_for(self, wave: str) -> str | None:
        """The base a wave's paths were compared against (per-wave bases, else the one base)."""
        base = self.base or {}
        return (base.get("groups") or {}).get(wave, base.get("sha"))

    def commit(self, sha: str) -> Mapping[str, Any] | None:
        return self.by_sha().get(sha)

    def by_sha(self) -> dict[str, Mapping[str, Any]]:
        return {c["sha"]: c for c in self.commits}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"upstream": dict(self.upstream), "fork": dict(self.fork), "base": self.base,
                               "warnings": list(self.warnings), "mode": self.mode, "totals": dict(self.totals),
                               "buckets": dict(self.buckets), "critical_buckets": list(self.critical_buckets),
                               "paths": dict(self.paths), "renamed": dict(self.renamed),
                               "entries": {k: dict(v) for k, v in self.entries.items()}}
        if self.commits:
            out["commits"] = [dict(c) for c in self.commits]
        if self.cooldown is not None:
            out["cooldown"] = dict(self.cooldown)
        return out | dict(self.extra)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Drift:
        return cls(data.get("upstream") or {}, data.get("fork") or {}, data.get("base"), data.get("entries") or {},
                   data.get("mode", ""), data.get("totals") or {}, tuple(data.get("warnings") or ()),
                   data.get("buckets") or {}, tuple(data.get("critical_buckets") or ()), data.get("paths") or {},
                   data.get("renamed") or {}, tuple(data.get("commits") or ()), data.get("cooldown"),
                   {k: v for k, v in data.items() if k not in _KNOWN})
