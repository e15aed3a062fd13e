"""Several vendored sources on one sync branch, told truthfully: ``verify:`` judges what the run finished,
and the ledger, ``run-summary.json``, ``summary.json``, ``doit history`` and the last line say one status
(docs/reference/statuses.md) with this run's counts."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import run_doit
from slicekit import ledger_runs, read, rev, start_doit, wait_for
from vendorkit import FINISHED, build, count_manifests, manifests, show


def syncs(run: object) -> dict[tuple[str, str], tuple[str, int, int]]:
    """(source, sync type) -> (status, adopted, conflicted) of a ledger run."""
    return {(s.source, s.sync_type): (s.status, s.counts.adopted, s.counts.conflicted) for s in run.syncs}  # type: ignore[attr-defined]


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("forkwave: error: ")]


def test_verify_judges_the_finished_sync_and_every_surface_says_one_status(tmp_path: Path) -> None:
    r = build(tmp_path)
    result = run_doit(r.workspace, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr          # acct_m0's model: a conflict

    tip = rev(r.fork, "refs/heads/sync/upstream")
    out = result.stdout
    # verified once per source, after wave b: never on the half-synced tree of wave a (4 manifests each)
    assert out.index("wave b: ") < out.index("verify web: manifests passed")
    assert [line for line in out.splitlines() if line.startswith("verify ")] == [
        f"verify {org}: manifests passed — verify 'manifests': printed {FINISHED}, within expected_min {FINISHED}"
        for org in r.orgs]
    for org in r.orgs:
        record = read(r.source_report(org, "verify.json"))
        assert (record["commit"], record["passed"], record["wave"]) == (tip, True, "b")
        assert manifests(r.fork, tip, org) == FINISHED
    assert "the team's fix" in show(r.fork, tip, "addons/web/web_m1/models/web_m1.py")   # a team edit kept
    assert errors(result.stderr) == []

    # the last line: the conflict is the work left, and it says so
    assert out.splitlines()[-1].endswith("1 conflicted; open reports/wave-b/report.md — exit 2: work left for a "
                                         "person (deferred or conflicted slices)")
    # the ledger: the run is partial; each source's waves count what this run landed; verify rows pass
    run = ledger_runs(r.reports)[-1]
    assert (run.status, run.ended is not None) == ("partial", True)
    rows = syncs(run)
    assert rows[("web", "wave-a")] == ("success", 2, 0) and rows[("web", "wave-b")] == ("success", 6, 0)
    assert rows[("acct", "wave-b")] == ("partial", 5, 1)                   # m0's model is the conflict
    assert {rows[(org, "verify")][0] for org in r.orgs} == {"success"}
    # run-summary.json: one target per source, the run's own status; only created files are outputs
    summary = read(r.reports / "run-summary.json")
    targets = {t["target"]: t for t in summary["results"]}
    assert (summary["status"], summary["successful"], summary["failed"]) == ("partial", 2, 1)
    assert (targets["web"]["status"], targets["web"]["verification_passed"]) == ("success", True)
    assert (targets["acct"]["status"], targets["acct"]["verification_passed"]) == ("partial", True)
    assert targets["sale"]["outputs_created"] == sorted(
        f"addons/sale/sale_m{i}/{f}" for i in (3, 4, 5) for f in ("__manifest__.py", f"models/sale_m{i}.py"))
    # summary.json: the sync as its slices stand, and the run that wrote it
    state = read(r.reports / "summary.json")
    assert (state["status"], state["run"]) == ("partial", {"id": run.run, "status": "partial"})
    assert state["verification"] == {org: True for org in r.orgs}

    # again, nothing new: exit 2 still, and no success — this run landed nothing and the conflict is left
    again = run_doit(r.workspace, timeout=300)
    assert again.returncode == 2, again.stdout + again.stderr
    second = ledger_runs(r.reports)[-1]
    assert second.run != run.run and second.status == "failed"
    assert second.error == "work left for a person (deferred or conflicted slices)"
    rows = syncs(second)
    assert {k: v[1] for k, v in rows.items() if k[1].startswith("wave-")} == {
        (org, wave): 0 for org in r.orgs for wave in ("wave-a", "wave-b")}  # this run's counts: nothing adopted
    assert rows[("acct", "wave-b")] == ("failed", 0, 1)
    summary = read(r.reports / "run-summary.json")
    assert summary["status"] == "failed" and {t["target"]: t["verification_passed"] for t in summary["results"]} == {
        org: True for org in r.orgs}                                       # as it stands on the unchanged tip
    assert read(r.reports / "summary.json")["status"] == "partial"         # the sync itself: landed, work left


def test_a_failed_verification_names_its_source_once_and_holds_only_it(tmp_path: Path) -> None:
    r = build(tmp_path, conflict=None)
    r.configure(verify={"sale": [{"name": "manifests", "run": count_manifests("sale"), "expected_min": 7}]})
    result = run_doit(r.workspace, timeout=300)

    assert result.returncode == 2, result.stdout + result.stderr
    said = "verification failed for sale: verify 'manifests': printed 6, below expected_min 7"
    assert errors(result.stderr) == [f"forkwave: error: {said}"]           # once, naming its source
    assert result.stdout.splitlines()[-1].endswith(f"— exit 2: {said}")   # the real reason, not "slices"

    run = ledger_runs(r.reports)[-1]
    assert (run.status, run.error) == ("partial", said)                    # it landed, and sale failed
    rows = syncs(run)
    assert rows[("sale", "verify")][0] == "failed" and rows[("web", "verify")][0] == "success"
    assert {s.note for s in run.syncs if (s.source, s.sync_type) == ("sale", "verify")} == {said}
    assert all(v[0] == "success" for k, v in rows.items() if k[1].startswith("wave-"))   # the waves did land
    summary = read(r.reports / "run-summary.json")
    targets = {t["target"]: t for t in summary["results"]}
    assert (targets["sale"]["status"], targets["sale"]["verification_passed"]) == ("partial", False)
    assert said in targets["sale"]["message"]
    assert (targets["web"]["status"], targets["web"]["verification_passed"]) == ("success", True)
    assert (summary["status"], summary["message"]) == ("partial", said)

    from tasks.config import load_config
    from tasks.engine import verify
    from tasks.workspace import Workspace

    cfg = load_config(r.workspace / "forkwave.yaml")
    holds = verify.publish_holds(cfg, Workspace(r.workspace), rev(r.fork, "refs/heads/sync/upstream"))
    assert list(holds) == ["sale"] and holds["sale"].startswith(said)     # web and acct are not held


def test_each_wave_keeps_the_old_timing_for_a_threshold_the_half_synced_tree_must_meet(tmp_path: Path) -> None:
    r = build(tmp_path, orgs=("web",), conflict=None)
    r.configure(verify={"web": [{"name": "manifests", "run": count_manifests("web"), "expected_min": FINISHED,
                                 "when": "each_wave"}]})
    result = run_doit(r.workspace, timeout=300)

    assert result.returncode == 2
    said = "verification failed for web: verify 'manifests': printed 4, below expected_min 6"
    assert errors(result.stderr) == [f"forkwave: error: {said}"]
    assert "[wave b" not in result.stdout                                  # wave a's failure stops the run there
    assert read(r.source_report("web", "verify.json"))["wave"] == "a"


def test_doit_wave_a_verifies_after_wave_a_it_is_the_last_wave_that_run_reaches(tmp_path: Path) -> None:
    r = build(tmp_path, orgs=("web",), conflict=None)
    r.configure(verify={"web": [{"name": "manifests", "run": count_manifests("web"), "expected_min": 4}]})
    result = run_doit(r.workspace, "wave_a", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert read(r.source_report("web", "verify.json"))["wave"] == "a"
    assert ledger_runs(r.reports)[-1].status == "success"


def test_a_live_run_is_running_between_its_waves(tmp_path: Path) -> None:
    """After wave a closed (its rows say success) and before wave b: the run is running, not a success."""
    r = build(tmp_path, orgs=("web",), conflict=None)
    hold, started = tmp_path / "HOLD", tmp_path / "STARTED"
    hold.touch()
    waits = (f"[ -e {started} ] || {{ touch {started}; while [ -e {hold} ]; do sleep 0.05; done; }}; "
             f"{count_manifests('web')}")
    r.configure(verify={"web": [{"name": "between", "run": waits, "when": "each_wave"}]})
    proc = start_doit(r.workspace, log=tmp_path / "run.log")
    try:
        wait_for(started.exists, 120, "wave a's verification to start")
        shown = run_doit(r.workspace, "history", "format=json")
        [current] = json.loads(shown.stdout)["runs"]
        assert [(s["sync_type"], s["status"]) for s in current["syncs"]] == [("wave-a", "success")]
        assert (current["status"], current["phase"], current["live"]) == ("running", "verify web", True)
        table = run_doit(r.workspace, "history", "format=plain").stdout
        assert "now: verify web" in table and " success " in table.splitlines()[2]
        assert " running " in table.splitlines()[1]
    finally:
        hold.unlink()
        proc.wait(timeout=300)
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()
    assert ledger_runs(r.reports)[-1].status == "success"


def test_a_persons_command_is_no_run(tmp_path: Path) -> None:
    r = build(tmp_path, orgs=("acct",))
    assert run_doit(r.workspace, timeout=300).returncode == 2
    before = [x.run for x in ledger_runs(r.reports)]
    name = next(s["name"] for s in read(r.reports / "plan.json")["slices"]
                if any(f["path"] == "addons/acct/acct_m0/models/acct_m0.py" for f in s["files"]))
    resolved = run_doit(r.workspace, f"resolve:{name}", "path=addons/acct/acct_m0/models/acct_m0.py", "take=fork")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert [x.run for x in ledger_runs(r.reports)] == before               # no row for the person's command
    assert run_doit(r.workspace, timeout=300).returncode == 0
    last = ledger_runs(r.reports)[-1]
    assert last.run not in before and last.status == "success"


def test_the_ledger_counts_only_this_runs_adoptions_across_runs(tmp_path: Path) -> None:
    """The first run lands wave a only; the second lands wave b: its wave-a row adopts nothing."""
    r = build(tmp_path, orgs=("web",), conflict=None)
    assert run_doit(r.workspace, "wave_a", timeout=300).returncode == 2   # verify after wave a: 4 of 6 manifests
    assert run_doit(r.workspace, timeout=300).returncode == 0
    first, second = ledger_runs(r.reports)[-2:]
    assert (first.status, syncs(first)[("web", "wave-a")]) == ("partial", ("success", 2, 0))
    assert ("web", "wave-b") not in syncs(first)
    assert syncs(second)[("web", "wave-a")] == ("success", 0, 0) and syncs(second)[("web", "wave-b")][1] == 6
    assert second.status == "success"
