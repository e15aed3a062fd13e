"""Slices end to end: `doit wave_a` imports and validates on real repositories; conflicts; path safety."""
from __future__ import annotations

import json

import subprocess
from pathlib import Path

from conftest import Executable, Symlink, commit_tree, git_out, run_doit
from slicekit import (Repos, all_text, build, commits, outcome, plan, rev, slice_names, slice_of, trailers,
                      tree, slice_commits,
)

BASE = {
    "README.md": "# base\n",
    "shared.txt": "base\n",
    "src/app.py": "print('v1')\n",
    "src/util.py": "X = 1\n",
    "src/old.py": "OLD = 1\n",
    "bin/run.sh": Executable("#!/bin/sh\necho v1\n"),
    "bin/mode.sh": "#!/bin/sh\necho mode\n",
    "lib/current.txt": "one\n",
    "lib/link": Symlink("current.txt"),
    "conf/settings.json": '{"a": 1}\n',
    "docs/guide.md": "# Guide v1\n",
}
UPSTREAM = {
    **BASE,
    "shared.txt": "upstream\n",                           # both-changed (the fork edits it too)
    "src/app.py": "print('v2')\n",                        # upstream-changed
    "src/new.py": "NEW = 2\n",                            # upstream-added
    "bin/run.sh": Executable("#!/bin/sh\necho v2\n"),     # changed, stays executable
    "bin/mode.sh": Executable("#!/bin/sh\necho mode\n"),  # only the executable bit changes
    "lib/next.txt": "two\n",
    "lib/link": Symlink("next.txt"),                      # symlink retargeted
    "lib/newlink": Symlink("../src/new.py"),              # new symlink, inside the repository
    "conf/settings.json": '{"a": 2}\n',
    "docs/guide.md": "# Guide v2\n",
    "docs/new.md": "# New\n",
}
del UPSTREAM["src/old.py"]                                # upstream-deleted
FORK = {**BASE, "README.md": "# fork\n", "shared.txt": "fork\n", "fork.txt": "only in the fork\n"}
WAVES = {"a": {"paths": ["src/**", "bin/**", "lib/**", "conf/**"]}, "b": {"buckets": ["*"]}}
CHECKS = [{"name": "nobroken", "run": "! grep -rq BROKEN ."},
          {"name": "shells", "run": "for f in bin/*.sh; do sh -n \"$f\" || exit 1; done", "when": ["bin/**"]}]
WAVE_A = sorted(p for p in set(UPSTREAM) | set(BASE) if p.split("/")[0] in ("src", "bin", "lib", "conf")
                and UPSTREAM.get(p) != BASE.get(p))


def repos(tmp_path: Path) -> Repos:
    # wave a's changes in a commit of their own: one commit touching both waves would couple them
    first = {p: c for p, c in BASE.items() if p not in WAVE_A} | {p: UPSTREAM[p] for p in WAVE_A if p in UPSTREAM}
    return build(tmp_path, BASE, UPSTREAM, FORK, steps=[first], waves=WAVES, checks=CHECKS, slices={"max_files": 3})


def checkout_state(fork: Path) -> dict[str, str]:
    """What the user sees in the fork: HEAD, branches, index and working tree status, a dirty file."""
    return {"head": git_out(fork, "symbolic-ref", "HEAD"), "main": git_out(fork, "rev-parse", "main"),
            "status": git_out(fork, "status", "--porcelain=v1", "-z", "--untracked-files=all"),
            "staged": git_out(fork, "diff", "--cached", "--name-status"),
            "readme": (fork / "README.md").read_text(), "scratch": (fork / "scratch.txt").read_text(),
            "worktree_files": "\n".join(sorted(str(p.relative_to(fork)) for p in fork.rglob("*")
                                               if ".git" not in p.parts))}


