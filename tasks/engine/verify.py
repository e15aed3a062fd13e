"""``pre:``, ``post:`` and ``verify:`` commands: run in the private worktree at a commit, judged by thresholds.

- ``pre:`` runs on the fork tip (``fork.branch``) before anything is imported; the built-in ``clean``
  refuses a fork checkout with uncommitted changes (``git status``, read only: no index refresh).
- ``verify:`` (per source) runs on the sync tip after the last wave the run reaches, so it judges what the
  run finished (a command with ``when: each_wave`` after every wave too); ``post:`` after the run.
- A command passes when it exits ``expected_exit_code`` and the last number it prints on stdout is
  within ``expected_min``/``expected_max`` (``tasks.core.thresholds``).

Each phase keeps a record (``reports/pre.json``, ``reports/post.json``, the source's ``verify.json``):
the commit it ran on, each verdict with the tail of its output and its full log. The same commit and
the same commands are not run again. ``publish_holds`` reads the records: ``doit publish`` holds a
source while its verification failed on the sync tip it would push, or has not run there with every
command the config gives it; and every source while a post-sync check failed on that tip.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from checks.host import RedactedLog, run_group
from checks.model import tail
from tasks import exitcodes
from tasks.config import Command, Config
from tasks.core import thresholds
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.hashing import digest
from tasks.redact import Redactor
from tasks.repo import git, worktree
from tasks.repo.state import STATE_PATH
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

CANNOT_RUN = {126: "not executable", 127: "command not found"}
END, EACH_WAVE = "end", "each_wave"   # verify[].when: after the last wave the run reaches, or after every wave


class PublishHeld(ForkwaveError):
    """Work left for a person stops this step (exit 2): a failed verification, a pre-sync check."""

    exit_code = exitcodes.PERSON


def spec(command: Command) -> thresholds.Verify:
    """The thresholds' view of a command (bounds as exact decimals, as the config wrote them)."""
    def bound(v: float | None) -> Decimal | None:
        return None if v is None else Decimal(str(v))

    return thresholds.Verify(command.name, command.run or "", command.expected_exit_code,
                             bound(command.expected_min), bound(command.expected_max))


def fingerprint(commands: Sequence[Command]) -> str:
    """What the commands run: ``when`` only says after which wave, and ``layout`` places a verification on an
    export only, so a record stays good when either changes."""
    return digest([{k: v for k, v in asdict(c).items() if k not in ("when", "layout")} for c in commands])


# --- running one command ------------------------------------------------------------------

