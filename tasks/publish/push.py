"""Push the sync branch, never by force: GitPython's ``PushInfo`` tells a push git refused from one that landed.

This is forkwave's one use of GitPython: ``Remote.push`` runs ``git push --porcelain`` and parses
each ref's line into flags (fast-forward, new branch, up to date, rejected, remote rejected), so a
branch someone else moved is reported, and a forge's refusal (GitHub's missing ``workflow`` scope)
is told apart from a non-fast-forward. Credentials reach git only through its environment
(``tasks.repo.git.credential_env``): the token is in no argv and, redacted, in no message.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.repo import git
from tasks.errors import ForkwaveFailure
from tasks.redact import redact_text, redact_url

TIMEOUT = 600  # seconds: a push of a large sync branch over a slow link
WORKFLOW_REFUSAL = re.compile(r"refusing to allow an? .*? to create or update workflow `?([^`\s)]+)`?", re.IGNORECASE)


@dataclass(frozen=True)
class Pushed:
    ref: str            # the remote ref, refs/heads/<name>
    status: str         # "new branch" | "fast-forward" | "up to date"
    old: str | None     # what the remote had before (abbreviated), if anything


class PushRefused(ForkwaveFailure):
    """The remote refused a ref.

    ``kind`` is ``non-fast-forward``, ``workflow-scope``, ``remote-rejected`` or ``failed``."""

    def __init__(self, message: str, kind: str, path: str | None = None):
        super().__init__(message)
        self.kind, self.path = kind, path


@contextlib.contextmanager
def _without_inherited_git_vars() -> Iterator[None]:
    """GitPython starts each git from a copy of ``os.environ`` and can add variables, not remove them; a
    ``GIT_DIR`` or ``GIT_CONFIG_PARAMETERS`` left by a hook must not redirect or reconfigure this push
    (``tasks.repo.git.git_env`` scrubs them for every other git). doit runs this action alone, on its main thread."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("GIT_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def push(fork: Path, remote: str, refspecs: Sequence[str], env: Mapping[str, str] | None = None,
         secrets: Sequence[str] = (), shown: str | None = None) -> list[Pushed]:
    """``git push <remote> <refspecs>`` from ``fork`` (no ``+``: git refuses anything but a fast-forward).

    ``remote`` is a remote's name or a URL without credentials; ``env`` adds the credential helper's
    variables. Raises ``PushRefused`` naming the ref and why, with the token redacted.
    """
    from git import GitCommandError, PushInfo, Remote, RemoteProgress, Repo

    assert not any(spec.startswith("+") for spec in refspecs), "forkwave never force-pushes"
    logging.getLogger("git.remote").addHandler(logging.NullHandler())  # its warning repeats git's lines: ours say it
    progress = RemoteProgress()
    where = shown or redact_url(remote)
    with _without_inherited_git_vars():
        repo = Repo(fork)
        try:
            infos = Remote(repo, remote).push(list(refspecs), progress=progress, kill_after_timeout=TIMEOUT,
                                              env=git.git_env(dict(env or {})))
        except GitCommandError as exc:  # nothing was pushed at all: no connection, refused credentials
            raise _failed(where, _stderr(exc), secrets) from None
        finally:
            repo.close()
    remote_lines = "\n".join([*progress.other_lines, *progress.error_lines, _stderr(infos.error)])
    results = []
    for info in infos:
        if info.flags & (PushInfo.ERROR | PushInfo.REJECTED | PushInfo.REMOTE_REJECTED | PushInfo.REMOTE_FAILURE):
            raise _refused(where, info.remote_ref_string, info.summary.strip(), info.flags, remote_lines, secrets)
        status = ("up to date" if info.flags & PushInfo.UP_TO_DATE else "new branch" if info.flags & PushInfo.NEW_HEAD
                  else "fast-forward")
        results.append(Pushed(info.remote_ref_string, status, info._old_commit_sha))
    if infos.error is not None and not results:
        raise _failed(where, remote_lines, secrets)
    return results


def _stderr(exc: BaseException | None) -> str:
    """git's own lines from a ``GitCommandError`` (GitPython frames them as ``stderr: '...'``)."""
    text = str(getattr(exc, "stderr", "") or "") if exc is not None else ""
    return re.sub(r"^\s*stderr: '(.*)'\s*$", r"\1", text, flags=re.S)


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


def _refused(where: str, ref: str, summary: str, flags: int, remote_lines: str, secrets: Sequence[str]) -> PushRefused:
    from git import PushInfo

    branch = _branch(ref)
    scope = WORKFLOW_REFUSAL.search(f"{summary}\n{remote_lines}")
    if scope:
        return PushRefused(f"{where} refused {branch}: the token may not change GitHub workflows "
                           f"({scope.group(1)}); give FORKWAVE_TOKEN a token with the `workflow` scope (classic) or "
                           "Workflows: write (fine-grained, GitHub App), or roll back the CI slice (`doit "
                           "rollback:<slice>`)",
                           "workflow-scope", scope.group(1))
    if flags & PushInfo.REJECTED:
        why = re.search(r"\(([^)]*)\)", summary)
        return PushRefused(f"{where} refused {branch}: not a fast-forward ({why.group(1) if why else 'rejected'}) "
                           f"— the remote {branch} has commits this one lacks (someone else pushed there); nothing was "
                           f"overwritten: bring those commits into the fork's {branch} and run `doit` again",
                           "non-fast-forward")
    reason = redact_text(re.sub(r"^\[[^]]*\]\s*", "", summary).strip("() ") or "no reason given", tuple(secrets))
    return PushRefused(f"{where} refused {branch}: {reason}", "remote-rejected")


def _failed(where: str, stderr: str, secrets: Sequence[str]) -> PushRefused:
    from tasks.repo.fetch import diagnose

    kind, _, cause = diagnose(redact_text(stderr, tuple(secrets)))
    step = {"authentication failed": "check the token in FORKWAVE_TOKEN (or the forge's usual variable): it must "
                                     "be allowed to push to the repository",
            "not found": "check publish.remote and that the token can see the repository",
            "network": "check the network and run `doit publish` again"}.get(kind, "see git's words above")
    return PushRefused(f"could not push to {where} ({kind}): {cause}; {step}", "failed")
