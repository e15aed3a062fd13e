"""Commits on real repositories: first-parent logs, merges and picks as trees, patch-ids, tags, cooldown."""
from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from conftest import Executable, commit_tree, git_out, make_repo
from sharedkit import clone_at, shared, tree_files, untouched, upstream_history

from tasks.repo import git, synth
from tasks.core.commit import SOURCE_TRAILER, Commit, pick_message, picked_from
from tasks.core.cooldown import cool, parse_duration
from tasks.core.ranges import CULPRIT, first_bad
from tasks.errors import ForkwaveError
from tasks.repo import commits
from tasks.repo.commits import (already_present, commit_merge, commit_pick, conflict_texts, fast_forwards,
                                first_parent, fork_present, is_ancestor, merge, merge_base, newest_tag, patch_ids,
                                pick, revert)

EPOCH = synth.EPOCH


def test_docstring_examples() -> None:
    assert doctest.testmod(commits).failed == 0


# --- first-parent history ---------------------------------------------------------------

def test_first_parent_lists_upstream_commits_since_the_merge_base(tmp_path: Path) -> None:
    sh = shared(tmp_path)
    assert merge_base(sh.fork, sh.tip(), sh.up[-1], env=sh.env) == sh.base == sh.up[19]
    found = first_parent(sh.fork, sh.up[-1], sh.base, env=sh.env)
    assert [c.sha for c in found] == sh.up[20:]
    first = found[0]
    assert (first.subject, first.body, first.paths) == ("feat: upstream 21", "Body of 21.\n", ("src/m21.txt",))
    assert first.parents == (sh.up[19],) and (first.author_name, first.author_email) == ("Up21", "up21@example.com")
    assert first.author_date == first.committer_date == EPOCH + 21 * 60


def test_first_parent_follows_the_first_parent_and_diffs_a_merge_against_it(tmp_path: Path) -> None:
    up = make_repo(tmp_path / "up")
    base = commit_tree(up, {"a.txt": "a\n"}, message="feat: base")
    side = commit_tree(up, {"a.txt": "a\n", "side.txt": "s\n"}, message="feat: side", branch="topic")
    main = commit_tree(up, {"a.txt": "a2\n"}, message="fix: main", tick=2)
    tree = git.mktree(up, [git.TreeEntry("100644", "blob", git.rev_parse(up, f"{rev}:{p}") or "", p)
                           for p, rev in (("a.txt", main), ("side.txt", side))])
    merged = commits.commit_tree(up, tree, (main, side), "Merge topic\n")
    found = first_parent(up, merged, base)
    assert [c.sha for c in found] == [main, merged]  # the topic's own commit is not first-parent history
    assert found[1].is_merge and found[1].paths == ("side.txt",)


