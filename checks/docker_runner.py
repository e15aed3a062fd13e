"""Run a check in a container (Docker SDK): the worktree at /workspace, as the invoking user.

The container is always removed: on success, failure, timeout and Ctrl-C. Package
manager caches live in a host folder mounted at /cache, so ten slices of one package
download their dependencies once; ``node_modules`` stays in the worktree between slices.
A ``forkwave/node`` check runs on the node the worktree pins (``checks.toolchain``), in
``forkwave/node:<version>`` (``checks.images``, built on demand).

On an engine that cannot see this machine's files (``files: copy``: ``tcp://``, ``ssh://``), the
worktree is copied into the container instead (``node_modules`` left out), the cache is a volume
on that engine, the check runs as the image's user, and its ``junit`` file is copied back.
"""
from __future__ import annotations

import os
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from checks import engines, images, offline, toolchain, tracking
from checks.engines import Engine, EngineGone
from checks.host import CANNOT_RUN, describe
from checks.model import ERROR, FAILED, PASSED, QUIET, Cancelled, Request, Result, cancelled, tail
from tasks.config import Engine as EngineConfig
from tasks.errors import ForkwaveError
from tasks.progress import Heartbeat, LastLine
from tasks.redact import LineRedactor, Redactor

# Mounted over the system bundle (Debian/Ubuntu/Alpine path): system tools, Debian's node,
# pip, git and Python trust it with no extra setting; the env vars cover tools with their own stores.
CA_IN_CONTAINER = "/etc/ssl/certs/ca-certificates.crt"
FILES_IN_CONTAINER = "/forkwave/files.txt"  # FORKWAVE_FILES_FROM, mounted read-only
STDIN_IN_CONTAINER = "/forkwave/stdin"      # a request's standard input, mounted read-only
# Every cache under /cache (the workspace's .forkwave/cache): reused across attempts, slices and runs.
CACHE_ENV = {
    "npm_config_cache": "/cache/npm",
    "YARN_CACHE_FOLDER": "/cache/yarn",            # Yarn 1
    "YARN_GLOBAL_FOLDER": "/cache/yarn-berry",     # Yarn 2+ keeps its cache in its global folder (else under $HOME)
    "YARN_ENABLE_GLOBAL_CACHE": "true",            # ... and uses it, whatever the repository's .yarnrc.yml says
    "npm_config_store_dir": "/cache/pnpm",         # pnpm's store (pnpm reads npm_config_*; pnpm_config_* from 11)
    "pnpm_config_store_dir": "/cache/pnpm",
    "PIP_CACHE_DIR": "/cache/pip",
    "NX_CACHE_DIRECTORY": "/cache/nx",             # Nx task outputs: an unchanged project is not rebuilt next slice
    "NX_WORKSPACE_DATA_DIRECTORY": "/cache/nx-workspace-data",  # ... and the database that indexes them (Nx 20+)
    "COREPACK_HOME": "/cache/corepack",            # the yarn/pnpm/npm releases corepack downloads
    "XDG_CACHE_HOME": "/cache/xdg",
    "HOME": "/tmp/home",
}
# Non-interactive, quiet, and nothing fetched from hosts outside the package registries.
TOOL_ENV = {
    "npm_config_update_notifier": "false",
    "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
    "COREPACK_ENABLE_AUTO_PIN": "0",               # never write packageManager into the worktree's package.json
    "COREPACK_DEFAULT_TO_LATEST": "0",             # no "latest" look-ups: the pinned or known-good release
    "COREPACK_NPM_REGISTRY": "https://registry.npmjs.org",  # Yarn 2+ from the npm registry, not repo.yarnpkg.com
    # Registry mirrors often serve packuments without npm's signatures, and corepack then refuses every
    # pinned release without a hash. The check's own dependencies are installed with the registry's
    # integrity hashes and no signature check, so the package manager gets the same; a check's env
    # can set COREPACK_INTEGRITY_KEYS to a JSON list of keys to verify again.
    "COREPACK_INTEGRITY_KEYS": "0",
    "YARN_ENABLE_TELEMETRY": "0",
    "NX_DAEMON": "false",
    "NX_NO_CLOUD": "true",
}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PINNED_NPM = "/usr/local/lib/forkwave/pinned-npm"  # corepack's npm shims, in every forkwave/node image


