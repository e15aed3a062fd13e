"""``doit publish`` for command sources that push: ``push_run`` takes the fork's input files changed since the
source last took them (``tasks.engine.sending``).

Nothing leaves the machine before ``doit publish``: a run computes what would go (``export.json``) and
reports conflicts; publishing sends. A push that succeeds is the (source, ``push``) row of the ledger, with
what the source now holds as its detail, so nothing goes twice; one that fails records nothing as sent (the
next publish sends the same again) and is an error naming the source, the exit code and the last line.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from tasks.config import Config
from tasks.engine import runlock, sending
from tasks.workspace import Workspace, read_json


def push_commands(cfg: Config, ws: Workspace, names: Sequence[str], sent_of: Callable[[str], Mapping[str, str]],
                  fork_side: Collection[str] = ()) -> list[str]:
    """Send each of ``names``' pending inputs; one line for each that failed (empty: all went, or nothing had to).
    ``fork_side``: sources whose conflicts go as the fork has them (``direction=push`` on a ``both`` source)."""
    failed = []
    for name in names:
        problem = _push_one(cfg.for_source(name), ws.scoped(name if cfg.several else None), sent_of(name),
                            name in fork_side)
        if problem:
            failed.append(problem)
    return failed


def _push_one(cfg: Config, ws: Workspace, sent: Mapping[str, str], fork_side: bool) -> str | None:
    src = cfg.current
    assert src.command is not None
    report = None
    if src.command.run is not None:  # both ways: the paths it also writes are judged with its drift
        path = ws.source_report("drift.json")
        if not path.exists():
            print(f"publish: {src.name}: nothing compared yet (run `doit` first); nothing sent")
            return None
        report = read_json(path)
    todo = sending.pending(cfg, ws, sent, report, take_conflicts=fork_side)
    paths = [p for p, _ in todo.sending.send]
    left = f"; {len(todo.sending.conflicts)} changed on both sides stay (export.json)" if todo.sending.conflicts else ""
    if not paths:
        print(f"publish: {src.name}: nothing new for push_run{left}")
        return None
    run = runlock.current()
    sync = run.sync(src.name, sending.SYNC_TYPE, todo.revision) if run is not None else None
    done = sending.send(cfg, ws, todo)
    where = ws.rel(done.logs)
    if not done.ok:
        message = (f"{src.name}: push_run {done.line}; nothing is recorded as sent: the next `doit publish` sends "
                   f"these {len(paths)} files again (its output: {where}/)")
        if run is not None:
            run.close(src.name, sending.SYNC_TYPE, error=message)
        return message
    if run is not None and sync is not None:
        sync.exported = paths
        sync.created = [p for p, oid in todo.sending.send if oid is not None and p not in sent]
        sync.detail = {sending.STATE: dict(todo.sending.state), "sent": paths, "result": done.line}
        run.close(src.name, sending.SYNC_TYPE, note=done.line or None)
    print(f"publish: {src.name}: push_run took {len(paths)} file{'' if len(paths) == 1 else 's'}"
          + (f": {done.line}" if done.line else "") + left)
    return None
