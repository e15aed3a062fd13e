"""All git goes through here: one command per function, ``-z`` output, parsed to Python values.

The environment is built in one place: inherited ``GIT_*`` variables are scrubbed (a
``GIT_DIR`` left over from a hook must not redirect us), the commit identity and dates
are pinned where we commit, and prompts are disabled so a bad credential fails instead
of hanging. A repository ``tasks.repo.objects`` has routed (the fork during a run, and
forkwave's worktree of it) gets its private object directory here, for every command but
those that move refs or keep the store (``OWN_STORE``).
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from tasks.proc import run

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
TREE_MODE = "040000"
IDENTITY = {"GIT_AUTHOR_NAME": "forkwave", "GIT_AUTHOR_EMAIL": "forkwave@localhost",
            "GIT_COMMITTER_NAME": "forkwave", "GIT_COMMITTER_EMAIL": "forkwave@localhost"}


def git_env(extra: dict[str, str] | None = None, *, repo: str | Path | None = None,
            args: Sequence[str] = (), own: bool = False) -> dict[str, str]:
    """git's environment for one command; in a routed ``repo`` (unless ``own`` or an ``OWN_STORE`` command)
    with its private object directory, alternates given in ``extra`` read as well."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/true", SSH_ASKPASS="/bin/true",
               GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    env.update(IDENTITY)
    private = {} if own else routed(repo, args)
    env.update(private)
    if extra:
        alternates = [a for a in (private.get(ALTERNATES), extra.get(ALTERNATES)) if a]
        env.update(extra)
        if alternates:
            env[ALTERNATES] = os.pathsep.join(alternates)
    return env


# --- the private object directory (tasks.repo.objects owns it; routed here, so no caller passes it) ------------

ALTERNATES = "GIT_ALTERNATE_OBJECT_DIRECTORIES"
# Commands that move refs or keep the object store run against the repository's own store: git then
# refuses a ref to an object the fork lacks, and a landing's objects go where they belong.
OWN_STORE = frozenset({"update-ref", "symbolic-ref", "branch", "tag", "fetch", "push", "worktree", "gc", "repack",
                       "prune", "pack-refs", "reflog", "unpack-objects", "index-pack", "fsck", "count-objects",
                       "remote", "config", "init", "clone"})
_ROUTES: dict[str, Callable[[], dict[str, str]]] = {}
_KEYS: dict[str, str] = {}


def _route_key(repo: str | Path) -> str:
    raw = str(repo)
    if raw not in _KEYS:
        _KEYS[raw] = str(Path(raw).resolve())
    return _KEYS[raw]


def route(repo: str | Path, env: Callable[[], dict[str, str]]) -> None:
    """Every later command in ``repo`` (bar ``OWN_STORE``) runs with ``env()`` (``tasks.repo.objects.start``)."""
    _ROUTES[_route_key(repo)] = env


def unroute(repo: str | Path) -> None:
    _ROUTES.pop(_route_key(repo), None)


def routed(repo: str | Path | None, args: Sequence[str] = ()) -> dict[str, str]:
    """The private object directory's variables for this command in ``repo`` ({} when not routed)."""
    if repo is None or not _ROUTES:
        return {}
    make = _ROUTES.get(_route_key(repo))
    if make is None or _command(args) in OWN_STORE:
        return {}
    return make()


def _command(args: Sequence[str]) -> str:
    """The git subcommand in ``args`` (after ``-c k=v`` and other global options).

    >>> _command(["-c", "versionsort.suffix=-", "for-each-ref", "x"]), _command(["update-ref", "r", "x"])
    ('for-each-ref', 'update-ref')
    """
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a in ("-c", "-C"):
            skip = True
        elif not a.startswith("-"):
            return a
    return ""


# A credential helper given through git's environment (GIT_CONFIG_COUNT/KEY/VALUE), never argv:
# it prints the userinfo forkwave took out of the URL, read from two variables, so neither the
# token nor the credentialed URL appears on any command line (``ps``). The empty helper first
# drops the helpers of the user's own config, whose answers would come first.
CREDENTIAL_HELPER = ('!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
                     '"$FORKWAVE_GIT_USERNAME" "$FORKWAVE_GIT_PASSWORD"; }; f')


