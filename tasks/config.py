"""Load and validate ``forkwave.yaml`` into frozen dataclasses; every error names file and key."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tasks.errors import ForkwaveError
from tasks.rewrite import RewriteRule

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "demo" / "forkwave.yaml"
CONFIG_NAMES = ("forkwave.yaml", "forkwave.yml", ".forkwave.yaml", ".forkwave.yml")  # found in the workspace

GATES = ("deny", "secrets", "syntax")
_STR_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}
_MAP_RULE = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
             "properties": {"from": {"type": "string", "minLength": 1}, "to": {"type": "string"}}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["upstream", "fork"],
    "properties": {
        "upstream": {"type": "object", "additionalProperties": False, "required": ["url"],
                     "properties": {"url": {"type": "string", "minLength": 1},
                                    "ref": {"type": "string", "minLength": 1}}},
        "fork": {"type": "object", "additionalProperties": False, "required": ["path"],
                 "properties": {"path": {"type": "string", "minLength": 1},
                                "branch": {"type": "string", "minLength": 1},
                                "sync_branch": {"type": "string", "minLength": 1}}},
        "base": {"type": ["string", "null"]},
        "map": {"type": "array", "items": _MAP_RULE},
        "ignore": _STR_LIST,
        "deny": _STR_LIST,
        "buckets": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "paths"],
            "properties": {"name": {"type": "string", "minLength": 1}, "paths": _STR_LIST}}},
        "waves": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_-]*$"},
                  "additionalProperties": {
                      "type": "object", "additionalProperties": False,
                      "properties": {"buckets": _STR_LIST, "paths": _STR_LIST}}},
        "slices": {"type": "object", "additionalProperties": False,
                   "properties": {"max_files": {"type": "integer", "minimum": 1}}},
        "checks": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
                           "run": {"type": "string", "minLength": 1},
                           "when": _STR_LIST,
                           "timeout": {"type": "number", "minimum": 1},
                           "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                           "image": {"type": "string", "minLength": 1},
                           "network": {"type": "string", "minLength": 1},
                           "cpus": {"type": "number", "exclusiveMinimum": 0},
                           "memory": {"type": "string", "pattern": "^[0-9]+[bkmgBKMG]?$"},
                           "compose": {"type": "string", "minLength": 1},
                           "service": {"type": "string", "minLength": 1}}}},
        "rewrite": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["from", "to"],
            "properties": {"from": {"type": "string", "minLength": 1}, "to": {"type": "string"},
                           "paths": _STR_LIST, "regex": {"type": "boolean"}}}},
        "deletions": {"enum": ["apply", "report"]},
        "gating": {"enum": ["baseline", "strict"]},
        "containers": {"type": "object", "additionalProperties": False,
                       "properties": {"ca_bundle": {"type": ["string", "null"]},
                                      "pass_env": _STR_LIST,
                                      "network": {"type": "string", "minLength": 1}}},
        "gates": {"type": "array", "items": {"enum": list(GATES)}},
    },
}

DEFAULT_IGNORE = ("**/node_modules/**", ".yarn/cache/**")
DEFAULT_DENY = (".env", ".env.*", "**/secrets/**")
DEFAULT_WAVES = {
    "a": {"paths": ["**/migrations/**", "**/auth/**", "**/security/**", "Dockerfile*", ".github/workflows/**"]},
    "b": {"buckets": ["*"]},
    "c": {"paths": ["**/*.md", "docs/**", "**/__tests__/**"]},
}


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

    @property
    def kind(self) -> str:
        return "compose" if self.compose else "docker" if self.image else "host"


@dataclass(frozen=True)
class Containers:
    ca_bundle: Path | None = None
    pass_env: tuple[str, ...] = ()
    network: str | None = None


@dataclass(frozen=True)
class Config:
    file: Path
    upstream: Upstream
    fork: Fork
    base: str | None = None
    map: tuple[MapRule, ...] = ()
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    deny: tuple[str, ...] = DEFAULT_DENY
    buckets: tuple[Bucket, ...] = ()
    waves: tuple[Wave, ...] = field(default_factory=tuple)
    max_files: int = 25
    checks: tuple[Check, ...] = ()
    gates: tuple[str, ...] = GATES
    containers: Containers = Containers()
    rewrite: tuple[RewriteRule, ...] = ()
    deletions: str = "apply"
    gating: str = "baseline"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

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
        path = Path(explicit).expanduser()
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


def load_config(path: Path, *, relative_to: Path | None = None) -> Config:
    """Read, validate and build ``path``; relative paths resolve against ``relative_to``
    (default: the config file's folder; the bundled demo's are relative to the workspace)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ForkwaveError(f"{path}: cannot read config ({exc.strerror}); check the path and permissions") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ForkwaveError(f"{path}:{where}: unreadable YAML ({problem}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ForkwaveError(f"{path}: expected a mapping of keys (upstream, fork, ...) at the top level")
    _validate(path, data)
    _check_semantics(path, data)
    return _build(path, data, relative_to)


def _check_semantics(path: Path, data: dict[str, Any]) -> None:
    """What a schema cannot say: unsafe map targets, bad globs, duplicate check names."""
    from tasks.globs import check_pattern

    for i, rule in enumerate(data.get("map") or ()):
        parts = rule["to"].split("/")
        if rule["to"].startswith("/") or ".." in parts or ".git" in parts:
            raise ForkwaveError(f"{path}: key 'map.{i}.to': {rule['to']!r} must stay inside the repository "
                                "(no leading '/', no '..', no '.git')")
    glob_lists = [(key, data.get(key) or ()) for key in ("ignore", "deny")]
    glob_lists += [(f"buckets.{i}.paths", b["paths"]) for i, b in enumerate(data.get("buckets") or ())]
    glob_lists += [(f"waves.{name}.paths", w.get("paths") or ()) for name, w in (data.get("waves") or {}).items()]
    for key, patterns in glob_lists:
        for i, pattern in enumerate(patterns):
            if (problem := check_pattern(pattern)):
                raise ForkwaveError(f"{path}: key '{key}.{i}': {problem}")
    for i, check in enumerate(data.get("checks") or ()):
        where = f"{path}: key 'checks.{i}'"
        if check.get("compose"):
            if not check.get("service"):
                raise ForkwaveError(f"{where}: a compose check needs 'service' (the test service whose exit code is the verdict)")
            if check.get("image"):
                raise ForkwaveError(f"{where}: give either 'image' or 'compose', not both")
        elif not check.get("run"):
            raise ForkwaveError(f"{where}: missing key 'run' (the command to run)")
        elif check.get("service"):
            raise ForkwaveError(f"{where}: 'service' only applies to compose checks; add 'compose'")
    for i, rule in enumerate(data.get("rewrite") or ()):
        if rule.get("regex"):
            try:
                re.compile(rule["from"])
            except re.error as exc:
                raise ForkwaveError(f"{path}: key 'rewrite.{i}.from': not a valid regex ({exc})") from None
    names = [c["name"] for c in data.get("checks") or ()]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ForkwaveError(f"{path}: key 'checks': check name {dupes[0]!r} is used twice; names must be unique")


def _validate(path: Path, data: dict[str, Any]) -> None:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data),
                    key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    if errors:
        raise ForkwaveError(f"{path}: {_describe(errors[0])}")