def test_first_parent_reads_odd_paths_and_messages(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    odd = {"new\nline.txt": "1\n", "tab\there.txt": "2\n", " lead.txt": "3\n", "\x01M.txt": "4\n",
           "ünï.txt": "5\n"}
    commit_tree(repo, {"x": "0\n"})
    sha = commit_tree(repo, {"x": "0\n", **odd}, message="fix(odd): paths\n\nLine one.\n\nTrailer: yes\n", tick=1)
    [c] = first_parent(repo, sha, f"{sha}^")
    assert sorted(c.paths) == sorted(odd) and c.body == "Line one.\n\nTrailer: yes\n"
    assert first_parent(repo, sha)[0].parents == ()  # the root commit: everything since nothing


def test_commit_info_refuses_an_unknown_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a": "1\n"})
    with pytest.raises(ForkwaveError, match=r"^f{10}\w*: no such commit in .*; fetch it and run again"):
        commits.commit_info(repo, "f" * 40)


# --- merges of upstream commits into a sync branch ---------------------------------------

def test_a_sync_branch_without_commits_of_its_own_fast_forwards(tmp_path: Path) -> None:
    sh = shared(tmp_path, fork_commits=0)
    assert fast_forwards(sh.fork, sh.tip(), sh.up[-1], env=sh.env)
    assert merge(sh.fork, sh.tip(), sh.up[-1], env=sh.env).tree == git.tree_of(sh.upstream, sh.up[-1])


def test_fork_commits_need_a_merge_commit_and_none_is_lost(tmp_path: Path) -> None:
    sh = shared(tmp_path)
    tip = sh.tip()
    before = untouched(sh.fork)
    assert not fast_forwards(sh.fork, tip, sh.up[-1], env=sh.env)
    result = merge(sh.fork, tip, sh.up[-1], env=sh.env)
    assert result.clean and untouched(sh.fork) == before
    files = tree_files(sh.fork, result.tree, sh.env)
    assert files == {**sh.files[-1], "fork/notes-1.txt": "fork note 1\n", "fork/notes-2.txt": "fork note 2\n"}
    merged = commit_merge(sh.fork, result.tree, tip, sh.up[-1], "Merge upstream c40\n", env=sh.env)
    assert git_out(sh.fork, "rev-parse", f"{merged}^1", f"{merged}^2").split() == [tip, sh.up[-1]]
    assert is_ancestor(sh.fork, tip, merged, env=sh.env) and is_ancestor(sh.fork, sh.up[-1], merged, env=sh.env)
    assert untouched(sh.fork) == before  # a commit object, no ref moved


CONFLICTS = {31: {"shared.txt": "one\nTWO upstream\nthree\n", "gone.txt": None}}
FORK_EDITS = {"shared.txt": "one\ntwo fork\nthree\n", "gone.txt": "kept by the fork\n"}


def conflicting(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The fork edits shared.txt and gone.txt; upstream commit 31 edits the same line and deletes gone.txt."""
    edits = {5: {"gone.txt": "old\n"}, **CONFLICTS}
    return shared(tmp_path, edits=edits, fork_edits=FORK_EDITS)


def test_a_conflicting_merge_names_its_paths_and_writes_diff3_texts(tmp_path: Path) -> None:
    sh = conflicting(tmp_path)
    before = untouched(sh.fork)
    result = merge(sh.fork, sh.tip(), sh.up[-1], env=sh.env)
    assert not result.clean and sorted(result.conflicted_paths) == ["gone.txt", "shared.txt"]
    assert "modify/delete" in result.why("gone.txt") and "Merge conflict in shared.txt" in result.why("shared.txt")
    stages = {c.path: [s for s, _, _ in c.stages] for c in result.conflicts}
    assert stages == {"shared.txt": [1, 2, 3], "gone.txt": [1, 2]}
    texts = conflict_texts(sh.fork, result, env=sh.env)
    assert list(texts) == ["shared.txt"]  # modify/delete has no text to edit; why() says what it is
    assert texts["shared.txt"] == (b"one\n<<<<<<< sync\ntwo fork\n||||||| base\ntwo\n=======\nTWO upstream\n"
                                   b">>>>>>> upstream\nthree\n")
    assert untouched(sh.fork) == before


def test_the_first_conflicting_commit_is_found_by_bisection(tmp_path: Path) -> None:
    sh = conflicting(tmp_path)
    rng = first_parent(sh.fork, sh.up[-1], sh.base, env=sh.env)
    tip = sh.tip()
    def verdict(i: int) -> bool:  # commits 1..i merged into the sync tip (0: the range's start, already in it)
        return merge(sh.fork, tip, rng[i - 1].sha if i else sh.base, env=sh.env).clean

    found = first_bad(len(rng), verdict, check_ends=True)
    assert found.status == CULPRIT and rng[found.culprit].sha == sh.up[30] and found.good == 10
    assert found.calls <= 7  # ceil(log2 20) + 2
    prefix = merge(sh.fork, tip, rng[found.good - 1].sha, env=sh.env)
    assert prefix.clean and "src/m30.txt" in tree_files(sh.fork, prefix.tree, sh.env)


def test_a_file_added_in_a_folder_the_fork_renamed_is_a_conflict(tmp_path: Path) -> None:
    """merge-ort's directory-rename detection: upstream adds old/b.txt, the fork moved old/ to new/."""
    body = {f"old/a{i}.txt": f"file {i} with enough text to be a rename\n" for i in range(3)}
    moved = {p.replace("old/", "new/"): c for p, c in body.items()}
    sh = shared(tmp_path, edits={1: body, 25: {"old/b.txt": "new\n"}}, fork_edits={**dict.fromkeys(body), **moved})
    result = merge(sh.fork, sh.tip(), sh.up[-1], env=sh.env)
    assert not result.clean and result.conflicted_paths == ("new/b.txt",)
    assert "CONFLICT (file location)" in result.why("new/b.txt")
    assert conflict_texts(sh.fork, result, env=sh.env) == {}  # one side only: nothing to edit as text


def test_a_persons_merge_on_the_sync_branch_is_recognised(tmp_path: Path) -> None:
    sh = conflicting(tmp_path)
    tip, culprit = sh.tip(), sh.up[30]
    assert not is_ancestor(sh.fork, culprit, tip, env=sh.env)
    git.git(sh.fork, "fetch", "--quiet", str(sh.upstream), "refs/tags/c31:refs/remotes/up/c31")
    git.git(sh.fork, "merge", "--quiet", "--no-edit", "refs/remotes/up/c31", check=False)  # conflicts
    (sh.fork / "shared.txt").write_text("one\ntwo, both\nthree\n")
    git.git(sh.fork, "add", "-A")
    git.git(sh.fork, "commit", "--quiet", "--no-edit")
    assert is_ancestor(sh.fork, culprit, sh.tip(), env=sh.env)
    assert merge(sh.fork, sh.tip(), sh.up[-1], env=sh.env).clean  # the rest of the range now merges


def test_revert_undoes_one_commit_and_keeps_the_later_ones(tmp_path: Path) -> None:
    sh = shared(tmp_path, edits={31: {"shared.txt": "one\ntwo\nthree\nbroken\n"}})
    merged = merge(sh.fork, sh.tip(), sh.up[-1], env=sh.env)
    on_top = commit_merge(sh.fork, merged.tree, sh.tip(), sh.up[-1], "Merge\n", env=sh.env)
    undone = revert(sh.fork, sh.up[30], on_top, env=sh.env)
    files = tree_files(sh.fork, undone.tree, sh.env)
    assert undone.clean and files["shared.txt"] == "one\ntwo\nthree\n"
    assert "src/m31.txt" not in files and "src/m40.txt" in files and "fork/notes-2.txt" in files
    message = commits.revert_message(commits.commit_info(sh.fork, sh.up[30], env=sh.env), "check unit fails")
    assert message.startswith('Revert "feat: upstream 31"') and "(on_failure: revert)" in message


def test_unrelated_histories_are_refused_in_one_line(tmp_path: Path) -> None:
    a = make_repo(tmp_path / "a", {"x": "1\n"})
    b = make_repo(tmp_path / "b", {"y": "1\n"})
    env = git.alternates_env(b)
    with pytest.raises(ForkwaveError, match=r"share no history in .*; .* syncs with mode: snapshot$"):
        merge(a, git.rev_parse(a, "main") or "", git.rev_parse(b, "main") or "", env=env)


# --- cherry-picks from a sibling --------------------------------------------------------

def sibling(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fork (3 upstream commits) and a sibling cloned from it that adds commits of its own."""
    up = tmp_path / "up.git"
    upstream_history(up, 3, start={"README.md": "# r\n", ".env": "A=1\n", "src/util.py": "def f():\n    return 1\n"})
    fork = tmp_path / "fork"
    clone_at(up, fork, 3)
    sib = tmp_path / "sibling"
    clone_at(up, sib, 3)
    return fork, sib


def sibling_commit(sib: Path, changes: dict[str, str | None], subject: str, tick: int,
                   author: str = "Sib <sib@example.com>") -> str:
    files = tree_files(sib, git.tree_of(sib, "main"))
    for p, text in changes.items():
        if text is None:
            files.pop(p, None)
        else:
            files[p] = text
    return commit_tree(sib, files, message=subject, tick=tick, author=author)


def test_a_pick_drops_a_denied_path_and_carries_its_trailers(tmp_path: Path) -> None:
    fork, sib = sibling(tmp_path)
    message = "fix: f\nwrapped subject line\n\nWhy it matters.\n\nSigned-off-by: Sib <sib@example.com>"
    sha = sibling_commit(sib, {".env": "A=2\nTOKEN=x\n", "src/util.py": "def f():\n    return 2\n"}, message, 10)
    env = git.alternates_env(sib)
    tip = git.rev_parse(fork, "main") or ""
    before = untouched(fork)
    picked = pick(fork, sha, tip, drop=[".env"], env=env)
    assert picked.clean and not picked.empty and picked.dropped == (".env",)
    files = tree_files(fork, picked.tree or "", env)
    assert files["src/util.py"] == "def f():\n    return 2\n" and files[".env"] == "A=1\n"
    info = commits.commit_info(fork, sha, env=env)
    made = commit_pick(fork, picked.tree or "", tip, info, "sibling", env=env)
    assert untouched(fork) == before  # objects only: no ref, no index, no checkout
    assert git_out(fork, "log", "-1", "--format=%an <%ae>|%at|%cn", made).strip() == \
        f"Sib <sib@example.com>|{EPOCH + 600}|forkwave"
    assert git_out(fork, "log", "-1", f"--format=%(trailers:key={SOURCE_TRAILER},valueonly)", made).strip() == \
        "sibling"
    assert git_out(fork, "log", "-1", "--format=%B", made) == (
        f"{message}\n(cherry picked from commit {sha})\nForkwave-Source: sibling\n\n")


def test_a_pick_left_empty_by_dropping_is_skipped(tmp_path: Path) -> None:
    fork, sib = sibling(tmp_path)
    sha = sibling_commit(sib, {".env": "A=3\n"}, "fix: env only", 10)
    picked = pick(fork, sha, git.rev_parse(fork, "main") or "", drop=[".env"], env=git.alternates_env(sib))
    assert (picked.empty, picked.result, picked.reason) == (True, None, "empty: every path it changes was dropped")


def test_a_pick_the_tip_already_has_is_empty(tmp_path: Path) -> None:
    fork, sib = sibling(tmp_path)
    change = {"src/util.py": "def f():\n    return 2\n"}
    sha = sibling_commit(sib, change, "fix: f", 10)
    tip = sibling_commit(fork, change, "fix: f by hand", 11, author="Me <me@example.com>")
    picked = pick(fork, sha, tip, env=git.alternates_env(sib))
    assert picked.empty and picked.reason == "empty: the tip already has this change"


def test_a_conflicting_pick_names_its_paths(tmp_path: Path) -> None:
    fork, sib = sibling(tmp_path)
    sha = sibling_commit(sib, {"src/util.py": "def f():\n    return 2\n"}, "fix: f", 10)
    tip = sibling_commit(fork, {"src/util.py": "def f():\n    return 3\n"}, "fix: f our way", 11)
    env = git.alternates_env(sib)
    picked = pick(fork, sha, tip, env=env)
    assert not picked.clean and picked.result is not None and picked.result.conflicted_paths == ("src/util.py",)
    text = conflict_texts(fork, picked.result, ("fork", "base", "sibling"), env=env)["src/util.py"]
    assert b"<<<<<<< fork\n    return 3\n||||||| base\n    return 1\n=======\n    return 2\n>>>>>>> sibling\n" in text


def test_a_pick_of_a_rename_moves_the_fork_file(tmp_path: Path) -> None:
    """A 3-way merge, not a patch: the sibling renames a file the fork edited; the edit follows the rename."""
    fork, sib = sibling(tmp_path)
    body = "".join(f"line {i}\n" for i in range(20))
    sibling_commit(sib, {"lib/long.py": body}, "feat: long", 10)
    sibling_commit(fork, {"lib/long.py": body}, "feat: long", 10)  # the same commit: both have it
    assert git.rev_parse(sib, "main") == git.rev_parse(fork, "main")
    sha = sibling_commit(sib, {"lib/long.py": None, "lib/renamed.py": body}, "refactor: rename", 11)
    tip = sibling_commit(fork, {"lib/long.py": body.replace("line 3\n", "line 3 fork\n")}, "fix: fork edit", 12)
    picked = pick(fork, sha, tip, env=git.alternates_env(sib))
    files = tree_files(fork, picked.tree or "", git.alternates_env(sib))
    assert picked.clean and "lib/long.py" not in files and "line 3 fork\n" in files["lib/renamed.py"]


# --- nothing twice: patch-ids and trailers ----------------------------------------------

def test_commits_already_in_the_fork_are_found_by_patch_id_or_trailer(tmp_path: Path) -> None:
    fork, sib = sibling(tmp_path)
    env = git.alternates_env(sib)
    base = git.rev_parse(fork, "main") or ""
    picked_by_hand = sibling_commit(sib, {"src/util.py": "def f():\n    return 2\n"}, "fix: f", 10)
    same_fix = sibling_commit(sib, {"README.md": "# r\n\nUsage.\n"}, "docs: usage", 11)
    ours = sibling_commit(sib, {"src/new.py": "x = 1\n", ".env": "A=9\n"}, "feat: new", 12)
    fresh = sibling_commit(sib, {"src/other.py": "y = 2\n"}, "feat: other", 13)
    # a person cherry-picked the first (no -x: another sha, no trailer) ...
    git.git(fork, "fetch", "--quiet", str(sib), "main:refs/remotes/sib/main")
    git.git(fork, "cherry-pick", picked_by_hand)
    # ... made the second fix by hand, another author on another day ...
    sibling_commit(fork, {"README.md": "# r\n\nUsage.\n"}, "Document usage", 40, author="Me <me@example.com>")
    # ... and forkwave picked the third with .env dropped (a different patch: found by its trailer)
    tip = git.rev_parse(fork, "main") or ""
    p = pick(fork, ours, tip, drop=[".env"], env=env)
    ours_pick = commit_pick(fork, p.tree or "", tip, commits.commit_info(fork, ours, env=env), "sibling", env=env)
    git.git(fork, "update-ref", "refs/heads/main", ours_pick, tip)
    present = fork_present(fork, "main", base, env=env)
    found = already_present(fork, [picked_by_hand, same_fix, ours, fresh], present, env=env)
    assert {s: f.how for s, f in found.items()} == {picked_by_hand: "patch-id", same_fix: "patch-id",
                                                    ours: "trailer"}
    assert found[ours].fork_sha == ours_pick and found[ours].reason == f"already present: picked as {ours_pick[:10]}"
    assert found[picked_by_hand].fork_sha != picked_by_hand
    assert fresh not in found


def test_a_conflict_that_left_no_stages_is_named_by_its_messages() -> None:
    out = f"{'t' * 40}\0\0" "2\0a/x\0b/x\0CONFLICT (rename/rename)\0CONFLICT (rename/rename): a/x, b/x\n\0"
    result = commits.parse_merge_tree(out.encode(), exit_clean=False)
    assert not result.clean and result.conflicts == () and result.conflicted_paths == ("a/x", "b/x")
    assert commits.parse_merge_tree(out.encode()).clean  # judged by the stages alone


def test_patch_ids_leave_out_merges_and_empty_commits_and_tell_binary_changes_apart(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    c0 = commit_tree(repo, {"t.txt": "t\n", "b.bin": b"\0\1one"})
    c1 = commit_tree(repo, {"t.txt": "t\n", "b.bin": b"\0\1two"}, tick=1)
    c2 = commit_tree(repo, {"t.txt": "t\n", "b.bin": b"\0\1three"}, tick=2)
    c3 = commit_tree(repo, {"t.txt": Executable("t\n"), "b.bin": b"\0\1three"}, tick=3)  # mode only
    c4 = commit_tree(repo, {"t.txt": Executable("t\n"), "b.bin": b"\0\1three"}, tick=4)  # empty
    merged = commits.commit_tree(repo, git.tree_of(repo, c4), (c4, c1), "Merge\n")
    ids = patch_ids(repo, [c0, c1, c2, c3, c4, merged, c1])
    assert set(ids) == {c0, c1, c2, c3} and len(set(ids.values())) == 4
    assert patch_ids(repo, []) == {}


# --- cooldown and release tags ----------------------------------------------------------

def test_min_age_keeps_the_prefix_committed_long_enough_ago(tmp_path: Path) -> None:
    up = tmp_path / "up.git"
    shas, _ = upstream_history(up, 10, day_ticks=True)  # commit k on day k
    now = EPOCH + 10 * 86400
    cooled = commits.ripe(up, shas[-1], shas[1], min_age="3d", now=now)
    assert [c.sha for c in cooled.ripe] == shas[2:7]  # days 3..7 are at least 3 days old on day 10
    assert [c.sha for c in cooled.waiting] == shas[7:] and cooled.ripens_at == EPOCH + 11 * 86400
    assert cooled == cool(first_parent(up, shas[-1], shas[1]), parse_duration("3d"), now)
    assert len(commits.ripe(up, shas[-1], shas[1]).ripe) == 8  # no min_age: everything since is ripe


def test_newest_tag_by_version_order_without_prereleases(tmp_path: Path) -> None:
    up = tmp_path / "up.git"
    shas, _ = upstream_history(up, 8)
    for name, k in (("v1.2.0", 1), ("v1.9.0", 2), ("v1.10.0", 3), ("v2.0.0-rc1", 5), ("nightly-9", 6), ("v1/x", 7)):
        git.git(up, "tag", name, shas[k - 1])
    git.git(up, "tag", "-a", "-m", "annotated", "v1.11.0", shas[3])
    blob = git.git(up, "hash-object", "-w", "--stdin", input=b"not a commit").decode().strip()
    git.git(up, "tag", "v9.9.9", blob)  # a tag naming a blob is no release
    before = untouched_bare(up)
    newest = newest_tag(up, "v*")
    assert newest is not None and (newest.name, newest.commit) == ("v1.11.0", shas[3])
    pre = newest_tag(up, "v*", prereleases=True)
    assert pre is not None and (pre.name, pre.commit) == ("v2.0.0-rc1", shas[4])
    assert [t.name for t in commits.tags(up, "v1.*")] == ["v1.11.0", "v1.10.0", "v1.9.0", "v1.2.0"]
    assert newest_tag(up, "release-*") is None
    assert untouched_bare(up) == before


def test_a_prerelease_sorts_before_its_release(tmp_path: Path) -> None:
    up = tmp_path / "up.git"
    shas, _ = upstream_history(up, 4)
    for name, k in (("v2.0.0-rc1", 1), ("v2.0.0", 2), ("2.1rc1", 3), ("2.1", 4)):
        git.git(up, "tag", name, shas[k - 1])
    assert [t.name for t in commits.tags(up, "v2*")] == ["v2.0.0", "v2.0.0-rc1"]
    assert [t.name for t in commits.tags(up, "2.*")] == ["2.1", "2.1rc1"]


def test_release_tag_follows_a_tag_glob_and_refuses_one_matching_nothing(tmp_path: Path) -> None:
    up = tmp_path / "up.git"
    shas, _ = upstream_history(up, 3)
    git.git(up, "tag", "v1.0.0", shas[0])
    git.git(up, "tag", "v1.1.0-rc1", shas[2])
    assert commits.release_tag(up, "main") is None and commits.release_tag(up, "tags/v1.0.0") is None
    tag = commits.release_tag(up, "tags/v*")
    assert tag is not None and (tag.name, tag.commit) == ("v1.0.0", shas[0])
    with pytest.raises(ForkwaveError, match=r"^ref 'tags/release-\*': no release tag \(pre-releases left out\) in "
                                            r".* matches 'release-\*'; check the glob or push a tag$"):
        commits.release_tag(up, "tags/release-*")


def untouched_bare(repo: Path) -> str:
    return git_out(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def test_commit_record_round_trips_the_pick_message(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a": "1\n"})
    c = Commit("d" * 40, subject="feat: x", body="Why.\n\nSigned-off-by: A <a@x>\n")
    made = commits.commit_tree(repo, git.tree_of(repo, "main"), (), pick_message(c, "web"))
    parsed = git_out(repo, "log", "-1", "--format=%(trailers:only,unfold)", made)
    assert parsed.strip().splitlines() == ["Signed-off-by: A <a@x>", "Forkwave-Source: web"]
    assert picked_from(git_out(repo, "log", "-1", "--format=%B", made)) == ("d" * 40,)


def test_a_pick_from_a_sibling_sharing_no_history(tmp_path: Path) -> None:
    """Objects from another history: the pick is a 3-way merge of trees, so only the contents need to agree."""
    fork = make_repo(tmp_path / "fork", {"src/util.py": "def f():\n    return 1\n", "README.md": "# fork\n"})
    sib = make_repo(tmp_path / "sib")
    root = commit_tree(sib, {"src/util.py": "def f():\n    return 1\n"}, message="feat: start", tick=1)
    fix = commit_tree(sib, {"src/util.py": "def f():\n    return 2\n"}, message="fix: two", tick=2)
    env = git.alternates_env(sib)
    tip = git.rev_parse(fork, "main") or ""
    picked = pick(fork, fix, tip, env=env)
    assert picked.clean and tree_files(fork, picked.tree or "", env) == {
        "src/util.py": "def f():\n    return 2\n", "README.md": "# fork\n"}
    rooted = pick(fork, root, tip, env=env)  # a root commit: its change is everything it holds
    assert rooted.empty and rooted.reason == "empty: the tip already has this change"


def test_a_pick_drops_odd_paths_exactly(tmp_path: Path) -> None:
    fork, sib = sibling(tmp_path)
    odd = "conf/new\nline.env"
    sha = sibling_commit(sib, {odd: "S=1\n", "conf/tab\tname": "t\n", "src/util.py": "x = 5\n"}, "feat: odd", 10)
    env = git.alternates_env(sib)
    picked = pick(fork, sha, git.rev_parse(fork, "main") or "", drop=[odd, "conf/tab\tname", "not/changed"], env=env)
    files = tree_files(fork, picked.tree or "", env)
    assert set(picked.dropped) == {odd, "conf/tab\tname"}  # "not/changed" is no path of the commit
    assert odd not in files and "conf/tab\tname" not in files and files["src/util.py"] == "x = 5\n"
