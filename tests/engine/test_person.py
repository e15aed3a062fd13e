"""A person in the loop: resolve a conflict, roll a slice back, ask for it again — and the next run respects it.

Real repositories throughout; the person works in checkouts of their own (a second worktree
of the fork, or the fork's main checkout), never in forkwave's private worktree.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import commit_tree, git_out, run_doit
from slicekit import Repos, build, ledger_runs, outcome, read, rev, slice_names, tree

BASE = {"keep.txt": "keep\n", "conf/default.json": '{"a": 1}\n', "src/app.js": "app v1\n", "src/util.js": "util v1\n"}
UPSTREAM = {"keep.txt": "keep\n", "conf/default.json": '{"a": 2}\n', "src/app.js": "app v2\n",
            "src/util.js": "util v2\n"}
FORK = {**BASE, "conf/default.json": '{"a": 1, "acme": true}\n'}            # both changed the one line
CHECKS = [{"name": "json", "run": "python3 -c 'import json; json.load(open(\"conf/default.json\"))'"}]


def repos(tmp_path: Path, **kw) -> Repos:
    kw.setdefault("checks", CHECKS)
    kw.setdefault("slices", {"max_files": 1})
    return build(tmp_path, BASE, UPSTREAM, FORK, **kw)


def slice_with(r: Repos, path: str) -> str:
    return next(n for n in slice_names(r) if path in [f["path"] for f in outcome(r, n)["files"]])


def person_checkout(r: Repos, branch: str) -> Path:
    """A checkout of the person's own: a second worktree of the fork on ``branch``."""
    where = r.root / "person"
    subprocess.run(["git", "-C", str(r.fork), "worktree", "add", "-q", str(where), branch], check=True)
    return where


def commit_in(checkout: Path, files: dict[str, str], message: str) -> str:
    for path, text in files.items():
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_text(text)
    subprocess.run(["git", "-C", str(checkout), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(checkout), "commit", "-qm", message], check=True)
    return git_out(checkout, "rev-parse", "HEAD").strip()


def done_with(r: Repos, checkout: Path) -> None:
    """The person is done there: that worktree goes (forkwave never moves a branch under a checkout)."""
    subprocess.run(["git", "-C", str(r.fork), "worktree", "remove", str(checkout)], check=True)


def test_a_conflict_resolved_by_a_persons_commit_is_validated_and_reported_adopted(tmp_path: Path) -> None:
    r = repos(tmp_path)
    assert run_doit(r.workspace).returncode == 2
    name = slice_with(r, "conf/default.json")
    assert outcome(r, name)["status"] == "conflicted"

    checkout = person_checkout(r, "sync/upstream")
    fix = commit_in(checkout, {"conf/default.json": '{"a": 2, "acme": true}\n'}, "resolve default.json")
    done_with(r, checkout)
    second = run_doit(r.workspace)

    assert second.returncode == 0, second.stdout + second.stderr
    out = outcome(r, name)
    assert out["status"] == "adopted" and out["conflicts"] == []
    assert out["resolved"] == [{"path": "conf/default.json", "commit": fix, "by": "a person"}]
    [attempt] = out["attempts"]                                   # the resolution went through the checks
    assert attempt["passed"] and {x["name"] for x in attempt["results"]} >= {"json", "syntax"}
    assert tree(r.fork, "sync/upstream")["conf/default.json"] == ("100644", b'{"a": 2, "acme": true}\n')
    report = (r.reports / "slices" / name / "report.md").read_text()
    assert "resolved by a person" in report and fix[:12] in report