def remote(url: str) -> tuple[str, dict[str, str]]:
    """An http(s) ``url`` without its ``user:password@``, and the environment that hands those to git.

    Other URLs (local paths, ``ssh://git@host``, ``git@host:path``) come back as they are: their
    user name is no secret, and ssh never takes a password from a URL.

    >>> remote("https://bot:t%40k@example.com/a.git")[0]
    'https://example.com/a.git'
    >>> remote("https://bot:t%40k@example.com/a.git")[1]["FORKWAVE_GIT_PASSWORD"]
    't@k'
    >>> remote("/srv/up.git")
    ('/srv/up.git', {})
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return url, {}
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), credential_env(unquote(user), unquote(password))


def credential_env(username: str, password: str) -> dict[str, str]:
    """The environment that makes git answer an http(s) server's login with these, and nothing else.

    For a token from the environment (``doit publish``) as for userinfo taken out of a URL
    (``remote``): only the helper's two variables hold the secret, never a command line.
    """
    return {"FORKWAVE_GIT_USERNAME": username, "FORKWAVE_GIT_PASSWORD": password,
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "credential.helper", "GIT_CONFIG_VALUE_0": "",
            "GIT_CONFIG_KEY_1": "credential.helper", "GIT_CONFIG_VALUE_1": CREDENTIAL_HELPER}


def git(repo: str | Path | None, *args: str, input: bytes | None = None, check: bool = True,
        secrets: tuple[str, ...] = (), env: dict[str, str] | None = None,
        timeout: float | None = None, own: bool = False) -> bytes:
    """Run ``git -C repo args...`` and return stdout bytes (raises a redacted error); ``own``: against the
    repository's own object store even when it is routed to a private one."""
    argv = ["git"] + (["-C", str(repo)] if repo is not None else []) + list(args)
    return run(argv, input=input, check=check, secrets=secrets, env=git_env(env, repo=repo, args=args, own=own),
               timeout=timeout).stdout


# What ``git fetch --progress`` prints that is no message: progress counters (``Receiving objects:
# 45% (4500/10000)``, the remote's ``Counting objects``, ``Total``), the ``From <url>`` header and the
# lines of refs it updated. ``--quiet`` would drop them all, and the progress with them.
_FETCH_NOISE = re.compile(r"(remote: )?([A-Z][a-z]+(?: [a-z]+)*: +\d+.*|Total \d+ \(delta \d+\).*)"
                          r"|From \S.*| [ *+\-t=] .* -> .*")


def fetch_noise(piece: str) -> bool:
    r"""Is this piece of ``git fetch --progress``'s stderr progress or a ref update rather than a message?

    >>> [fetch_noise(p) for p in ("Receiving objects:  45% (45/100)\r", "remote: Counting objects: 100% (5/5), done.\n",
    ...  " * [new branch]      main       -> main\n", "fatal: Authentication failed for 'https://h/'\n",
    ...  " ! [rejected]        main       -> main  (would clobber existing tag)\n")]
    [True, True, True, False, False]
    """
    return piece.endswith("\r") or _FETCH_NOISE.fullmatch(piece.strip("\r\n").rstrip()) is not None