def run_command(command: Command, cwd: Path, log_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """Run one command in ``cwd`` and judge it; the verdict as JSON.

    Its output tails are redacted; the full logs are in ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{command.name}.stdout.log", log_dir / f"{command.name}.stderr.log"
    full_env = {**os.environ, **env}
    redactor = Redactor.for_env(full_env)
    started = time.monotonic()
    with RedactedLog(out_path, redactor) as out, RedactedLog(err_path, redactor) as err:
        try:
            code, timed_out = run_group(["bash", "-c", command.run or ""], cwd, full_env, command.timeout, out, err)
        except OSError as exc:
            raise ForkwaveFailure(f"{command.name}: could not start bash ({exc.strerror}); install bash") from None
    stdout, stderr = out_path.read_text("utf-8", "replace"), err_path.read_text("utf-8", "replace")
    verdict = thresholds.judge(spec(command), code, stdout)
    reason = verdict.reason
    if timed_out:
        reason = f"verify {command.name!r}: timed out after {command.timeout:g} s (process group killed)"
    cannot = code in CANNOT_RUN and command.expected_exit_code != code
    return {"name": command.name, "run": command.run, "passed": verdict.passed and not timed_out,
            "cannot_run": cannot, "exit_code": code, "value": None if verdict.value is None else str(verdict.value),
            "reason": reason if not cannot else f"{command.name}: cannot run (exit {code}: {CANNOT_RUN[code]}): "
                                               f"{command.run}; install what it needs or fix `run`",
            "duration": round(time.monotonic() - started, 3), "stdout": tail(stdout), "stderr": tail(stderr),
            "log": str(out_path)}


def clean_checkout(fork: Path) -> dict[str, Any]:
    """The built-in ``clean``: the fork's checkout has no uncommitted change (staged or not; untracked files
    do not count, as in ``git diff --quiet && git diff --staged --quiet``)."""
    started = time.monotonic()
    bare = git.git(fork, "rev-parse", "--is-bare-repository").decode().strip() == "true"
    changed: list[str] = []
    if not bare:
        out = git.git(fork, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=no")
        changed = sorted({rec[3:].decode("utf-8", "surrogateescape") for rec in out.split(b"\0") if len(rec) > 3})
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    reason = (f"pre 'clean': the fork checkout {fork} has uncommitted changes in {shown}; commit or stash them "
              "and run again" if changed else f"pre 'clean': the fork checkout {fork} has no uncommitted changes")
    return {"name": "clean", "run": None, "passed": not changed, "cannot_run": False, "exit_code": 1 if changed else 0,
            "value": None, "reason": reason, "duration": round(time.monotonic() - started, 3),
            "stdout": "\n".join(changed), "stderr": "", "log": None, "builtin": "clean", "files": changed}


def run_all(cfg: Config, ws: Workspace, commands: Sequence[Command], commit: str, log_dir: Path,
            env: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every command, in order, in the private worktree checked out at ``commit``.

    The worktree is checked out once, and only if a command needs it."""
    results, wt = [], None
    for command in commands:
        if command.builtin == "clean":
            results.append(clean_checkout(cfg.fork.path))
            continue
        wt = wt or worktree.ensure(cfg, ws, commit)
        results.append(run_command(command, wt, log_dir, env))
    return results


# --- the phases -----------------------------------------------------------------------------

def _record(ws: Workspace, phase: str) -> Path:
    return ws.source_report("verify.json") if phase == "verify" else ws.report(f"{phase}.json")


