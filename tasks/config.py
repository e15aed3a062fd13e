"""Load and validate ``forkwave.yaml`` into frozen dataclasses; every error names file and key."""
from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any


from tasks.errors import ForkwaveError

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "demo" / "forkwave.yaml"
CONFIG_NAMES = ("forkwave.yaml", "forkwave.yml", ".forkwave.yaml", ".forkwave.yml")  # found in the workspace

GATES = ("deny", "secrets", "syntax")
MAX_FILES = 100_000     # slices.max_files: more files than any slice can hold is a typo
MAX_TIMEOUT = 604_800   # a check's timeout, seconds: a week
MAX_CPUS = 4096
_STR_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}
_OPT_STR = {"type": ["string", "null"], "minLength": 1}
# publish: the terms a risk score can weigh (tasks/publish/risk.py computes them), and the seed's formula
# (files + 3 x type errors + 5 x test failures + 2 if migrations) as the default weights
RISK_TERMS = ("files", "failed_checks", "new_failing_tests", "migrations", "lockfiles", "workflows", "both_changed",
              "conflicts")
DEFAULT_RISK_WEIGHTS = {"files": 1, "failed_checks": 3, "new_failing_tests": 5, "migrations": 2}
TITLE_FIELDS = ("source", "short_sha", "sha", "ref", "branch", "base")
DEFAULT_TITLE = "chore: sync with {source} {short_sha}"
FORGES = ("auto", "github", "gitlab", "none")
_WEIGHT = {"type": "number", "minimum": 0, "maximum": 1_000_000}
_PUBLISH = {"type": "object", "additionalProperties": False, "properties": {
    "remote": {"type": "string", "minLength": 1},
    "forge": {"enum": list(FORGES)},
    "url": _OPT_STR, "api": _OPT_STR, "repository": _OPT_STR, "report_url": _OPT_STR,
    "title": {"type": "string", "minLength": 1},
    "labels": _STR_LIST, "reviewers": _STR_LIST, "assignees": _STR_LIST, "conflict_reviewers": _STR_LIST,
    "draft": {"enum": ["auto", True, False]},
    "automerge_max": {"type": ["number", "null"], "minimum": 0, "maximum": 1_000_000},
    "merge_method": {"enum": ["merge", "squash", "rebase"]},
    "risk": {"type": "object", "additionalProperties": False, "properties": {
        "weights": {"type": "object", "propertyNames": {"enum": list(RISK_TERMS)}, "additionalProperties": _WEIGHT},
        "low": _WEIGHT, "medium": _WEIGHT}}}}
_MAP_RULE = {"type": "object", "additionalProperties": False, "required": ["from", "to"],  # from "": the whole tree
             "properties": {"from": {"type": "string"}, "to": {"type": "string"}}}
_REWRITE = {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["from", "to"],
    "properties": {"from": {"type": "string", "minLength": 1}, "to": {"type": "string"},
                   "paths": _STR_LIST, "regex": {"type": "boolean"}}}}
# --- directions, verification, pre-/post-sync checks, drift gates (issue 15, items 1-4) ------------
# One block: the schema fragments, the ``Command`` a ``pre:``/``post:``/``verify:`` entry becomes, the
# semantic checks and the builders. Judging a command's output is ``tasks.core.thresholds``'s; running
# it, ``tasks.engine.verify``'s; the drift gates' numbers, ``tasks.engine.driftgates``'s.
DIRECTIONS = ("pull", "push", "both")
BUILTIN_CHECKS = ("clean",)   # `pre: [clean]`: refuse a fork checkout with uncommitted changes
DRIFT_GATE_KEYS = ("max_both_changed", "max_conflicts", "max_upstream_paths", "max_behind_commits")
_COMMAND = {"type": "object", "additionalProperties": False, "required": ["name", "run"], "properties": {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
    "run": {"type": "string", "minLength": 1},
    "expected_exit_code": {"type": "integer", "minimum": 0, "maximum": 255},
    "expected_min": {"type": "number"}, "expected_max": {"type": "number"},
    "timeout": {"type": "number", "minimum": 1, "maximum": MAX_TIMEOUT}}}
_COMMANDS = {"type": "array", "items": {"anyOf": [{"enum": list(BUILTIN_CHECKS)}, _COMMAND]}}
_DRIFT_GATES = {"type": "object", "additionalProperties": False,
                "properties": {k: {"type": ["integer", "null"], "minimum": 0} for k in DRIFT_GATE_KEYS}}
FLOW_SOURCE_SCHEMA: dict[str, Any] = {
    "direction": {"enum": list(DIRECTIONS)},
    "push_url": {"type": "string", "minLength": 1},
    "contrib_branch": {"type": "string", "minLength": 1},
    "verify": {"type": "array", "items": _COMMAND},
    "drift_gates": _DRIFT_GATES,
}
FLOW_SCHEMA: dict[str, Any] = {**FLOW_SOURCE_SCHEMA, "pre": _COMMANDS, "post": _COMMANDS}


@dataclass(frozen=True)
class Command:
    """A ``pre:``, ``post:`` or ``verify:`` entry: run ``run``; it passes when it exits ``expected_exit_code``
    and the last number it prints is within ``expected_min``/``expected_max``. ``builtin`` (``clean``)
    is a check forkwave does itself."""

    name: str
    run: str | None = None
    expected_exit_code: int = 0
    expected_min: float | None = None
    expected_max: float | None = None
    timeout: float = 1800
    builtin: str | None = None


def _commands(raw: Any) -> tuple[Command, ...]:
    return tuple(Command(item, builtin=item) if isinstance(item, str) else
                 Command(item["name"], item["run"], item.get("expected_exit_code", 0), item.get("expected_min"),
                         item.get("expected_max"), item.get("timeout", 1800))
                 for item in raw or ())


def _drift_gates(raw: Any, default: Any = None) -> tuple[tuple[str, int], ...]:
    """A source's limits: its own ``drift_gates`` over the top level's (``null`` switches one off)."""
    merged = {**(default or {}), **(raw or {})}
    return tuple((k, merged[k]) for k in DRIFT_GATE_KEYS if merged.get(k) is not None)


def directions_pull() -> tuple[str, ...]:
    return ("pull", "both")


def directions_push() -> tuple[str, ...]:
    return ("push", "both")


def contrib_default(fork: Path) -> str:
    """``contrib/<fork name>``: the branch a push exports to, by default."""
    return f"contrib/{fork.name or 'fork'}"


