"""Cherry-pick from a sibling whose main line is pull-request merges: whole (`pull_requests: merge`, the
default) or commit by commit (`commits`), filtered, and never picked twice in either form."""
from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git_out, run_doit, write_config
from siblingkit import build, config
from slicekit import read, tree


def test_a_pull_request_is_picked_whole_by_its_title(tmp_path: Path) -> None:
    s = build(tmp_path)
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "upstream-changed 0" not in res.stdout
    drift = s.drift()
    assert drift[s.shas["pr2"]]["pick"] and "pull request 'feat(cite): a citation viewer' (4 commits)" in \
        drift[s.shas["pr2"]]["reason"]
    assert drift[s.shas["pr2"]]["commits"] == [s.shas[k] for k in ("viewer", "tests", "escape", "guide")]
    assert drift[s.shas["pr4"]]["pick"] and "fix(cite) (1 of its 2 commits)" in drift[s.shas["pr4"]]["reason"]
    assert "every author is excluded" in drift[s.shas["pr1"]]["reason"]
    assert "scope 'chat'" in drift[s.shas["pr3"]]["reason"] and not drift[s.shas["direct"]]["pick"]
    assert s.picked() == [s.shas["pr2"], s.shas["pr4"]]          # two picks, each a whole pull request
    files = tree(s.fork, s.branch())
    assert files["web/cite/viewer.txt"][1] == b"viewer, escaped\n" and files["web/cite/viewer.test.txt"][1] == b"ok\n"
    assert files["web/cite/keys.txt"][1] == b"keys;\n" and files["web/app.txt"][1] == b"app, our brand\n"
    assert "docs/cite.md" not in files and "web/chat.txt" not in files and "web/lock.txt" not in files
    message = git_out(s.fork, "log", "-1", "--format=%B", f"--grep={s.shas['pr2']}", s.branch())
    assert message.startswith("Merge pull request #2 from ann/pr/2\n\nfeat(cite): a citation viewer")
    assert s.check_runs() == 1                                   # the chain judged once (it passes: no baseline)
    record = read(s.ws / "reports" / "slices" / "slice-1" / "outcome.json")
    assert record["status"] == "adopted" and record["counts"]["adopted"] == 2
    # the cursor stands on the main line: the next run offers nothing and runs nothing
    state = git_out(s.fork, "show", f"{s.branch()}:.forkwave/sync-state.json")
    assert f'"cursor": "{s.shas["pr4"]}"' in state
    again = run_doit(s.ws, "forget", "drift")
    again = run_doit(s.ws)
    assert again.returncode == 0 and s.check_runs() == 1 and s.picked() == [s.shas["pr2"], s.shas["pr4"]]


def test_pull_requests_commits_picks_each_commit_filtered(tmp_path: Path) -> None:
    s = build(tmp_path, pull_requests="commits")
    res = run_doit(s.ws)
    assert res.returncode == 0, res.stdout + res.stderr
    drift = s.drift()
    assert not drift[s.shas["pr2"]]["pick"] and "its commits are decided one by one" in drift[s.shas["pr2"]]["reason"]
    assert drift[s.shas["tests"]]["reason"] == "type 'test' is not one of feat, fix, perf, refactor"
    assert drift[s.shas["viewer"]]["unit"] == s.shas["pr2"]
    assert s.picked() == [s.shas["viewer"], s.shas["escape"], s.shas["keys"]]
    files = tree(s.fork, s.branch())
    assert files["web/cite/viewer.txt"][1] == b"viewer, escaped\n" and "web/cite/viewer.test.txt" not in files
    assert files["web/cite/keys.txt"][1] == b"keys\n"            # the lint commit is a `style:` one: not picked
    state = git_out(s.fork, "show", f"{s.branch()}:.forkwave/sync-state.json")
    assert f'"cursor": "{s.shas["pr4"]}"' in state                # a main-line commit, never a PR's own


def test_a_pull_request_already_picked_by_hand_is_not_picked_again_in_either_form(tmp_path: Path) -> None:
    """The fork's main holds PR 2 picked whole (``cherry-pick -m 1 -x``) and PR 4's fix picked alone: in
    `commits` form PR 2's commits are present through their merge; in `merge` form PR 4 is not present (its
    lint commit is not) — and PR 2, taken commit by commit by hand, is present through its commits."""
    s = build(tmp_path)
    person = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(s.fork), str(person)], check=True)
    git_out(person, "fetch", "-q", str(s.web), "main")
    git_out(person, "cherry-pick", "-m", "1", "-x", s.shas["pr2"])
    git_out(s.fork, "fetch", "-q", "--update-head-ok", str(person), "main:main")
    write_config(s.ws, config(s.shas, s.runs, pull_requests="commits"))
    assert run_doit(s.ws).returncode == 0
    drift = s.drift()
    for label in ("viewer", "escape"):
        assert drift[s.shas[label]]["kind"] == "already-present"
        assert drift[s.shas[label]]["reason"].startswith(f"already present: its pull request {s.shas['pr2'][:10]}")
    assert s.picked() == [s.shas["keys"]]
    # the other way round: each commit of PR 2 picked by hand, then `merge` form
    t = build(tmp_path / "two")
    person = tmp_path / "two" / "person"
    subprocess.run(["git", "clone", "-q", str(t.fork), str(person)], check=True)
    git_out(person, "fetch", "-q", str(t.web), "main")
    for label in ("viewer", "tests", "escape", "guide"):
        git_out(person, "cherry-pick", t.shas[label])             # no -x: found by patch-id
    git_out(t.fork, "fetch", "-q", "--update-head-ok", str(person), "main:main")
    assert run_doit(t.ws).returncode == 0
    pr2 = t.drift()[t.shas["pr2"]]
    assert pr2["kind"] == "already-present" and pr2["reason"].startswith("already present: its 4 commits")
    assert t.picked() == [t.shas["pr4"]]


def test_a_merge_picked_whole_is_found_by_its_patch_id(tmp_path: Path) -> None:
    """A squash of the pull request on the fork (no trailer) is the merge's change against its first parent."""
    s = build(tmp_path)
    person = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(s.fork), str(person)], check=True)
    git_out(person, "fetch", "-q", str(s.web), "main")
    git_out(person, "cherry-pick", "-m", "1", s.shas["pr4"])
    git_out(s.fork, "fetch", "-q", "--update-head-ok", str(person), "main:main")
    assert run_doit(s.ws).returncode == 0
    pr4 = s.drift()[s.shas["pr4"]]
    assert pr4["kind"] == "already-present" and "same change (patch-id)" in pr4["reason"]
    assert s.picked() == [s.shas["pr2"]]


def test_what_the_fork_merged_from_the_source_is_present(tmp_path: Path) -> None:
    """The fork merged the sibling's main up to pull request 2: its history holds that merge."""
    s = build(tmp_path)
    person = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(s.fork), str(person)], check=True)
    git_out(person, "fetch", "-q", str(s.web), s.shas["pr2"])
    git_out(person, "merge", "-q", "--no-edit", "FETCH_HEAD")
    git_out(s.fork, "fetch", "-q", "--update-head-ok", str(person), "main:main")
    assert run_doit(s.ws).returncode == 0
    pr2 = s.drift()[s.shas["pr2"]]
    assert pr2["kind"] == "already-present" and pr2["reason"].startswith("already present: in the history of")
    assert s.picked() == [s.shas["pr4"]]
