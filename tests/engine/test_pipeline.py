"""The one slice pipeline, in process: real repositories, a fake check runner (the ``Runner`` seam), any mode.

``doit plan`` prepares the workspace for real (fetch, drift, plan); then ``pipeline.run`` takes a slice
end to end — guard, start, the mode's step, landing, the outcome — with a runner that judges the
worktree it is given and records every request, so a test can count check runs without a process.
A toy mode, one class here, goes through the same pipeline: adding a mode is a module and an entry
in ``tasks.modes.registry.MODES``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checks.model import FAILED, PASSED, Request, Result
from conftest import run_doit
from slicekit import build, rev, tree
from tasks.config import load_config
from tasks.core.drift import Drift
from tasks.core.outcome import FILES, Outcome, Status
from tasks.core.plan import Plan
from tasks.engine import pipeline
from tasks.engine.dryrun import Simulation
from tasks.engine.pipeline import SliceRun, Step, files_of
from tasks.engine.status import read_outcome
from tasks.modes import registry
from tasks.modes.base import Mode
from tasks.modes.snapshot import MODE as SNAPSHOT
from tasks.repo import git, importer
from tasks.workspace import Workspace, read_json

BASE = {"keep.txt": "keep\n", **{f"pkg/f{i}.txt": f"{i} v1\n" for i in range(4)}}
UPSTREAM = {"keep.txt": "keep\n", **{f"pkg/f{i}.txt": f"{i} v2\n" + ("BROKEN\n" if i == 2 else "")
                                     for i in range(4)}}
CHECK = [{"name": "nobroken", "run": "never run: the fake runner judges"}]


class FakeRunner:
    """Judges a check by the worktree it runs in: any file holding BROKEN fails it."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def run(self, request: Request) -> Result:
        self.requests.append(request)
        broken = [str(p.relative_to(request.cwd)) for p in request.cwd.rglob("*.txt")
                  if ".git" not in p.parts and "BROKEN" in p.read_text()]
        return Result(request.name, FAILED if broken else PASSED, 0.01,
                      f"BROKEN in {broken[0]}" if broken else "ok", stdout="\n".join(broken))


def prepared(root: Path, **config: Any) -> tuple[Any, Workspace, Plan, Drift]:
    r = build(root, BASE, UPSTREAM, checks=CHECK, gates=[], **config)
    assert run_doit(r.workspace, "plan").returncode == 0
    ws = Workspace(r.workspace)
    return r, ws, Plan.from_json(read_json(ws.report("plan.json"))), Drift.from_json(read_json(ws.report("drift.json")))


def job(cfg: Any, ws: Workspace, plan: Plan, drift: Drift, runner: FakeRunner, name: str = "slice-1") -> SliceRun:
    return SliceRun(cfg, ws, ws.mirror, plan, drift, plan.slice(name), "test-run", runner)


def test_the_pipeline_isolates_the_culprit_with_a_fake_runner(tmp_path: Path) -> None:
    r, ws, plan, drift = prepared(tmp_path)
    cfg, runner = load_config(r.workspace / "forkwave.yaml"), FakeRunner()
    outcome = pipeline.run(SNAPSHOT, job(cfg, ws, plan, drift, runner))
    assert outcome.status is Status.SPLIT and outcome.unit == FILES
    assert [d.files for d in outcome.deferred] == [("pkg/f2.txt",)]
    assert outcome.counts().line() == "3 of 4 files adopted, 1 deferred"
    assert len(runner.requests) == outcome.runs + 1                       # the slices' runs and the baseline
    assert read_outcome(ws, "slice-1") == outcome                         # written, and read back the same
    synced = tree(r.fork, "sync/upstream")
    assert synced["pkg/f0.txt"][1] == b"0 v2\n" and synced["pkg/f2.txt"][1] == b"2 v1\n"
    again = pipeline.run(SNAPSHOT, job(cfg, ws, plan, drift, runner))      # nothing new on the sync tip
    assert again.status is Status.SPLIT and again.landed == ()