def ca_env(path: str = CA_IN_CONTAINER) -> dict[str, str]:
    """Make node, npm, pip, git, curl, python and openssl trust the mounted CA bundle."""
    return {"NODE_EXTRA_CA_CERTS": path, "npm_config_cafile": path, "PIP_CERT": path, "REQUESTS_CA_BUNDLE": path,
            "SSL_CERT_FILE": path, "CURL_CA_BUNDLE": path, "GIT_SSL_CAINFO": path}


def _owner(path: Path) -> str:
    """Run as the worktree's owner, so files the check writes are not left owned by root."""
    st = path.stat()
    return f"{st.st_uid}:{st.st_gid}"


def _nano_cpus(cpus: float | None) -> int | None:
    return None if cpus is None else int(cpus * 1e9)


class DockerRunner:
    """Container checks on one engine (``engine``; the local one by default). ``engines`` are all the run's
    engines: the first that answers picks node images, and images missing here are copied from them.

    An engine that stops answering while a check runs raises ``EngineGone`` (the check judged nothing);
    ``checks.runners.Dispatch`` runs it again on another engine.
    """

    def __init__(self, ca_bundle: Path | None = None, pass_env: tuple[str, ...] = (), network: str | None = None,
                 cache_dir: Path | None = None, client: object | None = None, engine: Engine | None = None,
                 engines: Sequence[Engine] = ()):
        if engine is None:
            engine = Engine(EngineConfig(), cache_dir, first=True)
            if client is not None:
                engine._client = client
        self.engine = engine
        self.engines = list(engines) or [engine]
        self.client = engine.client()  # EngineGone when it does not answer
        self.ca_bundle, self.pass_env, self.network = ca_bundle, pass_env, network
        self.cache_dir = cache_dir

    def _env(self, request: Request, toolchain_env: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: os.environ[k] for k in self.pass_env if k in os.environ}
        registry = env.get("NPM_CONFIG_REGISTRY") or env.get("npm_config_registry")
        env.update(CACHE_ENV)
        env.update(TOOL_ENV)
        if registry:  # a mirror the user passes through serves corepack's downloads too
            env["COREPACK_NPM_REGISTRY"] = registry.rstrip("/")
        if self.ca_bundle:
            env.update(ca_env())
        env.update(toolchain_env or {})
        env.update(request.env)
        if "FORKWAVE_FILES_FROM" in env:  # the host path means nothing inside: it is mounted here (_volumes)
            env["FORKWAVE_FILES_FROM"] = FILES_IN_CONTAINER
        return env

    def _toolchain(self, request: Request, log_dir: Path) -> tuple[str, dict[str, str], list[str]]:
        """The image to run, the env for the package manager the worktree pins, and what to say about it."""
        image = request.image or images.DEFAULT_NODE
        if not images.is_node_image(image):
            return image, {}, []
        tag_pin = toolchain.version_tag(images.split_image(image)[1])
        override, source = (request.node, "the check's node") if request.node else (tag_pin, f"image {image}")
        tc = toolchain.detect(toolchain.read_pin_files(request.cwd), override, source)
        lines = []
        if tc.node is None:
            if images.split_image(image)[1] == "latest":  # plain forkwave/node: the default node image
                image = images.DEFAULT_NODE
            lines.append(f"node: nothing pinned, {image}'s own")
        else:
            # one engine decides which image a pin takes, so every engine judges with the same node
            ref = engines.reference(self.engines)
            env = images.build_env(self.ca_bundle, request.network or self.network, self.pass_env) | ref.env()
            picked = images.ensure_node(ref.client(), tc.node.spec, env, log_dir / f"{request.name}.image.log")
            images.record(self.cache_dir, picked.image)
            image = picked.image
            built = ", built now from the npm registry" if picked.built else ""
            lines.append(f"node {picked.version} ({tc.node.source}: {tc.node.spec}) in {image}{built}")
        lines.append(f"package manager: {tc.manager.describe()}")
        lines += [f"note: {n}" for n in tc.notes]
        env = {"PATH": f"{PINNED_NPM}:{SYSTEM_PATH}"} if tc.manager.name == "npm" and tc.manager.version else {}
        return image, env, lines

    def _volumes(self, request: Request) -> dict[str, dict[str, str]]:
        mode = "rw" if request.cwd_writable else "ro"
        volumes = {} if self.engine.copies else {str(request.cwd): {"bind": "/workspace", "mode": mode}}
        cache = self.engine.cache() if self.cache_dir is not None else None
        if cache is not None:
            volumes[cache[1]] = {"bind": "/cache", "mode": "rw"}
        if self.engine.copies:  # the rest travels in the archive (copy_in), and the mounts come back (copy_out)
            return volumes
        for host, inside in request.mounts:
            volumes[host] = {"bind": inside, "mode": "rw"}
        if request.stdin is not None:
            volumes[str(request.stdin)] = {"bind": STDIN_IN_CONTAINER, "mode": "ro"}
        if self.ca_bundle:
            volumes[str(self.ca_bundle)] = {"bind": CA_IN_CONTAINER, "mode": "ro"}
        files = request.env.get("FORKWAVE_FILES_FROM")
        if files:
            volumes[files] = {"bind": FILES_IN_CONTAINER, "mode": "ro"}
        return volumes

    def run(self, request: Request) -> Result:
        try:
            return self._run(request)
        except (EngineGone, Cancelled):
            raise
        except Exception as exc:
            if engines.unreachable(exc):
                raise EngineGone(self.engine, f"stopped answering: {engines._first_line(exc)}") from None
            raise

    def _run(self, request: Request) -> Result:
        import docker.errors

        log_dir = request.log_dir
        assert log_dir is not None and request.command and (request.image or request.node)
        log_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        try:
            image, tool_env, header = self._toolchain(request, log_dir)
        except ForkwaveError as exc:
            return Result(request.name, ERROR, time.monotonic() - start, str(exc))
        if len(self.engines) > 1:
            try:  # an image another engine has is copied here, once: every engine runs the same image
                engines.ensure(self.engine, image, self.engines, _say)
            except ForkwaveError:
                pass  # on no engine: create says so below, as with one engine
        environment = self._env(request, tool_env)
        redactor = Redactor.for_env(environment)  # the container's env and forkwave's own
        try:
            container = self.client.containers.create(
                image, ["sh", "-c", f"mkdir -p \"$HOME\" && {_stdin(request)}{request.command}"],
                working_dir="/workspace", environment=environment, volumes=self._volumes(request),
                user=None if self.engine.copies else _owner(request.cwd), network_mode=request.network or self.network,
                nano_cpus=_nano_cpus(request.cpus), mem_limit=request.memory,
                labels={"forkwave": "check", "forkwave.check": request.name, "forkwave.attempt": request.label},
                name=f"forkwave-{request.label}-{request.name}-{os.getpid()}".replace(":", "-"))
        except docker.errors.ImageNotFound:
            where = f" on {self.engine.describe()}" if len(self.engines) > 1 else ""
            return Result(request.name, ERROR, 0.0, f"image {image} not found{where}; build it (`doit images`) "
                                                    "or pull it, then run again")
        except docker.errors.APIError as exc:
            if engines.unreachable(exc):
                raise
            return Result(request.name, ERROR, 0.0,
                          redactor.text(f"could not create the container: {exc.explanation or exc}"))
        timed_out, gone = False, True
        try:
            tracking.started("container", container.id, self.engine.record())
            if self.engine.copies:
                copy_in(container, request, self.ca_bundle)
            container.start()
            follow = _Follow(container, redactor)
            last = (lambda: QUIET) if request.quiet else follow.last
            with Heartbeat(f"{describe(request)} in {image}" + _on(self), last):
                code, timed_out = self._wait(container, request)
            follow.thread.join(timeout=5)  # the stream ends with the container: no reader outlives the check
            if code in engines.KILLED and not timed_out:  # killed by its engine going down, or by the check itself?
                time.sleep(engines.SETTLE)
                if not self.engine.answers():
                    raise EngineGone(self.engine, f"stopped answering while {request.name!r} ran (its container "
                                                  f"was stopped, exit {code})")
            stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            if code != 0:  # Yarn Berry leaves its build scripts' output in the container's /tmp
                stderr += _berry_build_logs(container, stdout + stderr)
            if self.engine.copies:
                copy_out(container, request)
            gone = False
        finally:
            _remove(container, keep_record=gone and not self.engine.answers())
        duration = time.monotonic() - start
        stdout, stderr = redactor.text(stdout), redactor.text(stderr)  # before anything is written
        (log_dir / f"{request.name}.stdout.log").write_text("".join(f"[forkwave] {h}\n" for h in header) + stdout)
        (log_dir / f"{request.name}.stderr.log").write_text(stderr)
        if timed_out:
            return Result(request.name, FAILED, duration,
                          f"timed out after {request.timeout:g} s (container killed and removed)", tail(stdout),
                          tail(stderr),
                          timed_out=True)
        if code in CANNOT_RUN:
            return Result(request.name, ERROR, duration, f"cannot run in {image} (exit {code}: "
                          f"{CANNOT_RUN[code]}): {request.command}; add the tool to the image or fix `run`",
                          tail(stdout), tail(stderr), exit_code=code)
        if code != 0:
            why = "; ".join(filter(None, [offline.summary(stdout + "\n" + stderr), _corepack_hint(stdout + stderr)]))
            return Result(request.name, FAILED, duration,
                          redactor.line(f"exit code {code} in {image}: {request.command}"
                                        + (f" ({why})" if why else "")),
                          tail(stdout), tail(stderr), exit_code=code)
        return Result(request.name, PASSED, duration, "", tail(stdout), tail(stderr), exit_code=code)

    def _wait(self, container: Any, request: Request) -> tuple[int, bool]:
        """(exit code, timed out); ``Cancelled`` when the request's cancel flag is set meanwhile (the container
        is killed at once, so its slot is free for a candidate that is wanted)."""
        import docker.errors
        import requests.exceptions

        with _KillOnCancel(container, request.cancel):
            try:
                code = container.wait(timeout=request.timeout)["StatusCode"], False
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
                if not _timed_out(exc):  # the engine itself is gone: run() says so
                    raise
                try:
                    container.kill()
                except docker.errors.APIError:  # it exited just as the wait gave up: nothing to kill
                    pass
                code = -1, True
        if cancelled(request):
            raise Cancelled(request.name)
        return code


