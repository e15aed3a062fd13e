"""What a run has started and not yet finished, so the next run can clean up after a kill.

A check runs in its own process group (so a timeout can kill all of it), which also means
it survives a SIGKILL of doit. Runners record each process group, container and compose
project here while it runs; the next run, holding the workspace lock, reaps what is left.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

_DIR: Path | None = None


def use(directory: Path | None) -> None:
    global _DIR
    _DIR = directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)


def started(kind: str, ident: str | int) -> None:
    if _DIR is not None:
        (_DIR / f"{kind}-{ident}").touch()


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
            if _remove_docker(kind, ident):
                reaped.append(f"{kind} {ident}")
        entry.unlink(missing_ok=True)
    return reaped


def _remove_docker(kind: str, ident: str) -> bool:
    try:
        import docker

        client = docker.from_env()
        if kind == "container":
            client.containers.get(ident).remove(force=True)
        else:
            remove_leftovers(ident)
        return True
    except Exception:
        return False


def remove_leftovers(project: str) -> None:
    """Containers, networks and volumes still labelled with the project, through the SDK."""
    try:
        import docker

        client = docker.from_env()
    except Exception:
        return
    label = {"label": f"com.docker.compose.project={project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=label):
        network.remove()
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
