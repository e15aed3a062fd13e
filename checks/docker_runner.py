"""Run a check in a container (Docker SDK): the worktree at /workspace, as the invoking user.

The container is always removed: on success, failure, timeout and Ctrl-C. Package
manager caches live in a host folder mounted at /cache, so ten slices of one package
download their dependencies once; ``node_modules`` stays in the worktree between slices.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from checks import tracking
from checks.host import CANNOT_RUN
from checks.model import ERROR, FAILED, PASSED, Request, Result, tail
from tasks.redact import Redactor

# Mounted over the system bundle (Debian/Ubuntu/Alpine path): system tools, Debian's node,
# pip, git and Python trust it with no extra setting; the env vars cover tools with their own stores.
CA_IN_CONTAINER = "/etc/ssl/certs/ca-certificates.crt"
CACHE_ENV = {
    "npm_config_cache": "/cache/npm",
    "YARN_CACHE_FOLDER": "/cache/yarn",
    "npm_config_store_dir": "/cache/pnpm",
    "PIP_CACHE_DIR": "/cache/pip",
    "XDG_CACHE_HOME": "/cache/xdg",
    "HOME": "/tmp/home",
    "npm_config_update_notifier": "false",
}


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
    def __init__(self, ca_bundle: Path | None = None, pass_env: tuple[str, ...] = (), network: str | None = None,
                 cache_dir: Path | None = None, client: object | None = None):
        import docker

        self.client = client or docker.from_env()
        self.client.ping()  # type: ignore[attr-defined]
        self.ca_bundle, self.pass_env, self.network = ca_bundle, pass_env, network
        self.cache_dir = cache_dir

    def _env(self, request: Request) -> dict[str, str]:
        env = {k: os.environ[k] for k in self.pass_env if k in os.environ}
        env.update(CACHE_ENV)
        if self.ca_bundle:
            env.update(ca_env())
        env.update(request.env)
        env.pop("FORKWAVE_FILES", None) if len(env.get("FORKWAVE_FILES", "")) > 60_000 else None
        return env

    def _volumes(self, request: Request) -> dict[str, dict[str, str]]:
        volumes = {str(request.cwd): {"bind": "/workspace", "mode": "rw"}}
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            volumes[str(self.cache_dir)] = {"bind": "/cache", "mode": "rw"}
        if self.ca_bundle:
            volumes[str(self.ca_bundle)] = {"bind": CA_IN_CONTAINER, "mode": "ro"}
        return volumes

    def run(self, request: Request) -> Result:
        import docker.errors
        import requests.exceptions

        log_dir = request.log_dir
        assert log_dir is not None and request.image and request.command
        log_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        environment = self._env(request)
        redactor = Redactor.for_env(environment)  # the container's env and forkwave's own
        try:
            container = self.client.containers.create(  # type: ignore[attr-defined]
                request.image, ["sh", "-c", f"mkdir -p \"$HOME\" && {request.command}"],
                working_dir="/workspace", environment=environment, volumes=self._volumes(request),
                user=_owner(request.cwd), network_mode=request.network or self.network,
                nano_cpus=_nano_cpus(request.cpus), mem_limit=request.memory,
                labels={"forkwave": "check", "forkwave.check": request.name, "forkwave.attempt": request.label},
                name=f"forkwave-{request.label}-{request.name}-{os.getpid()}".replace(":", "-"))
        except docker.errors.ImageNotFound:
            return Result(request.name, ERROR, 0.0, f"image {request.image} not found; build it (`doit images`) "
                                                    "or pull it, then run again")
        except docker.errors.APIError as exc:
            return Result(request.name, ERROR, 0.0,
                          redactor.text(f"could not create the container: {exc.explanation or exc}"))
        timed_out = False
        try:
            tracking.started("container", container.id)
            container.start()
            try:
                code = container.wait(timeout=request.timeout)["StatusCode"]
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out, code = True, -1
                try:
                    container.kill()
                except docker.errors.APIError:  # it exited just as the wait gave up: nothing to kill
                    pass
            stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        finally:
            container.remove(force=True)
            tracking.finished("container", container.id)
        duration = time.monotonic() - start
        stdout, stderr = redactor.text(stdout), redactor.text(stderr)  # before anything is written
        (log_dir / f"{request.name}.stdout.log").write_text(stdout)
        (log_dir / f"{request.name}.stderr.log").write_text(stderr)
        if timed_out:
            return Result(request.name, FAILED, duration,
                          f"timed out after {request.timeout:g} s (container killed and removed)", tail(stdout), tail(stderr),
                          timed_out=True)
        if code in CANNOT_RUN:
            return Result(request.name, ERROR, duration, f"cannot run in {request.image} (exit {code}: "
                          f"{CANNOT_RUN[code]}): {request.command}; add the tool to the image or fix `run`",
                          tail(stdout), tail(stderr))
        if code != 0:
            return Result(request.name, FAILED, duration,
                          redactor.line(f"exit code {code} in {request.image}: {request.command}"), tail(stdout), tail(stderr))
        return Result(request.name, PASSED, duration, "", tail(stdout), tail(stderr))
