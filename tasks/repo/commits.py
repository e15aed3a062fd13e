"""Commits on the repository side: first-parent logs, patch-ids, and picks, reverts and merges computed
as trees — no ref, no index and no checkout is touched; only objects are written.

Every function runs in ``repo`` and takes ``env`` for git's environment: pass
``git.alternates_env(mirror)`` to read a source's objects from the fork (the result's trees
then refer to the mirror's blobs; copy those into the fork before a ref points at them).

git 2.39 (Debian 12) has ``merge-tree --write-tree`` but not its ``--merge-base`` (2.40): a
pick or a revert is a 3-way merge with a chosen base, so it is run as a real merge of two
throw-away commits that share one parent holding that base (``_three_way``).
"""
from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.repo import git
from tasks.core.commit import Commit, pick_message, picked_from
from tasks.core.cooldown import Cooled, cool, is_prerelease, parse_duration, tag_glob
from tasks.errors import ForkwaveError
from tasks.proc import CalledProcessError, run

Repo = str | Path
Env = Mapping[str, str] | None
LOG_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%at%x00%ct%x00%s%x00%b"
LOG_FIELDS = 8
# Throw-away commits (the base of a pick or a revert) get fixed dates, so the same inputs make
# the same objects: a repeated pick writes nothing new and the trees stay comparable.
FIXED_DATES = {"GIT_AUTHOR_DATE": "1000000000 +0000", "GIT_COMMITTER_DATE": "1000000000 +0000"}
TEXT_MODES = ("100644", "100755")
LABELS = ("sync", "base", "upstream")


# --- running git ----------------------------------------------------------------------

def _git(repo: Repo, *args: str, env: Env = None, input: bytes | None = None) -> bytes:
    return git.git(repo, *args, env=dict(env or {}), input=input)