def fetch(repo: Path, remote: str, *refspecs: str, what: str, options: Sequence[str] = (),
          secrets: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
    """``git fetch --prune [options]`` into ``repo``, showing progress: git's own on a terminal, else a
    heartbeat (``tasks.progress``) with git's last progress line. Its stderr keeps git's messages only."""
    import sys
    from contextlib import nullcontext

    from tasks.progress import Heartbeat, LastLine
    from tasks.proc import stream

    terminal = sys.stderr.isatty()
    last = LastLine()

    def show(piece: str) -> None:
        if terminal:
            sys.stderr.write(piece)
            sys.stderr.flush()
        else:
            last.feed(piece)

    with nullcontext() if terminal else Heartbeat(what, last):
        stream(["git", "-C", str(repo), "fetch", "--progress", "--prune", "--no-write-fetch-head", *options, remote,
                *refspecs],
               on_output=show, keep=lambda piece: not fetch_noise(piece), secrets=secrets, env=git_env(env))


# --- parsers (pure) -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TreeEntry:
    mode: str
    type: str
    oid: str
    name: str


def parse_ls_tree(out: bytes) -> list[TreeEntry]:
    """Parse ``git ls-tree -z`` output.

    >>> parse_ls_tree(b"100644 blob e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\\ta b\\0")
    [TreeEntry(mode='100644', type='blob', oid='e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', name='a b')]
    """
    entries = []
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, _, name = rec.partition(b"\t")
        mode, typ, oid = meta.decode().split(" ")
        entries.append(TreeEntry(mode, typ, oid, name.decode("utf-8", "surrogateescape")))
    return entries


def parse_ls_tree_map(out: bytes) -> dict[str, tuple[str, str]]:
    """``git ls-tree -z`` output as path -> (mode, oid); four times faster than ``parse_ls_tree``
    on a whole repository's listing (20,000 entries), which is what an import reads per slice.

    >>> parse_ls_tree_map(b"120000 blob e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\\ta\\tb\\0")
    {'a\\tb': ('120000', 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391')}
    """
    entries = {}
    for rec in out.split(b"\0"):
        if rec:
            tab = rec.index(b"\t")
            entries[rec[tab + 1:].decode("utf-8", "surrogateescape")] = (
                rec[:rec.index(b" ")].decode(), rec[rec.rindex(b" ", 0, tab) + 1:tab].decode())
    return entries


@dataclass(frozen=True, slots=True)
class Change:
    """One path of ``git diff-tree --raw``: ``old``/``new`` are ``(mode, oid)`` or None if absent."""

    path: str
    old: tuple[str, str] | None
    new: tuple[str, str] | None


_ZERO = "0" * 40


def parse_diff_raw(out: bytes) -> list[Change]:
    """Parse ``git diff-tree -r -z --no-abbrev --no-renames`` output.

    >>> z = "0" * 40; a = "a" * 40
    >>> parse_diff_raw(f":000000 100644 {z} {a} A\\0new file\\0".encode())
    [Change(path='new file', old=None, new=('100644', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'))]
    """
    changes = []
    fields = out.split(b"\0")
    for i in range(0, len(fields) - 1, 2):
        meta, path = fields[i], fields[i + 1]
        mode_a, mode_b, oid_a, oid_b, _status = meta[1:].decode().split(" ")
        old = None if mode_a == "000000" else (mode_a, oid_a)
        new = None if mode_b == "000000" else (mode_b, oid_b)
        changes.append(Change(path.decode("utf-8", "surrogateescape"), old, new))
    return changes


# --- commands -----------------------------------------------------------------------

_REFS: dict[tuple[str, str], str | None] = {}


def ref_tip(repo: str | Path, ref: str) -> str | None:
    """The commit ``ref`` names, read once per process (doit's up-to-date tests ask for the same two
    branches for every slice); ``refs_moved`` forgets it after forkwave moves a ref."""
    key = (str(repo), ref)
    if key not in _REFS:
        _REFS[key] = rev_parse(repo, ref)
    return _REFS[key]


def refs_moved(repo: str | Path) -> None:
    for key in [k for k in _REFS if k[0] == str(repo)]:
        del _REFS[key]


def rev_parse(repo: str | Path, rev: str) -> str | None:
    """The full object id ``rev`` names in ``repo``, or None if it names nothing."""
    out = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False)
    return out.decode().strip() or None


def tree_of(repo: str | Path, commit: str) -> str:
    return git(repo, "rev-parse", f"{commit}^{{tree}}").decode().strip()


def ls_tree(repo: str | Path, tree: str, *, env: dict[str, str] | None = None) -> list[TreeEntry]:
    """The direct entries of ``tree`` (not recursive)."""
    return parse_ls_tree(git(repo, "ls-tree", "-z", "--full-tree", tree, env=env))


def ls_tree_recursive(repo: str | Path, tree: str) -> list[TreeEntry]:
    """Every blob/symlink/gitlink below ``tree``; ``name`` is the full path."""
    return parse_ls_tree(git(repo, "ls-tree", "-r", "-z", "--full-tree", tree))


