"""What the fork holds of a source's commits, on real repositories: read since a bound, limited to the
candidates' paths, patch-ids only where the path sets agree, kept by sha."""
from __future__ import annotations

import doctest
import json
from pathlib import Path

from conftest import commit_tree, git_out, make_repo

from tasks.repo import commits, git, presence

BASE = {"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n"}


def source(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    up = make_repo(tmp_path / "up.git", bare=True)
    shas = {"base": commit_tree(up, BASE, message="base")}
    shas["one"] = commit_tree(up, {**BASE, "a.txt": "a 1\n"}, message="feat: one", tick=1)
    shas["two"] = commit_tree(up, {**BASE, "a.txt": "a 1\n", "b.txt": "b 2\n"}, message="feat: two", tick=2)
    return up, shas


def fork_with(tmp_path: Path, steps: list[tuple[dict[str, str], str]]) -> tuple[Path, list[str]]:
    fork = make_repo(tmp_path / "fork")
    made = [commit_tree(fork, files, message=message, tick=10 + i) for i, (files, message) in enumerate(steps)]
    return fork, made


def infos(up: Path, *shas: str) -> list[commits.Commit]:
    return list(commits.commit_infos(up, list(shas)).values())


def test_docstring_examples() -> None:
    assert doctest.testmod(presence).failed == 0


def test_a_pick_is_found_by_its_trailer_and_the_same_change_by_patch_id(tmp_path: Path) -> None:
    up, shas = source(tmp_path)
    fork, made = fork_with(tmp_path, [
        (BASE, "product"),
        ({**BASE, "c.txt": "c fork\n"}, "ours"),
        ({**BASE, "c.txt": "c fork\n", "a.txt": "a 1\n"}, "same change by hand"),                 # one's patch
        ({**BASE, "c.txt": "c fork\n", "a.txt": "a 1\n", "b.txt": "b 2, fixed\n"},
         f"two, fixed\n\n(cherry picked from commit {shas['two']})\n"),                         # two, with a fix
    ])
    index = presence.scan(fork, ["refs/heads/main"], [made[0]], ["a.txt", "b.txt"])
    assert set(index.entries) == {made[2], made[3]}               # "ours" changes none of the candidates' paths
    found = presence.held(index, up, infos(up, shas["one"], shas["two"]), env=git.alternates_env(fork))
    assert (found[shas["one"]].fork_sha, found[shas["one"]].how) == (made[2], "patch-id")
    assert (found[shas["two"]].fork_sha, found[shas["two"]].how) == (made[3], "trailer")


def test_the_bound_leaves_older_commits_out_and_patch_ids_are_computed_only_where_paths_agree(
        tmp_path: Path) -> None:
    up, shas = source(tmp_path)
    fork, made = fork_with(tmp_path, [
        (BASE, "product"),
        ({**BASE, "a.txt": "a 1\n"}, "one's change, long ago"),
        ({**BASE, "a.txt": "a 1\n", "b.txt": "b other\n"}, "b, another way"),
        ({**BASE, "a.txt": "a 2\n", "b.txt": "b other\n", "c.txt": "c 2\n"}, "a and c"),
    ])
    cache = tmp_path / "cache.json"
    index = presence.scan(fork, ["refs/heads/main"], [made[1]], ["a.txt", "b.txt"], cache=cache)
    assert made[1] not in index.entries                         # below the bound
    found = presence.held(index, up, infos(up, shas["one"], shas["two"]), env=git.alternates_env(fork))
    assert found == {}
    assert set(index.pids) == {made[2]}      # two changes b.txt alone: only "b, another way" is diffed
    index.save()
    assert json.loads(cache.read_text())["patch-ids"] == {made[2]: index.pids[made[2]]}
    again = presence.scan(fork, ["refs/heads/main"], [made[1]], ["a.txt", "b.txt"], cache=cache)
    assert again.pids == index.pids and not again.dirty          # read back, not computed again


def test_a_merge_is_compared_by_its_change_against_its_first_parent(tmp_path: Path) -> None:
    up = make_repo(tmp_path / "up.git", bare=True)
    base = commit_tree(up, BASE, message="base")
    git.git(up, "update-ref", "refs/heads/pr", base)
    commit_tree(up, {**BASE, "a.txt": "a pr\n"}, branch="pr", message="feat: in the pr", tick=1)
    commit_tree(up, {**BASE, "a.txt": "a pr\n", "b.txt": "b pr\n"}, branch="pr", message="feat: more", tick=2)
    tip = git.rev_parse(up, "refs/heads/pr") or ""
    merge = commit_tree(up, {**BASE, "a.txt": "a pr\n", "b.txt": "b pr\n"}, message="Merge pull request #1",
                        tick=3, merge=[tip])
    fork, made = fork_with(tmp_path, [(BASE, "product"),
                                      ({**BASE, "a.txt": "a pr\n", "b.txt": "b pr\n"}, "the PR squashed")])
    [m] = infos(up, merge)
    assert m.is_merge and m.paths == ("a.txt", "b.txt")
    index = presence.scan(fork, ["refs/heads/main"], [made[0]], list(m.paths))
    found = presence.held(index, up, [m], env=git.alternates_env(fork))
    assert (found[merge].fork_sha, found[merge].how) == (made[1], "patch-id")
    assert git_out(fork, "rev-parse", "main").strip() == made[1]