def _git_rc(repo: Repo, *args: str, env: Env = None, input: bytes | None = None) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of a git command whose exit code carries an answer (merge-tree, merge-base)."""
    argv = ["git", "-C", str(repo), *args]
    proc = run(argv, input=input, check=False, env=git.git_env(dict(env or {}), repo=repo, args=args))
    return proc.returncode, proc.stdout, proc.stderr


def rev(repo: Repo, expr: str, *, env: Env = None) -> str | None:
    """The object id ``expr`` names (``x^{commit}``, ``x^{tree}``), reading alternates in ``env``; None if none."""
    rc, out, _ = _git_rc(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", expr, env=env)
    return (out.decode().strip() or None) if rc == 0 else None


def tree_of(repo: Repo, commit: str, *, env: Env = None) -> str:
    tree = rev(repo, f"{commit}^{{tree}}", env=env)
    if tree is None:
        raise ForkwaveError(f"{commit}: no such commit in {repo}; fetch it and run again")
    return tree


def _failed(argv: Sequence[str], rc: int, out: bytes, err: bytes) -> CalledProcessError:
    return CalledProcessError(("git", *argv), rc, out, err)


# --- first-parent history ---------------------------------------------------------------

def first_parent(repo: Repo, ref: str, since: str | None = None, *, limit: int | None = None,
                 env: Env = None) -> list[Commit]:
    """The first-parent commits of ``ref`` not reachable from ``since`` (all of them without it), oldest
    first, with the paths each changed against its first parent (a merge too; a rename as both names);
    ``limit``: only the newest that many.

    One ``git log``; its records start with a marker made fresh for the call, so no path can pass
    for the start of a record.
    """
    marker = "\x01" + secrets.token_hex(8)
    out = _git(repo, "log", "--first-parent", "--diff-merges=first-parent", "--root", "--no-renames", "--name-only",
               "-z", "--reverse", "--no-color", "--no-show-signature", f"--format={marker}{LOG_FORMAT}",
               *([f"--max-count={limit}"] if limit else []),
               "--end-of-options", ref, *([f"^{since}"] if since else []), "--", env=env)
    return parse_log(out, marker.encode())


def side_history(repo: Repo, ref: str, since: Sequence[str] = (), *, env: Env = None) -> list[Commit]:
    """Every commit of ``ref`` not reachable from ``since`` — merged branches included, not only the
    first-parent line — parents before children (``--topo-order``), each with its paths against its
    first parent: the commits pull requests brought (``tasks.core.pullrequests.brought``). One ``git log``."""
    marker = "\x01" + secrets.token_hex(8)
    out = _git(repo, "log", "--topo-order", "--diff-merges=first-parent", "--root", "--no-renames", "--name-only",
               "-z", "--reverse", "--no-color", "--no-show-signature", f"--format={marker}{LOG_FORMAT}",
               "--end-of-options", ref, *(f"^{s}" for s in since), "--", env=env)
    return parse_log(out, marker.encode())


def parse_log(out: bytes, marker: bytes) -> list[Commit]:
    r"""Parse ``git log -z --name-only --format=<marker>LOG_FORMAT`` output.

    The eight fields are NUL-separated (no message holds a NUL); the paths follow, the first
    after a newline; a commit that changed nothing has none.

    >>> rec = b"\x01M" + b"\0".join([b"a" * 40, b"", b"Ann", b"a@x", b"10", b"20", b"feat: x", b"why\n"])
    >>> c = parse_log(rec + b"\0\nsrc/a b\0docs/c\0", b"\x01M")[0]
    >>> c.subject, c.body, c.paths, c.parents, c.committer_date
    ('feat: x', 'why\n', ('src/a b', 'docs/c'), (), 20)
    """
    tokens = out.split(b"\0")
    commits: list[Commit] = []
    i = 0
    while i < len(tokens):
        if not tokens[i].startswith(marker):
            i += 1
            continue
        fields = [tokens[i][len(marker):]] + tokens[i + 1:i + LOG_FIELDS]
        i += LOG_FIELDS
        paths: list[str] = []
        while i < len(tokens) and not tokens[i].startswith(marker):
            tok = tokens[i][1:] if not paths and tokens[i].startswith(b"\n") else tokens[i]
            if tok:
                paths.append(tok.decode("utf-8", "surrogateescape"))
            i += 1
        commits.append(_commit(fields, paths))
    return commits


def _commit(fields: Sequence[bytes], paths: Sequence[str]) -> Commit:
    sha, parents, name, email, adate, cdate, subject, body = (f.decode("utf-8", "replace") for f in fields)
    return Commit(sha, tuple(parents.split()), name, email, int(adate), int(cdate), subject, body, tuple(paths))


def ripe(repo: Repo, ref: str, since: str | None = None, *, min_age: str | int = 0, now: int | None = None,
         env: Env = None) -> Cooled:
    """``first_parent(ref, since)`` cut to the prefix committed at least ``min_age`` (``3d``, ``12h``) before
    ``now`` (default: the clock), by committer date; the rest waits (``tasks.core.cooldown.cool``)."""
    found = first_parent(repo, ref, since, env=env)
    return cool(found, parse_duration(min_age), int(time.time()) if now is None else now)


def commit_info(repo: Repo, sha: str, *, env: Env = None) -> Commit:
    """One commit's record (its paths against its first parent)."""
    full = rev(repo, f"{sha}^{{commit}}", env=env)
    found = first_parent(repo, full, None, limit=1, env=env) if full else []
    if not found:
        raise ForkwaveError(f"{sha}: no such commit in {repo}; fetch it and run again")
    return found[0]


def commit_infos(repo: Repo, shas: Sequence[str], *, env: Env = None) -> dict[str, Commit]:
    """sha -> its record (paths against its first parent) for each of ``shas`` the repository has, in one
    ``git log --no-walk``."""
    if not shas:
        return {}
    marker = "\x01" + secrets.token_hex(8)
    out = _git(repo, "log", "--no-walk=unsorted", "--stdin", "--diff-merges=first-parent", "--root", "--no-renames",
               "--name-only", "-z", "--no-color", "--no-show-signature", f"--format={marker}{LOG_FORMAT}",
               env=env, input="".join(f"{s}\n" for s in shas).encode())
    return {c.sha: c for c in parse_log(out, marker.encode())}


# --- ancestry ---------------------------------------------------------------------------

def merge_base(repo: Repo, a: str, b: str, *, env: Env = None) -> str | None:
    """The best common ancestor of ``a`` and ``b``, or None when they share no history."""
    rc, out, err = _git_rc(repo, "merge-base", "--end-of-options", a, b, env=env)
    if rc not in (0, 1):
        raise _failed(("merge-base", a, b), rc, out, err)
    return out.decode().strip() or None