def test_a_passing_wave_lands_upstream_content_on_the_sync_branch_only(tmp_path: Path) -> None:
    r = repos(tmp_path)
    subprocess.run(["git", "-C", str(r.fork), "checkout", "-q", "main"], check=True)
    (r.fork / "README.md").write_text("# uncommitted edit\n")          # a dirty working tree ...
    (r.fork / "scratch.txt").write_text("untracked\n")
    (r.fork / "src" / "util.py").write_text("X = 'staged'\n")
    subprocess.run(["git", "-C", str(r.fork), "add", "src/util.py"], check=True)  # ... and index
    before = checkout_state(r.fork)

    result = run_doit(r.workspace, "wave_a")

    assert result.returncode == 0, result.stdout + result.stderr
    names = slice_names(r, "a")
    assert len(names) >= 2                                             # max_files 3: several slices
    assert all(result.status()[f"validate:{n}"] == "ran" for n in names)
    assert not [n for n in slice_names(r, "b") if f"validate:{n}" in result.status()]  # wave b not touched
    for name in names:
        out = outcome(r, name)
        assert out["status"] == "adopted", out
        assert out["deferred"] == [] and out["conflicts"] == [] and out["validated"]["how"] == "batch"
    assert sorted(p for n in names for p in outcome(r, n)["adopted"]) == WAVE_A

    # one commit per slice on the sync branch, each with its trailers, on top of the fork's branch;
    # then, the wave having landed, one recording its upstream revision in the fork's state file
    (state_sha, state_msg), *log = commits(r.fork, "main..sync/upstream")
    assert trailers(state_msg) == {"Upstream-Revision": r.main, "Forkwave-State": "wave a"}
    state = json.loads(git_out(r.fork, "show", "sync/upstream:.forkwave/sync-state.json"))
    assert state["groups"]["a"]["revision"] == r.main
    assert [trailers(m)["Forkwave-Slice"] for _, m in reversed(log)] == names
    assert all(trailers(m)["Upstream-Revision"] == r.main for _, m in log)
    assert state_sha == rev(r.fork, "sync/upstream")
    assert [sha for sha, _ in log] == [outcome(r, n)["commit"] for n in reversed(names)]
    assert git_out(r.fork, "merge-base", "--is-ancestor", r.fork_head, "sync/upstream") == ""

    # the sync branch has upstream's content, modes and symlinks for wave a; the rest is the fork's
    synced, upstream, fork = tree(r.fork, "sync/upstream"), tree(r.upstream, r.main), tree(r.fork, r.fork_head)
    for path in WAVE_A:
        assert synced.get(path) == upstream.get(path), path
    assert synced["bin/mode.sh"][0] == "100755" and synced["bin/run.sh"] == ("100755", b"#!/bin/sh\necho v2\n")
    assert synced["lib/link"] == ("120000", b"next.txt") and synced["lib/newlink"] == ("120000", b"../src/new.py")
    assert "src/old.py" not in synced                                   # upstream-deleted: removed
    for path in ("README.md", "shared.txt", "fork.txt", "docs/guide.md", "src/util.py"):
        assert synced[path] == fork[path], path                         # fork-changed, wave b, untouched

    # the fork's own branch, HEAD, index and working tree are exactly as the user left them
    assert rev(r.fork, "main") == r.fork_head
    assert checkout_state(r.fork) == before
    report = (r.reports / "wave-a" / "report.md").read_text()
    assert "adopted: " + str(len(names)) in report and "src/new.py" in report


