"""Several candidates judged at once (host slots) against one at a time, through doit: the same outcome,
the same attempts, logs under the attempt numbers the report names, and worktrees of their own.

A host check here sleeps a little and greps for a poisoned file, as a slow build would fail on it."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import DODO, commit_tree, git_out, make_repo, run_doit, write_config

FILES = [f"pkg/f{i:02}.txt" for i in range(12)]
CHECK = {"name": "slow", "run": "sleep 0.3; ! grep -rq POISON pkg"}


def workspace(root: Path, poisoned: list[int], slots: int, batch: bool = True) -> Path:
    up = make_repo(root / "upstream.git", bare=True)
    v1 = {f: f"v1 {i}\n" for i, f in enumerate(FILES)}
    commit_tree(up, v1, tag="v1")
    commit_tree(up, {f: ("v2 POISON\n" if i in poisoned else f"v2 {i}\n") for i, f in enumerate(FILES)}, tick=10)
    fork = make_repo(root / "fork", v1, tick=5)
    ws = root / "ws"
    ws.mkdir()
    write_config(ws, {"upstream": {"url": "../upstream.git"}, "fork": {"path": str(fork)}, "base": "v1",
                      "gates": [], "checks": [CHECK], "host": {"slots": slots}, "batch": batch})
    return ws


def decided(ws: Path, batch: bool) -> tuple[dict[str, Any], Path]:
    """What a run decided (without what only says how long it took or when), and where its logs are: the
    batch's search (``reports/batch.json``) or the slice's own (its ``outcome.json``)."""
    outcome = json.loads((ws / "reports/slices/slice-1/outcome.json").read_text())
    deferred = [{k: v for k, v in d.items() if k not in ("log", "batch")} for d in outcome["deferred"]]  # name the run
    record = json.loads((ws / "reports/batch.json").read_text()) if batch else outcome
    attempts = [{k: a[k] for k in ("n", "files", "passed", "inferred", "ran")} for a in record["attempts"]]
    logs = ws / "reports" / ("batch/logs" if batch else "slices/slice-1/logs")
    return ({k: outcome[k] for k in ("status", "adopted", "groups_split")} | {"deferred": deferred,
            "attempts": attempts, "runs": record["runs"]}), next(logs.iterdir()) if logs.is_dir() else logs


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "slice"])
@pytest.mark.parametrize("poisoned", [[3], [0, 9], []])
def test_two_host_slots_decide_exactly_what_one_does(tmp_path: Path, poisoned: list[int], batch: bool) -> None:
    runs = {}
    for slots in (1, 2):
        ws = workspace(tmp_path / f"slots-{slots}", poisoned, slots, batch)
        result = run_doit(ws, timeout=300)
        assert result.returncode == (2 if poisoned else 0), result.stdout + result.stderr
        runs[slots] = (ws, *decided(ws, batch))
    (_, one, _), (ws, two, run_dir) = runs[1], runs[2]
    assert two == one
    assert sorted(f for d in two["deferred"] for f in d["files"]) == [FILES[i] for i in poisoned]
    # each attempt that ran has its logs where the reports say: logs/<run>/attempt-<n>/
    for a in two["attempts"]:
        if a["ran"] and not a["inferred"]:
            assert (run_dir / f"attempt-{a['n']}" / "slow.stdout.log").is_file(), a["n"]
    outcome = json.loads((ws / "reports/slices/slice-1/outcome.json").read_text())
    for d in outcome["deferred"]:
        assert (ws / "reports" / d["log"]).is_file() and f"/{run_dir.name}/attempt-" in d["log"]
    if poisoned:  # the second candidate had a worktree of its own
        assert (ws / ".forkwave" / "worktree-1").is_dir()


def test_doit_clean_removes_the_extra_worktrees(tmp_path: Path) -> None:
    ws = workspace(tmp_path, [5], 2)
    run_doit(ws, timeout=300)
    assert (ws / ".forkwave" / "worktree-1").is_dir()
    result = run_doit(ws, "clean", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (ws / ".forkwave" / "worktree").exists() and not (ws / ".forkwave" / "worktree-1").exists()
    listed = git_out(tmp_path / "fork", "worktree", "list", "--porcelain")
    assert ".forkwave" not in listed   # the fork's record of them went too


def test_ctrl_c_stops_every_candidate_judged_beside_the_slice(tmp_path: Path) -> None:
    """SIGINT while two candidates (and the baseline) run: doit ends at once and leaves no check running."""
    ws = workspace(tmp_path, [5], 2)
    pids = tmp_path / "pids"
    pids.mkdir()
    config = (ws / "forkwave.yaml").read_text().replace(
        "sleep 0.3; ! grep -rq POISON pkg", f"sleep 60 & echo $! > {pids}/$$; wait; ! grep -rq POISON pkg")
    (ws / "forkwave.yaml").write_text(config)
    # Ctrl-C as a terminal sends it: a shell that started the tests in the background ignores SIGINT, and a
    # Python started with SIGINT ignored never raises KeyboardInterrupt, so the child gets the default back
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(DODO), "-d", str(ws)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:  # the baseline and the first candidate
        time.sleep(0.1)
    assert len(list(pids.iterdir())) >= 2, "two checks never ran at once"
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, _ = proc.communicate(timeout=60)
    assert time.monotonic() - started < 20, out
    assert proc.returncode != 0
    assert not [pid for pid in (int(p.read_text()) for p in pids.iterdir()) if alive(pid)]


def alive(pid: int) -> bool:
    """Running (a killed child whose orphan nobody reaped yet is a zombie: dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