def is_ancestor(repo: Repo, ancestor: str, descendant: str, *, env: Env = None) -> bool:
    """Is ``ancestor`` reachable from ``descendant`` (a commit is its own ancestor)?

    How the next run sees that a person merged a conflicting commit on the sync branch.
    """
    rc, out, err = _git_rc(repo, "merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant, env=env)
    if rc not in (0, 1):
        raise _failed(("merge-base", "--is-ancestor", ancestor, descendant), rc, out, err)
    return rc == 0


def fast_forwards(repo: Repo, tip: str, target: str, *, env: Env = None) -> bool:
    """Can ``tip`` move to ``target`` without a merge commit (the sync branch has no commits of its own)?"""
    return is_ancestor(repo, tip, target, env=env)


# --- patch-ids --------------------------------------------------------------------------

def parse_patch_ids(out: bytes) -> dict[str, str]:
    """``git patch-id`` output (``<patch-id> <commit>`` lines) as commit -> patch-id.

    >>> parse_patch_ids(b"1111 aaaa\\n2222 bbbb\\n")
    {'aaaa': '1111', 'bbbb': '2222'}
    """
    pairs = (line.split() for line in out.decode().splitlines() if line.strip())
    return {commit: pid for pid, commit in pairs}


# Both sides of a comparison are diffed the same way, whatever the user's diff config: no rename
# detection, three lines of context, plain a/ b/ prefixes, full blob ids (a binary change is then
# told apart by its blobs, not lost in "Binary files differ").
DIFF_OPTS = ("-p", "-U3", "--full-index", "--no-renames", "--no-color", "--no-ext-diff", "--no-textconv",
             "--src-prefix=a/", "--dst-prefix=b/", "--diff-algorithm=myers")


def patch_ids(repo: Repo, shas: Iterable[str], *, env: Env = None,
              first_parents: Mapping[str, str] | None = None) -> dict[str, str]:
    """sha -> ``git patch-id --stable`` of each commit's change against its parent, in one batch.

    Merges and empty commits have no patch-id and are left out: they can never count as
    already present. (A mode-only change has one: the same mode change is the same patch.)
    A merge named in ``first_parents`` (merge -> its first parent) has the patch-id of its change
    against that parent: what a ``cherry-pick -m 1`` of it applies.
    """
    todo = list(dict.fromkeys(shas))
    if not todo:
        return {}
    lines = "".join(f"{s} {first_parents[s]}\n" if first_parents and s in first_parents else f"{s}\n" for s in todo)
    diff = _git(repo, "diff-tree", "--stdin", "--root", *DIFF_OPTS, input=lines.encode(), env=env)
    return parse_patch_ids(_git(repo, "patch-id", "--stable", input=diff, env=env)) if diff else {}


@dataclass(frozen=True)
class Present:
    """What a fork branch already holds: patch-id -> fork commit, and source sha -> the fork commit whose
    ``(cherry picked from commit …)`` trailer names it."""

    by_patch: Mapping[str, str]
    by_trailer: Mapping[str, str]


def fork_present(repo: Repo, refs: str | Sequence[str], since: str | None = None, *, env: Env = None) -> Present:
    """The patch-ids and pick trailers of every commit of ``refs`` (the fork branch, the integration
    branch) since ``since``, branches merged into them included.

    Two ``git log`` runs: the patches (into ``patch-id``) and the messages.
    """
    revs = ["--end-of-options", *([refs] if isinstance(refs, str) else refs), *([f"^{since}"] if since else []), "--"]
    patches = _git(repo, "log", "--no-merges", "--root", *DIFF_OPTS, "--format=commit %H", *revs, env=env)
    by_patch: dict[str, str] = {}
    if patches:
        for sha, pid in parse_patch_ids(_git(repo, "patch-id", "--stable", input=patches, env=env)).items():
            by_patch.setdefault(pid, sha)
    messages = _git(repo, "log", "-z", "--format=%H%x00%B", *revs, env=env)
    return Present(by_patch, parse_trailers(messages))


def parse_trailers(out: bytes) -> dict[str, str]:
    r"""``git log -z --format=%H%x00%B`` output as picked source sha -> fork commit (newest fork commit wins).

    >>> parse_trailers(b"f" * 40 + b"\0fix\n\n(cherry picked from commit " + b"a" * 40 + b")\n\0")
    {'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': 'ffffffffffffffffffffffffffffffffffffffff'}
    """
    tokens = out.split(b"\0")
    found: dict[str, str] = {}
    for sha, message in zip(tokens[0::2], tokens[1::2]):
        for source in picked_from(message.decode("utf-8", "replace")):
            found.setdefault(source, sha.decode().strip())
    return found


@dataclass(frozen=True, slots=True)
class Presence:
    sha: str        # the source commit
    fork_sha: str   # the fork commit that holds it
    how: str        # "trailer" (a pick of it), "patch-id" (the same change under another sha), or how a unit is held

    @property
    def reason(self) -> str:
        how = {"trailer": "picked as", "patch-id": "same change (patch-id) as",
               "in the history of": "in the history of"}.get(self.how, f"{self.how}: the last in")
        return f"already present: {how} {self.fork_sha[:10]}"


def already_present(repo: Repo, shas: Sequence[str], present: Present, *, env: Env = None) -> dict[str, Presence]:
    """Which of ``shas`` the fork already holds: named by a pick trailer, or with an equal patch-id."""
    found = {s: Presence(s, present.by_trailer[s], "trailer") for s in shas if s in present.by_trailer}
    rest = [s for s in shas if s not in found]
    for sha, pid in patch_ids(repo, rest, env=env).items():
        if pid in present.by_patch:
            found[sha] = Presence(sha, present.by_patch[pid], "patch-id")
    return found


# --- merges as trees --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Conflict:
    """A conflicted path and its index stages: (stage, mode, oid); 1 base, 2 ours (sync), 3 theirs."""

    path: str
    stages: tuple[tuple[int, str, str], ...]

    def stage(self, n: int) -> tuple[str, str] | None:
        return next(((mode, oid) for s, mode, oid in self.stages if s == n), None)


@dataclass(frozen=True, slots=True)
class Message:
    """One of merge-tree's informational messages: the paths it is about, its kind, its text."""

    paths: tuple[str, ...]
    kind: str
    text: str


@dataclass(frozen=True)
class TreeMerge:
    """A merge computed as a tree. ``tree``: the result (with conflict markers when not clean);
    ``exit_clean``: merge-tree's own verdict (exit code 0), which also counts conflicts that leave no
    stages (``CONFLICT (file location)`` and kin)."""

    tree: str
    conflicts: tuple[Conflict, ...] = ()
    messages: tuple[Message, ...] = ()
    exit_clean: bool = True

    @property
    def clean(self) -> bool:
        return self.exit_clean and not self.conflicts

    @property
    def conflicted_paths(self) -> tuple[str, ...]:
        """Paths with conflict stages; for a conflict that left none, the paths its messages name."""
        if self.conflicts or self.clean:
            return tuple(c.path for c in self.conflicts)
        return tuple(dict.fromkeys(p for m in self.messages if m.kind.startswith("CONFLICT") for p in m.paths))

    def why(self, path: str) -> str:
        """The conflict messages about ``path`` (``CONFLICT (modify/delete): …``), one line."""
        return "; ".join(m.text.strip() for m in self.messages if path in m.paths and m.kind.startswith("CONFLICT"))


def parse_merge_tree(out: bytes, exit_clean: bool | None = None) -> TreeMerge:
    r"""Parse ``git merge-tree --write-tree --messages -z`` output.

    The tree, then one ``<mode> <oid> <stage>\t<path>`` record per conflicted stage, an empty
    record, then messages: ``<count>``, that many paths, the kind, the text. ``exit_clean``:
    merge-tree's exit code was 0 (None: judge by the stages alone).

    >>> o = "1" * 40
    >>> m = parse_merge_tree(f"{'t' * 40}\x00100644 {o} 2\tf\x00100644 {o} 3\tf\x00\x001\x00f\x00"
    ...                      "CONFLICT (contents)\x00CONFLICT (content): Merge conflict in f\n\x00".encode())
    >>> m.conflicted_paths, m.conflicts[0].stage(3), m.why("f")
    (('f',), ('100644', '1111111111111111111111111111111111111111'), 'CONFLICT (content): Merge conflict in f')
    """
    tokens = out.split(b"\0")
    tree = tokens[0].decode().strip()
    stages: dict[str, list[tuple[int, str, str]]] = {}
    i = 1
    while i < len(tokens) and tokens[i]:
        meta, _, path = tokens[i].partition(b"\t")
        mode, oid, stage = meta.decode().split(" ")
        stages.setdefault(path.decode("utf-8", "surrogateescape"), []).append((int(stage), mode, oid))
        i += 1
    conflicts = tuple(Conflict(p, tuple(s)) for p, s in stages.items())
    clean = not conflicts if exit_clean is None else exit_clean
    return TreeMerge(tree, conflicts, tuple(_messages(tokens[i + 1:])), clean)


def _messages(tokens: Sequence[bytes]) -> Iterable[Message]:
    i = 0
    while i < len(tokens) and tokens[i].isdigit():
        count = int(tokens[i])
        paths = tuple(t.decode("utf-8", "surrogateescape") for t in tokens[i + 1:i + 1 + count])
        kind, text = (t.decode("utf-8", "replace") for t in tokens[i + 1 + count:i + 3 + count])
        yield Message(paths, kind, text.rstrip("\n"))
        i += count + 3


def merge(repo: Repo, sync: str, commit: str, *, env: Env = None) -> TreeMerge:
    """``commit`` (an upstream commit) merged into ``sync`` (the sync branch's tip), as a tree."""
    return _merge_tree(repo, sync, commit, env=env)


def _merge_tree(repo: Repo, ours: str, theirs: str, *, env: Env = None) -> TreeMerge:
    args = ("merge-tree", "--write-tree", "--messages", "-z", ours, theirs)
    rc, out, err = _git_rc(repo, *args, env=env)
    if rc not in (0, 1):
        if b"refusing to merge unrelated histories" in err:
            raise ForkwaveError(f"{ours[:10]} and {theirs[:10]} share no history in {repo}; a fork that does not "
                                "share its upstream's history syncs with mode: snapshot")
        raise _failed(args, rc, out, err)
    return parse_merge_tree(out, rc == 0)


def _three_way(repo: Repo, base_tree: str, ours: str, theirs_tree: str, *, env: Env = None) -> TreeMerge:
    """A 3-way merge of ``theirs_tree`` into commit ``ours`` with ``base_tree`` as the base: a real
    merge of two throw-away commits whose only common ancestor holds ``base_tree``."""
    fixed = {**(env or {}), **FIXED_DATES}
    base = commit_tree(repo, base_tree, (), "base\n", env=fixed)
    side_a = commit_tree(repo, tree_of(repo, ours, env=env), (base,), "ours\n", env=fixed)
    side_b = commit_tree(repo, theirs_tree, (base,), "theirs\n", env=fixed)
    return _merge_tree(repo, side_a, side_b, env=env)


@dataclass(frozen=True)
class Pick:
    """A cherry-pick of ``sha`` computed as a tree. ``empty``: it changes nothing on the tip (``reason``
    says why); ``dropped``: the paths left at their old state."""

    sha: str
    result: TreeMerge | None
    empty: bool = False
    reason: str = ""
    dropped: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return self.result is not None and self.result.clean

    @property
    def tree(self) -> str | None:
        return self.result.tree if self.result else None


def pick(repo: Repo, sha: str, tip: str, *, drop: Sequence[str] = (), env: Env = None) -> Pick:
    """``sha``'s change (against its first parent) applied to the commit ``tip``, minus the ``drop`` paths,
    which keep their parent's state (a denied path is never picked)."""
    info = commit_info(repo, sha, env=env)
    base_tree = tree_of(repo, info.parents[0], env=env) if info.parents else git.EMPTY_TREE
    drop_set = set(drop)
    dropped = tuple(p for p in info.paths if p in drop_set)
    theirs = reset_paths(repo, sha, info.parents[0] if info.parents else None, dropped, env=env)
    if theirs == base_tree:
        why = "every path it changes was dropped" if dropped else "it changes nothing"
        return Pick(sha, None, True, f"empty: {why}", dropped)
    result = _three_way(repo, base_tree, tip, theirs, env=env)
    if result.clean and result.tree == tree_of(repo, tip, env=env):
        return Pick(sha, result, True, "empty: the tip already has this change", dropped)
    return Pick(sha, result, False, "", dropped)


def revert(repo: Repo, sha: str, tip: str, *, env: Env = None) -> TreeMerge:
    """The tree of ``tip`` with ``sha``'s change (against its first parent) undone (``on_failure: revert``)."""
    info = commit_info(repo, sha, env=env)
    parent_tree = tree_of(repo, info.parents[0], env=env) if info.parents else git.EMPTY_TREE
    return _three_way(repo, tree_of(repo, sha, env=env), tip, parent_tree, env=env)


def revert_span(repo: Repo, before: str, after: str, tip: str, *, env: Env = None) -> TreeMerge:
    """The tree of ``tip`` with the change from commit ``before`` to commit ``after`` undone: a merge commit
    reverted against its first parent (``git revert -m 1``), or a fast-forward over several commits."""
    return _three_way(repo, tree_of(repo, after, env=env), tip, tree_of(repo, before, env=env), env=env)


def reset_paths(repo: Repo, sha: str, parent: str | None, paths: Sequence[str], *, env: Env = None) -> str:
    """The tree of ``sha`` with each of ``paths`` as in ``parent`` (removed where ``parent`` lacks it)."""
    tree = tree_of(repo, sha, env=env)
    if not paths:
        return tree
    wanted = set(paths)
    before = tree_of(repo, parent, env=env) if parent else git.EMPTY_TREE
    changes = git.parse_diff_raw(_git(repo, "diff-tree", "-r", "-z", "--no-abbrev", "--no-renames", before, tree,
                                      "--", env=env))
    info = b"".join((f"{c.old[0]} {c.old[1]}\t" if c.old else f"0 {'0' * 40}\t").encode()
                    + c.path.encode("utf-8", "surrogateescape") + b"\0" for c in changes if c.path in wanted)
    return _with_index(repo, tree, info, env=env)


def _with_index(repo: Repo, tree: str, info: bytes, *, env: Env = None) -> str:
    """``tree`` with ``update-index --index-info`` records applied, through a temporary index."""
    fd, index = tempfile.mkstemp(prefix="forkwave-index-")
    os.close(fd)
    os.unlink(index)  # git wants to create it itself
    ienv = {**(env or {}), "GIT_INDEX_FILE": index}
    try:
        _git(repo, "read-tree", tree, env=ienv)
        if info:
            _git(repo, "update-index", "-z", "--index-info", input=info, env=ienv)
        return _git(repo, "write-tree", env=ienv).decode().strip()
    finally:
        if os.path.exists(index):
            os.unlink(index)


# --- conflict texts for a person --------------------------------------------------------

def conflict_texts(repo: Repo, result: TreeMerge, labels: Sequence[str] = LABELS, *,
                   env: Env = None) -> dict[str, bytes]:
    """path -> diff3-style text (``<<<<<<< sync`` / ``||||||| base`` / ``>>>>>>> upstream``) of each
    conflicted text file; a conflict without both sides as text (modify/delete, binary, symlink)
    has none — ``result.why(path)`` says what it is."""
    wanted = {c.path: (c.stage(1), c.stage(2), c.stage(3)) for c in result.conflicts}
    wanted = {p: s for p, s in wanted.items()
              if s[1] and s[2] and all(e is None or e[0] in TEXT_MODES for e in s)}
    oids = {e[1] for s in wanted.values() for e in s if e}
    blobs = dict(git.read_blobs(repo, oids, env=dict(env or {}))) if oids else {}
    texts = {}
    for path, (base, ours, theirs) in wanted.items():
        sides = [blobs.get(e[1]) if e else b"" for e in (ours, base, theirs)]
        if any(s is None or b"\0" in s[:8000] for s in sides):
            continue
        texts[path] = merge_file(*sides, labels=labels)  # type: ignore[arg-type]
    return texts


def merge_file(ours: bytes, base: bytes, theirs: bytes, *, labels: Sequence[str] = LABELS) -> bytes:
    """``git merge-file -p --diff3`` of three texts: the merged text, with conflict markers where needed."""
    with tempfile.TemporaryDirectory(prefix="forkwave-conflict-") as tmp:
        paths = []
        for name, data in zip(("ours", "base", "theirs"), (ours, base, theirs)):
            path = os.path.join(tmp, name)
            Path(path).write_bytes(data)
            paths.append(path)
        label_args = [a for label in (labels[0], labels[1], labels[2]) for a in ("-L", label)]
        proc = run(["git", "merge-file", "-p", "--diff3", *label_args, *paths], check=False, env=git.git_env())
    if not 0 <= proc.returncode < 128:
        raise CalledProcessError(("git", "merge-file"), proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


# --- commit objects ---------------------------------------------------------------------

def commit_tree(repo: Repo, tree: str, parents: Sequence[str], message: str, *, env: Env = None) -> str:
    """A commit object (no ref moves): ``tree`` with ``parents`` and ``message``; identity from ``env``."""
    args = [a for p in parents for a in ("-p", p)]
    return _git(repo, "commit-tree", tree, *args, env=env, input=message.encode()).decode().strip()


def commit_pick(repo: Repo, tree: str, parent: str, commit: Commit, source: str, *, env: Env = None,
                trailers: tuple[str, ...] = ()) -> str:
    """The commit of a pick: the source's message (as stored, not re-wrapped) and author (name, email, date
    and zone) kept, forkwave the committer, and the ``(cherry picked from commit …)`` and
    ``Forkwave-Source`` trailers."""
    raw = _git(repo, "log", "-1", "--no-show-signature", "--format=%B%x00%ad", "--date=raw", commit.sha, env=env)
    message, _, date = raw.decode("utf-8", "replace").partition("\0")
    author = {"GIT_AUTHOR_NAME": commit.author_name, "GIT_AUTHOR_EMAIL": commit.author_email,
              "GIT_AUTHOR_DATE": date.strip() or f"{commit.author_date} +0000"}
    return commit_tree(repo, tree, (parent,), pick_message(commit, source, message, trailers),
                       env={**(env or {}), **author})


def commit_merge(repo: Repo, tree: str, sync: str, upstream: str, message: str, *, env: Env = None) -> str:
    """The merge commit of a range: first parent the sync tip (the sync branch's own line), then upstream."""
    return commit_tree(repo, tree, (sync, upstream), message, env=env)


def revert_message(commit: Commit, why: str) -> str:
    """The message of a revert made for ``on_failure: revert``, recorded as such.

    >>> print(revert_message(Commit("c" * 40, subject="feat: x"), "check unit fails"), end="")
    Revert "feat: x"
    <BLANKLINE>
    This reverts commit cccccccccccccccccccccccccccccccccccccccc: check unit fails (on_failure: revert).
    """
    return f'Revert "{commit.subject}"\n\nThis reverts commit {commit.sha}: {why} (on_failure: revert).\n'


# --- release tags -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tag:
    name: str       # without refs/tags/
    commit: str     # the commit it names (an annotated tag peeled)
    created: int    # creator date: the tagger's, or the commit's for a lightweight tag


# Version order puts a pre-release before its release: v2.0.0-rc1 < v2.0.0, 2.0rc1 < 2.0.
VERSION_SORT = ("-c", "versionsort.suffix=-", "-c", "versionsort.suffix=rc")


def tags(repo: Repo, glob: str, *, env: Env = None) -> list[Tag]:
    """The tags matching ``glob`` (git's ref patterns: ``*`` stops at ``/``), newest first: by version order
    (git's ``v:refname``, a pre-release before its release), then by creator date; tags naming no commit
    are left out."""
    fmt = "%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)%00%(creatordate:unix)"
    out = _git(repo, *VERSION_SORT, "for-each-ref", "--sort=-creatordate", "--sort=-v:refname", f"--format={fmt}",
               f"refs/tags/{glob}", env=env)
    found = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        name, typ, oid, peeled_type, peeled, created = line.split("\0")
        commit = oid if typ == "commit" else peeled if peeled_type == "commit" else None
        if commit:
            found.append(Tag(name, commit, int(created or 0)))
    return found


def newest_tag(repo: Repo, glob: str, *, prereleases: bool = False, env: Env = None) -> Tag | None:
    """The newest tag matching ``glob`` (see ``tags``), pre-releases left out unless ``prereleases``."""
    return next((t for t in tags(repo, glob, env=env) if prereleases or not is_prerelease(t.name)), None)


def release_tag(repo: Repo, ref: str, *, prereleases: bool = False, env: Env = None) -> Tag | None:
    """The tag a ``ref: "tags/<glob>"`` follows (its newest match); None for a ref that follows no tags.

    A glob that matches no release is an error: syncing nothing would look like being up to date.
    """
    glob = tag_glob(ref)
    if glob is None:
        return None
    tag = newest_tag(repo, glob, prereleases=prereleases, env=env)
    if tag is None:
        kind = "tag" if prereleases else "release tag (pre-releases left out)"
        raise ForkwaveError(f"ref {ref!r}: no {kind} in {repo} matches {glob!r}; check the glob or push a tag")
    return tag
