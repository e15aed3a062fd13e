"""Docker-only fixtures: a real engine or nothing (skip locally, fail in CI), and no leftovers.

Every test under ``tests/docker/`` is marked ``docker`` and needs the engine and the
locally built images (``bash .ci/docker.sh``). Without them the test is skipped on a
developer machine and fails under ``CI=true``: in CI a missing engine is a broken
pipeline, never a reason to skip. After each test, containers labelled
``forkwave=check`` and compose projects ``fw-*`` (containers, networks, volumes) that the
test created must all be gone.

Helpers (images, requests, repository contents) live in ``dockerkit.py``; the shared
repository fixtures come from ``tests/conftest.py`` as usual (``from conftest import ...``).
"""
from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockerkit import engine_problem

HERE = Path(__file__).resolve().parent
ROOT_CONFTEST = HERE.parent / "conftest.py"
CHECK_LABEL = "forkwave=check"
PROJECT_LABEL = "com.docker.compose.project"


def pytest_plugin_registered(plugin: object, manager: object) -> None:
    """Keep ``import conftest`` meaning ``tests/conftest.py`` for every test module.

    Without an ``__init__.py``, pytest imports this file as module ``conftest`` and drops the
    root one from ``sys.modules`` first, so ``from conftest import run_doit`` in any module
    collected later would find this file. pluggy replays this hook for the plugins registered
    before us, the root conftest among them: put it back.
    """
    path = getattr(plugin, "__file__", None)
    if path and Path(path).resolve() == ROOT_CONFTEST:
        sys.modules["conftest"] = plugin  # type: ignore[assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.docker)


# --- the engine -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def docker_client() -> Any:
    """A pinged ``docker.DockerClient``: skipped without an engine, a failure in CI."""
    client, problem = engine_problem()
    if problem is None:
        return client
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the docker tests must run, but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(autouse=True)
def _engine(docker_client: Any) -> None:
    """Every test of this folder needs the engine."""


# --- nothing left behind ----------------------------------------------------------------

def _resources(client: Any) -> dict[str, Any]:
    """id -> SDK object for check containers and fw-* compose containers, networks, volumes."""
    def ours(obj: Any) -> bool:
        return (obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}).get(
            PROJECT_LABEL, "").startswith("fw-")

    found: dict[str, Any] = {}
    for c in client.containers.list(all=True, filters={"label": CHECK_LABEL}):
        found[f"container {c.name}"] = c
    for c in client.containers.list(all=True, filters={"label": PROJECT_LABEL}):
        if ours(c):
            found[f"container {c.name}"] = c
    for n in client.networks.list(filters={"label": PROJECT_LABEL}):
        if ours(n):
            found[f"network {n.name}"] = n
    for v in client.volumes.list(filters={"label": PROJECT_LABEL}):
        if ours(v):
            found[f"volume {v.name}"] = v
    return found


def _made_by_this_session(obj: Any, basetemp: Path) -> bool:
    """Another session may share the engine (locally): count only what points into our tmp dirs
    or carries our pid (compose project names end with the pid of the process that ran them)."""
    attrs = obj.attrs
    labels = attrs.get("Labels") or attrs.get("Config", {}).get("Labels") or {}
    if labels.get(PROJECT_LABEL, "").endswith(f"-{os.getpid()}"):
        return True
    sources = [m.get("Source", "") for m in attrs.get("Mounts", ())]
    sources.append(labels.get(f"{PROJECT_LABEL}.working_dir", ""))
    return any(s and Path(s).is_relative_to(basetemp) for s in sources)


@pytest.fixture(autouse=True)
def no_leftovers(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the test if it left a check container or an fw-* compose resource behind (they are removed)."""
    before = set(_resources(docker_client))
    yield
    basetemp = tmp_path_factory.getbasetemp().resolve()
    strict = os.environ.get("CI") == "true"  # CI runs one session at a time: anything new is ours
    left = {k: v for k, v in _resources(docker_client).items()
            if k not in before and (strict or _made_by_this_session(v, basetemp))}
    for obj in left.values():  # don't let one leak fail every later test too
        with contextlib.suppress(Exception):
            obj.remove() if hasattr(obj, "connect") else obj.remove(force=True)  # networks take no force
    assert not left, f"left behind: {sorted(left)}"


# --- small shared fixtures --------------------------------------------------------------

@pytest.fixture
def label() -> str:
    """A Request.label unique to the test: container and compose project names carry it."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "wt"
    path.mkdir()
    return path


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


# --- a second engine on this machine (tests/dockerd.py) ------------------------------------------

def _second_engine_problem() -> str | None:
    from dockerd import problem

    return problem()


def _need_second_engine() -> None:
    why = _second_engine_problem()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the two-engine tests must run, but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def second_engine(docker_client: Any) -> Iterator[Any]:
    """A second dockerd for the session, in its own network namespace, with the base and python images."""
    from dockerd import Dockerd

    _need_second_engine()
    with Dockerd.started(images=["forkwave/base:bookworm", "forkwave/python:3.11"]) as daemon:
        yield daemon


@pytest.fixture
def spare_engine(docker_client: Any) -> Iterator[Any]:
    """A second dockerd of the test's own (a test may stop it), with the base image."""
    from dockerd import Dockerd

    _need_second_engine()
    with Dockerd.started(images=["forkwave/base:bookworm"]) as daemon:
        yield daemon