class _KillOnCancel:
    """While a container runs: a watcher that kills it the moment ``cancel`` is set (no API polling)."""

    def __init__(self, container: Any, cancel: threading.Event | None):
        self.container, self.cancel, self.done = container, cancel, threading.Event()

    def __enter__(self) -> _KillOnCancel:
        if self.cancel is not None:
            threading.Thread(target=self._watch, name="cancel-watch", daemon=True).start()
        return self

    def _watch(self) -> None:
        assert self.cancel is not None
        while not self.done.is_set():
            if self.cancel.wait(0.1):
                _kill(self.container)
                return

    def __exit__(self, *exc: object) -> None:
        self.done.set()


def _stdin(request: Request) -> str:
    """The shell's standard input from the mounted file (the SDK's attach would need a socket kept open)."""
    return f"exec <{STDIN_IN_CONTAINER} && " if request.stdin is not None else ""


def _timed_out(exc: Exception) -> bool:
    """The wait gave up (the SDK reports a unix socket's read timeout as a ConnectionError), rather than the
    engine going away."""
    import requests.exceptions
    import urllib3.exceptions

    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    return any(isinstance(a, urllib3.exceptions.ReadTimeoutError) for a in exc.args) or "Read timed out" in str(exc)


def _on(runner: DockerRunner) -> str:
    return f" on {runner.engine.describe()}" if len(runner.engines) > 1 else ""