def test_doit_resolve_commits_the_edited_conflict_file_and_the_next_run_adopts_it(tmp_path: Path) -> None:
    r = repos(tmp_path)
    run_doit(r.workspace)
    name = slice_with(r, "conf/default.json")
    conflict = r.reports / "slices" / name / "conflicts" / "conf/default.json"
    assert "<<<<<<< fork" in conflict.read_text()

    unfinished = run_doit(r.workspace, f"resolve:{name}")          # markers still there: refused, nothing moved
    assert unfinished.returncode == 1
    assert "still has conflict markers" in unfinished.stderr and str(conflict) in unfinished.stderr
    tip = rev(r.fork, "sync/upstream")

    conflict.write_text('{"a": 2, "acme": true}\n')
    again = run_doit(r.workspace)                                  # a plain doit never overwrites the person's edit
    assert conflict.read_text() == '{"a": 2, "acme": true}\n' and rev(r.fork, "sync/upstream") == tip
    assert again.returncode == 2
    resolved = run_doit(r.workspace, f"resolve:{name}")
    assert resolved.returncode == 0, resolved.stderr
    head = rev(r.fork, "sync/upstream")
    assert git_out(r.fork, "rev-parse", "sync/upstream~1").strip() == tip
    assert f"Forkwave-Resolved: {name}" in git_out(r.fork, "log", "-1", "--format=%B", "sync/upstream")

    assert run_doit(r.workspace).returncode == 0
    out = outcome(r, name)
    assert out["status"] == "adopted" and out["resolved"][0]["commit"] == head
    assert rev(r.fork, "main") == r.fork_head                      # never the fork's own branch


def test_take_fork_keeps_the_forks_version_of_a_file_upstream_deleted(tmp_path: Path) -> None:
    base = {"keep.txt": "keep\n", "old.js": "old\n"}
    r = build(tmp_path, base, {"keep.txt": "keep\n"}, {**base, "old.js": "old, edited by the fork\n"})
    run_doit(r.workspace)
    [name] = slice_names(r)
    assert [c["reason"] for c in outcome(r, name)["conflicts"]] == ["deleted upstream, changed in the fork"]

    assert run_doit(r.workspace, f"resolve:{name}", "path=old.js", "take=fork").returncode == 0
    assert run_doit(r.workspace).returncode == 0
    out = outcome(r, name)
    assert out["status"] == "adopted" and [x["path"] for x in out["resolved"]] == ["old.js"]
    assert tree(r.fork, "sync/upstream")["old.js"] == ("100644", b"old, edited by the fork\n")
    assert run_doit(r.workspace, f"resolve:{name}", "take=sideways").returncode == 1


def test_doit_rollback_sticks_until_upstream_changes_and_readopt_takes_it_again(tmp_path: Path) -> None:
    r = repos(tmp_path, checks=[])
    run_doit(r.workspace)
    name = slice_with(r, "src/app.js")
    assert outcome(r, name)["status"] == "adopted"
    landed = outcome(r, name)["commits"]

    assert run_doit(r.workspace, f"rollback:{name}").returncode == 0
    assert tree(r.fork, "sync/upstream")["src/app.js"] == ("100644", b"app v1\n")
    message = git_out(r.fork, "log", "-1", "--format=%B", "sync/upstream")
    assert f"This reverts commit {landed[0]}." in message and f"Forkwave-Rollback: {name}" in message

    again = run_doit(r.workspace)                                  # not re-adopted on top of the revert
    assert again.returncode == 2                                   # (the conflict of default.json is still open)
    assert tree(r.fork, "sync/upstream")["src/app.js"] == ("100644", b"app v1\n")
    out = outcome(r, name)
    assert out["status"] == "rolled-back" and [x["path"] for x in out["rolled_back"]] == ["src/app.js"]
    assert "rolled back" in (r.reports / "slices" / name / "report.md").read_text()

    assert run_doit(r.workspace, f"readopt:{name}").returncode == 0
    run_doit(r.workspace)
    assert outcome(r, name)["status"] == "adopted"
    assert tree(r.fork, "sync/upstream")["src/app.js"] == ("100644", b"app v2\n")