def tree_entries(repo: str | Path, tree: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, oid) of every blob, symlink and gitlink below ``tree``."""
    return parse_ls_tree_map(git(repo, "ls-tree", "-r", "-z", "--full-tree", tree))


def count_files(repo: str | Path, tree: str, *, env: dict[str, str] | None = None) -> int:
    return git(repo, "ls-tree", "-r", "-z", "--name-only", "--full-tree", tree, env=env).count(b"\0")


def mktree(repo: str | Path, entries: Iterable[TreeEntry], *, env: dict[str, str] | None = None) -> str:
    """Write a tree object from ``entries`` and return its id."""
    body = b"".join(f"{e.mode} {e.type} {e.oid}\t".encode() + e.name.encode("utf-8", "surrogateescape") + b"\0"
                    for e in entries)
    return git(repo, "mktree", "-z", input=body, env=env).decode().strip()


def diff_trees(repo: str | Path, a: str, b: str, *, env: dict[str, str] | None = None) -> list[Change]:
    """Blob-level differences between two trees; identical subtrees are skipped by git itself."""
    return diff_many(repo, [(a, b)], env=env)[0]


def diff_many(repo: str | Path, pairs: Sequence[tuple[str, str]], *, env: dict[str, str] | None = None
              ) -> list[list[Change]]:
    """``diff_trees`` for several pairs of trees in one git process."""
    if not pairs:
        return []
    stdin = "".join(f"{a} {b}\n" for a, b in pairs).encode()
    out = git(repo, "diff-tree", "--stdin", "-r", "-z", "--no-abbrev", "--no-renames", "--no-ext-diff",
              input=stdin, env=env)
    by_pair = parse_diff_sections(out)
    return [by_pair.get((a, b), []) for a, b in pairs]


def parse_diff_sections(out: bytes) -> dict[tuple[str, str], list[Change]]:
    """Parse ``git diff-tree --stdin -r -z`` output for tree pairs: (tree, tree) -> changes.

    Each pair's section starts with a ``<tree> <tree>\\n`` header (glued to the next
    record's metadata by ``-z``); a pair without differences prints nothing at all.

    >>> z, a, t = "0" * 40, "a" * 40, "t" * 40
    >>> parse_diff_sections(f"{t} {t}\\n:000000 100644 {z} {a} A\\0x y\\0".encode())[(t, t)][0].path
    'x y'
    """
    result: dict[tuple[str, str], list[Change]] = {}
    current: list[Change] = []
    fields = out.split(b"\0")
    i = 0
    while i < len(fields) - 1:
        meta = fields[i]
        if not meta.startswith(b":"):
            header, _, meta = meta.partition(b"\n")
            a, b = header.decode().split(" ")
            current = result.setdefault((a, b), [])
            if not meta:
                i += 1
                continue
        mode_a, mode_b, oid_a, oid_b, _status = meta[1:].decode().split(" ")
        current.append(Change(fields[i + 1].decode("utf-8", "surrogateescape"),
                              None if mode_a == "000000" else (mode_a, oid_a),
                              None if mode_b == "000000" else (mode_b, oid_b)))
        i += 2
    return result


def resolve_many(repo: str | Path, revs: Sequence[str], *, env: dict[str, str] | None = None) -> list[str | None]:
    """The object id each revision expression names (``x^{commit}``, ``x^{tree}``), None if none; one process."""
    if not revs:
        return []
    out = git(repo, "cat-file", "--batch-check=%(objectname)", input="".join(f"{r}\n" for r in revs).encode(),
              env=env).decode().splitlines()
    return [None if line.endswith(" missing") or line.endswith(" ambiguous") else line for line in out]


def alternates_env(*repos: str | Path) -> dict[str, str]:
    """Let one git process read objects of other repositories (fork + upstream cache)."""
    dirs = [str(object_dir(r)) for r in repos]
    return {"GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(dirs)}


def object_dir(repo: str | Path) -> Path:
    common = git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").decode().strip()
    return Path(common) / "objects"


def is_repo(path: str | Path) -> bool:
    return Path(path).exists() and not git(path, "rev-parse", "--git-dir", check=False) == b""


BLOB_CHUNK = 2000


def parse_batch(out: bytes) -> Iterator[tuple[str, bytes | None]]:
    r"""Parse ``git cat-file --batch`` output into (oid, content or None if missing).

    >>> list(parse_batch(b"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391 blob 0\n\n" + b"f" * 40 + b" missing\n"))
    [('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', b''), ('ffffffffffffffffffffffffffffffffffffffff', None)]
    """
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        parts = out[pos:end].decode().split(" ")
        if parts[-1] == "missing":
            yield parts[0], None
            pos = end + 1
            continue
        size = int(parts[2])
        yield parts[0], out[end + 1:end + 1 + size]
        pos = end + 1 + size + 1


def read_blobs(mirror: str | Path, oids: Iterable[str], *,
               env: dict[str, str] | None = None) -> Iterator[tuple[str, bytes | None]]:
    """The content of each blob, ``BLOB_CHUNK`` at a time (one ``cat-file --batch`` each)."""
    todo = sorted(set(oids))
    for start in range(0, len(todo), BLOB_CHUNK):
        chunk = todo[start:start + BLOB_CHUNK]
        yield from parse_batch(git(mirror, "cat-file", "--batch", input="\n".join(chunk).encode() + b"\n", env=env))


@dataclass(frozen=True, slots=True)
class LogEntry:
    sha: str
    author: str
    subject: str


def log_touching(repo: str | Path, revs: Sequence[str], paths: Sequence[str], limit: int = 50) -> list[LogEntry]:
    """Commits in ``revs`` (e.g. ``base..upstream``) that touched any of ``paths``, newest first."""
    if not paths:
        return []
    out = git(repo, "log", f"--max-count={limit}", "--no-color", "--format=%H%x1f%an%x1f%s%x1e", *revs, "--",
              *paths, env={"GIT_LITERAL_PATHSPECS": "1"})
    entries = []
    for rec in out.decode("utf-8", "replace").split("\x1e"):
        rec = rec.strip("\n")
        if rec:
            sha, author, subject = rec.split("\x1f", 2)
            entries.append(LogEntry(sha, author, subject))
    return entries


def changed_paths(repo: str | Path, since: str, upstream: str) -> set[str]:
    """Upstream paths changed after ``since``: a revision (``since..upstream``) or a date."""
    if rev_parse(repo, f"{since}^{{commit}}"):
        out = git(repo, "diff", "--name-only", "-z", "--no-renames", f"{since}^{{commit}}", upstream)
    else:
        out = git(repo, "log", f"--since={since}", "--format=", "--name-only", "-z", "--no-renames", upstream)
    return {p.decode("utf-8", "surrogateescape").strip("\n") for p in out.split(b"\0") if p.strip(b"\n")}


def cat_blob(repo: str | Path, oid: str) -> bytes:
    return git(repo, "cat-file", "blob", oid)


def read_paths(repo: str | Path, rev: str, paths: Sequence[str]) -> dict[str, bytes | None]:
    """Each path's content at ``rev`` (one ``cat-file --batch``); None where ``rev`` has no blob there."""
    wanted = [p for p in paths if "\n" not in p]  # cat-file reads one name a line
    if not wanted:
        return {}
    names = "".join(f"{rev}:{p}\n" for p in wanted).encode("utf-8", "surrogateescape")
    return dict(zip(wanted, parse_typed_batch(git(repo, "cat-file", "--batch=%(objecttype) %(objectsize)",
                                                  input=names))))