def _check_flow(data: dict[str, Any]) -> str | None:
    """Names given once per list, ``expected_min`` <= ``expected_max``, a push with somewhere to push to,
    valid branch names."""
    lists = [(key, data.get(key)) for key in ("pre", "post")]
    lists += [(f"{k}verify", src.get("verify")) for _, k, src in source_dicts(data)]
    for key, items in lists:
        names: list[str] = []
        for i, item in enumerate(items or ()):
            name = item if isinstance(item, str) else item["name"]
            if name in names:
                return f"key '{key}.{i}.name': {name!r} is used twice; give each its own name"
            names.append(name)
            low, high = (None, None) if isinstance(item, str) else (item.get("expected_min"), item.get("expected_max"))
            if low is not None and high is not None and low > high:
                return f"key '{key}.{i}': expected_min {_short(low)} is above expected_max {_short(high)}; swap them"
    for url_key, key, src in source_dicts(data):
        if src.get("direction", "pull") != "pull" and not src.get("push_url"):
            return (f"key '{key}push_url': direction {src['direction']} exports to the source's contributor fork; "
                    "give its URL (or path) as push_url")
        if src.get("push_url", "").startswith("-"):
            return f"key '{key}push_url': {src['push_url']!r} starts with '-' and would be read as a git option"
        branch = src.get("contrib_branch")
        if branch is not None and not _refnames().is_branch_name(branch):
            return f"key '{key}contrib_branch': {branch!r} is not a valid git branch name (git check-ref-format --branch)"
    return None


def _flow_source(path: Path, here: Path, key: str, src: dict[str, Any], data: dict[str, Any], fork: Path
                 ) -> dict[str, Any]:
    """The ``Source`` fields of this block, built."""
    push = src.get("push_url")
    if push is not None and not _is_url(push):
        push = str(_resolve(path, here, push, f"{key}push_url"))
    return {"direction": src.get("direction", "pull"), "push_url": push,
            "contrib_branch": src.get("contrib_branch") or contrib_default(fork),
            "verify": _commands(src.get("verify")),
            "drift_gates": _drift_gates(src.get("drift_gates"), data.get("drift_gates") if "sources" in data else None)}
# --- end of issue 15's block ------------------------------------------------------------------------


MODES = ("snapshot", "merge", "cherry-pick")   # how a source's changes become slices (tasks/modes/)
# --- merge and cherry-pick modes (issue 13): their keys, kept together -----------------------
MAX_COMMITS = 10_000    # slices.max_commits: commits per range (merge) or per slice (cherry-pick)
ON_FAILURE = ("stop", "revert")   # merge mode: a failing commit waits for a person, or is merged and reverted
TAKES = ("upstream", "fork", "regenerate")   # policy: what a conflicting hunk of a matching path takes
_DURATION = {"type": ["string", "integer"], "pattern": "^([0-9]+[smhdw])+$|^[0-9]+$", "minimum": 0}
MODE_KEYS: dict[str, Any] = {
    "min_age": _DURATION,                            # cooldown: only commits at least this old (all modes)
    "on_failure": {"enum": list(ON_FAILURE)},        # merge
    "branch": {"type": "string", "minLength": 1},    # cherry-pick: the integration branch (sync/<name>)
    "types": _STR_LIST, "scopes": _STR_LIST, "exclude_authors": _STR_LIST,   # cherry-pick filters
    "review_breaking": {"type": "boolean"},
}
_POLICY = {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["paths", "take"],
                                      "properties": {"paths": {**_STR_LIST, "minItems": 1},
                                                     "take": {"enum": list(TAKES)}}}}


@dataclass(frozen=True)
class PolicyRule:
    """``policy:``: conflicting hunks of paths matching ``paths`` take ``take`` (upstream, fork, regenerate)."""

    paths: tuple[str, ...]
    take: str


@dataclass(frozen=True)
class ModeOptions:
    """A source's merge and cherry-pick keys (``sources.<n>.min_age`` ...), defaults as the README says."""

    min_age: str | int = 0
    on_failure: str = "stop"
    branch: str | None = None
    types: tuple[str, ...] = ("feat", "fix", "perf", "refactor")
    scopes: tuple[str, ...] = ()
    exclude_authors: tuple[str, ...] = ()
    review_breaking: bool = True


def _mode_options(src: dict[str, Any]) -> ModeOptions:
    d = ModeOptions()
    return ModeOptions(min_age=src.get("min_age", d.min_age), on_failure=src.get("on_failure", d.on_failure),
                       branch=src.get("branch"), types=tuple(src.get("types", d.types)),
                       scopes=tuple(src.get("scopes", ())), exclude_authors=tuple(src.get("exclude_authors", ())),
                       review_breaking=src.get("review_breaking", True))
def integration_branch(src: Any) -> str:
    """A cherry-pick source's own branch: ``branch`` as written, else ``sync/<name>``."""
    return (src.options.branch if isinstance(src, Source) else src.get("branch")) or \
        f"sync/{src.name if isinstance(src, Source) else src['name']}"


def _check_modes(data: dict[str, Any]) -> str | None:
    """Keys that only one mode reads, and cherry-pick's integration branches (never the fork's own)."""
    branch = (data.get("fork") or {}).get("branch", "main")
    for i, src in enumerate(data.get("sources") or ()):
        mode = src.get("mode", "snapshot")
        if mode != "snapshot" and src.get("direction", "pull") != "pull":
            return (f"key 'sources.{i}.direction': {src['direction']} applies to mode: snapshot only (this source "
                    f"is mode: {mode}; its commits come from the source, they are not exported)")
        for key, wants in (("on_failure", "merge"), ("branch", "cherry-pick"), ("types", "cherry-pick"),
                           ("scopes", "cherry-pick"), ("exclude_authors", "cherry-pick"),
                           ("review_breaking", "cherry-pick")):
            if key in src and mode != wants:
                return f"key 'sources.{i}.{key}': applies to mode: {wants} only (this source is mode: {mode})"
        if mode == "cherry-pick":
            name = integration_branch(src)
            if not _refnames().is_branch_name(name) or name.lower() == branch.lower():
                return (f"key 'sources.{i}.branch': {name!r} must be a valid branch other than fork.branch "
                        f"({branch!r})")
        for j, pattern in enumerate(src.get("exclude_authors") or ()):
            if len(pattern) > 1 and pattern[0] == pattern[-1] == "/":  # /regex/ (tasks.core.conventional)
                try:
                    re.compile(pattern[1:-1])
                except re.error as exc:
                    return f"key 'sources.{i}.exclude_authors.{j}': not a valid regex ({exc})"
    return None
