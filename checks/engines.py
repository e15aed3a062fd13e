"""Docker engines: where container and compose checks run, what each holds, and when one is gone.

``containers.engines`` lists ``DOCKER_HOST``-style URLs (``unix://``, ``tcp://`` with TLS,
``ssh://``) or Docker contexts, each with its ``slots``; without it there is one engine, the
local one (``docker.from_env()``). An ``Engine`` keeps what forkwave learnt about it during the
run: whether it still answers (``down`` says why not), the images it is known to hold, and
the cache its containers mount — a folder on this machine for an engine that mounts the
worktree, a volume on the engine for one that gets the worktree copied in.

Images are made alike on every engine: an image missing on one is copied there from an engine
that has it (``docker save`` | ``docker load`` through the SDK, streamed), once per run; the
first engine that answers is the **reference** that resolves which ``forkwave/node`` image a
pin takes, so two engines never judge one tree with two different nodes.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tasks.config import Engine as EngineConfig
from tasks.errors import ForkwaveError
from tasks.hashing import digest

PING_TIMEOUT = 10     # seconds an engine has to answer a ping before it counts as gone
API_TIMEOUT = 120     # seconds for one API call (a container's wait has its own)
KILLED = (137, 143)   # 128 + SIGKILL / SIGTERM: what a container stopped by its engine's shutdown exits with
SETTLE = 1.0          # seconds an engine that just killed a container gets to show whether it is shutting down


class EngineGone(Exception):
    """The engine stopped answering while a check ran on it: the check judged nothing."""

    def __init__(self, engine: Engine, why: str):
        super().__init__(why)
        self.engine, self.why = engine, why


def unreachable(exc: BaseException) -> bool:
    """Does ``exc`` say the engine is out of reach (not that a request was refused)?"""
    import docker.errors
    import requests.exceptions
    import urllib3.exceptions

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                        urllib3.exceptions.ProtocolError, ConnectionError, BrokenPipeError)):
        return True
    if isinstance(exc, docker.errors.APIError):  # a daemon on its way down answers 5xx before it stops listening
        text = str(exc.explanation or exc).lower()
        return exc.status_code in (502, 503) or "shutting down" in text or "is restarting" in text
    return (isinstance(exc, docker.errors.DockerException)
            and "error while fetching server api version" in str(exc).lower())


class Engine:
    """One engine of the run: its client (made on first use), its slots, and what it holds."""

    def __init__(self, config: EngineConfig, cache_root: Path | None = None, first: bool = False):
        self.config, self.name, self.slots = config, config.name, config.slots
        self.first = first
        self.cache_root = cache_root   # the workspace's .forkwave/cache
        self.down = ""                      # why it stopped answering; empty while it answers
        self.images: set[str] = set()       # known to be on it (checked or copied there this run)
        self.lock = threading.Lock()        # one image copy at a time onto it
        self._client: Any = None
        self._host: str | None = None

    def __repr__(self) -> str:
        return f"Engine({self.name!r}, {self.config.endpoint})"

    # --- where it is --------------------------------------------------------------------------------

    def describe(self) -> str:
        """``engine 'build-2' (ssh://ci@build-2)``: for messages and reports."""
        return f"engine {self.name!r} ({self.config.endpoint})"

    @property
    def host(self) -> str | None:
        """The endpoint URL (a context's is read from the context), or None for the local default."""
        if self._host is None and self.config.context:
            from docker.context import ContextAPI

            found = ContextAPI.get_context(self.config.context)
            if found is None:
                raise ForkwaveError(f"containers.engines: engine {self.name!r}: no Docker context named "
                                    f"{self.config.context!r} (docker context ls)")
            self._host = found.Host
        return self._host if self.config.context else self.config.url

    @property
    def copies(self) -> bool:
        """Is the worktree copied into its containers (it cannot see this machine's files)?"""
        files = self.config.files or ("mount" if (self.host or "unix://").startswith("unix://") else "copy")
        return files == "copy"

    def env(self) -> dict[str, str]:
        """What the docker CLI needs to talk to this engine (compose, image build scripts)."""
        c = self.config
        if c.context:
            return {"DOCKER_CONTEXT": c.context, "DOCKER_HOST": ""}
        if c.url is None:  # the local default: whatever this process's environment says
            return {}
        env = {"DOCKER_HOST": c.url, "DOCKER_CONTEXT": ""}
        if c.cert_path is not None:
            env |= {"DOCKER_CERT_PATH": str(c.cert_path), "DOCKER_TLS_VERIFY": "1" if c.tls_verify else ""}
        return env

    # --- talking to it ------------------------------------------------------------------------------

    def client(self) -> Any:
        """The SDK client (made and pinged once); ``EngineGone`` when the engine does not answer."""
        if self._client is None:
            try:
                client = self._connect()
                client.ping()
            except ForkwaveError:
                raise
            except Exception as exc:
                raise EngineGone(self, f"does not answer: {_first_line(exc)}") from None
            self._client = client
        return self._client

    def record(self) -> dict[str, Any]:
        """Where it is, as ``checks.tracking`` keeps it for the next run to reach (no secret: paths and URLs)."""
        c = self.config
        return {"name": c.name, "url": c.url, "context": c.context,
                "cert_path": str(c.cert_path) if c.cert_path else None, "tls_verify": c.tls_verify}

    def _connect(self, timeout: int = API_TIMEOUT) -> Any:
        import docker

        c = self.config
        if c.url is None and c.context is None:
            return docker.from_env(timeout=timeout)
        if c.context:
            from docker.context import ContextAPI

            ctx = ContextAPI.get_context(c.context)
            if ctx is None:
                raise ForkwaveError(f"containers.engines: engine {self.name!r}: no Docker context named "
                                    f"{c.context!r} (docker context ls)")
            return docker.DockerClient(base_url=ctx.Host, tls=ctx.TLSConfig or False, timeout=timeout,
                                       use_ssh_client=str(ctx.Host).startswith("ssh://"))
        tls: Any = False
        if c.cert_path is not None:
            from docker.tls import TLSConfig

            tls = TLSConfig(client_cert=(str(c.cert_path / "cert.pem"), str(c.cert_path / "key.pem")),
                            ca_cert=str(c.cert_path / "ca.pem"), verify=c.tls_verify)
        # ssh:// through the system's ssh client: ~/.ssh/config, agents and known_hosts as the docker CLI uses them
        url = c.url or ""
        return docker.DockerClient(base_url=url, tls=tls, timeout=timeout, use_ssh_client=url.startswith("ssh://"))

    def answers(self) -> bool:
        """A ping within ``PING_TIMEOUT``, on a fresh connection (the pooled one may be dead)."""
        if self.down:
            return False
        try:
            client = self._connect(PING_TIMEOUT)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False

    def mark_down(self, why: str) -> None:
        self.down = self.down or why

    # --- what it holds ------------------------------------------------------------------------------

    def has(self, image: str) -> bool:
        import docker.errors

        if image in self.images:
            return True
        try:
            self.client().images.get(image)
        except docker.errors.ImageNotFound:
            return False
        self.images.add(image)
        return True

    def cache(self) -> tuple[str, str] | None:
        """What its containers mount at ``/cache``: ``("bind", folder)`` on this machine, or ``("volume", name)``
        on the engine for one that copies the worktree. The first engine keeps the workspace's
        ``.forkwave/cache`` (as with one engine); each other engine has its own, so two engines' package
        managers never write one cache at once."""
        if self.cache_root is None:
            return None
        if self.copies:
            return "volume", f"forkwave-cache-{digest(str(self.cache_root.resolve()))[:12]}"
        folder = self.cache_root if self.first else self.cache_root / f"engine-{_safe(self.name)}"
        folder.mkdir(parents=True, exist_ok=True)
        return "bind", str(folder)


def from_config(configs: Sequence[EngineConfig], cache_root: Path | None = None) -> list[Engine]:
    return [Engine(c, cache_root, first=i == 0) for i, c in enumerate(configs)]


def reference(engines: Sequence[Engine]) -> Engine:
    """The first engine that answers: it decides which image a node pin takes."""
    problems = []
    for engine in engines:
        if engine.down:
            problems.append(f"{engine.name}: {engine.down}")
            continue
        try:
            engine.client()
            return engine
        except EngineGone as exc:
            engine.mark_down(exc.why)
            problems.append(f"{engine.name}: {exc.why}")
    raise EngineGone(engines[0], "no Docker engine answers (" + "; ".join(problems) + ")")


# --- images alike on every engine ------------------------------------------------------------------

def full_tag(image: str) -> str:
    """``name`` is ``name:latest``, as docker reads it (a digest or a tag is kept).

    >>> full_tag("forkwave/python:3.11"), full_tag("localhost:5000/app"), full_tag("app@sha256:ab")
    ('forkwave/python:3.11', 'localhost:5000/app:latest', 'app@sha256:ab')
    """
    if "@" in image:
        return image
    head, sep, tag = image.rpartition(":")
    return image if sep and "/" not in tag else f"{image}:latest"


def ensure(engine: Engine, image: str, engines: Sequence[Engine], say: Callable[[str], None] = lambda s: None) -> None:
    """Make ``image`` present on ``engine``: there already, or copied from an engine that has it (once).

    Raises ``ForkwaveError`` when no engine has it (the caller's message says how to build it) and
    ``EngineGone`` when ``engine`` stops answering meanwhile.
    """
    tag = full_tag(image)
    with engine.lock:
        if _present(engine, tag):
            return
        for source in engines:
            if source is engine or source.down:
                continue
            try:
                if not source.has(tag):
                    continue
            except EngineGone:
                continue
            say(f"images: copying {tag} from {source.describe()} to {engine.describe()}")
            transfer(source, engine, tag)
            engine.images.add(tag)
            return
    raise ForkwaveError(f"image {tag} not found on {engine.describe()} nor on any other engine")


def _present(engine: Engine, tag: str) -> bool:
    try:
        return engine.has(tag)
    except EngineGone:
        raise
    except Exception as exc:
        if unreachable(exc):
            raise EngineGone(engine, f"stopped answering: {_first_line(exc)}") from None
        raise


def transfer(source: Engine, target: Engine, tag: str) -> None:
    """``docker save`` on ``source`` streamed into ``docker load`` on ``target`` (never a whole tarball in memory)."""
    try:
        stream = source.client().images.get(tag).save(named=tag)
    except Exception as exc:
        if unreachable(exc):
            raise ForkwaveError(f"could not copy {tag}: {source.describe()} stopped answering") from None
        raise
    try:
        for _ in target.client().api.load_image(stream, quiet=True):  # a generator: sent chunked, as it comes
            pass
    except Exception as exc:
        if unreachable(exc):
            raise EngineGone(target, f"stopped answering while {tag} was copied to it: {_first_line(exc)}") from None
        raise ForkwaveError(f"could not copy {tag} to {target.describe()}: {_first_line(exc)}") from None
    if not target.has(tag):
        raise ForkwaveError(f"copied {tag} to {target.describe()}, but it does not list it")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


