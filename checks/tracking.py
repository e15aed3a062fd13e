"""What a run has started and not yet finished, so the next run can clean up after a kill.

A check runs in its own process group (so a timeout can kill all of it), which also means
it survives a SIGKILL of doit. Runners record each process group, container and compose
project here while it runs; the next run, holding the workspace lock, reaps what is left.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

_DIR: Path | None = None


def use(directory: Path | None) -> None:
    global _DIR
    _DIR = directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)


def started(kind: str, ident: str | int, engine: dict[str, Any] | None = None) -> None:
    """Record what started; ``engine`` (a container's or stack's) says where, so the next run can reach it."""
    if _DIR is not None:
        (_DIR / f"{kind}-{ident}").write_text(json.dumps(engine) if engine else "")


def finished(kind: str, ident: str | int) -> None:
    if _DIR is not None:
        (_DIR / f"{kind}-{ident}").unlink(missing_ok=True)


def reap(directory: Path) -> list[str]:
    """Kill process groups, remove containers and compose projects a killed run left behind."""
    if not directory.is_dir():
        return []
    reaped = []
    for entry in sorted(directory.iterdir()):
        kind, _, ident = entry.name.partition("-")
        if kind == "pgid" and ident.isdigit():
            try:
                os.killpg(int(ident), signal.SIGKILL)
                reaped.append(f"process group {ident}")
            except (ProcessLookupError, PermissionError):
                pass
        elif kind in ("container", "compose"):
            if _remove_docker(kind, ident, _where(entry)):
                reaped.append(f"{kind} {ident}")
        entry.unlink(missing_ok=True)
    return reaped


def _where(entry: Path) -> dict[str, Any] | None:
    try:
        text = entry.read_text()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def _client(engine: dict[str, Any] | None) -> Any:
    """A client for the engine a record names (the local default when it names none)."""
    import docker

    if not engine or not (engine.get("url") or engine.get("context")):
        return docker.from_env()
    from checks.engines import Engine
    from tasks.config import Engine as EngineConfig

    cert = engine.get("cert_path")
    return Engine(EngineConfig(engine.get("name") or "engine", engine.get("url"), engine.get("context"),
                               cert_path=Path(cert) if cert else None,
                               tls_verify=bool(engine.get("tls_verify", True)))).client()


def _remove_docker(kind: str, ident: str, engine: dict[str, Any] | None = None) -> bool:
    try:
        client = _client(engine)
        if kind == "container":
            client.containers.get(ident).remove(force=True)
        else:
            remove_leftovers(ident, client)
        return True
    except Exception:
        return False


def remove_leftovers(project: str, client: Any = None) -> None:
    """Containers, networks and volumes still labelled with the project, through the SDK."""
    try:
        client = client or _client(None)
    except Exception:
        return
    label = {"label": f"com.docker.compose.project={project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=label):
        network.remove()
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