# --- end of the merge and cherry-pick keys ---------------------------------------------------
SOURCE_KEYS = ("base", "map", "rewrite", "ignore", "deny", "schedule", "direction", "push_url", "contrib_branch",
               "verify", "drift_gates")  # per source; top level: the one `upstream:`'s (drift_gates: also every source's default)
_SCHEDULE = {"type": ["string", "null"]}         # a cron, checked by tasks.core.schedules (`doit ci`)
SCHEMA: dict[str, Any] = {
    "$defs": {"rewrite": _REWRITE},
    "type": "object",
    "additionalProperties": False,
    "required": ["fork"],
    "properties": {
        "upstream": {"type": "object", "additionalProperties": False, "required": ["url"],
                     "properties": {"url": {"type": "string", "minLength": 1},
                                    "ref": {"type": "string", "minLength": 1}}},
        "sources": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "url"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
                           "url": {"type": "string", "minLength": 1},
                           "ref": {"type": "string", "minLength": 1},
                           "mode": {"enum": list(MODES)},
                           "paths": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                           "base": {"type": ["string", "null"]},
                           "map": {"type": "array", "items": _MAP_RULE},
                           "ignore": _STR_LIST,
                           "deny": _STR_LIST,
                           "rewrite": {"$ref": "#/$defs/rewrite"},
                           "schedule": _SCHEDULE,
                           **FLOW_SOURCE_SCHEMA,
                           **MODE_KEYS}}},
        "fork": {"type": "object", "additionalProperties": False, "required": ["path"],
                 "properties": {"path": {"type": "string", "minLength": 1},
                                "branch": {"type": "string", "minLength": 1},
                                "sync_branch": {"type": "string", "minLength": 1}}},
        "base": {"type": ["string", "null"]},
        "map": {"type": "array", "items": _MAP_RULE},
        "ignore": _STR_LIST,
        "deny": _STR_LIST,
        "schedule": _SCHEDULE,
        "deny_except": _STR_LIST,
        "secrets": {"type": "object", "additionalProperties": False,
                    "properties": {"allow": _STR_LIST, "paths": _STR_LIST}},
        "buckets": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "paths"],
            "properties": {"name": {"type": "string", "minLength": 1}, "paths": _STR_LIST}}},
        "waves": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_-]*$"},
                  "additionalProperties": {
                      "type": "object", "additionalProperties": False,
                      "properties": {"buckets": _STR_LIST, "paths": _STR_LIST}}},
        "slices": {"type": "object", "additionalProperties": False,
                   "properties": {"max_files": {"type": "integer", "minimum": 1, "maximum": MAX_FILES},
                                  "max_commits": {"type": "integer", "minimum": 1, "maximum": MAX_COMMITS}}},
        "checks": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
                           "run": {"type": "string", "minLength": 1},
                           "when": _STR_LIST,
                           "timeout": {"type": "number", "minimum": 1, "maximum": MAX_TIMEOUT},
                           "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                           "image": {"type": "string", "minLength": 1},
                           "node": {"type": "string", "minLength": 1},
                           "network": {"type": "string", "minLength": 1},
                           "cpus": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_CPUS},
                           "memory": {"type": "string", "pattern": "^[0-9]{1,15}[bkmgBKMG]?$"},
                           "compose": {"type": "string", "minLength": 1},
                           "service": {"type": "string", "minLength": 1},
                           "junit": {"type": "string", "minLength": 1},
                           "direction": {"enum": list(DIRECTIONS)}}}},  # push: runs in the source's tree
        "rewrite": {"$ref": "#/$defs/rewrite"},
        "deletions": {"enum": ["apply", "report"]},
        "gating": {"enum": ["baseline", "strict"]},
        "containers": {"type": "object", "additionalProperties": False,
                       "properties": {"ca_bundle": {"type": ["string", "null"]},
                                      "pass_env": _STR_LIST,
                                      "network": {"type": ["string", "null"], "minLength": 1}}},
        "gates": {"type": "array", "items": {"enum": list(GATES)}},
        "couple": {"type": "array", "items": {**_STR_LIST, "minItems": 1}},
        "publish": _PUBLISH,
        **FLOW_SCHEMA,
        "policy": _POLICY,
    },
}

DEFAULT_IGNORE = ("**/node_modules/**", ".yarn/cache/**")
DEFAULT_DENY = (".env", ".env.*", "**/secrets/**")
# Templates that document a .env without holding one; they match ``.env.*`` but are not
# denied. A separate list, since our globs have no gitignore-style ``!`` negation.
DEFAULT_DENY_EXCEPT = (".env.example", ".env.sample", ".env.template")
DEFAULT_WAVES = {
    "a": {"paths": ["**/migrations/**", "**/auth/**", "**/security/**", "Dockerfile*", ".github/workflows/**"]},
    "b": {"buckets": ["*"]},
    "c": {"paths": ["**/*.md", "docs/**", "**/__tests__/**"]},
}


@dataclass(frozen=True)
class RewriteRule:
    src: str
    dst: str
    paths: tuple[str, ...] = ()
    regex: bool = False

    @cached_property
    def pattern(self) -> re.Pattern[bytes]:
        return re.compile(self.src.encode() if self.regex else re.escape(self.src.encode()))

    def applies(self, path: str) -> bool:
        from tasks.globs import globs  # pathspec loads only where globs are matched

        return not self.paths or globs(self.paths)(path)


@dataclass(frozen=True)
class SecretsPolicy:
    """``secrets:`` in the config: ``allow`` regexes drop a finding whose value or line they match
    (``re.search``); files matching the ``paths`` globs are not scanned for secrets."""

    allow: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Upstream:
    url: str
    ref: str = "main"


@dataclass(frozen=True)
class Fork:
    path: Path
    branch: str = "main"
    sync_branch: str = "sync/upstream"


@dataclass(frozen=True)
class MapRule:
    src: str
    dst: str


@dataclass(frozen=True)
class Bucket:
    name: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Wave:
    name: str
    buckets: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """One validation step: on the host (``run``), in a container (``image`` + ``run``),
    or a docker compose test stack (``compose`` + ``service``)."""

    name: str
    run: str | None = None
    when: tuple[str, ...] = ()
    timeout: float = 1800
    env: tuple[tuple[str, str], ...] = ()
    image: str | None = None
    network: str | None = None
    cpus: float | None = None
    memory: str | None = None
    compose: str | None = None
    service: str | None = None
    junit: str | None = None  # a JUnit XML file the check writes (worktree-relative): test-level gating
    node: str | None = None  # a node version or range: the check runs in forkwave/node:<version>
    direction: str = "pull"  # pull: on the sync branch's candidates; push: on an export, in the source's tree; both

    @property
    def kind(self) -> str:
        return "compose" if self.compose else "docker" if self.image or self.node else "host"


