"""fetch: mirror the upstream into a bare cache and record which commit ``ref`` names."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from tasks.repo import git
from tasks.repo.mirror import init_mirror, task_name  # noqa: F401  (fetch's own names)
from tasks.config import Config
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.proc import CalledProcessError
from tasks.redact import redact_text, redact_url, url_secrets
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

ATTEMPTS = 3
_SHA = re.compile(r"^[0-9a-f]{40}$")
REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


def _backoff_base() -> float:
    """Seconds before the first retry (doubles each time); tests shorten it."""
    return float(os.environ.get("FORKWAVE_RETRY_BASE", "2"))


def _shown(cfg: Config) -> str:
    """The URL as the config writes it, credentials redacted (stable when the workspace moves)."""
    return redact_url(cfg.raw.get("upstream", {}).get("url", cfg.upstream.url))


def _is_local(url: str) -> bool:
    return url.startswith("file://") or ("://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url))


def source_key(cfg: Config, key: str) -> str:
    """A source's key as the config writes it: ``upstream.url``, or ``sources.1.url (web)`` under ``sources:``."""
    if "sources" not in cfg.raw:
        return f"upstream.{key}"
    names = [s.name for s in cfg.sources]
    return f"sources.{names.index(cfg.source)}.{key} ({cfg.source})" if cfg.source in names else f"sources.{key}"


def clean_command(cfg: Config) -> str:
    """The `doit clean` that removes this source's mirror and its record."""
    return f"doit clean {task_name(cfg)}"


# Words of git's that mean an object is missing or unreadable: a damaged repository (the remote,
# or the mirror that announced objects it does not have), never the network. Over a local path
# git prints the remote's words without ``remote:``, so the side cannot be told from them.
_DAMAGE = "|".join((
    r"unable to read (?:(?:tree|commit|blob|tag) )?[0-9a-f]{7,}", r"could not read [0-9a-f]{7,}",
    r"bad (?:(?:tree|commit|blob|tag) )?object", r"missing (?:blob|tree|commit|tag)(?: object)? '?[0-9a-f]{7,}",
    r"is corrupt", r"inflate:", r"unable to unpack", r"failed to traverse parents", r"cannot obtain needed",
    r"unable to find [0-9a-f]{7,} under", r"possible repository corruption", r"did not send all necessary objects",
    r"unresolved deltas"))

# What git's stderr says went wrong, most specific first: (kind, retry?, pattern). Only network
# trouble can go away by itself; retrying a missing repository, a refused credential or a
# damaged repository only makes the person wait for the same error.
FAILURES: tuple[tuple[str, bool, str], ...] = (
    ("disk full", False, r"no space left on device|disk quota exceeded"),
    ("corruption", False, _DAMAGE),
    ("broken pack", False, r"pack signature mismatch"),
    ("authentication failed", False, r"authentication failed|invalid (username|credentials)|could not read "
                                     r"(username|password)|terminal prompts disabled|returned error: 40[13]"
                                     r"|HTTP 40[13]|access denied|permission denied"),
    ("not found", False, r"not found|returned error: 404|does not appear to be a git repository"
                         r"|no such repository"),
    ("certificate", False, r"certificate problem|certificate verify failed|certificate verification failed"),
    ("network", True, r"could not resolve (host|proxy)|failed to connect|couldn't connect|connection "
                      r"(refused|reset|timed out)|timed out|rpc failed|returned error: (5\d\d|429)"
                      r"|HTTP (5\d\d|429)|early EOF|remote end hung up|unexpected disconnect|network is "
                      r"unreachable|temporary failure|empty reply|transfer closed|gnutls|SSL_(read|connect)"
                      r"|operation too slow"),
    ("broken pack", False, r"invalid index-pack output|index-pack failed|unpack-objects failed"),
)
# The next step for each kind; {key} is the source's url key, {url} the URL shown, {mirror} the
# mirror's path in the workspace and {clean} the command that removes it.
NEXT_STEP = {
    "disk full": "free some space on the disk that holds the workspace's .forkwave/ (the mirror) and run again",
    "corruption": "run `git fsck` in the repository {key} names (or ask its host to) and repair it; if it is "
                  "sound, the mirror is damaged: `{clean}` removes {mirror} and the next run fetches it whole",
    "broken pack": "`{clean}` removes the mirror {mirror} and the next run fetches it whole; if that fails too, "
                   "run `git fsck` in the repository {key} names",
    "authentication failed": "check the credentials in {key} (a token that can read the repository)",
    "not found": "check {key} (and that its credentials can see the repository)",
    "certificate": "check the server's certificate, or trust its CA (containers.ca_bundle, GIT_SSL_CAINFO)",
    "network": "check the network, or run with offline=1 to use the cached mirror",
    "unknown": "check {key}, its credentials and the network, or run with offline=1 to use the cached mirror",
}
BOILERPLATE = ("could not read from remote repository", "please make sure you have the correct access rights",
               "and the repository exists")


