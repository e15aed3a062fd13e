"""``push_run`` of a command source: the fork's input files the source has not taken yet, and sending them.

What the source holds of the fork's inputs is the state the ledger's last successful (source, ``push``) row
recorded (path -> blob id), so nothing is sent twice and a failed push is sent again. Inputs are read from
``fork.branch`` (the fork's own work), never a checkout. For a ``both`` source, the paths it also writes are
judged with its drift (``tasks.core.directions.to_send``): a change on both sides since the last sync is one
conflict, sent nowhere (and pulled nowhere: the plan leaves it out).

Sending runs ``push_run`` once with the changed paths on standard input, one per line, and those files under
``$FORKWAVE_IN`` (a path listed but absent there was deleted in the fork); its exit code and last line are the
result.
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.config import Config
from tasks.core.directions import Sending, to_send
from tasks.engine import entrypoint
from tasks.engine.sanitize import Sanitizer
from tasks.globs import globs
from tasks.redact import Redactor
from tasks.repo import git, outputs
from tasks.repo.fork import fork_head
from tasks.workspace import Workspace

SYNC_TYPE = "push"   # the ledger's sync type of a push (as an export's)
STATE = "state"      # the key of its row's detail holding what the source took


@dataclass(frozen=True)
class Pending:
    """The fork commit the inputs are read from, and what goes."""

    revision: str
    sending: Sending

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, **self.sending.to_json()}


@dataclass(frozen=True)
class Sent:
    ok: bool
    line: str        # the last line, sanitised: the result a person reads
    logs: Path


def sent_state(detail: Mapping[str, Any] | None) -> dict[str, str]:
    """What the source holds, from the last successful push's ledger detail (nothing before the first)."""
    found = (detail or {}).get(STATE)
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def pending(cfg: Config, ws: Workspace, sent: Mapping[str, str], report: Mapping[str, Any] | None,
            take_conflicts: bool = False) -> Pending:
    """What ``push_run`` would take now: ``fork.branch``'s input files against ``sent``; with ``report`` (a ``both``
    source's ``drift.json``) the paths the source also writes judged on both sides."""
    src = cfg.current
    assert src.command is not None
    head = fork_head(cfg)
    wanted = globs(src.command.inputs)
    fork = {p: e for p, e in git.tree_entries(cfg.fork.path, f"{head}^{{tree}}").items() if wanted(p)}
    if report is None:
        return Pending(head, to_send(fork, sent))
    mirror = outputs.ensure(cfg, ws, report["upstream"]["sha"])
    theirs = {p: oid for p, (_, oid) in outputs.files_of(mirror, report["upstream"]["sha"]).items()}
    return Pending(head, to_send(fork, sent, pulled=src.owns, source=theirs, entries=report["entries"],
                                 take_conflicts=take_conflicts))


def send(cfg: Config, ws: Workspace, todo: Pending) -> Sent:
    """Run ``push_run`` with the pending paths; its sanitised output in the source's ``push-logs/``."""
    src = cfg.current
    assert src.command is not None
    with tempfile.TemporaryDirectory(prefix="forkwave-push-") as tmp:
        scratch = entrypoint.Scratch(Path(tmp)).make(src.command.config)
        present = [(p, oid) for p, oid in todo.sending.send if oid is not None]
        blobs = dict(git.read_blobs(cfg.fork.path, [oid for _, oid in present]))
        for path, oid in present:
            target = scratch.inputs / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs[oid] or b"")
        scratch.stdin.write_text("".join(f"{p}\n" for p, _ in todo.sending.send), encoding="utf-8")
        ran = entrypoint.run(cfg, ws, src, "push_run", scratch, stdin=True)
    with Sanitizer(src.command.sanitize, cfg.secrets, src.name) as clean:
        redactor = Redactor.for_env(dict(src.command.env))
        stdout = redactor.text(clean.text(ran.stdout, "push_run.stdout.log"))
        stderr = redactor.text(clean.text(ran.stderr, "push_run.stderr.log"))
    logs = entrypoint.write_logs(ws, "push_run", stdout, stderr)
    last = entrypoint.last_line(stdout, stderr, failed=not ran.ok)
    return Sent(ran.ok, last if ran.ok else entrypoint.describe(ran, last), logs)