@dataclass(frozen=True)
class Containers:
    ca_bundle: Path | None = None
    pass_env: tuple[str, ...] = ()
    network: str | None = None


@dataclass(frozen=True)
class Publish:
    """``publish:``: where the sync branch goes, the pull request forkwave keeps for it, when it may merge."""

    remote: str = "origin"                 # a remote of the fork, or a URL
    forge: str = "auto"                    # auto (from the remote's URL) | github | gitlab | none
    url: str | None = None                 # the forge's web address, for a self-hosted one
    api: str | None = None                 # its REST API, when not the usual place (<url>/api/v3, <url>/api/v4)
    repository: str | None = None          # owner/name (GitLab: group/.../project) when the URL does not say
    report_url: str | None = None          # where the full reports are (default: the CI run's artifacts)
    title: str = DEFAULT_TITLE
    labels: tuple[str, ...] = ("upstream-sync",)
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    conflict_reviewers: tuple[str, ...] = ()
    draft: str | bool = "auto"             # auto: a draft while anything is deferred, conflicted or failing
    automerge_max: float | None = 5        # None: never merge by itself
    merge_method: str = "merge"
    weights: tuple[tuple[str, float], ...] = tuple((t, DEFAULT_RISK_WEIGHTS.get(t, 0)) for t in RISK_TERMS)
    low: float = 5                         # risk:low up to here, risk:medium up to ``medium``, then risk:high
    medium: float = 15


@dataclass(frozen=True)
class Source:
    """Where changes come from: a repository and ref, how they become slices (``mode``), the
    fork-side paths it owns, and how its paths and contents map into the fork."""

    name: str
    upstream: Upstream
    mode: str = "snapshot"
    paths: tuple[str, ...] = ("**",)
    base: str | None = None
    map: tuple[MapRule, ...] = ()
    rewrite: tuple[RewriteRule, ...] = ()
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    deny: tuple[str, ...] = DEFAULT_DENY
    schedule: str | None = None   # a cron (UTC): `doit ci` runs the source on it
    written: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # url/ref as written
    direction: str = "pull"                      # pull | push | both (issue 15's block)
    push_url: str | None = None                  # where a push exports to: the contributor's fork of the source
    contrib_branch: str = "contrib/fork"         # the branch it exports on (contrib/<fork name>)
    verify: tuple[Command, ...] = ()             # run on the sync tip after a wave lands
    drift_gates: tuple[tuple[str, int], ...] = ()  # limit -> maximum, checked right after drift
    options: ModeOptions = ModeOptions()   # merge and cherry-pick keys

    def owns(self, path: str) -> bool:
        from tasks.globs import globs

        return globs(self.paths)(path)


@dataclass(frozen=True)
class Config:
    file: Path
    upstream: Upstream
    fork: Fork
    base: str | None = None
    map: tuple[MapRule, ...] = ()
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    deny: tuple[str, ...] = DEFAULT_DENY
    deny_except: tuple[str, ...] = DEFAULT_DENY_EXCEPT
    secrets: SecretsPolicy = SecretsPolicy()
    buckets: tuple[Bucket, ...] = ()
    waves: tuple[Wave, ...] = field(default_factory=tuple)
    max_files: int = 25
    checks: tuple[Check, ...] = ()
    push_checks: tuple[Check, ...] = ()   # checks with direction push or both: they judge exports (issue 15)
    gates: tuple[str, ...] = GATES
    containers: Containers = Containers()
    rewrite: tuple[RewriteRule, ...] = ()
    deletions: str = "apply"
    gating: str = "baseline"
    couple: tuple[tuple[str, ...], ...] = ()   # groups of globs: the paths one group matches are coupled
    publish: Publish = Publish()
    sources: tuple[Source, ...] = ()
    pre: tuple[Command, ...] = ()    # on the fork tip before anything is imported (issue 15's block)
    post: tuple[Command, ...] = ()   # on the sync tip after the run
    max_commits: int = 20      # slices.max_commits (merge, cherry-pick)
    policy: tuple[PolicyRule, ...] = ()   # per-path takes for 3-way merges
    source: str = "upstream"   # the source this view of the config is for (see ``for_source``)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def several(self) -> bool:
        """More than one source: each gets its own mirror, reports folder and tasks (``fetch:<name>``)."""
        return len(self.sources) > 1

    @property
    def current(self) -> Source:
        return next(s for s in self.sources if s.name == self.source)

    def for_source(self, name: str) -> Config:
        """The config as one source sees it: its upstream, base, map, rewrite, ignore and deny."""
        src = next((s for s in self.sources if s.name == name), None)
        if src is None:
            raise ForkwaveError(f"{self.file}: no source named {name!r} (sources: "
                                f"{', '.join(s.name for s in self.sources)})")
        from dataclasses import replace

        fork = replace(self.fork, sync_branch=integration_branch(src)) if src.mode == "cherry-pick" else self.fork
        return replace(self, upstream=src.upstream, base=src.base, map=src.map, rewrite=src.rewrite,
                       ignore=src.ignore, deny=src.deny, source=src.name, fork=fork,
                       raw={**self.raw, "upstream": src.written})

    def is_denied(self, path: str) -> bool:
        """Matches ``deny`` and none of ``deny_except`` (``.env.example`` and kin by default)."""
        from tasks.globs import denied

        return denied(self.deny)(path) and not denied(self.deny_except)(path)

    def section(self, *keys: str) -> dict[str, Any]:
        """The effective values of some keys, for doit's ``config_changed``.

        ``upstream`` and ``fork`` are taken as written (relative paths stay relative), so a
        workspace moved to a new directory (a CI cache restore) is still up to date.
        """
        return {k: self.raw.get(k) if k in ("upstream", "fork") else _jsonable(getattr(self, k)) for k in keys}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__ if k != "raw"}
    if isinstance(value, Path):
        return str(value)
    return value