def test_a_check_that_cannot_run_is_an_error_outcome_and_nothing_lands(tmp_path: Path) -> None:
    class Missing(FakeRunner):
        def run(self, request: Request) -> Result:
            return Result(request.name, "error", 0.0, "exit code 127: command not found")

    r, ws, plan, drift = prepared(tmp_path)
    cfg = load_config(r.workspace / "forkwave.yaml")
    outcome = pipeline.run(SNAPSHOT, job(cfg, ws, plan, drift, Missing()))
    assert outcome.status is Status.ERROR and "cannot run" in (outcome.error or "")
    assert rev(r.fork, "refs/heads/sync/upstream") == r.fork_head


class ToyMode:
    """A fourth mode, whole: it lands one file, ``TOY.txt``, naming the upstream revision — judged like any
    candidate. Everything else (guard, baseline, memo, landing, the outcome) is the pipeline's."""

    name = "toy"
    unit = FILES
    file_slices = True
    detects_base = False
    own_branch = False
    joint_retry = False

    def drift(self, *args: Any) -> dict[str, Any]:
        raise NotImplementedError

    def plan(self, *args: Any) -> Plan:
        raise NotImplementedError

    def inputs(self, job: SliceRun, tip: str | None = None) -> dict[str, Any]:
        return {"upstream": job.upstream}

    def step(self, job: SliceRun) -> Step:
        blob = git.git(job.fork, "hash-object", "-w", "--stdin", input=job.upstream.encode()).decode().strip()
        changes = {"TOY.txt": importer.Change("TOY.txt", "upstream-added", "100644", blob)}
        tree_ = importer.build_tree(job.fork, job.start, list(changes.values()))
        ok, _ = job.judge(job.start, tree_, changes, "the toy file")
        commit = importer.build_commit(job.fork, job.start, list(changes.values()), "toy\n") if ok else None
        outcome = Outcome(job.name, job.slice.wave, job.upstream, Status.ADOPTED if ok else Status.REVERTED,
                          job.start, mode=self.name, commit=commit, verified_at=commit or job.start,
                          commits=(commit,) if commit else (), files=files_of(job.slice),
                          adopted=("TOY.txt",) if ok else (), runs=job.runs, attempts=tuple(job.attempts))
        return Step(commit or job.start, outcome, "forkwave: toy")

    def simulate(self, job: SliceRun, tip: str) -> Simulation:
        return Simulation("adopted", tip, would_land=["TOY.txt"])

    def resolve(self, job: SliceRun, path: str | None, take: str | None) -> str:
        raise NotImplementedError

    def rollback(self, job: SliceRun) -> str:
        raise NotImplementedError

    def readopt(self, job: SliceRun) -> list[str]:
        raise NotImplementedError

    def record(self, *args: Any) -> None:
        return None


def test_a_toy_mode_is_one_class_and_one_registry_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toy: Mode = ToyMode()                                                # the protocol holds it (mypy, and below)
    assert isinstance(toy, Mode)
    monkeypatch.setitem(registry.MODES, "toy", toy)
    assert registry.mode_named("toy") is toy
    r, ws, plan, drift = prepared(tmp_path)
    cfg, runner = load_config(r.workspace / "forkwave.yaml"), FakeRunner()
    outcome = pipeline.run(registry.mode_named("toy"), job(cfg, ws, plan, drift, runner))
    assert outcome.status is Status.ADOPTED and outcome.mode == "toy" and outcome.runs == 1
    assert tree(r.fork, "sync/upstream")["TOY.txt"][1] == plan.upstream.encode()
    assert read_outcome(ws, "slice-1").inputs == {"upstream": plan.upstream}  # the pipeline asked the mode


def test_the_registry_and_the_configs_table_of_modes_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The config validates ``mode:`` before any mode is loaded, from its own table; the registry checks they
    agree, so a mode added in one place and not the other is caught here."""
    assert registry.agrees_with_config() == []
    monkeypatch.setitem(registry.MODES, "toy", ToyMode())
    assert registry.agrees_with_config() == []                           # an extra strategy is harmless
    monkeypatch.delitem(registry.MODES, "merge")
    assert registry.agrees_with_config() == ["merge: in the config's modes, not in the registry"]
