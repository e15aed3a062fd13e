"""fetch: mirror the upstream into a bare cache and record which commit ``ref`` names."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import tenacity

from tasks import git
from tasks.config import Config
from tasks.errors import ForkwaveError
from tasks.proc import CalledProcessError
from tasks.redact import redact_url, url_secrets
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


def init_mirror(ws: Workspace) -> Path:
    if not (ws.mirror / "HEAD").exists():
        ws.mirror.parent.mkdir(parents=True, exist_ok=True)
        git.git(None, "init", "--quiet", "--bare", str(ws.mirror))
    return ws.mirror


def _fetch_with_retries(mirror: Path, url: str) -> None:
    secrets = url_secrets(url)
    shown = redact_url(url)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0
        print(f"fetch: attempt {state.attempt_number}/{ATTEMPTS} from {shown} failed; "
              f"retrying in {wait:.1f} s", file=sys.stderr)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        wait=tenacity.wait_exponential(multiplier=_backoff_base(), min=0, max=60),
        retry=tenacity.retry_if_exception_type(CalledProcessError),
        before_sleep=before_sleep, reraise=True)
    try:
        retrying(git.git, mirror, "fetch", "--quiet", "--prune", "--no-write-fetch-head", url,
                 *REFSPECS, secrets=secrets)
    except CalledProcessError as exc:
        raise ForkwaveError(
            f"upstream.url: could not fetch {shown} after {ATTEMPTS} attempts: "
            f"{str(exc).splitlines()[-1].strip()}; check the URL, credentials and network, "
            "or run with offline=1 to use the cached mirror") from None


def candidates(ref: str) -> list[str]:
    """What a user's ``ref`` may name, in order: a sha, a branch, a tag, any revision."""
    if ref.startswith("-") or "\n" in ref:
        return []
    return [ref] if _SHA.match(ref) else [f"refs/heads/{ref}", f"refs/tags/{ref}", ref]


def resolve(mirror: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the mirror: a sha, a branch, a tag, or any revision."""
    revs = [f"{c}^{{commit}}" for c in candidates(ref)]
    return next((sha for sha in git.resolve_many(mirror, revs) if sha), None)


def remote_sha(url: str, ref: str) -> str | None:
    """What ``ref`` names at the remote now, cheaply (``git ls-remote``); None if unknown."""
    if _SHA.match(ref):
        return ref
    try:
        out = git.git(None, "ls-remote", url, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}",
                      check=False, secrets=url_secrets(url), timeout=60)
    except subprocess.TimeoutExpired:  # a hanging remote: unknown, so fetch runs and reports it properly
        return None
    found = {name: sha for sha, name in (line.split("\t", 1) for line in out.decode().splitlines() if "\t" in line)}
    return found.get(f"refs/tags/{ref}^{{}}") or found.get(f"refs/heads/{ref}") or found.get(f"refs/tags/{ref}")


def fetch(cfg: Config, ws: Workspace, *, offline: bool = False) -> dict[str, str]:
    """Mirror, resolve, write ``reports/upstream.json`` only if the commit moved."""
    url, ref = cfg.upstream.url, cfg.upstream.ref
    if offline:  # the cache only: the upstream itself may be unreachable, even a local path
        if not (ws.mirror / "HEAD").exists():
            raise ForkwaveError(f"offline=1 but there is no cached mirror at {ws.mirror}; run once without offline=1")
    else:
        if _is_local(url) and not Path(url.removeprefix("file://")).exists():
            raise ForkwaveError(f"{cfg.file}: upstream.url: {url} does not exist; "
                                "give a git URL or a local repository path")
        _fetch_with_retries(init_mirror(ws), url)
    sha = resolve(ws.mirror, ref)
    if sha is None:
        raise ForkwaveError(f"{cfg.file}: upstream.ref: {ref!r} is not a branch, tag or commit of "
                            f"{redact_url(url)}; check the name (is the upstream empty?)")
    record = {"url": _shown(cfg), "ref": ref, "sha": sha}
    path = ws.report("upstream.json")
    previous = read_json(path) if path.exists() else {}
    if {k: previous.get(k) for k in record} != record:
        record["fetched_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_if_changed(path, dump_json(record))
        print(f"fetch: {redact_url(url)} {ref} -> {sha[:12]}")
    else:
        print(f"fetch: {ref} unchanged at {sha[:12]}")
    return record


def is_current(cfg: Config, ws: Workspace, *, offline: bool) -> bool:
    """doit ``uptodate``: true when the recorded commit is still what the remote ref names."""
    path = ws.report("upstream.json")
    if not path.exists():
        return False
    recorded = read_json(path)
    if recorded.get("url") != _shown(cfg) or recorded.get("ref") != cfg.upstream.ref:
        return False
    if offline:
        return True
    return remote_sha(cfg.upstream.url, cfg.upstream.ref) == recorded.get("sha")


def ensure_commit(cfg: Config, ws: Workspace, sha: str) -> Path:
    """Make sure the mirror holds ``sha`` (a fresh CI checkout restores reports/ but not the mirror)."""
    if (ws.mirror / "HEAD").exists() and git.rev_parse(ws.mirror, f"{sha}^{{commit}}"):
        return ws.mirror
    _fetch_with_retries(init_mirror(ws), cfg.upstream.url)
    if not git.rev_parse(ws.mirror, f"{sha}^{{commit}}"):
        raise ForkwaveError(f"upstream commit {sha[:12]} recorded in reports/upstream.json is no longer in "
                            f"{redact_url(cfg.upstream.url)}; run `doit forget fetch` and `doit` again")
    return ws.mirror