def test_a_persons_own_git_revert_counts_as_a_rollback_until_upstream_changes_the_file(tmp_path: Path) -> None:
    r = repos(tmp_path, checks=[])
    run_doit(r.workspace)
    name = slice_with(r, "src/util.js")
    [commit] = outcome(r, name)["commits"]
    checkout = person_checkout(r, "sync/upstream")
    subprocess.run(["git", "-C", str(checkout), "revert", "--no-edit", commit], check=True, capture_output=True)
    done_with(r, checkout)

    run_doit(r.workspace)
    assert outcome(r, name)["status"] == "rolled-back"
    assert tree(r.fork, "sync/upstream")["src/util.js"] == ("100644", b"util v1\n")

    commit_tree(r.upstream, {**UPSTREAM, "src/util.js": "util v3\n"}, message="v3", tick=40)
    run_doit(r.workspace)                                          # new upstream content: imported again
    assert outcome(r, name)["status"] == "adopted"
    assert tree(r.fork, "sync/upstream")["src/util.js"] == ("100644", b"util v3\n")


def checkout_state(repo: Path) -> dict[str, str]:
    return {"head": git_out(repo, "symbolic-ref", "-q", "HEAD"), "index": (repo / ".git" / "index").read_bytes().hex(),
            "status": git_out(repo, "status", "--porcelain=v2", "--untracked-files=all"),
            "files": json.dumps({str(p.relative_to(repo)): p.read_bytes().hex() for p in sorted(repo.rglob("*"))
                                 if p.is_file() and ".git" not in p.parts})}


def test_the_rollback_note_run_as_printed_leaves_the_persons_checkout_byte_identical(tmp_path: Path) -> None:
    r = repos(tmp_path, checks=[])
    run_doit(r.workspace)
    name = slice_with(r, "src/app.js")
    subprocess.run(["git", "-C", str(r.fork), "checkout", "-q", "-f", "main"], check=True)  # the person's checkout
    (r.fork / "scratch.txt").write_text("the person's own work in progress\n")    # a dirty, untracked file
    (r.fork / "keep.txt").write_text("edited, not committed\n")
    before = checkout_state(r.fork)
    report = (r.reports / "slices" / name / "report.md").read_text()
    manual = report.split("Or by hand, in a temporary worktree:\n\n```sh\n", 1)[1].split("\n```", 1)[0]

    subprocess.run(["bash", "-c", manual], check=True, capture_output=True, cwd=tmp_path)

    assert checkout_state(r.fork) == before
    assert tree(r.fork, "sync/upstream")["src/app.js"] == ("100644", b"app v1\n")
    assert "doit rollback:" in report and "your checkout is not touched" in report


def test_summary_and_ledger_say_what_was_adopted_deferred_and_conflicted(tmp_path: Path) -> None:
    upstream = {**UPSTREAM, "src/bad.json": "{ not json\n"}
    r = build(tmp_path, BASE, upstream, FORK, slices={"max_files": 1}, checks=[])
    assert run_doit(r.workspace).returncode == 2

    summary = read(r.reports / "summary.json")
    assert summary["counts"].get("conflicted") == 1 and summary["files"]["conflicted"] == 1
    entries = {n: s for w in summary["waves"].values() for n, s in w.items()}
    conflicted = next(s for s in entries.values() if s["status"] == "conflicted")
    assert conflicted["conflicts"][0]["path"] == "conf/default.json"
    assert "doit resolve:" in conflicted["conflicts"][0]["next"]
    deferred = [d for s in entries.values() for d in s["deferred"]]
    assert [d["files"] for d in deferred] == [["src/bad.json"]] and deferred[0]["reason"].startswith("syntax: ")
    adopted = next(s for s in entries.values() if "src/app.js" in s["adopted"])
    assert adopted["commit"] and adopted["commits"] == [adopted["commit"]]
    assert any("doit resolve:" in step for step in summary["next_steps"])

    runs = ledger_runs(r.reports)
    assert runs[-1].status == "partial" and runs[-1].ended
    [wave_a] = runs[-1].syncs
    assert (wave_a.source, wave_a.sync_type, wave_a.status) == ("upstream", "wave-a", "partial")
    assert wave_a.counts.adopted >= 2 and (wave_a.counts.deferred, wave_a.counts.conflicted) == (1, 1)

    recorded = len(runs)
    rerun = run_doit(r.workspace)                                  # a re-run: the same picture, nothing landed
    assert rerun.returncode == 2
    again = read(r.reports / "summary.json")
    assert again["counts"] == summary["counts"] and again["files"] == summary["files"]
    assert "slice-1: conflicted — unchanged since run" in rerun.stdout
    runs = ledger_runs(r.reports)                                  # every task up to date, and still a run:
    assert len(runs) == recorded + 1 and runs[-1].status == "failed"   # it landed nothing, and exits 2
    [wave_a] = runs[-1].syncs                                      # this run's counts: what is left, nothing adopted
    assert (wave_a.status, wave_a.counts.adopted, wave_a.counts.deferred, wave_a.counts.conflicted) == (
        "failed", 0, 1, 1)