def parse_typed_batch(out: bytes) -> Iterator[bytes | None]:
    r"""Parse ``cat-file --batch='%(objecttype) %(objectsize)'``: each blob's content, None for anything else.

    >>> list(parse_typed_batch(b"blob 2\nhi\n" + b"HEAD:x missing\n" + b"tree 0\n\n"))
    [b'hi', None, None]
    """
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        if header[-1] in (b"missing", b"ambiguous"):
            yield None
            pos = end + 1
            continue
        size = int(header[1])
        yield out[end + 1:end + 1 + size] if header[0] == b"blob" else None
        pos = end + 1 + size + 1


def parse_name_log(out: bytes) -> list[tuple[str, tuple[str, ...]]]:
    r"""Parse ``git log --name-only -z --format=%x01%H``: (sha, paths it changed) per commit.

    git puts a newline before a commit's first path; a commit that changed nothing has none.

    >>> parse_name_log(b"\x01" + b"a" * 40 + b"\0\x01" + b"b" * 40 + b"\0\nx y\0z\0")
    [('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', ()), ('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', ('x y', 'z'))]
    """
    commits: list[tuple[str, tuple[str, ...]]] = []
    sha, first = None, False
    paths: list[str] = []
    for tok in out.split(b"\0"):
        if tok.startswith(b"\x01"):
            if sha:
                commits.append((sha, tuple(paths)))
            sha, paths, first = tok[1:].decode(), [], True
            continue
        if first and tok.startswith(b"\n"):
            tok = tok[1:]
        first = False
        if tok:
            paths.append(tok.decode("utf-8", "surrogateescape"))
    if sha:
        commits.append((sha, tuple(paths)))
    return commits


def first_parent_paths(repo: str | Path, tip: str, since: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each first-parent commit of ``since..tip``, newest first, with the paths it changed (a merge:
    against its first parent; a rename: both names)."""
    out = git(repo, "log", "--first-parent", "-m", "--no-renames", "--name-only", "-z", "--no-color",
              "--format=%x01%H", tip, f"^{since}")
    return parse_name_log(out)


def remote_url(repo: str | Path, name: str) -> str | None:
    """The URL ``git push <name>`` would push to (``pushurl``, ``insteadOf`` rules applied); None for no such remote."""
    out = git(repo, "remote", "get-url", "--push", "--", name, check=False)
    return out.decode().strip() or None


def changed_names(repo: str | Path, base: str, tip: str) -> list[str]:
    """Paths ``tip`` changes since its merge base with ``base`` (what a pull request of ``tip`` into
    ``base`` shows), sorted; renames as a deletion and an addition."""
    out = git(repo, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", f"{base}...{tip}", "--")
    return sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p)


def count_commits(repo: str | Path, rev_range: str) -> int:
    """Commits in ``rev_range`` (``a..b``)."""
    return int(git(repo, "rev-list", "--count", rev_range, "--").decode().strip() or 0)