def _previous(path: Path, commit: str, print_: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    kept = read_json(path)
    return kept if kept.get("commit") == commit and kept.get("commands") == print_ else None


def run_phase(cfg: Config, ws: Workspace, phase: str, commands: Sequence[Command], commit: str,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run ``commands`` on ``commit`` (or recall the verdicts of the same commands on it) and record them."""
    path, print_ = _record(ws, phase), fingerprint(commands)
    always = any(c.builtin for c in commands)  # the checkout's state is no commit: asked again every time
    kept = None if always else _previous(path, commit, print_)
    if kept is not None:
        return {**kept, "recalled": True}
    env = {"FORKWAVE_PHASE": phase, "FORKWAVE_SOURCE": cfg.source, "FORKWAVE_COMMIT": commit}
    results = run_all(cfg, ws, commands, commit, path.parent / phase / "logs", env)
    for r in results:
        if r["log"]:
            r["log"] = ws.rel(r["log"])
        if r["reason"].startswith("verify ") and phase != "verify":  # thresholds speaks of verifications
            r["reason"] = phase + r["reason"][len("verify"):]
    record = {"phase": phase, "source": cfg.source, "commit": commit, "commands": print_,
              "passed": all(r["passed"] for r in results), "results": results, **(extra or {})}
    write_if_changed(path, dump_json(record))
    return record


def say(phase: str, record: Mapping[str, Any], where: str) -> list[str]:
    """The lines a phase prints: one per command, and the output tail of each that failed."""
    lines = []
    for r in record["results"]:
        mark = "passed" if r["passed"] else "FAILED"
        lines.append(f"{phase}{where}: {r['name']} {mark} — {r['reason']}"
                     + (" (same commit, same commands: not run again)" if record.get("recalled") else ""))
        if not r["passed"] and (r["stdout"] or r["stderr"]):
            shown = "\n".join(f"    {line}" for line in (r["stdout"] + "\n" + r["stderr"]).strip().splitlines()[-15:])
            lines.append(f"{phase}{where}: {r['name']} output (last lines; full log {r['log'] or '-'}):\n{shown}")
    return lines


def failure(phase: str, record: Mapping[str, Any]) -> tuple[str, int] | None:
    """(one line, exit code) when the phase failed: 3 for a command that cannot run, 1 for a dirty checkout
    (fix it and run again), 2 for a command whose verdict is for a person."""
    bad = [r for r in record["results"] if not r["passed"] or r.get("cannot_run")]
    if not bad:
        return None
    code = exitcodes.combine(exitcodes.FAILURE if r.get("cannot_run") else
                             exitcodes.USAGE if r.get("builtin") == "clean" else exitcodes.PERSON for r in bad)
    first = bad[0]
    more = f" (and {len(bad) - 1} more; reports/{Path(_name(phase)).name})" if len(bad) > 1 else ""
    return f"{first['reason']}{more}", code


def _name(phase: str) -> str:
    return "verify.json" if phase == "verify" else f"{phase}.json"


def fork_tip(cfg: Config) -> str:
    tip = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.branch}^{{commit}}")
    if tip is None:
        raise ForkwaveError(f"{cfg.file}: fork.branch: no branch {cfg.fork.branch!r} in {cfg.fork.path}")
    return tip


def sync_tip(cfg: Config) -> str | None:
    return git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}^{{commit}}")


def verify_source(cfg: Config, ws: Workspace, wave: str,
                  commands: Sequence[Command] | None = None) -> dict[str, Any] | None:
    """The source's ``verify:`` (or ``commands`` of it) on the sync tip (``cfg`` and ``ws`` as the source sees
    them); None without any."""
    commands = cfg.current.verify if commands is None else commands
    tip = sync_tip(cfg)
    if not commands or tip is None or cfg.current.direction == "push":
        return None
    return run_phase(cfg, ws, "verify", commands, tip, {"wave": wave, "direction": "pull"})


def current(cfg: Config, ws: Workspace) -> dict[str, Any] | None:
    """The source's verification record when it is of its sync tip now and of every ``verify:`` command the
    config gives it (``cfg`` and ``ws`` as the source sees them); None otherwise."""
    tip = sync_tip(cfg)
    path = ws.source_report("verify.json")
    if tip is None or not path.exists():
        return None
    kept = read_json(path)
    return kept if kept.get("commit") == tip and kept.get("commands") == fingerprint(cfg.current.verify) else None


def standing(views: Iterable[tuple[str, Config, Workspace]]) -> dict[str, list[dict[str, Any]]]:
    """Each source's verdicts as they stand on its sync tip (``views``: (name, config, workspace) as each source
    sees them), for those with a ``verify:`` run there with the commands the config has now."""
    out = {}
    for name, cfg, ws in views:
        kept = current(cfg, ws) if cfg.current.verify else None
        if kept is not None:
            out[name] = kept["results"]
    return out


def all_passed(views: Iterable[tuple[str, Config, Workspace]]) -> bool:
    """Has every source's whole ``verify:`` passed on its sync tip as it is now?"""
    return all((current(cfg, ws) or {}).get("passed") for _, cfg, ws in views if cfg.current.verify)


# --- what publish asks ----------------------------------------------------------------------

def on_branch(cfg: Config, tip: str, sources: Sequence[str]) -> list[str]:
    """Of ``sources``, those with something on the branch at ``tip``: a path of theirs it changes since
    ``fork.branch`` (with one source, that source whenever the branch changes anything)."""
    changed = [p for p in git.changed_names(cfg.fork.path, f"refs/heads/{cfg.fork.branch}", tip) if p != STATE_PATH]
    if not cfg.several:
        return list(sources) if changed else []
    return [s for s in sources if _owned(cfg, s, changed)]


def _owned(cfg: Config, source: str, paths: Sequence[str]) -> list[str]:
    from tasks.globs import globs

    owns = globs(next(s.paths for s in cfg.sources if s.name == source))
    return [p for p in paths if owns(p)]