# --- taking upstream's side, conflict copies, a second rollback ----------------------------------------

UPSTREAM_CONF = UPSTREAM["conf/default.json"]


def conflict_copy(r: Repos, name: str, path: str = "conf/default.json") -> Path:
    return r.reports / "slices" / name / "conflicts" / path


def test_take_upstream_resolves_the_conflict_and_the_next_run_adopts_it(tmp_path: Path) -> None:
    r = repos(tmp_path)
    assert run_doit(r.workspace).returncode == 2
    name = slice_with(r, "conf/default.json")
    assert conflict_copy(r, name).is_file()

    taken = run_doit(r.workspace, f"resolve:{name}", "path=conf/default.json", "take=upstream")

    assert taken.returncode == 0, taken.stderr
    resolution = rev(r.fork, "sync/upstream")
    assert f"resolution committed on sync/upstream as {resolution[:12]}" in taken.stdout
    assert not (r.reports / "slices" / name / "conflicts").exists()   # the copy and the folders it was in
    again = run_doit(r.workspace, f"resolve:{name}", "path=conf/default.json", "take=upstream")
    assert again.returncode == 0 and "your resolution is on sync/upstream already" in again.stdout
    assert rev(r.fork, "sync/upstream") == resolution                  # nothing committed twice

    after = run_doit(r.workspace)

    assert after.returncode == 0, after.stdout + after.stderr
    out = outcome(r, name)
    assert out["status"] == "adopted" and out["conflicts"] == []
    assert out["resolved"] == [{"path": "conf/default.json", "commit": resolution, "by": "a person"}]
    assert tree(r.fork, "sync/upstream")["conf/default.json"] == ("100644", UPSTREAM_CONF.encode())
    assert not conflict_copy(r, name).exists()
    assert after.stdout.rstrip().splitlines()[-1].startswith("forkwave: 3 slices: 3 adopted, 0 deferred, 0 conflicted")


def test_committing_upstreams_version_by_hand_resolves_the_conflict(tmp_path: Path) -> None:
    r = repos(tmp_path)
    run_doit(r.workspace)
    name = slice_with(r, "conf/default.json")
    checkout = person_checkout(r, "sync/upstream")
    fix = commit_in(checkout, {"conf/default.json": UPSTREAM_CONF}, "take upstream's default.json")
    done_with(r, checkout)

    after = run_doit(r.workspace)

    assert after.returncode == 0, after.stdout + after.stderr
    out = outcome(r, name)
    assert out["status"] == "adopted" and out["conflicts"] == []
    assert out["resolved"] == [{"path": "conf/default.json", "commit": fix, "by": "a person"}]
    assert not (r.reports / "slices" / name / "conflicts").exists()