def test_both_changed_is_a_conflict_and_a_persons_sync_branch_edit_is_kept(tmp_path: Path) -> None:
    r = repos(tmp_path)
    # someone fixed the guide by hand on the sync branch after drift was computed
    subprocess.run(["git", "-C", str(r.fork), "branch", "sync/upstream", "main"], check=True)
    edited = commit_tree(r.fork, {**FORK, "docs/guide.md": "# Guide, fixed by hand\n"}, branch="sync/upstream",
                         message="hand edit", tick=20)

    result = run_doit(r.workspace, "wave_b")

    assert result.returncode != 0                                        # a conflicted slice is not adopted
    name = slice_of(r, "shared.txt")
    out = outcome(r, name)
    assert out["status"] == "conflicted"
    conflicts = {c["path"]: c["reason"] for c in out["conflicts"]}
    assert set(conflicts) == {"shared.txt"}
    assert conflicts["shared.txt"] == "3-way merge conflict"      # both rewrote the one line
    conflict_text = (r.reports / "slices" / name / "conflicts" / "shared.txt").read_text()
    assert "<<<<<<< fork" in conflict_text and "||||||| base" in conflict_text and ">>>>>>> upstream" in conflict_text
    # a person's commit on the sync branch is their version of the file: kept, never overwritten
    assert out["resolved"] == [{"path": "docs/guide.md", "commit": edited, "by": "a person"}]
    assert out["adopted"] == ["docs/new.md"]
    synced = tree(r.fork, "sync/upstream")
    assert synced["shared.txt"] == (("100644", b"fork\n"))
    assert synced["docs/guide.md"] == ("100644", b"# Guide, fixed by hand\n")
    assert synced["docs/new.md"] == ("100644", b"# New\n")
    assert edited in git_out(r.fork, "rev-list", "sync/upstream").split()          # the person's commit stays
    report = (r.reports / "slices" / name / "report.md").read_text()
    assert "## Conflicts (not imported)" in report and "`shared.txt`" in report and "`docs/guide.md`" in report
    assert "resolved by a person" in report
    assert f"{name}: conflicted" in result.stdout
    assert rev(r.fork, "main") == r.fork_head


def test_an_unknown_slice_is_an_error_naming_it(tmp_path: Path) -> None:
    r = repos(tmp_path)
    result = run_doit(r.workspace, "validate:slice-99")
    assert result.returncode != 0
    assert "slice-99: no such slice in reports/plan.json" in result.stderr
    assert f"slices: slice-1..slice-{len(plan(r)['slices'])}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert rev(r.fork, "sync/upstream") is None                         # nothing was imported
    imported = run_doit(r.workspace, "import:slice-99")
    assert imported.returncode != 0 and "slice-99" in imported.stderr


ESCAPING = {"packages/up-ui/src/evil": Symlink("../../../../etc/passwd"),
            "packages/up-ui/src/ok": Symlink("../../up-ui/src/button.js"),
            "packages/up-ui/src/button.js": "button\n"}


def test_a_symlink_escaping_the_repository_is_blocked_and_never_written(tmp_path: Path) -> None:
    base = {"packages/up-ui/src/button.js": "button\n"}
    r = build(tmp_path, base, {**base, **ESCAPING})

    result = run_doit(r.workspace, "wave_a")

    assert result.returncode != 0
    name = slice_of(r, "packages/up-ui/src/evil")
    out = outcome(r, name)
    assert out["status"] == "split" and out["adopted"] == ["packages/up-ui/src/ok"]
    [blocked] = out["deferred"]
    assert blocked["files"] == ["packages/up-ui/src/evil"] and blocked["checks"] == ["path-safety"]
    assert blocked["reason"] == "blocked: symlink target leaves the repository: ../../../../etc/passwd"
    synced = tree(r.fork, "sync/upstream")
    assert "packages/up-ui/src/evil" not in synced
    assert synced["packages/up-ui/src/ok"] == ("120000", b"../../up-ui/src/button.js")
    assert all("evil" not in git_out(r.fork, "ls-tree", "-r", "--name-only", sha) for sha, _ in
               slice_commits(r.fork, "main..sync/upstream"))
    report = (r.reports / "slices" / name / "report.md").read_text()
    assert "`packages/up-ui/src/evil`: blocked: symlink target leaves the repository" in report
    assert "packages/up-ui/src/evil" in (r.reports / "wave-a" / "report.md").read_text()
    assert not (r.workspace / ".forkwave" / "worktree" / "packages/up-ui/src/evil").is_symlink()
    assert "/etc/passwd" not in all_text(r.workspace / ".forkwave" / "worktree")