def find_config(explicit: str | None, workspace: Path) -> Path:
    """``config=PATH`` if given, else the one of ``CONFIG_NAMES`` in the workspace, else the bundled demo."""
    if explicit:
        try:
            path = Path(explicit).expanduser()
        except RuntimeError:  # ~nosuchuser
            raise ForkwaveError(f"{explicit}: config file not found; check the path given as config=") from None
        path = path if path.is_absolute() else workspace / path
        if not path.is_file():
            raise ForkwaveError(f"{explicit}: config file not found; check the path given as config=")
        return path
    found = [workspace / name for name in CONFIG_NAMES if (workspace / name).is_file()]
    if len(found) > 1:
        raise ForkwaveError(f"{workspace}: found {' and '.join(p.name for p in found)}; keep one of them "
                            "(or choose with config=PATH)")
    return found[0] if found else DEMO_CONFIG


def is_demo(path: Path) -> bool:
    return path.resolve() == DEMO_CONFIG


def load_config(path: Path, *, relative_to: Path | None = None, checked: Path | None = None) -> Config:
    """Read, validate and build ``path``; relative paths resolve against ``relative_to``
    (default: the config file's folder; the bundled demo's are relative to the workspace).

    ``checked`` names a file recording the digest of the last config that passed every check:
    doit runs the task creators (and so loads the config) on every command, even ``doit list``,
    and the schema and git's ref-name rules are the slowest part of it; the same bytes passed
    before, under the same rules, so they pass again.
    """
    text = _read_text(path)
    seal = _seal(text)
    data = _recall(checked, seal)
    if data is None:
        data = _read_yaml(path, text)
        if not isinstance(data, dict):
            raise ForkwaveError(f"{path}: expected a mapping of keys (upstream, fork, ...) at the top level")
        _validate(path, data)
        _check_semantics(path, data)
        if checked is not None:
            _remember(checked, seal, data)
    return _build(path, data, relative_to)


_RULES = Path(__file__)  # the checks a config passes are this module's: its bytes are part of the seal


def _seal(text: str) -> str:
    import hashlib

    return hashlib.sha1(_RULES.read_bytes() + b"\0" + text.encode("utf-8", "surrogateescape")).hexdigest()