def holds(cfg: Config, ws: Workspace, tip: str, sources: Sequence[str]) -> dict[str, str]:
    """source -> why its part of the branch at ``tip`` must not be merged: its verification failed on its
    files as they are at ``tip``, or never ran on them. A verification stays good while the source's own
    paths are as it saw them — another source landing beside it (another CI schedule) changes none of
    them — and a source with nothing on the branch needs none. A push-only source is verified on its export."""
    out = {}
    for name in sources:
        source = next(s for s in cfg.sources if s.name == name)
        if not source.verify or source.direction == "push":
            continue
        path = ws.scoped(name if cfg.several else None).source_report("verify.json")
        kept = read_json(path) if path.exists() else None
        if kept is None or not _still_holds(cfg, name, kept.get("commit"), tip):
            out[name] = (f"verification of {name} has not run on {cfg.fork.sync_branch} at {tip[:12]}"
                         + (" (nor on an earlier tip with its files as they are)" if cfg.several else "")
                         + f"; run `doit{' sources=' + name if cfg.several else ''}` (it verifies what it synced), "
                         "then publish")
        elif not kept["passed"]:
            bad = next(r for r in kept["results"] if not r["passed"])
            out[name] = (f"{bad['reason']} on {str(kept['commit'])[:12]} ({ws.rel(path)}); fix it on the sync branch "
                         "or in the config")
    return out


def _still_holds(cfg: Config, source: str, verified: str | None, tip: str) -> bool:
    """Did the verification at commit ``verified`` see the source's files as they are at ``tip``?"""
    if verified == tip:
        return True
    if not verified or not git.rev_parse(cfg.fork.path, f"{verified}^{{commit}}"):
        return False
    if not cfg.several:
        return False  # one source owns every path: only the tip itself
    moved = git.git(cfg.fork.path, "diff", "--name-only", "-z", "--no-renames", verified, tip, "--").split(b"\0")
    return not _owned(cfg, source, [p.decode("utf-8", "surrogateescape") for p in moved if p])


def post_hold(cfg: Config, ws: Workspace, tip: str) -> str | None:
    """Why the whole branch at ``tip`` is held by the post-sync checks (they judge the whole tip), or None."""
    path = ws.report("post.json")
    if cfg.post and path.exists():
        kept = read_json(path)
        if kept.get("commit") == tip and not kept["passed"]:
            bad = next(r for r in kept["results"] if not r["passed"])
            return f"post-sync check failed: {bad['reason']} on {tip[:12]} (reports/post.json)"
    return None


def publish_holds(cfg: Config, ws: Workspace, tip: str, sources: Sequence[str] | None = None) -> dict[str, str]:
    """What holds ``doit publish`` of ``tip``, per source of ``sources`` (default every one) with something on
    the branch (``holds``), and under ``""`` a post-sync check that failed on it (that holds every source)."""
    names = [s.name for s in cfg.sources] if sources is None else list(sources)
    out = {name: said(name, why) for name, why in holds(cfg, ws, tip, on_branch(cfg, tip, names)).items()}
    post = post_hold(cfg, ws, tip)
    if post:
        out[""] = post
    return out


def publish_hold(cfg: Config, ws: Workspace, tip: str, sources: Sequence[str] | None = None) -> str | None:
    """Why ``doit publish`` must not push ``tip`` at all (None: it may): the post-sync checks failed on it, or
    every source with something on the branch is held (``holds``)."""
    post = post_hold(cfg, ws, tip)
    if post:
        return post
    present = on_branch(cfg, tip, [s.name for s in cfg.sources] if sources is None else sources)
    held = holds(cfg, ws, tip, present)
    if present and len(held) == len(present):
        return "; ".join(f"{name}: {why}" if cfg.several else said(name, why) for name, why in held.items())
    return None


def said(name: str, why: str) -> str:
    """A hold as one line naming its source (``holds`` keys its reasons by source)."""
    return why if why.startswith("verification of ") else f"verification failed for {name}: {why}"


def verified(ws: Workspace, source: str | None = None) -> dict[str, Any] | None:
    """Hook for the ledger and the run summary: the source's last verification record (``passed``, ``results``)."""
    path = ws.scoped(source).source_report("verify.json")
    return read_json(path) if path.exists() else None
