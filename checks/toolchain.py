"""What a repository asks of its JavaScript toolchain: the node version and the package manager, from its pin files.

Pure functions over file contents (``detect``), plus one reader (``read_pin_files``) that takes
only regular files at the repository root, and only their heads where a lockfile can be large.
Node pins are npm semver ranges (``24.5.0``, ``^24.5.0``, ``>=20 <25``), matched with
node-semver's own rules, so ``engines.node`` means here what it means to npm.
"""
from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nodesemver
import yaml

from tasks.errors import ForkwaveError
from tasks.nodeversions import LATEST_ALIASES, LTS, node_spec  # noqa: F401  (the config checks pins too)

# (file, bytes read): lockfiles are only sniffed, so their head is enough.
PIN_FILES = ((".nvmrc", 4096), (".node-version", 4096), (".tool-versions", 16384), ("package.json", 4 << 20),
             (".yarnrc.yml", 65536), ("yarn.lock", 4096), ("pnpm-lock.yaml", 4096), ("package-lock.json", 4096),
             ("npm-shrinkwrap.json", 4096), ("bun.lock", 0), ("bun.lockb", 0))
MANAGERS = ("npm", "yarn", "pnpm")
_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
_YARN_RELEASE = re.compile(r"yarn-(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\.c?js$")
# pnpm-lock.yaml lockfileVersion -> the pnpm major that writes it.
PNPM_LOCKFILES = {"5.3": "6", "5.4": "7", "6.0": "8", "6.1": "8", "7.0": "9", "9.0": "9 || 10"}


@dataclass(frozen=True)
class NodePin:
    """A node version or range (npm semver syntax) and where it came from (``.nvmrc``, ``engines.node``...)."""

    spec: str
    source: str

    @property
    def exact(self) -> bool:
        return _VERSION.match(self.spec) is not None


@dataclass(frozen=True)
class Manager:
    """The package manager a repository uses: its name, version (None: the image's default) and why."""

    name: str
    version: str | None = None
    source: str = "default"
    yarn_path: str | None = None   # a committed Yarn release, repository-relative

    @property
    def berry(self) -> bool:
        return self.name == "yarn" and (self.yarn_path is not None or not (self.version or "1").startswith("1"))

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.name}{version} ({self.source})"


@dataclass(frozen=True)
class Toolchain:
    node: NodePin | None
    manager: Manager
    notes: tuple[str, ...] = ()


# --- reading ------------------------------------------------------------------------------

def read_pin_files(root: Path) -> dict[str, str]:
    """The pin files at ``root`` that are regular files (never a symlink out of the repository)."""
    found: dict[str, str] = {}
    for name, limit in PIN_FILES:
        path = root / name
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                continue
            with path.open("rb") as f:
                found[name] = f.read(limit).decode("utf-8", "replace")
        except OSError:
            continue
    return found


# --- node ---------------------------------------------------------------------------------

def _first_line(text: str) -> str:
    """The first token that is not a comment (nvm allows ``# ...`` lines)."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line.split()[0]
    return ""


def _tool_versions(text: str) -> str:
    """asdf's ``.tool-versions``: ``nodejs 24.5.0`` (the first version listed is the one used)."""
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] in ("nodejs", "node"):
            return parts[1]
    return ""


def _package(files: Mapping[str, str]) -> tuple[dict[str, object], list[str]]:
    text = files.get("package.json")
    if text is None:
        return {}, []
    try:
        data = json.loads(text)
    except ValueError:
        return {}, ["package.json does not parse as JSON: its pins were not read"]
    return (data, []) if isinstance(data, dict) else ({}, ["package.json is not an object: its pins were not read"])


def _dig(data: Mapping[str, object], *keys: str) -> object:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)  # type: ignore[assignment]
    return data


def _dev_engine(data: Mapping[str, object], field: str, name: str | tuple[str, ...]) -> object:
    """``devEngines.<field>``: one ``{name, version}`` or a list of them."""
    entries = _dig(data, "devEngines", field)
    names = (name,) if isinstance(name, str) else name
    for entry in entries if isinstance(entries, list) else [entries]:
        if isinstance(entry, Mapping) and entry.get("name") in names:
            return entry
    return None