def diagnose(stderr: str) -> tuple[str, bool, str]:
    r"""(kind, retry?, cause) for a failed fetch: the kind of failure, whether another attempt can
    succeed, and the lines of git's stderr that say so (not just its last line).

    >>> diagnose("fatal: unable to access 'https://h/x.git/': Could not resolve host: h")
    ('network', True, "unable to access 'https://h/x.git/': Could not resolve host: h")
    >>> diagnose("remote: Invalid username or password.\nfatal: Authentication failed for 'https://h/x/'")[:2]
    ('authentication failed', False)
    >>> diagnose("remote: fatal: unable to read 0cfbf08886fc\nfatal: early EOF")[:2]
    ('corruption', False)
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not line.lower().startswith(BOILERPLATE)]
    for kind, retry, pattern in FAILURES:
        hits = [line for line in lines if re.search(pattern, line, re.IGNORECASE)]
        if hits:  # the server's own words (``remote:``) first, then git's lines of that kind
            return kind, retry, _cause([line for line in lines if line.startswith("remote:")] + hits)
    return "unknown", False, _cause(lines) or "git gave no reason"


def _cause(lines: list[str]) -> str:
    shown = list(dict.fromkeys(re.sub(r"^(fatal|error): ", "", line) for line in lines))
    return " / ".join(shown[:3])


def is_shallow(mirror: Path) -> bool:
    """git's own test: a repository is shallow while ``shallow`` lists its cut-off commits."""
    shallow = mirror / "shallow"
    return shallow.is_file() and shallow.stat().st_size > 0


def _fetch_args(mirror: Path) -> list[str]:
    """The options of the mirror's fetch beyond ``git.fetch``'s own (``--prune``, ``--no-write-fetch-head``):
    ``--update-shallow`` accepts the refs of a remote that is itself shallow (git would drop
    them without a word, and ``ref`` would seem not to exist); ``--unshallow`` completes a
    shallow mirror (a cache made with ``--depth``): base detection, merges and commit ranges
    need the whole history."""
    args = ["--update-shallow"]
    return args + ["--unshallow"] if is_shallow(mirror) else args


def _fetch_with_retries(cfg: Config, ws: Workspace) -> None:
    import tenacity  # loaded when a fetch runs, not for the up-to-date test

    mirror, url = init_mirror(ws), cfg.upstream.url
    secrets = url_secrets(url)
    shown = redact_url(url)
    bare, env = git.remote(url)  # the credentials travel in git's environment, never in its argv

    def transient(exc: BaseException) -> bool:
        return isinstance(exc, CalledProcessError) and diagnose(_stderr(exc))[1]

    def before_sleep(state: tenacity.RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0
        print(f"fetch: attempt {state.attempt_number}/{ATTEMPTS} from {shown} failed; "
              f"retrying in {wait:.1f} s", file=sys.stderr)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        wait=tenacity.wait_exponential(multiplier=_backoff_base(), min=0, max=60),
        retry=tenacity.retry_if_exception(transient),
        before_sleep=before_sleep, reraise=True)
    try:
        # git's progress on a terminal, a heartbeat with its last progress line otherwise (CI logs)
        retrying(lambda: git.fetch(mirror, bare, *REFSPECS, options=_fetch_args(mirror), what=f"fetch: {shown}",
                                   secrets=secrets, env=env))
    except CalledProcessError as exc:
        kind, retry, cause = diagnose(_stderr(exc))
        tries = f" after {ATTEMPTS} attempts" if retry else "" if kind == "unknown" else f" ({kind}; not retried)"
        step = NEXT_STEP[kind].format(key=source_key(cfg, "url"), url=shown, mirror=ws.rel(ws.mirror),
                                      clean=clean_command(cfg))
        raise ForkwaveFailure(f"{source_key(cfg, 'url')}: could not fetch {shown}{tries}: {cause}; {step}") from None


def _require_history(cfg: Config, ws: Workspace, *, offline: bool) -> None:
    """Stop when the mirror is still shallow: the remote itself only has part of the history, and
    base detection, merges and commit ranges would silently work on that part."""
    if not is_shallow(ws.mirror):
        return
    if offline:
        raise ForkwaveError(f"offline=1 but the cached mirror {ws.rel(ws.mirror)} holds only part of the history "
                            f"(shallow); run once without offline=1 to complete it")
    url = cfg.upstream.url
    where = f"`git -C {url.removeprefix('file://')} fetch --unshallow`" if _is_local(url) else "a full clone"
    raise ForkwaveError(f"{cfg.file}: {source_key(cfg, 'url')}: {redact_url(url)} has only part of its history (a "
                        f"shallow clone), and forkwave needs all of it to find the base and the changes since; "
                        f"complete it with {where}, or point {source_key(cfg, 'url')} at the full repository")


def _stderr(exc: CalledProcessError) -> str:
    return redact_text(exc.stderr.decode("utf-8", "replace"), exc.secrets)


def candidates(ref: str) -> list[str]:
    """What a user's ``ref`` may name, in order: a sha, a branch, a tag, any revision."""
    if ref.startswith("-") or "\n" in ref:
        return []
    return [ref] if _SHA.match(ref) else [f"refs/heads/{ref}", f"refs/tags/{ref}", ref]