def _say(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def _kill(container: Any) -> None:
    try:
        container.kill()
    except Exception:  # gone already
        pass


def _remove(container: Any, keep_record: bool) -> None:
    """Always remove the container; when its engine is gone, the record stays for the next run to reap."""
    try:
        container.remove(force=True)
    except Exception:
        if keep_record:
            return
    tracking.finished("container", container.id)


# --- an engine that cannot see this machine's files: the worktree travels in an archive --------------

SKIP_DIRS = ("node_modules",)  # installed inside, from the engine's cache volume: not copied each time


def archive(request: Request, ca_bundle: Path | None) -> IO[bytes]:
    """A tar of what a mounting engine would mount: the worktree (without ``.git`` and ``node_modules``)
    at ``workspace/``, the file list and the CA bundle at their places. Spooled to disk, not held in memory."""
    out = tempfile.TemporaryFile()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(str(request.cwd), arcname="workspace", filter=_skip if request.cwd_writable else _skip_state)
        files = request.env.get("FORKWAVE_FILES_FROM")
        if files:
            tar.add(files, arcname=FILES_IN_CONTAINER.lstrip("/"))
        if ca_bundle:
            tar.add(str(ca_bundle), arcname=CA_IN_CONTAINER.lstrip("/"))
        for host, inside in request.mounts:
            tar.add(host, arcname=inside.lstrip("/"), filter=_owned_by_root)
        if request.stdin is not None:
            tar.add(str(request.stdin), arcname=STDIN_IN_CONTAINER.lstrip("/"))
    out.seek(0)
    return out


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _skip_state(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """A command source's folder (the config's, read-only): without the workspace's own state, never an input."""
    return None if info.name.split("/")[1:2] in ([".forkwave"], ["reports"]) else _skip(info)


def _skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = info.name.split("/")
    if parts[1:2] == [".git"] or any(p in SKIP_DIRS for p in parts[1:]):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def copy_in(container: Any, request: Request, ca_bundle: Path | None) -> None:
    with archive(request, ca_bundle) as data:
        container.put_archive("/", data)


def copy_out(container: Any, request: Request) -> None:
    """The files forkwave reads after the check (its ``junit:`` report), back into the worktree; and what a
    command source's entrypoint wrote into its mounts (``$FORKWAVE_OUT``), back into their host folders."""
    import docker.errors

    for host, inside in request.mounts:
        _bring_back(container, inside, Path(host))

    for rel in request.outputs:
        try:
            stream, _ = container.get_archive(f"/workspace/{rel}")
        except docker.errors.NotFound:
            continue  # not written: the reader says so
        with tempfile.TemporaryFile() as buf:
            for chunk in stream:
                buf.write(chunk)
            buf.seek(0)
            with tarfile.open(fileobj=buf) as tar:
                member = next((m for m in tar if m.isfile()), None)
                data = tar.extractfile(member).read() if member is not None else None  # type: ignore[union-attr]
        if data is not None:
            target = request.cwd / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def _bring_back(container: Any, inside: str, host: Path) -> None:
    """A folder of the container into ``host`` (its contents; only regular files and folders, never a link or a
    path outside it: tarfile's ``data`` filter)."""
    import docker.errors

    try:
        stream, _ = container.get_archive(inside.rstrip("/") + "/.")
    except docker.errors.NotFound:
        return
    with tempfile.TemporaryFile() as buf:
        for chunk in stream:
            buf.write(chunk)
        buf.seek(0)
        with tarfile.open(fileobj=buf) as tar:
            safe = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            tar.extractall(host, members=safe, filter="data")


class _Follow:
    """The heartbeat's last output line: the container's logs followed on a thread, redacted line by line
    (a tail read when a beat is due could start inside a private key and miss that it is one)."""

    def __init__(self, container: object, redactor: Redactor):
        self.container, self.lines, self.last = container, LineRedactor(redactor), LastLine()
        self.thread = threading.Thread(target=self._pump, name=f"logs {getattr(container, 'id', '')[:12]}",
                                       daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        try:
            for chunk in self.container.logs(stdout=True, stderr=True, stream=True, follow=True):  # type: ignore[attr-defined]
                self.last.feed(self.lines.feed_bytes(chunk).decode("utf-8", "replace"))
        except Exception:  # the container is gone: the heartbeat keeps the last line it had
            pass


def _berry_build_logs(container: object, output: str, limit: int = 65536) -> str:
    """The build logs Yarn Berry names in ``output``, read from the stopped container (before it is removed)."""
    import io
    import tarfile

    import docker.errors

    text = ""
    for package, path in offline.berry_build_logs(output)[:10]:
        try:
            stream, _ = container.get_archive(path)  # type: ignore[attr-defined]
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                data = tar.extractfile(member).read(limit) if member and member.isfile() else b""  # type: ignore[union-attr]
        except (docker.errors.APIError, tarfile.TarError, OSError):
            continue
        text += f"\n[forkwave] build log of {package}@ ({path}):\n" + data.decode("utf-8", "replace")
    return text


def _corepack_hint(output: str) -> str:
    """Corepack refuses a package manager release the registry serves without signatures."""
    if "No compatible signature found in package metadata" in output or "not signed by any trusted keys" in output:
        return ("corepack could not verify the package manager's signature: pin it with a hash "
                "(packageManager: name@x.y.z+sha512.<hash>) or set COREPACK_INTEGRITY_KEYS=0 in the check's env")
    return ""
