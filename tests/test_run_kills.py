"""A run SIGKILLed at each phase (``FORKWAVE_FAULT``, ``tasks/faults.py``) on vendored sources: the next run
closes it ``failed``, naming the phase it died in — also after its post-sync check or between its waves,
where every row it had closed says success."""
from __future__ import annotations

import signal
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest

from conftest import run_doit
from slicekit import ledger_runs
from vendorkit import build, config

ORGS = ("web", "sale")


@pytest.mark.parametrize(("fault", "phase", "closed"), [
    ("fetch:2", "fetch sale", {}),                                   # the second source's fetch
    ("drift:2", "drift *", {}),                                      # the second source's drift (doit picks which)
    ("wave:1", "wave a", {}),                                        # wave a's slices ran, the wave had not closed
    ("wave-end:1", "wave a", {"wave-a": "success"}),                 # between wave a and wave b
    ("wave:2", "wave b", {"wave-a": "success"}),
    ("verify:2", "verify sale", {"wave-a": "success", "wave-b": "success", "verify": "success"}),   # web's passed
    ("post:1", "post-sync checks", {"wave-a": "success", "wave-b": "success", "verify": "success"}),
])
def test_a_run_killed_in_a_phase_is_closed_failed_naming_it(tmp_path: Path, fault: str, phase: str,
                                                             closed: dict[str, str]) -> None:
    r = build(tmp_path, orgs=ORGS, conflict=None)
    r.configure(post=[{"name": "compiles", "run": "python3 -m compileall -q addons"}])
    killed = run_doit(r.workspace, env={"FORKWAVE_FAULT": fault}, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    dead = ledger_runs(r.reports)[-1]
    assert (dead.status, dead.live) == ("running", False)                     # until the next run closes it
    assert fnmatch(dead.phase, phase)
    phase = dead.phase
    rows = {s.sync_type: s.status for s in dead.syncs if s.source == "web"}
    assert {k: v for k, v in rows.items() if v != "running"} == closed

    nxt = run_doit(r.workspace, timeout=300)
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr                # it resumes and finishes the sync
    runs = {run.run: run for run in ledger_runs(r.reports)}
    was = runs[dead.run]
    assert (was.status, was.note) == ("failed", f"interrupted during {phase} (no end recorded)")
    assert all(s.status != "running" for s in was.syncs)
    assert {s.sync_type: s.status for s in was.syncs if s.source == "web" and s.status == "success"} == closed
    assert list(runs.values())[-1].status == "success"
    shown = run_doit(r.workspace, "history", "format=plain", "limit=2").stdout
    assert f"interrupted during {phase}" in shown


def test_a_publish_killed_is_closed_failed_naming_it(tmp_path: Path) -> None:
    r = build(tmp_path, orgs=ORGS, conflict=None)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    r.configure(publish={"remote": str(remote), "forge": "none"})
    assert run_doit(r.workspace, timeout=300).returncode == 0
    killed = run_doit(r.workspace, "publish", env={"FORKWAVE_FAULT": "publish"}, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    dead = ledger_runs(r.reports)[-1]
    assert (dead.status, dead.phase) == ("running", "publish")

    published = run_doit(r.workspace, "publish", timeout=300)
    assert published.returncode == 0, published.stdout + published.stderr
    runs = {run.run: run for run in ledger_runs(r.reports)}
    assert (runs[dead.run].status, runs[dead.run].note) == ("failed", "interrupted during publish (no end recorded)")
    assert list(runs.values())[-1].status == "success"


def test_the_summary_a_killed_run_left_running_is_settled_by_the_next(tmp_path: Path) -> None:
    """summary.json said ``running`` when the run died; the next run (even one with nothing to do) says how it
    ended and what the slices it lists add up to."""
    r = build(tmp_path, orgs=("web",), conflict=None)
    killed = run_doit(r.workspace, env={"FORKWAVE_FAULT": "wave:2"}, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    import json

    summary = json.loads((r.reports / "summary.json").read_text())
    dead = ledger_runs(r.reports)[-1]
    assert (summary["status"], summary["run"]) == ("running", {"id": dead.run, "status": "running"})
    assert run_doit(r.workspace, "fetch", timeout=300).returncode == 0          # reaches no slice
    summary = json.loads((r.reports / "summary.json").read_text())
    assert summary["run"] == {"id": dead.run, "status": "failed"}
    assert summary["status"] == "partial"         # wave a landed, wave b's slice is on the branch, verify not run
    assert config(("web",))["sources"][0]["verify"]                           # (the source has a verify)