def _recall(checked: Path | None, seal: str) -> dict[str, Any] | None:
    """The config as it was parsed and checked, when these bytes passed every check before."""
    import json

    if checked is None or not checked.exists():
        return None
    try:
        kept = json.loads(checked.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return kept.get("data") if isinstance(kept, dict) and kept.get("seal") == seal else None


def _remember(checked: Path, seal: str, data: dict[str, Any]) -> None:
    import json

    try:
        text = json.dumps({"seal": seal, "data": data})
        if json.loads(text)["data"] != data:  # a value JSON cannot carry as it is (a date): do not cache it
            return
        from tasks.redact import redact_text

        if redact_text(text) != text:  # a credential in a URL or a token: it stays in the config file only
            return
        checked.parent.mkdir(parents=True, exist_ok=True)
        checked.write_text(text, encoding="utf-8")
    except (OSError, TypeError, ValueError):
        pass  # a cache: the next load checks again


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ForkwaveError(f"{path}: cannot read config ({exc.strerror}); check the path and permissions") from None
    except UnicodeDecodeError as exc:
        raise ForkwaveError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as UTF-8") from None


def _read_yaml(path: Path, text: str) -> Any:
    """The file's one YAML document, strictly (``tasks.strictyaml``): every problem is one line."""
    import yaml

    from tasks import strictyaml

    try:
        return strictyaml.load(text)
    except strictyaml.StrictYamlError as exc:
        where = f"key '{exc.key}' (line {exc.line})" if exc.key else f"line {exc.line}"
        raise ForkwaveError(f"{path}: {where}: {exc.message}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most control characters)
        line = text.count("\n", 0, exc.position) + 1
        raise ForkwaveError(f"{path}: line {line}: unreadable YAML (character {exc.character!r} is not allowed); "
                            "remove it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = " ".join((getattr(exc, "problem", None) or "invalid YAML").split())
        raise ForkwaveError(f"{path}:{where} unreadable YAML ({problem}); fix the syntax") from None


def _check_semantics(path: Path, data: dict[str, Any]) -> None:
    """What a schema cannot say: branches and refs by git's rules, unsafe map targets, bad globs,
    check kinds, regexes, duplicate check names."""
    for check in (_check_text, _check_sources, _check_modes, _check_fork, _check_upstream, _check_map, _check_globs,
                  _check_checks, _check_secrets, _check_rewrites, _check_publish, _check_flow):
        problem = check(data)
        if problem:
            raise ForkwaveError(f"{path}: {problem}")


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, text) for every string in ``value``, keys included."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            sub = f"{key}.{k}" if key else str(k)
            yield sub, str(k)
            yield from _strings(v, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{key}.{i}")


def _check_text(data: dict[str, Any]) -> str | None:
    for key, text in _strings(data):
        if "\0" in text:
            return f"key '{key}': contains a NUL character; remove it"
    return None


def _check_fork(data: dict[str, Any]) -> str | None:
    fork = data["fork"]
    branch, sync = fork.get("branch", "main"), fork.get("sync_branch", "sync/upstream")
    for key, name in (("branch", branch), ("sync_branch", sync)):
        if name.startswith("refs/"):
            return (f"key 'fork.{key}': {name!r} is a full ref name; give the branch name alone "
                    f"({name.removeprefix('refs/heads/')!r} for {name!r})")
        if not _refnames().is_branch_name(name):
            return f"key 'fork.{key}': {name!r} is not a valid git branch name (git check-ref-format --branch)"
    # case-insensitive: on macOS and Windows refs/heads/Main and refs/heads/main are one file
    a, b = branch.lower(), sync.lower()
    if a == b:
        return (f"key 'fork.sync_branch': {sync!r} is fork.branch itself; forkwave must never commit onto the "
                "fork's own branch; name another branch (the default is sync/upstream)")
    if a.startswith(b + "/") or b.startswith(a + "/"):
        return (f"key 'fork.sync_branch': {sync!r} and fork.branch {branch!r} cannot both exist in git "
                "(one would be a folder of the other); name another branch")
    return None


def _refnames() -> Any:
    """git's ref-name rules (a git process each): only when a config is checked, never when it is recalled."""
    from tasks import refnames

    return refnames


def source_dicts(data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(key prefix of url/ref, key prefix of the other keys, the source as written), in order.

    ``upstream:`` is one source named ``upstream`` whose other keys (``base``, ``map``, ...)
    are the top level's.
    """
    if "sources" in data:
        return [(f"sources.{i}.", f"sources.{i}.", src) for i, src in enumerate(data["sources"])]
    up = data["upstream"]
    return [("upstream.", "", {"name": "upstream", **up, **{k: data[k] for k in SOURCE_KEYS if k in data}})]


AVAILABLE_MODES = ("snapshot", "merge", "cherry-pick")  # the others arrive with their modules (tasks/modes/)


def _check_sources(data: dict[str, Any]) -> str | None:
    if "upstream" in data and "sources" in data:
        return "give either 'upstream' (one source) or 'sources' (a list), not both"
    if "upstream" not in data and "sources" not in data:
        return "missing key 'upstream' (or 'sources'); it is required"
    if "sources" not in data:
        return None
    for key in SOURCE_KEYS:
        if key in data and key not in ("ignore", "deny", "drift_gates"):  # top-level drift_gates: every source's default
            return f"key '{key}': with 'sources', give it per source (sources.<n>.{key})"
    names = [src["name"] for src in data["sources"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return f"key 'sources': source name {dupes[0]!r} is used twice; names must be unique"
    for i, src in enumerate(data["sources"]):
        if src.get("mode", "snapshot") not in AVAILABLE_MODES:
            return (f"key 'sources.{i}.mode': {src['mode']!r} is not available in this version "
                    f"(modes: {', '.join(AVAILABLE_MODES)})")
        if len(names) > 1 and not src.get("paths") and src.get("mode") != "cherry-pick":  # picks: own branch
            return (f"key 'sources.{i}': missing key 'paths' (the fork-side globs source {src['name']!r} owns); "
                    "with several sources each says which paths are its own")
    return _check_overlap(data["sources"])


def _sample(pattern: str) -> str:
    """A path ``pattern`` matches, for telling whether two sources' globs can meet.

    >>> _sample("addons/oca/web/**"), _sample("src/*.js"), _sample("**")
    ('addons/oca/web/x', 'src/x.js', 'x')
    """
    text = pattern.strip("/")
    text = re.sub(r"\[!?\^?([^]])[^]]*\]", r"\1", text)
    return re.sub(r"\*\*|\*|\?", "x", text) or "x"


def _check_overlap(sources: list[dict[str, Any]]) -> str | None:
    """Two sources owning one path is an error: each claims the other's sample paths. A cherry-pick source
    writes its own integration branch (``sync/<name>``), so it shares the sync branch with no one."""
    from tasks.globs import globs

    sources = [s for s in sources if s.get("mode") != "cherry-pick"]
    for i, a in enumerate(sources):
        for j, b in enumerate(sources[i + 1:], i + 1):
            for pa in a.get("paths") or ("**",):
                for pb in b.get("paths") or ("**",):
                    both = _sample(pa) if globs((pb,))(_sample(pa)) else _sample(pb) if globs((pa,))(_sample(pb)) else None
                    if both is not None:
                        return (f"key 'sources.{j}.paths': sources {a['name']!r} ({pa}) and {b['name']!r} ({pb}) both "
                                f"own paths such as {both}; give each source paths of its own")
    return None


def _check_upstream(data: dict[str, Any]) -> str | None:
    for url_key, _, src in source_dicts(data):
        if src["url"].startswith("-"):
            return f"key '{url_key}url': {src['url']!r} starts with '-' and would be read as a git option"
        ref = src.get("ref", "main")
        glob = ref.startswith("tags/") and any(ch in ref for ch in "*?[")  # follow the newest matching tag
        if not _refnames().is_ref_name(re.sub(r"[*?]|\[[^]]*\]", "x", ref) if glob else ref):
            return (f"key '{url_key}ref': {ref!r} is not a valid branch, tag or commit name "
                    "(git check-ref-format)")
    return None


def _check_map(data: dict[str, Any]) -> str | None:
    for _, key, src in source_dicts(data):
        for i, rule in enumerate(src.get("map") or ()):
            parts = rule["to"].split("/")
            if (rule["to"].startswith("/") or ".." in parts or "\\" in rule["to"]
                    or any(p.lower().rstrip(". ") == ".git" for p in parts)):
                return (f"key '{key}map.{i}.to': {rule['to']!r} must stay inside the repository "
                        "(no leading '/', no '..', no '.git', no '\\')")
    return None


def _glob_lists(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every list of globs in the config, with its key."""
    for key in ("ignore", "deny", "deny_except"):
        yield key, data.get(key) or ()
    yield "secrets.paths", (data.get("secrets") or {}).get("paths") or ()
    for i, b in enumerate(data.get("buckets") or ()):
        yield f"buckets.{i}.paths", b["paths"]
    for name, w in (data.get("waves") or {}).items():
        yield f"waves.{name}.paths", w.get("paths") or ()
    for _, key, src in source_dicts(data) if ("upstream" in data) != ("sources" in data) else ():
        for i, r in enumerate(src.get("rewrite") or ()):
            yield f"{key}rewrite.{i}.paths", r.get("paths") or ()
        if key:  # a source's own lists (the shorthand's are the top level's, listed above)
            for name in ("ignore", "deny", "paths"):
                yield f"{key}{name}", src.get(name) or ()
    for i, c in enumerate(data.get("checks") or ()):
        yield f"checks.{i}.when", c.get("when") or ()
    for i, rule in enumerate(data.get("couple") or ()):
        yield f"couple.{i}", rule
    for i, rule in enumerate(data.get("policy") or ()):
        yield f"policy.{i}.paths", rule["paths"]


def _check_globs(data: dict[str, Any]) -> str | None:
    from tasks.globs import check_pattern

    for key, patterns in _glob_lists(data):
        for i, pattern in enumerate(patterns):
            if (problem := check_pattern(pattern)):
                return f"key '{key}.{i}': {problem}"
    return None


def _check_checks(data: dict[str, Any]) -> str | None:
    for i, check in enumerate(data.get("checks") or ()):
        where = f"key 'checks.{i}'"
        if check.get("compose"):
            if not check.get("service"):
                return f"{where}: a compose check needs 'service' (the test service whose exit code is the verdict)"
            if check.get("image"):
                return f"{where}: give either 'image' or 'compose', not both"
        elif not check.get("run"):
            return f"{where}: missing key 'run' (the command to run)"
        elif check.get("service"):
            return f"{where}: 'service' only applies to compose checks; add 'compose'"
        junit = check.get("junit")
        if junit is not None and (junit.startswith("/") or ".." in junit.split("/")):
            return f"{where}.junit: {junit!r} must be a path inside the worktree (no leading '/', no '..')"
        if check.get("node"):  # a node version or range, for forkwave/node images
            problem = _check_node(where, f"key 'checks.{i}.node'", check)
            if problem:
                return problem
    names = [c["name"] for c in data.get("checks") or ()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return f"key 'checks': check name {dupes[0]!r} is used twice; names must be unique"
    return None


def _check_secrets(data: dict[str, Any]) -> str | None:
    for i, pattern in enumerate((data.get("secrets") or {}).get("allow") or ()):
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            return f"key 'secrets.allow.{i}': not a valid regex ({exc})"
    return None


def _check_rewrites(data: dict[str, Any]) -> str | None:
    for _, key, src in source_dicts(data):
        for i, rule in enumerate(src.get("rewrite") or ()):
            if rule.get("regex"):
                try:
                    re.compile(rule["from"])
                except (re.error, RecursionError, OverflowError) as exc:
                    return f"key '{key}rewrite.{i}.from': not a valid regex ({exc})"
    return None


_PERSON = re.compile(r"^@?[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?(?:/[A-Za-z0-9_.-]+)?$")


def _check_publish(data: dict[str, Any]) -> str | None:
    pub = data.get("publish") or {}
    for check in (_check_publish_title, _check_publish_urls, _check_publish_names):
        problem = check(pub)
        if problem:
            return problem
    risk = pub.get("risk") or {}
    low, medium = risk.get("low", 5), risk.get("medium", max(15, risk.get("low", 5)))
    if medium < low:
        return f"key 'publish.risk.medium': {_short(medium)} is below publish.risk.low ({_short(low)}); medium starts above low"
    return None


def _check_publish_title(pub: dict[str, Any]) -> str | None:
    title = pub.get("title", DEFAULT_TITLE)
    fields = ", ".join("{" + f + "}" for f in TITLE_FIELDS)
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(title) if name is not None]
    except ValueError as exc:
        return f"key 'publish.title': {exc} (write {{{{ and }}}} for literal braces)"
    for name in names:
        if name not in TITLE_FIELDS:
            return f"key 'publish.title': unknown placeholder {{{name}}}; use {fields}"
    return None


def _check_publish_urls(pub: dict[str, Any]) -> str | None:
    for key in ("url", "api", "report_url"):
        url = pub.get(key)
        if url is None:
            continue
        if not re.match(r"^https?://[^/\s]+", url):
            return f"key 'publish.{key}': expected an http(s) URL such as https://github.example.com, got {_short(url)}"
        if "@" in url.split("/")[2]:
            return (f"key 'publish.{key}': credentials do not belong in the config; give them in the environment "
                    "(FORKWAVE_TOKEN)")
    remote = pub.get("remote", "origin")
    if remote.startswith("-"):
        return f"key 'publish.remote': {remote!r} starts with '-' and would be read as a git option"
    repo = pub.get("repository")
    if repo is not None and (not re.match(r"^[\w.-]+(/[\w.-]+)+$", repo) or ".." in repo.split("/")):
        return f"key 'publish.repository': expected owner/name (GitLab: group/subgroup/project), got {_short(repo)}"
    return None


def _check_publish_names(pub: dict[str, Any]) -> str | None:
    for key in ("reviewers", "assignees", "conflict_reviewers"):
        for i, name in enumerate(pub.get(key) or ()):
            if not _PERSON.match(name) or (key == "assignees" and "/" in name):
                what = "a user name" if key == "assignees" else "a user name or org/team"
                return f"key 'publish.{key}.{i}': {_short(name)} is not {what}"
    for i, label in enumerate(pub.get("labels") or ()):
        if "," in label or label != label.strip():
            return (f"key 'publish.labels.{i}': {_short(label)}: a label cannot hold ',' (GitLab reads a comma as a "
                    "separator) or start or end with a space")
    return None


def _is_integer(checker: Any, value: Any) -> bool:
    """An int, not a bool and not a float that happens to be whole (``1e+308`` is not a file count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker: Any, value: Any) -> bool:
    """A finite int or float (``.nan`` passes every ``minimum``; ``.inf`` no timeout can use)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _validator() -> Any:
    """jsonschema's validator with forkwave's integer and number types (imported when a config is checked)."""
    import jsonschema

    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
            {"integer": _is_integer, "number": _is_number}))


def _check_node(where: str, key: str, check: dict[str, Any]) -> str | None:
    from tasks.nodeversions import node_spec

    if check.get("compose") or not (check.get("image") or "forkwave/node").startswith("forkwave/node"):
        return f"{where}: 'node' applies to forkwave/node images only; drop 'image' or 'node'"
    try:
        node_spec(check["node"], key)  # raises naming the key
    except ForkwaveError as exc:
        return str(exc)
    return None


def _validate(path: Path, data: dict[str, Any]) -> None:
    errors = sorted(_validator()(SCHEMA).iter_errors(data),
                    key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    if errors:
        raise ForkwaveError(f"{path}: {_describe(errors[0])}")


_TYPE_NAMES = {"string": "a string", "array": "a list", "object": "a mapping", "integer": "an integer",
               "null": "null", "boolean": "true or false", "number": "a finite number"}


def _short(value: Any) -> str:
    """``repr`` cut to one short line (a pasted file or a 5,000-digit number must not flood the message)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(err: Any) -> str:  # a jsonschema.ValidationError
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        where = f"{key}." if err.absolute_path else ""
        return f"unknown key '{where}{extra[0]}'; expected one of: {allowed}"
    if err.validator == "required":
        missing = re.search(r"'([^']+)'", err.message)
        name = missing.group(1) if missing else "?"
        where = f"{key}." if err.absolute_path else ""
        return f"missing key '{where}{name}'; it is required"
    if err.validator == "type":
        types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        want = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        return f"key '{key}': expected {want}, got {type(err.instance).__name__} {_short(err.instance)}"
    if err.validator == "minLength":
        return f"key '{key}': expected a non-empty string"
    if err.validator == "minimum":
        return f"key '{key}': expected a number >= {err.validator_value}, got {_short(err.instance)}"
    if err.validator == "maximum":
        return f"key '{key}': expected a number <= {err.validator_value:,}, got {_short(err.instance)}"
    if err.validator == "minItems":
        return f"key '{key}': expected a non-empty list"
    if err.validator == "minProperties":
        return f"key '{key}': expected at least one entry"
    if err.validator == "pattern":
        allowed = "lowercase letters, digits, '-' or '_'" if "a-z0-9]" in err.validator_value and "A-Z" not in \
            err.validator_value else "letters, digits, '.', '-' or '_'"
        if key.endswith("min_age"):
            return f"key '{key}': expected a duration such as 3d, 12h or 1w2d, got {_short(err.instance)}"
        if key.startswith("containers") or key.endswith("memory"):
            return f"key '{key}': expected a size such as 512m or 4g, got {_short(err.instance)}"
        return f"key '{key}': name {_short(err.instance)} must be {allowed}"
    if err.validator == "enum":  # as YAML spells them: true, not True
        words = ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in err.validator_value)
        return f"key '{key}': expected one of {words}, got {_short(err.instance)}"
    return f"key '{key}': {err.message[:200]}"


def _resolve(path: Path, here: Path, text: str, key: str) -> Path:
    """``text`` as an absolute path (``~`` expanded, relative to ``here``), or an error naming ``key``."""
    try:
        return (here / Path(text).expanduser()).resolve()
    except (RuntimeError, ValueError, OSError) as exc:  # ~nosuchuser, a path the OS cannot take
        raise ForkwaveError(f"{path}: key '{key}': cannot use {_short(text)} as a path ({exc})") from None


def _containers(path: Path, here: Path, data: dict[str, Any]) -> Containers:
    ca = data.get("ca_bundle")
    return Containers(ca_bundle=None if not ca else _resolve(path, here, ca, "containers.ca_bundle"),
                      pass_env=tuple(data.get("pass_env", ())), network=data.get("network"))


def _env_str(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _is_url(url: str) -> bool:
    return "://" in url or re.match(r"^[\w.-]+@[\w.-]+:", url) is not None


def _source(path: Path, here: Path, url_key: str, src: dict[str, Any], data: dict[str, Any]) -> Source:
    url = src["url"] if _is_url(src["url"]) else str(_resolve(path, here, src["url"], f"{url_key}url"))
    fork = _resolve(path, here, data["fork"]["path"], "fork.path")
    return Source(
        name=src["name"], upstream=Upstream(url=url, ref=src.get("ref", "main")), mode=src.get("mode", "snapshot"),
        paths=tuple(src.get("paths", ("**",))), base=src.get("base"),
        map=tuple(MapRule(r["from"], r["to"]) for r in src.get("map") or ()),
        rewrite=tuple(RewriteRule(r["from"], r["to"], tuple(r.get("paths", ())), r.get("regex", False))
                      for r in src.get("rewrite") or ()),
        ignore=tuple(src.get("ignore", data.get("ignore", DEFAULT_IGNORE))),
        deny=tuple(src.get("deny", data.get("deny", DEFAULT_DENY))),
        schedule=src.get("schedule"), written={k: src[k] for k in ("url", "ref") if k in src},
        options=_mode_options(src),
        **_flow_source(path, here, "" if url_key == "upstream." else url_key, src, data, fork))


def _build(path: Path, data: dict[str, Any], relative_to: Path | None = None) -> Config:
    here = relative_to.resolve() if relative_to else path.resolve().parent
    sources = tuple(_source(path, here, url_key, src, data) for url_key, _, src in source_dicts(data))
    first = sources[0]
    fk = data["fork"]
    waves = data.get("waves") or DEFAULT_WAVES
    return Config(
        file=path,
        upstream=first.upstream,
        sources=sources,
        source=first.name,
        fork=Fork(path=_resolve(path, here, fk["path"], "fork.path"), branch=fk.get("branch", "main"),
                  sync_branch=fk.get("sync_branch", "sync/upstream")),
        base=first.base,
        map=first.map,
        ignore=first.ignore,
        deny=first.deny,
        deny_except=tuple(data.get("deny_except", DEFAULT_DENY_EXCEPT)),
        secrets=SecretsPolicy(tuple((data.get("secrets") or {}).get("allow", ())),
                              tuple((data.get("secrets") or {}).get("paths", ()))),
        buckets=tuple(Bucket(b["name"], tuple(b["paths"])) for b in data.get("buckets") or ()),
        waves=tuple(Wave(name, tuple(w.get("buckets", ())), tuple(w.get("paths", ())))
                    for name, w in waves.items()),
        max_files=(data.get("slices") or {}).get("max_files", 25),
        checks=tuple(c for c in _all_checks(data) if c.direction in directions_pull()),
        push_checks=tuple(c for c in _all_checks(data) if c.direction in directions_push()),
        containers=_containers(path, here, data.get("containers") or {}),
        rewrite=first.rewrite,
        deletions=data.get("deletions", "apply"),
        gating=data.get("gating", "baseline"),
        gates=tuple(data.get("gates", GATES)),
        couple=tuple(tuple(rule) for rule in data.get("couple") or ()),
        publish=_publish(data.get("publish") or {}),
        pre=_commands(data.get("pre")), post=_commands(data.get("post")),
        max_commits=(data.get("slices") or {}).get("max_commits", 20),
        policy=tuple(PolicyRule(tuple(r["paths"]), r["take"]) for r in data.get("policy") or ()),
        raw={**data, "upstream": first.written},
    )


def _all_checks(data: dict[str, Any]) -> list[Check]:
    return [Check(c["name"], c.get("run"), tuple(c.get("when", ())), c.get("timeout", 1800),
                  tuple(sorted((k, _env_str(v)) for k, v in (c.get("env") or {}).items())),
                  c.get("image"), c.get("network"), c.get("cpus"), c.get("memory"),
                  c.get("compose"), c.get("service"), c.get("junit"), c.get("node"), c.get("direction", "pull"))
            for c in data.get("checks") or ()]


def _publish(pub: dict[str, Any]) -> Publish:
    risk = pub.get("risk") or {}
    weights = {**DEFAULT_RISK_WEIGHTS, **risk.get("weights", {})}  # a term not named keeps its default (0: unused)
    low = risk.get("low", 5)
    return Publish(
        remote=pub.get("remote", "origin"), forge=pub.get("forge", "auto"), url=pub.get("url"), api=pub.get("api"),
        repository=pub.get("repository"), report_url=pub.get("report_url"), title=pub.get("title", DEFAULT_TITLE),
        labels=tuple(pub.get("labels", ("upstream-sync",))), reviewers=tuple(pub.get("reviewers", ())),
        assignees=tuple(pub.get("assignees", ())), conflict_reviewers=tuple(pub.get("conflict_reviewers", ())),
        draft=pub.get("draft", "auto"), automerge_max=pub.get("automerge_max", 5),
        merge_method=pub.get("merge_method", "merge"),
        weights=tuple((t, weights.get(t, 0)) for t in RISK_TERMS),
        low=low, medium=risk.get("medium", max(15, low)))