def resolve(mirror: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the mirror: a sha, a branch, a tag, or any revision; ``tags/<glob>``
    (``tags/v*``) follows the newest release tag matching the glob (release-only syncing)."""
    from tasks.core.cooldown import tag_glob

    if tag_glob(ref) is not None:
        from tasks.repo.commits import release_tag

        return release_tag(mirror, ref).commit  # type: ignore[union-attr]  # no match raises, naming the glob
    revs = [f"{c}^{{commit}}" for c in candidates(ref)]
    return next((sha for sha in git.resolve_many(mirror, revs) if sha), None)


def remote_sha(url: str, ref: str) -> str | None:
    """What ``ref`` names at the remote now, cheaply (``git ls-remote``); None if unknown."""
    if _SHA.match(ref):
        return ref
    if ref.startswith("tags/") and any(ch in ref for ch in "*?["):
        return None  # a tag glob: the newest match is known only after fetching the tags
    bare, env = git.remote(url)
    try:
        out = git.git(None, "ls-remote", bare, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}",
                      check=False, secrets=url_secrets(url), env=env, timeout=60)
    except subprocess.TimeoutExpired:  # a hanging remote: unknown, so fetch runs and reports it properly
        return None
    found = {name: sha for sha, name in (line.split("\t", 1) for line in out.decode().splitlines() if "\t" in line)}
    return found.get(f"refs/tags/{ref}^{{}}") or found.get(f"refs/heads/{ref}") or found.get(f"refs/tags/{ref}")


def fetch(cfg: Config, ws: Workspace, *, offline: bool = False) -> dict[str, str]:
    """Mirror, resolve, write ``reports/upstream.json`` only if the commit moved."""
    assert cfg.current.command is None, "a command source is fetched by running it (tasks.engine.generate)"
    url, ref = cfg.upstream.url, cfg.upstream.ref
    if offline:  # the cache only: the upstream itself may be unreachable, even a local path
        if not (ws.mirror / "HEAD").exists():
            raise ForkwaveError(f"offline=1 but there is no cached mirror at {ws.mirror}; run once without offline=1")
    else:
        if _is_local(url) and not Path(url.removeprefix("file://")).exists():
            raise ForkwaveError(f"{cfg.file}: {source_key(cfg, 'url')}: {url} does not exist; "
                                "give a git URL or a local repository path")
        _fetch_with_retries(cfg, ws)
    _require_history(cfg, ws, offline=offline)
    sha = resolve(ws.mirror, ref)
    if sha is None:
        raise ForkwaveError(f"{cfg.file}: {source_key(cfg, 'ref')}: {ref!r} is not a branch, tag or commit of "
                            f"{redact_url(url)}; check the name (is the upstream empty?)")
    record = {"url": _shown(cfg), "ref": ref, "sha": sha}
    path = ws.source_report("upstream.json")
    previous = read_json(path) if path.exists() else {}
    if {k: previous.get(k) for k in record} != record:
        record["fetched_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_if_changed(path, dump_json(record))
        print(f"fetch: {redact_url(url)} {ref} -> {sha[:12]}")
    else:
        print(f"fetch: {ref} unchanged at {sha[:12]}")
    return record


def is_current(cfg: Config, ws: Workspace, *, offline: bool) -> bool:
    """doit ``uptodate``: true when the recorded commit is still what the remote ref names. A command source's
    outputs are known only by running its entrypoint: never up to date, but with ``offline=1`` (as recorded)."""
    path = ws.source_report("upstream.json")
    if not path.exists():
        return False
    if cfg.current.command is not None:
        return offline
    recorded = read_json(path)
    if recorded.get("url") != _shown(cfg) or recorded.get("ref") != cfg.upstream.ref or is_shallow(ws.mirror):
        return False
    if offline:
        return True
    return remote_sha(cfg.upstream.url, cfg.upstream.ref) == recorded.get("sha")


_HELD: set[tuple[str, str]] = set()   # (mirror, commit) found there by this process: a mirror only grows


def ensure_commit(cfg: Config, ws: Workspace, sha: str) -> Path:
    """Make sure the mirror holds ``sha`` (a fresh CI checkout restores reports/ but not the mirror); asked once
    per process (every slice of a run asks)."""
    if cfg.current.command is not None:  # a command source's outputs come back from its bundle, never a remote
        from tasks.repo import outputs

        return outputs.ensure(cfg, ws, sha)
    if (str(ws.mirror), sha) in _HELD:
        return ws.mirror
    if (ws.mirror / "HEAD").exists() and not is_shallow(ws.mirror) and git.rev_parse(ws.mirror, f"{sha}^{{commit}}"):
        _HELD.add((str(ws.mirror), sha))
        return ws.mirror
    _fetch_with_retries(cfg, ws)
    _require_history(cfg, ws, offline=False)
    if not git.rev_parse(ws.mirror, f"{sha}^{{commit}}"):
        raise ForkwaveFailure(f"upstream commit {sha[:12]} recorded in {ws.rel(ws.source_report('upstream.json'))} is "
                              f"no longer in {redact_url(cfg.upstream.url)}; run `doit forget {task_name(cfg)}` and "
                              "`doit` again")
    return ws.mirror