_TYPE_NAMES = {"string": "a string", "array": "a list", "object": "a mapping", "integer": "an integer",
               "null": "null", "boolean": "true or false"}


def _describe(err: jsonschema.ValidationError) -> str:
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
        return f"key '{key}': expected {want}, got {type(err.instance).__name__} {err.instance!r}"
    if err.validator == "minLength":
        return f"key '{key}': expected a non-empty string"
    if err.validator == "minimum":
        return f"key '{key}': expected a number >= {err.validator_value}, got {err.instance!r}"
    if err.validator == "minProperties":
        return f"key '{key}': expected at least one entry"
    if err.validator == "pattern":
        allowed = "lowercase letters, digits, '-' or '_'" if "a-z0-9]" in err.validator_value and "A-Z" not in \
            err.validator_value else "letters, digits, '.', '-' or '_'"
        if key.startswith("containers") or key.endswith("memory"):
            return f"key '{key}': expected a size such as 512m or 4g, got {err.instance!r}"
        return f"key '{key}': name {err.instance!r} must be {allowed}"
    if err.validator == "enum":
        return f"key '{key}': expected one of {', '.join(map(str, err.validator_value))}, got {err.instance!r}"
    return f"key '{key}': {err.message}"


def _containers(here: Path, data: dict[str, Any]) -> Containers:
    ca = data.get("ca_bundle")
    return Containers(ca_bundle=None if not ca else (here / Path(ca).expanduser()).resolve(),
                      pass_env=tuple(data.get("pass_env", ())), network=data.get("network"))


def _env_str(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _is_url(url: str) -> bool:
    return "://" in url or re.match(r"^[\w.-]+@[\w.-]+:", url) is not None


def _build(path: Path, data: dict[str, Any], relative_to: Path | None = None) -> Config:
    here = relative_to.resolve() if relative_to else path.resolve().parent
    up = data["upstream"]
    url = up["url"] if _is_url(up["url"]) else str((here / Path(up["url"]).expanduser()).resolve())
    fk = data["fork"]
    waves = data.get("waves") or DEFAULT_WAVES
    return Config(
        file=path,
        upstream=Upstream(url=url, ref=up.get("ref", "main")),
        fork=Fork(path=(here / Path(fk["path"]).expanduser()).resolve(), branch=fk.get("branch", "main"),
                  sync_branch=fk.get("sync_branch", "sync/upstream")),
        base=data.get("base"),
        map=tuple(MapRule(r["from"], r["to"]) for r in data.get("map") or ()),
        ignore=tuple(data.get("ignore", DEFAULT_IGNORE)),
        deny=tuple(data.get("deny", DEFAULT_DENY)),
        buckets=tuple(Bucket(b["name"], tuple(b["paths"])) for b in data.get("buckets") or ()),
        waves=tuple(Wave(name, tuple(w.get("buckets", ())), tuple(w.get("paths", ())))
                    for name, w in waves.items()),
        max_files=(data.get("slices") or {}).get("max_files", 25),
        checks=tuple(Check(c["name"], c.get("run"), tuple(c.get("when", ())), c.get("timeout", 1800),
                           tuple(sorted((k, _env_str(v)) for k, v in (c.get("env") or {}).items())),
                           c.get("image"), c.get("network"), c.get("cpus"), c.get("memory"),
                           c.get("compose"), c.get("service"))
                     for c in data.get("checks") or ()),
        containers=_containers(here, data.get("containers") or {}),
        rewrite=tuple(RewriteRule(r["from"], r["to"], tuple(r.get("paths", ())), r.get("regex", False))
                      for r in data.get("rewrite") or ()),
        deletions=data.get("deletions", "apply"),
        gating=data.get("gating", "baseline"),
        gates=tuple(data.get("gates", GATES)),
        raw=data,
    )