def test_a_resolution_committed_by_hand_removes_the_conflict_copy_even_an_edited_one(tmp_path: Path) -> None:
    r = repos(tmp_path)
    run_doit(r.workspace)
    name = slice_with(r, "conf/default.json")
    conflict_copy(r, name).write_text('{"a": 2, "acme": tru\n')        # an edit begun, then done on the branch
    checkout = person_checkout(r, "sync/upstream")
    commit_in(checkout, {"conf/default.json": '{"a": 2, "acme": true}\n'}, "resolve default.json")
    done_with(r, checkout)

    after = run_doit(r.workspace)

    assert after.returncode == 0, after.stdout + after.stderr
    assert not conflict_copy(r, name).exists()
    assert (f"{name}: conf/default.json is resolved on the sync branch; your unfinished edit of its conflict copy "
            f"(reports/slices/{name}/conflicts/conf/default.json) is removed") in after.stdout
    assert json.loads((r.reports / "slices" / name / "conflicts.json").read_text()) == {}


TWO_BASE = {**BASE, "conf/extra.json": '{"b": 1}\n'}
TWO_UPSTREAM = {**UPSTREAM, "conf/extra.json": '{"b": 2}\n'}
TWO_FORK = {**FORK, "conf/extra.json": '{"b": 1, "acme": true}\n'}


def test_after_a_partial_take_a_plain_resolve_commits_the_other_edited_conflict(tmp_path: Path) -> None:
    r = build(tmp_path, TWO_BASE, TWO_UPSTREAM, TWO_FORK, checks=CHECKS, couple=[["conf/*"]])
    run_doit(r.workspace)
    name = slice_with(r, "conf/extra.json")
    assert sorted(c["path"] for c in outcome(r, name)["conflicts"]) == ["conf/default.json", "conf/extra.json"]

    assert run_doit(r.workspace, f"resolve:{name}", "path=conf/default.json", "take=upstream").returncode == 0
    assert not conflict_copy(r, name).exists() and conflict_copy(r, name, "conf/extra.json").is_file()
    conflict_copy(r, name, "conf/extra.json").write_text('{"b": 2, "acme": true}\n')
    rest = run_doit(r.workspace, f"resolve:{name}")                  # the one left: the edited copy

    assert rest.returncode == 0, rest.stderr
    assert not (r.reports / "slices" / name / "conflicts").exists()
    assert run_doit(r.workspace).returncode == 0
    synced = tree(r.fork, "sync/upstream")
    assert synced["conf/default.json"][1] == UPSTREAM_CONF.encode()
    assert synced["conf/extra.json"][1] == b'{"b": 2, "acme": true}\n'
    assert outcome(r, name)["status"] == "adopted"


def test_a_second_rollback_says_the_slice_is_rolled_back_and_how_to_take_it_again(tmp_path: Path) -> None:
    """The slice keeps an open conflict, so its outcome says conflicted, not rolled back: the branch is the record."""
    r = repos(tmp_path, slices={"max_files": 2}, couple=[["conf/default.json", "src/app.js"]])
    run_doit(r.workspace)
    name = slice_with(r, "src/app.js")
    assert outcome(r, name)["status"] == "conflicted" and outcome(r, name)["adopted"] == ["src/app.js"]
    assert run_doit(r.workspace, f"rollback:{name}").returncode == 0
    revert = rev(r.fork, "sync/upstream")

    for between in ((), ("wave_a",)):   # at once, and after a run that reported the slice again
        if between:
            run_doit(r.workspace, *between)
            assert outcome(r, name)["status"] == "conflicted"
        twice = run_doit(r.workspace, f"rollback:{name}")
        assert twice.returncode == 1
        assert f"forkwave: error: {name}: already rolled back in {revert[:12]}; `doit readopt:{name}` takes it " \
               "again" in twice.stderr
        assert "changed on sync/upstream after the slice landed it" not in twice.stderr
        assert rev(r.fork, "sync/upstream") == revert
