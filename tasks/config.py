"""Load and validate ``forkwave.yaml`` into frozen dataclasses; every error names file, line, column and key.

The keys themselves — types, defaults, descriptions, checks of single values — are declared once,
in ``tasks.configkeys``; this module reads the file, validates it against that table, checks
what spans several keys, and builds the dataclasses the rest of forkwave reads.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tasks import assets, fields
from tasks.configkeys import (AVAILABLE_MODES, MODE_TRAITS, BUILTIN_CHECKS, ModeTraits, CONFIG,  # noqa: F401
                              DEFAULT_DENY, DEFAULT_DENY_EXCEPT,
                              COMMAND_ONLY, DEFAULT_IGNORE, DEFAULT_RISK_WEIGHTS, DEFAULT_TITLE, DEFAULT_WAVES,
                              DIRECTIONS, DRIFT_GATE_KEYS, FORGES, GATES, GLOB_CHARS, MAX_COMMITS, MAX_CPUS,
                              MAX_FILES, MAX_TIMEOUT, MODE_ONLY, MODES, ON_FAILURE, OUTPUT_REF, REPOSITORY_ONLY,
                              RISK_MEDIUM, RISK_TERMS, SCHEMA, SOURCE_KEYS, TAKES, TITLE_FIELDS, default, short)
from tasks.errors import ForkwaveError
from tasks.strictyaml import Marks

DEMO_CONFIG = assets.folder("examples/demo") / "forkwave.yaml"
CONFIG_NAMES = ("forkwave.yaml", "forkwave.yml", ".forkwave.yaml", ".forkwave.yml")  # found in the workspace


# --- directions, verification, pre-/post-sync checks, drift gates ------------------------------------
# The ``Command`` a ``pre:``/``post:``/``verify:`` entry becomes. Judging a command's output is
# ``tasks.core.thresholds``'s; running it, ``tasks.engine.verify``'s; the drift gates' numbers,
# ``tasks.engine.driftgates``'s.

@dataclass(frozen=True)
class Command:
    """A ``pre:``, ``post:`` or ``verify:`` entry: run ``run``; it passes when it exits ``expected_exit_code``
    and the last number it prints is within ``expected_min``/``expected_max``. ``builtin`` (``clean``)
    is a check forkwave does itself."""

    name: str
    run: str | None = None
    expected_exit_code: int = default("verify[].expected_exit_code")
    expected_min: float | None = None
    expected_max: float | None = None
    timeout: float = default("verify[].timeout")   # seconds
    builtin: str | None = None
    when: str = default("verify[].when")          # verify only: after the last wave (end) or each_wave
    layout: str = default("verify[].layout")  # on an export: the source's tree (source) or the fork's (fork)


def _commands(raw: Any) -> tuple[Command, ...]:
    return tuple(Command(item, builtin=item) if isinstance(item, str) else
                 Command(**_given(item, "name", "run", "expected_exit_code", "expected_min", "expected_max", "when",
                                  "layout"),
                         **_timeout(item))
                 for item in raw or ())


def _drift_gates(raw: Any, inherited: Any = None) -> tuple[tuple[str, int], ...]:
    """A source's limits: its own ``drift_gates`` over the top level's (``null`` switches one off)."""
    merged = {**(inherited or {}), **(raw or {})}
    return tuple((k, merged[k]) for k in DRIFT_GATE_KEYS if merged.get(k) is not None)


def directions_pull() -> tuple[str, ...]:
    return ("pull", "both")


def directions_push() -> tuple[str, ...]:
    return ("push", "both")


def contrib_default(fork: Path) -> str:
    """``contrib/<fork name>``: the branch a push exports to, by default."""
    return f"contrib/{fork.name or 'fork'}"


def _check_flow(data: dict[str, Any]) -> str | None:
    """A push has somewhere to push to."""
    for _, key, src in source_dicts(data):
        direction = src.get("direction", default("sources[].direction"))
        if direction != "pull" and not src.get("push_url") and not is_command(src):
            return (f"key '{key}push_url': direction {src['direction']} exports to the source's contributor fork; "
                    "give its URL (or path) as push_url")
        placed = [i for i, c in enumerate(src.get("verify") or ()) if isinstance(c, dict) and "layout" in c]
        if placed and direction == "pull":
            return (f"key '{key}verify.{placed[0]}.layout': places a verification on an export, and this source "
                    "only pulls; drop 'layout' (on the sync branch it runs in the fork's layout)")
    return None


def _flow_source(path: Path, here: Path, key: str, src: dict[str, Any], data: dict[str, Any], fork: Path
                 ) -> dict[str, Any]:
    """The ``Source`` fields of this block, built."""
    push = src.get("push_url")
    if push is not None and not _is_url(push):
        push = str(_resolve(path, here, push, f"{key}push_url"))
    return {**_given(src, "direction"), "push_url": push,
            "contrib_branch": src.get("contrib_branch") or contrib_default(fork),
            "verify": _commands(src.get("verify")),
            "drift_gates": _drift_gates(src.get("drift_gates"), data.get("drift_gates") if "sources" in data else None)}


# --- command sources: an entrypoint writes the source's files, or takes the fork's ---------------------
# Running one is ``tasks.engine.entrypoint``'s; what a pull wrote becomes a commit of the source's mirror
# (``tasks.engine.generate``), what a push sends is ``tasks.engine.sending``'s.

@dataclass(frozen=True)
class SanitizeRule:
    """``sanitize:``: each match of the regex ``src`` becomes ``dst`` (which may name its groups, ``\\1``)."""

    src: str
    dst: str

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.src)


@dataclass(frozen=True)
class Entrypoint:
    """A command source: ``run`` writes its files into ``$FORKWAVE_OUT`` (pull), ``push_run`` takes the fork's
    changed ``inputs`` (push). Both run by ``bash -c`` in ``cwd`` (the config file's folder), on the host or in
    ``image``, with ``config`` (JSON text) as ``$FORKWAVE_CONFIG`` and ``env``."""

    cwd: Path
    run: str | None = None
    push_run: str | None = None
    outputs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    config: str = "{}"
    sanitize: tuple[SanitizeRule, ...] = ()
    image: str | None = None
    network: str | None = None
    cpus: float | None = None
    memory: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    timeout: float = default("sources[].timeout")

    def check(self, name: str, command: str) -> Check:
        """The entrypoint as a check's runners take it (host, or a container of ``image``)."""
        return Check(name, run=command, timeout=self.timeout, env=self.env, image=self.image, network=self.network,
                     cpus=self.cpus, memory=self.memory)

    @property
    def label(self) -> str:
        """What reports show where a repository source shows its URL."""
        return f"run: {self.run}" if self.run else f"push_run: {self.push_run}"


def is_command(src: Mapping[str, Any]) -> bool:
    """A source as written is a command source: it names an entrypoint instead of a repository."""
    return "run" in src or "push_run" in src


def _entrypoint(here: Path, src: dict[str, Any]) -> Entrypoint:
    import json

    return Entrypoint(cwd=here, config=json.dumps(src.get("config") or {}, sort_keys=True),
                      sanitize=tuple(SanitizeRule(r["from"], r["to"]) for r in src.get("sanitize") or ()),
                      env=tuple(sorted((k, _env_str(v)) for k, v in (src.get("env") or {}).items())),
                      **_given(src, "run", "push_run", "outputs", "inputs", "image", "network", "cpus", "memory"),
                      **_timeout(src))


def _check_commands(data: dict[str, Any]) -> str | None:
    """A source is a repository (``url``) or a command (``run``/``push_run``), never both or neither; each kind
    takes only its own keys; a command pulls with ``run`` into ``outputs`` and pushes with ``push_run`` from
    ``inputs``, as its ``direction`` says."""
    for i, src in enumerate(data.get("sources") or ()):
        key = f"sources.{i}"
        if "url" in src and is_command(src):
            entry = "run" if "run" in src else "push_run"
            return (f"key '{key}.{entry}': give either 'url' (a repository) or 'run'/'push_run' (a command source), "
                    "not both")
        if not is_command(src):
            if "url" not in src:
                return (f"key '{key}': missing key 'url' (a repository), or 'run' (a command that writes the "
                        "source's files); give one")
            extra = next((k for k in COMMAND_ONLY if k in src), None)
            if extra:
                return (f"key '{key}.{extra}': applies to command sources only (run, push_run); this source is a "
                        "repository (url)")
            continue
        problem = _command_keys(key, src)
        if problem:
            return problem
    return None


def _command_keys(key: str, src: dict[str, Any]) -> str | None:
    extra = next((k for k in (*REPOSITORY_ONLY, *(name for name, _ in MODE_ONLY)) if k in src), None)
    if extra == "paths":
        return f"key '{key}.paths': a command source owns its outputs; give them as 'outputs'"
    if extra:
        return (f"key '{key}.{extra}': applies to repository sources only (url); a command source's files are what "
                "'run' writes")
    direction = src.get("direction", default("sources[].direction"))
    pulls, pushes = direction in directions_pull(), direction in directions_push()
    needs = (("run", pulls, "pulls", "the command that writes the source's files"),
             ("push_run", pushes, "pushes", "the command that takes the fork's changed inputs"))
    for entry, wanted, verb, what in needs:
        if wanted and entry not in src:
            return f"key '{key}': direction {direction} {verb}; give '{entry}' ({what})"
        if entry in src and not wanted:
            return (f"key '{key}.{entry}': this source's direction is {direction}; drop '{entry}', or give direction "
                    "both")
    for entry, files in (("run", "outputs"), ("push_run", "inputs")):
        if entry in src and files not in src:
            return f"key '{key}': missing key '{files}' (the fork-side globs of the files '{entry}' handles)"
        if files in src and entry not in src:
            return f"key '{key}.{files}': only '{entry}' reads it; give '{entry}' or drop '{files}'"
    if "sanitize" in src and "run" not in src:
        return f"key '{key}.sanitize': applies to what 'run' writes; this source has no 'run'"
    for what in ("verify", "fail_on_diff"):
        if what in src and not pulls:
            return (f"key '{key}.{what}': judges what the source pulls, and this one only pushes (direction push); "
                    f"drop '{what}'")
    return None


# --- merge and cherry-pick modes: their keys, kept together -------------------------------------

@dataclass(frozen=True)
class PolicyRule:
    """``policy:``: conflicting hunks of paths matching ``paths`` take ``take`` (upstream, fork, regenerate)."""

    paths: tuple[str, ...]
    take: str


@dataclass(frozen=True)
class ModeOptions:
    """A source's merge and cherry-pick keys (``sources.<n>.min_age`` ...), defaults from the table."""

    min_age: str | int = default("sources[].min_age")   # seconds, once loaded
    on_failure: str = default("sources[].on_failure")
    branch: str | None = None
    types: tuple[str, ...] = default("sources[].types")
    scopes: tuple[str, ...] = default("sources[].scopes")
    exclude_authors: tuple[str, ...] = default("sources[].exclude_authors")
    review_breaking: bool = default("sources[].review_breaking")
    pull_requests: str = default("sources[].pull_requests")   # merge | commits


def _mode_options(src: dict[str, Any]) -> ModeOptions:
    given = _given(src, "on_failure", "branch", "types", "scopes", "exclude_authors", "review_breaking",
                   "pull_requests")
    if "min_age" in src:  # whole seconds, as commit dates are; rounded up: "at least this old"
        given["min_age"] = math.ceil(fields.seconds(src["min_age"]))
    return ModeOptions(**given)


def integration_branch(src: Any) -> str:
    """A cherry-pick source's own branch: ``branch`` as written, else ``sync/<name>``."""
    return (src.options.branch if isinstance(src, Source) else src.get("branch")) or \
        f"sync/{src.name if isinstance(src, Source) else src['name']}"


def traits(mode: str) -> ModeTraits:
    """What the config knows of a mode (an unknown one is refused before this is asked)."""
    return MODE_TRAITS.get(mode, ModeTraits())


def _check_modes(data: dict[str, Any]) -> str | None:
    """Keys that only one mode reads, and cherry-pick's integration branches (never the fork's own)."""
    branch = (data.get("fork") or {}).get("branch", default("fork.branch"))
    for i, src in enumerate(data.get("sources") or ()):
        mode = src.get("mode", default("sources[].mode"))
        if not traits(mode).exports and src.get("direction", default("sources[].direction")) != "pull":
            exporting = ", ".join(m for m, t in MODE_TRAITS.items() if t.exports)
            return (f"key 'sources.{i}.direction': {src['direction']} applies to mode: {exporting} only (this source "
                    f"is mode: {mode}; its commits come from the source, they are not exported)")
        for key, wants in MODE_ONLY:
            if key in src and mode != wants:
                return f"key 'sources.{i}.{key}': applies to mode: {wants} only (this source is mode: {mode})"
        if traits(mode).own_branch:
            name = integration_branch(src)
            if not _refnames().is_branch_name(name) or name.lower() == branch.lower():
                return (f"key 'sources.{i}.branch': {name!r} must be a valid branch other than fork.branch "
                        f"({branch!r})")
    return None


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
    ref: str = default("upstream.ref")


@dataclass(frozen=True)
class Fork:
    path: Path
    branch: str = default("fork.branch")
    sync_branch: str = default("fork.sync_branch")


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
    timeout: float = default("checks[].timeout")   # seconds
    env: tuple[tuple[str, str], ...] = ()
    image: str | None = None
    network: str | None = None
    cpus: float | None = None
    memory: str | None = None
    compose: str | None = None
    service: str | None = None
    junit: str | None = None  # a JUnit XML file the check writes (worktree-relative): test-level gating
    node: str | None = None  # a node version or range: the check runs in forkwave/node:<version>
    direction: str = default("checks[].direction")  # pull: the sync branch's candidates; push: an export; both
    layout: str = default("checks[].layout")  # on an export: run in the source's tree (source) or the fork's (fork)

    @property
    def kind(self) -> str:
        return "compose" if self.compose else "docker" if self.image or self.node else "host"


@dataclass(frozen=True)
class Engine:
    """One Docker engine of ``containers.engines``: a ``DOCKER_HOST`` URL or a context, and its slots."""

    name: str = "local"
    url: str | None = None          # None with no context either: the local engine, as docker.from_env() finds it
    context: str | None = None
    slots: int = default("containers.engines[].slots")
    # mount: bind-mounted; copy: copied into each container; None: as the context's endpoint
    files: str | None = "mount"
    cert_path: Path | None = None
    tls_verify: bool = default("containers.engines[].tls_verify")

    @property
    def endpoint(self) -> str:
        """How a person recognises it: the URL, ``context <name>``, or the local default."""
        return self.url or (f"context {self.context}" if self.context else "the local engine (DOCKER_HOST)")


@dataclass(frozen=True)
class Containers:
    ca_bundle: Path | None = None
    pass_env: tuple[str, ...] = ()
    network: str | None = None
    engines: tuple[Engine, ...] = (Engine(),)


@dataclass(frozen=True)
class Host:
    slots: int = default("host.slots")


@dataclass(frozen=True)
class Publish:
    """``publish:``: where the sync branch goes, the pull request forkwave keeps for it, when it may merge."""

    remote: str = default("publish.remote")  # a remote of the fork, or a URL
    forge: str = default("publish.forge")    # auto (from the remote's URL) | github | gitlab | none
    url: str | None = None                 # the forge's web address, for a self-hosted one
    api: str | None = None                 # its REST API, when not the usual place (<url>/api/v3, <url>/api/v4)
    repository: str | None = None          # owner/name (GitLab: group/.../project) when the URL does not say
    report_url: str | None = None          # where the full reports are (default: the CI run's artifacts)
    title: str = default("publish.title")
    labels: tuple[str, ...] = default("publish.labels")
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    conflict_reviewers: tuple[str, ...] = ()
    draft: str | bool = default("publish.draft")   # auto: a draft while anything is deferred, conflicted or failing
    automerge_max: float | None = default("publish.automerge_max")   # None: never merge by itself
    merge_method: str = default("publish.merge_method")
    weights: tuple[tuple[str, float], ...] = tuple((t, DEFAULT_RISK_WEIGHTS.get(t, 0)) for t in RISK_TERMS)
    low: float = default("publish.risk.low")   # risk:low up to here, risk:medium up to ``medium``, then risk:high
    medium: float = RISK_MEDIUM


@dataclass(frozen=True)
class Source:
    """Where changes come from: a repository and ref, how they become slices (``mode``), the
    fork-side paths it owns, and how its paths and contents map into the fork."""

    name: str
    upstream: Upstream
    mode: str = default("sources[].mode")
    paths: tuple[str, ...] = default("sources[].paths")
    base: str | None = None
    map: tuple[MapRule, ...] = ()
    rewrite: tuple[RewriteRule, ...] = ()
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    deny: tuple[str, ...] = DEFAULT_DENY
    schedule: str | None = None   # a cron (UTC): `doit ci` runs the source on it
    written: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # url/ref as written
    direction: str = default("sources[].direction")   # pull | push | both
    push_url: str | None = None                  # where a push exports to: the contributor's fork of the source
    contrib_branch: str = contrib_default(Path())   # the branch it exports on (contrib/<fork name>)
    verify: tuple[Command, ...] = ()             # run on the sync tip after a wave lands
    drift_gates: tuple[tuple[str, int], ...] = ()  # limit -> maximum, checked right after drift
    options: ModeOptions = ModeOptions()   # merge and cherry-pick keys
    command: Entrypoint | None = None      # a command source's entrypoints (None: a repository)
    fail_on_diff: bool = default("sources[].fail_on_diff")   # upstream work the fork lacks stops the run (exit 2)

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
    deny_except: tuple[str, ...] = default("deny_except")
    secrets: SecretsPolicy = SecretsPolicy()
    buckets: tuple[Bucket, ...] = ()
    waves: tuple[Wave, ...] = field(default_factory=tuple)
    max_files: int = default("slices.max_files")
    checks: tuple[Check, ...] = ()
    push_checks: tuple[Check, ...] = ()   # checks with direction push or both: they judge exports
    gates: tuple[str, ...] = default("gates")
    containers: Containers = Containers()
    host: Host = Host()
    rewrite: tuple[RewriteRule, ...] = ()
    deletions: str = default("deletions")
    gating: str = default("gating")
    batch: bool = default("batch")
    couple: tuple[tuple[str, ...], ...] = ()   # groups of globs: the paths one group matches are coupled
    publish: Publish = Publish()
    sources: tuple[Source, ...] = ()
    pre: tuple[Command, ...] = ()    # on the fork tip before anything is imported
    post: tuple[Command, ...] = ()   # on the sync tip after the run
    max_commits: int = default("slices.max_commits")   # merge, cherry-pick
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

        fork = replace(self.fork, sync_branch=integration_branch(src)) if traits(src.mode).own_branch else self.fork
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
        read, marks = _read_yaml(path, text)
        if not isinstance(read, dict):
            raise _error(path, marks, "expected a mapping of keys (upstream, fork, ...) at the top level", "")
        _validate(path, read, marks)
        _check_semantics(path, read, marks)
        if checked is not None:
            _remember(checked, seal, read)
        data = read
    return _build(path, data, relative_to)


# the checks a config passes are these modules': their bytes are part of the seal
_RULES = tuple(Path(__file__).with_name(name) for name in ("config.py", "configkeys.py", "fields.py", "strictyaml.py"))


def _seal(text: str) -> str:
    import hashlib

    digest = hashlib.sha1()
    for rules in _RULES:
        digest.update(rules.read_bytes() + b"\0")
    digest.update(text.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


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


def _read_yaml(path: Path, text: str) -> tuple[Any, Marks]:
    """The file's one YAML document, strictly (``tasks.strictyaml``), and where each value was written:
    every problem is one line, ``file:line:column: ...`` as compilers write it (editors and CI logs link it)."""
    import yaml

    from tasks import strictyaml

    try:
        return strictyaml.load_marked(text)
    except strictyaml.StrictYamlError as exc:
        where = f"{path}:{exc.line}:{exc.column}"
        raise ForkwaveError(f"{where}: key '{exc.key}': {exc.message}" if exc.key else f"{where}: {exc.message}") \
            from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most control characters)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ForkwaveError(f"{path}:{line}:{column}: unreadable YAML (character {exc.character!r} is not "
                            "allowed); remove it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}:" if mark else f"{path}:"
        problem = " ".join((getattr(exc, "problem", None) or "invalid YAML").split())
        raise ForkwaveError(f"{where} unreadable YAML ({problem}); fix the syntax") from None


_NAMED_KEY = re.compile(r"key '([^']*)'")


def _error(path: Path, marks: Marks | None, message: str, key: str | None = None, *,
           own_key: bool = False) -> ForkwaveError:
    """``message`` as ``file:line:column: message``, at ``key`` (default: the first key the message names;
    ``own_key``: where the key itself is written, for a key that should not be there)."""
    if key is None:
        named = _NAMED_KEY.search(message)
        key = named.group(1) if named else None
    where = marks.at(key, own_key=own_key) if marks is not None and key is not None else None
    return ForkwaveError(f"{path}:{where[0]}:{where[1]}: {message}" if where else f"{path}: {message}")


# --- what a value's schema says ----------------------------------------------------------------

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


def _validate(path: Path, data: dict[str, Any], marks: Marks) -> None:
    errors = sorted(_validator()(SCHEMA).iter_errors(data),
                    key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    if errors:
        err = errors[0]
        key, own_key = _error_key(err)
        raise _error(path, marks, _describe(err), key, own_key=own_key)


def _error_key(err: Any) -> tuple[str, bool]:
    """Where a schema error is: the unknown key or the name itself, else the value."""
    at = [str(p) for p in err.absolute_path]
    if err.validator == "additionalProperties" and err.schema.get("additionalProperties") is False:
        return ".".join(at + _unknown(err)[:1]), True
    if "propertyNames" in err.relative_schema_path:
        return ".".join(at + [str(err.instance)]), True
    return ".".join(at), False


def _unknown(err: Any) -> list[str]:
    return sorted(set(err.instance) - set(err.schema.get("properties", {})))


_TYPE_NAMES = {"string": "a string", "array": "a list", "object": "a mapping", "integer": "an integer",
               "null": "null", "boolean": "true or false", "number": "a finite number"}
_short = short


def _suggestion(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` when one of ``choices`` is close to ``word``, else nothing."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(err: Any) -> str:  # a jsonschema.ValidationError
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    hint, rule = err.schema.get("x-hint"), err.schema.get("x-rule")
    if err.validator == "additionalProperties":
        extra, allowed = _unknown(err)[0], sorted(err.schema.get("properties", {}))
        where = f"{key}." if err.absolute_path else ""
        # a pasted line is no key: one line stays short
        shown = extra if len(str(extra)) <= 60 else f"{str(extra)[:57]}..."
        return f"unknown key '{where}{shown}'{_suggestion(extra, allowed)}; expected one of: {', '.join(allowed)}"
    if err.validator == "required":
        missing = re.search(r"'([^']+)'", err.message)
        name = missing.group(1) if missing else "?"
        where = f"{key}." if err.absolute_path else ""
        return f"missing key '{where}{name}'; it is required"
    if err.validator == "type" and err.schema.get("x-duration"):
        return f"key '{key}': expected {hint}, got {type(err.instance).__name__} {_short(err.instance)}"
    if err.validator == "type":
        types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        want = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in types)
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
    if err.validator == "pattern" and hint:
        return f"key '{key}': expected {hint}, got {_short(err.instance)}"
    if err.validator == "pattern":
        return f"key '{key}': name {_short(err.instance)} must be {rule}"
    if err.validator == "enum":  # as YAML spells them: true, not True
        words = ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in err.validator_value)
        return (f"key '{key}': expected one of {words}, got {_short(err.instance)}"
                + _suggestion(err.instance, err.validator_value))
    return f"key '{key}': {err.message[:200]}"


# --- what spans several keys -------------------------------------------------------------------

def _check_semantics(path: Path, data: dict[str, Any], marks: Marks | None = None) -> None:
    """What a schema cannot say, first problem first: the table's checks of single values and
    mappings (branch names by git's rules, globs, regexes, URLs, map rules, check kinds, durations),
    then what spans several keys (sources, modes, directions, waves and buckets)."""
    for problem in _problems(data):
        key, message = problem if isinstance(problem, tuple) else (None, problem)
        raise _error(path, marks, message, key)


Problem = str | tuple[str, str] | None   # a message (naming its key), or (key, message)
SpanCheck = Callable[[dict[str, Any]], Problem]


def _problems(data: dict[str, Any]) -> Iterator[str | tuple[str, str]]:
    early: tuple[SpanCheck, ...] = (_check_text, _check_source_shape)
    late: tuple[SpanCheck, ...] = (_check_commands, _check_sources, _check_modes, _check_flow, _check_waves)
    for check in early:
        if (problem := check(data)):
            yield problem
    for key, found in fields.problems(CONFIG, data):
        yield key, f"key '{key}': {found}"
    for check in late:
        if (problem := check(data)):
            yield problem


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


def _check_source_shape(data: dict[str, Any]) -> str | tuple[str, str] | None:
    """One source (``upstream``) or a list (``sources``), and a source's keys where its kind wants them."""
    if "upstream" in data and "sources" in data:
        return "sources", "give either 'upstream' (one source) or 'sources' (a list), not both"
    if "upstream" not in data and "sources" not in data:
        return "", "missing key 'upstream' (or 'sources'); it is required"
    if "sources" not in data:
        return None
    for key in SOURCE_KEYS:
        if key in data and key not in ("ignore", "deny", "drift_gates"):  # these three: every source's default
            return f"key '{key}': with 'sources', give it per source (sources.<n>.{key})"
    return None


def _check_sources(data: dict[str, Any]) -> str | None:
    if "sources" not in data:
        return None
    names = [src["name"] for src in data["sources"]]
    for i, src in enumerate(data["sources"]):
        if src.get("mode", default("sources[].mode")) not in AVAILABLE_MODES:
            return (f"key 'sources.{i}.mode': {src['mode']!r} is not available in this version "
                    f"(modes: {', '.join(AVAILABLE_MODES)})")
        if len(names) > 1 and not src.get("paths") and not traits(src.get("mode", "")).own_branch \
                and not is_command(src):
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

    indexed = [(i, s) for i, s in enumerate(sources) if not traits(s.get("mode", "")).own_branch
               and (s.get("outputs") or not is_command(s))]   # a command source that only pushes owns nothing
    for n, (_, a) in enumerate(indexed):
        for j, b in indexed[n + 1:]:
            for pa in _owned(a):
                for pb in _owned(b):
                    both = (_sample(pa) if globs((pb,))(_sample(pa)) else
                            _sample(pb) if globs((pa,))(_sample(pb)) else None)
                    if both is not None:
                        return (f"key 'sources.{j}.{'outputs' if is_command(b) else 'paths'}': sources {a['name']!r} "
                                f"({pa}) and {b['name']!r} ({pb}) both own paths such as {both}; give each source "
                                "paths of its own")
    return None


def _owned(src: dict[str, Any]) -> list[str]:
    """The fork-side globs a source as written owns: a command source's outputs, a repository's paths."""
    return list(src.get("outputs") or ()) if is_command(src) else list(src.get("paths") or ("**",))


def _check_waves(data: dict[str, Any]) -> str | None:
    """A wave's bucket *name* must be a declared bucket: bucket names are known from the config, and a
    typo (``sever``) would leave that bucket's paths unsynced without a word. Globs over bucket names
    (``"*"``, ``acme-*``) and ``paths`` globs may match the default buckets or paths of a later tree."""
    declared = [b["name"] for b in data.get("buckets") or ()]
    for name, wave in (data.get("waves") or {}).items():
        for i, bucket in enumerate(wave.get("buckets") or ()):
            if bucket in declared or any(ch in bucket for ch in GLOB_CHARS):
                continue
            known = f"buckets: {_listing(sorted(declared))}" if declared else "the config declares no buckets"
            close = difflib.get_close_matches(bucket, declared, n=1)
            step = (f"did you mean {close[0]!r}?" if close else
                    f"declare it under buckets, or take its files with waves.{name}.paths (e.g. '{bucket}/**')")
            return f"key 'waves.{name}.buckets.{i}': {bucket!r} names no bucket ({known}); {step}"
    return None


def _listing(names: list[str], most: int = 8) -> str:
    return ", ".join(names[:most]) + (f", ... ({len(names)} in all)" if len(names) > most else "")


# --- building the dataclasses -------------------------------------------------------------------

def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def _given(raw: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The keys among ``names`` that ``raw`` gives, lists as tuples: a key not given takes the
    dataclass's default, which is the table's."""
    return {name: _frozen(raw[name]) for name in names if name in raw}


def _timeout(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"timeout": fields.seconds(raw["timeout"])} if "timeout" in raw else {}


def _resolve(path: Path, here: Path, text: str, key: str) -> Path:
    """``text`` as an absolute path (``~`` expanded, relative to ``here``), or an error naming ``key``."""
    try:
        return (here / Path(text).expanduser()).resolve()
    except (RuntimeError, ValueError, OSError) as exc:  # ~nosuchuser, a path the OS cannot take
        raise ForkwaveError(f"{path}: key '{key}': cannot use {_short(text)} as a path ({exc})") from None


def _containers(path: Path, here: Path, data: dict[str, Any]) -> Containers:
    ca = data.get("ca_bundle")
    given = _given(data, "pass_env", "network")
    if data.get("engines"):
        given["engines"] = _engines(path, here, data["engines"])
    return Containers(ca_bundle=None if not ca else _resolve(path, here, ca, "containers.ca_bundle"), **given)


def _engines(path: Path, here: Path, given: list[dict[str, Any]]) -> tuple[Engine, ...]:
    taken = {e["name"] for e in given if "name" in e}
    engines = []
    for i, e in enumerate(given):
        url = e.get("url")
        name = e.get("name") or _free_name(engine_name(url, e.get("context")), taken)
        taken.add(name)
        cert = e.get("cert_path")
        engines.append(Engine(name, url, e.get("context"), **_given(e, "slots", "tls_verify"),
                              files=e.get("files") or _files_for(url),
                              cert_path=_resolve(path, here, cert, f"containers.engines.{i}.cert_path") if cert
                              else None))
    return tuple(engines)


def _files_for(url: str | None) -> str | None:
    """A socket on this machine mounts the worktree; a remote engine gets it copied; a context's endpoint
    is read when the engine is first used (None)."""
    return None if url is None else "mount" if url.startswith("unix://") else "copy"


def engine_name(url: str | None, context: str | None) -> str:
    """An engine's name when the config gives none: its context's, its URL's host, or ``local``.

    >>> engine_name("ssh://ci@build-2.example.com:2222", None), engine_name("unix:///run/docker.sock", None)
    ('build-2.example.com', 'local')
    >>> engine_name(None, "ci-box")
    'ci-box'
    """
    if context:
        return context
    scheme, _, rest = (url or "").partition("://")
    if scheme == "unix" or not rest:
        return "local"
    host = rest.split("/")[0].rpartition("@")[2]
    return host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0].strip("[")


def _free_name(name: str, taken: set[str]) -> str:
    n, out = 1, name
    while out in taken:
        n += 1
        out = f"{name}-{n}"
    return out


def _env_str(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _is_url(url: str) -> bool:
    return "://" in url or re.match(r"^[\w.-]+@[\w.-]+:", url) is not None


def _source(path: Path, here: Path, url_key: str, src: dict[str, Any], data: dict[str, Any]) -> Source:
    fork = _resolve(path, here, data["fork"]["path"], "fork.path")
    if is_command(src):
        return _command_source(here, src, data)
    url = src["url"] if _is_url(src["url"]) else str(_resolve(path, here, src["url"], f"{url_key}url"))
    return Source(
        name=src["name"], upstream=Upstream(url=url, **_given(src, "ref")),
        **_given(src, "mode", "paths", "base", "schedule", "fail_on_diff"),
        map=tuple(MapRule(r["from"], r["to"]) for r in src.get("map") or ()),
        rewrite=tuple(RewriteRule(r["from"], r["to"], **_given(r, "paths", "regex")) for r in src.get("rewrite") or ()),
        ignore=tuple(src.get("ignore", data.get("ignore", DEFAULT_IGNORE))),
        deny=tuple(src.get("deny", data.get("deny", DEFAULT_DENY))),
        written={k: src[k] for k in ("url", "ref") if k in src},
        options=_mode_options(src),
        **_flow_source(path, here, "" if url_key == "upstream." else url_key, src, data, fork))


def _command_source(here: Path, src: dict[str, Any], data: dict[str, Any]) -> Source:
    """A command source: its upstream is the branch of output commits in its own mirror (``OUTPUT_REF``), its
    paths are its outputs; it has no base, map or rewrite of its own."""
    entry = _entrypoint(here, src)
    return Source(
        name=src["name"], upstream=Upstream(url=entry.label, ref=OUTPUT_REF), paths=entry.outputs,
        **_given(src, "schedule", "fail_on_diff", "direction"),
        ignore=tuple(src.get("ignore", data.get("ignore", DEFAULT_IGNORE))),
        deny=tuple(src.get("deny", data.get("deny", DEFAULT_DENY))),
        written={"url": entry.label, "ref": OUTPUT_REF}, command=entry,
        verify=_commands(src.get("verify")),
        drift_gates=_drift_gates(src.get("drift_gates"), data.get("drift_gates") if "sources" in data else None))


def _build(path: Path, data: dict[str, Any], relative_to: Path | None = None) -> Config:
    here = relative_to.resolve() if relative_to else path.resolve().parent
    sources = tuple(_source(path, here, url_key, src, data) for url_key, _, src in source_dicts(data))
    first = sources[0]
    fk = data["fork"]
    waves = data.get("waves") or DEFAULT_WAVES
    checks = _all_checks(data)
    return Config(
        file=path,
        upstream=first.upstream,
        sources=sources,
        source=first.name,
        fork=Fork(path=_resolve(path, here, fk["path"], "fork.path"), **_given(fk, "branch", "sync_branch")),
        base=first.base,
        map=first.map,
        ignore=first.ignore,
        deny=first.deny,
        secrets=SecretsPolicy(**_given(data.get("secrets") or {}, "allow", "paths")),
        buckets=tuple(Bucket(b["name"], tuple(b["paths"])) for b in data.get("buckets") or ()),
        waves=tuple(Wave(name, **_given(w, "buckets", "paths")) for name, w in waves.items()),
        checks=tuple(c for c in checks if c.direction in directions_pull()),
        push_checks=tuple(c for c in checks if c.direction in directions_push()),
        containers=_containers(path, here, data.get("containers") or {}),
        host=Host(**_given(data.get("host") or {}, "slots")),
        rewrite=first.rewrite,
        couple=tuple(tuple(rule) for rule in data.get("couple") or ()),
        publish=_publish(data.get("publish") or {}),
        pre=_commands(data.get("pre")), post=_commands(data.get("post")),
        policy=tuple(PolicyRule(tuple(r["paths"]), r["take"]) for r in data.get("policy") or ()),
        raw={**data, "upstream": first.written},
        **_given(data, "deny_except", "deletions", "gating", "batch", "gates"),
        **_given(data.get("slices") or {}, "max_files", "max_commits"),
    )


def _all_checks(data: dict[str, Any]) -> list[Check]:
    return [Check(**_given(c, "name", "run", "when", "image", "network", "cpus", "memory", "compose", "service",
                           "junit", "node", "direction", "layout"),
                  env=tuple(sorted((k, _env_str(v)) for k, v in (c.get("env") or {}).items())), **_timeout(c))
            for c in data.get("checks") or ()]


def _publish(pub: dict[str, Any]) -> Publish:
    risk = pub.get("risk") or {}
    weights = {**DEFAULT_RISK_WEIGHTS, **risk.get("weights", {})}  # a term not named keeps its default (0: unused)
    low = risk.get("low", default("publish.risk.low"))
    return Publish(
        **_given(pub, "remote", "forge", "url", "api", "repository", "report_url", "title", "labels", "reviewers",
                 "assignees", "conflict_reviewers", "draft", "automerge_max", "merge_method"),
        weights=tuple((t, weights.get(t, 0)) for t in RISK_TERMS),
        low=low, medium=risk.get("medium", max(RISK_MEDIUM, low)))
