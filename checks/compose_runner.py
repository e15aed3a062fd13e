"""Run a docker compose test stack: build, up -d, run --rm <service> (the verdict), always down.

``docker compose`` (v2) when the plugin is there, else ``docker-compose`` (v1). Each slice
attempt gets its own project name, so stacks never collide; ``down -v --remove-orphans``
runs after success, failure and timeout alike, and anything still labelled with the
project afterwards (one-off ``run`` containers, networks, volumes) is removed through
the Docker SDK.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from checks import tracking
from checks.engines import Engine, EngineGone
from checks.tracking import remove_leftovers
from checks.host import RedactedLog, describe, run_group
from checks.model import FAILED, PASSED, Request, Result, tail
from tasks.errors import ForkwaveError
from tasks.progress import Heartbeat, LastLine
from tasks.redact import Redactor

DOWN_TIMEOUT = 120.0


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise ForkwaveError("neither `docker compose` nor `docker-compose` is installed; install one to run compose checks")


def project_name(label: str, check: str) -> str:
    raw = f"fw-{label}-{check}-{os.getpid()}".lower()
    return re.sub(r"[^a-z0-9_-]", "-", raw)


class ComposeRunner:
    """Compose interpolates from forkwave's own environment (so ``pass_env`` variables are there)
    plus ``FORKWAVE_CA_BUNDLE``, the host CA bundle's path, so a compose file can mount it:
    ``- ${FORKWAVE_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro``."""

    def __init__(self, ca_bundle: Path | None = None, engine: Engine | None = None, **_: object) -> None:
        self.base = compose_command()
        self.ca_bundle = ca_bundle
        self.engine = engine   # None: the local engine, as the environment names it
        self.client = engine.client() if engine is not None else None   # EngineGone when it does not answer

    def run(self, request: Request) -> Result:
        assert request.log_dir is not None and request.compose and request.service
        request.log_dir.mkdir(parents=True, exist_ok=True)
        project = project_name(request.label, request.name)
        tracking.started("compose", project, self.engine.record() if self.engine else None)
        cmd = [*self.base, "-p", project, "-f", request.compose]
        env = {**os.environ, **request.env, **(self.engine.env() if self.engine else {})}
        env = {k: v for k, v in env.items() if v != "" or k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
        if self.ca_bundle:
            env["FORKWAVE_CA_BUNDLE"] = str(self.ca_bundle)
        deadline = time.monotonic() + request.timeout
        start = time.monotonic()
        out_path = request.log_dir / f"{request.name}.stdout.log"
        err_path = request.log_dir / f"{request.name}.stderr.log"
        verdict: tuple[str, str] = (FAILED, "")
        gone = False
        redactor = Redactor.for_env(env)  # service logs too: compose interpolates this environment into them
        last = LastLine()  # build, up, the test service's output: the heartbeat's last line
        with RedactedLog(out_path, redactor, last) as out, RedactedLog(err_path, redactor, last) as err, \
                Heartbeat(f"{describe(request)}, compose", last):
            try:
                verdict = self._steps(cmd, request, env, deadline, out, err)
            finally:
                out.write(f"\n--- service logs ({project}) ---\n".encode())
                out.flush()
                run_group([*cmd, "logs", "--no-color"], request.cwd, env, 60, out, err)
                run_group([*cmd, "down", "-v", "--remove-orphans", "--rmi", "local", "-t", "5"], request.cwd, env,
                          DOWN_TIMEOUT, out, err)
                gone = self.engine is not None and not self.engine.answers()
                if not gone:  # else the record stays: the next run reaps the stack where it ran
                    remove_leftovers(project, self.client)
                    tracking.finished("compose", project)
        if verdict[0] != PASSED and gone:
            raise EngineGone(self.engine, f"stopped answering while {request.name!r} ran")  # type: ignore[arg-type]
        stdout = out_path.read_text("utf-8", "replace")
        stderr = err_path.read_text("utf-8", "replace")
        return Result(request.name, verdict[0], time.monotonic() - start, redactor.line(verdict[1]), tail(stdout),
                      tail(stderr))

    def _steps(self, cmd: list[str], request: Request, env: dict[str, str], deadline: float,
               out: object, err: object) -> tuple[str, str]:
        services = subprocess.run([*cmd, "config", "--services"], cwd=request.cwd, env=env, capture_output=True,
                                  text=True)
        if services.returncode != 0:
            why = services.stderr.strip().splitlines() or [f"exit code {services.returncode}"]
            return FAILED, f"compose file {request.compose} is invalid: {why[-1]}"
        others = [s for s in services.stdout.split() if s != request.service]
        steps = [("build", [*cmd, "build"]),
                 ("up", [*cmd, "up", "-d", *others] if others else None),
                 ("run", [*cmd, "run", "--rm", "-T", request.service])]
        for step, argv in steps:
            if argv is None:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return FAILED, f"timed out after {request.timeout:g} s before `{step}` (stack taken down)"
            code, timed_out = run_group(argv, request.cwd, env, remaining, out, err, request.cancel)  # type: ignore[arg-type]
            if timed_out:
                return FAILED, f"timed out after {request.timeout:g} s during `{step}` (stack taken down)"
            if code != 0:
                what = f"test service {request.service} exited {code}" if step == "run" else f"`{step}` exited {code}"
                return FAILED, what
        return PASSED, ""