def node_candidates(files: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every node pin in the repository, as (raw text, source), most specific first."""
    data, _ = _package(files)
    found = [(_first_line(files.get(".nvmrc", "")), ".nvmrc"),
             (_first_line(files.get(".node-version", "")), ".node-version"),
             (_tool_versions(files.get(".tool-versions", "")), ".tool-versions"),
             (_dig(data, "volta", "node"), "package.json volta.node")]
    runtime = _dev_engine(data, "runtime", "node")
    found.append((runtime.get("version") if isinstance(runtime, Mapping) else None, "package.json devEngines.runtime"))
    found.append((_dig(data, "engines", "node"), "package.json engines.node"))
    return [(raw, source) for raw, source in found if isinstance(raw, str) and raw.strip()]


def node_pin(files: Mapping[str, str], override: str | None = None, override_source: str = "the check's node"
             ) -> tuple[NodePin | None, list[str]]:
    """The node to run: the override if given, else the most specific pin; plus notes on disagreements."""
    candidates = node_candidates(files)
    if override is not None:
        candidates.insert(0, (override, override_source))
    if not candidates:
        return None, []
    raw, source = candidates[0]
    spec = node_spec(raw, source)
    pin = None if spec is None else NodePin(spec, source)
    return pin, _disagreements(pin, candidates[1:])


def _disagreements(pin: NodePin | None, others: Iterable[tuple[str, str]]) -> list[str]:
    """An exact pin that another pin's range excludes (``.nvmrc`` 22.1.0 with ``engines.node`` ^24) is noted."""
    if pin is None or not pin.exact:
        return []
    notes = []
    for raw, source in others:
        try:
            spec = node_spec(raw, source)
        except ForkwaveError:
            notes.append(f"{source} {raw.strip()!r} is not a node version or range (ignored)")
            continue
        if spec is not None and not nodesemver.satisfies(pin.spec, spec, False):
            verb = "differs from" if _VERSION.match(spec) else "does not satisfy"
            notes.append(f"node {pin.spec} from {pin.source} {verb} {source} {raw.strip()!r}")
    return notes


def best_version(spec: str, versions: Iterable[str]) -> str | None:
    """The highest of ``versions`` that ``spec`` accepts (npm's rules: prereleases only when named)."""
    return nodesemver.max_satisfying([v for v in versions if _VERSION.match(v)], spec, False)


def version_tag(tag: str) -> str | None:
    """``24`` or ``24.5.0`` from an image tag that is a version (``forkwave/node:24``), else None."""
    return tag if re.fullmatch(r"\d+(?:\.\d+){0,2}", tag) else None


# --- package manager ----------------------------------------------------------------------

def parse_package_manager(value: str, source: str) -> tuple[str, str | None]:
    """``yarn@4.9.2+sha512.ab...`` -> ``("yarn", "4.9.2")`` (the hash is corepack's business)."""
    name, _, version = value.strip().partition("@")
    version = version.split("+", 1)[0]
    if name not in MANAGERS:
        raise ForkwaveError(f"{source}: package manager {name!r} is not supported in containers "
                            f"(supported: {', '.join(MANAGERS)}); drop the field or use one of them")
    if version and not _VERSION.match(version):
        raise ForkwaveError(f"{source}: {value!r} needs an exact version such as {name}@1.2.3")
    return name, version or None


def _yarn_path(files: Mapping[str, str]) -> str | None:
    text = files.get(".yarnrc.yml")
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    value = data.get("yarnPath") if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _from_lockfiles(files: Mapping[str, str]) -> Manager | None:
    lock = files.get("yarn.lock")
    if lock is not None:
        berry = "__metadata:" in lock
        return Manager("yarn", None if berry else "1", f"yarn.lock, {'Berry' if berry else 'v1'} format")
    lock = files.get("pnpm-lock.yaml")
    if lock is not None:
        found = re.search(r"""^lockfileVersion:\s*['"]?([0-9.]+)""", lock, re.M)
        return Manager("pnpm", None, f"pnpm-lock.yaml v{found.group(1)}" if found else "pnpm-lock.yaml")
    for name in ("package-lock.json", "npm-shrinkwrap.json"):
        if name in files:
            return Manager("npm", None, name)
    return None


def package_manager(files: Mapping[str, str]) -> tuple[Manager, list[str]]:
    """What installs this repository: ``packageManager``, ``devEngines.packageManager``, ``yarnPath``,
    the lockfile, else npm; plus notes (a yarnPath release that disagrees with packageManager, bun...)."""
    data, notes = _package(files)
    yarn_path = _yarn_path(files)
    declared: Manager | None = None
    field = _dig(data, "packageManager")
    if isinstance(field, str) and field.strip():
        name, version = parse_package_manager(field, "package.json packageManager")
        declared = Manager(name, version, "package.json packageManager")
    elif isinstance(entry := _dev_engine(data, "packageManager", MANAGERS), Mapping):
        version = entry.get("version")
        declared = Manager(str(entry["name"]), version if isinstance(version, str) and _VERSION.match(version)
                           else None, "package.json devEngines.packageManager")
    if yarn_path and (declared is None or declared.name == "yarn"):
        release = _YARN_RELEASE.search(yarn_path)
        version = release.group(1) if release else (declared.version if declared else None)
        if declared and declared.version and release and declared.version != release.group(1):
            notes.append(f"packageManager says yarn {declared.version}, yarnPath runs {release.group(1)}: "
                         "yarnPath wins (Yarn defers to it)")
        return Manager("yarn", version, f".yarnrc.yml yarnPath {yarn_path}", yarn_path), notes
    if declared:
        return declared, notes
    if "bun.lock" in files or "bun.lockb" in files:
        notes.append("bun lockfile found: bun is not in forkwave's images; npm is used")
    return _from_lockfiles(files) or Manager("npm"), notes


def detect(files: Mapping[str, str], node: str | None = None, node_source: str = "the check's node") -> Toolchain:
    """The toolchain ``files`` (``read_pin_files``) ask for; ``node`` overrides the node pins."""
    pin, node_notes = node_pin(files, node, node_source)
    manager, manager_notes = package_manager(files)
    return Toolchain(pin, manager, tuple(node_notes + manager_notes))
