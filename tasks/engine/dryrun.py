"""``dry=1``: each slice simulated on the tip the slices before it would have made; nothing a person can see moves.

A simulated slice is met as the run would meet it — a file slice prepared (its merges and their
conflicts, the paths blocked, its coupled groups from the plan), a commit slice merged or picked
commit by commit — and judged by the built-in gates on its files, written to a temporary folder
from the fork's object store: never the private worktree, the verdict memo or a check. What it
would land becomes a commit *object* with fixed dates (no ref points at it), the tip of the next
simulated slice on the same branch. Nothing here writes a ref, an outcome, a memo entry, the
ledger or a remote; the only files written are ``reports/dry-run.md`` and ``reports/dry-run.json``
(``tasks.report.dryrun``).

The slices simulated so far in this process are kept in ``SIMULATED`` (plan order), so ``doit dry=1``
writes one report with every wave's slices, whichever task finishes last.
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from checks.gates import run_gate
from tasks.config import Config
from tasks.core.fingerprint import applicable
from tasks.core.outcome import Conflict, Deferral, Outcome, Status
from tasks.errors import ForkwaveError
from tasks.repo import git, importer, worktree
from tasks.repo.importer import Prepared

FIXED_DATE = "@0 +0000"   # simulated commits: the same inputs make the same objects (a deterministic report)
SIMULATED: dict[str, dict[str, Any]] = {}   # slice name -> its simulation, this process
TIPS: dict[str, str] = {}                   # sync (or integration) branch -> its simulated tip so far


@dataclass(frozen=True)
class Simulation:
    """A slice as a dry run meets it: what would land and what not, and the tip once it landed."""

    status: str
    tip: str                                   # the simulated sync tip after it (the start: nothing lands)
    changes: list[dict[str, Any]] = field(default_factory=list)   # {"path", "class", "action"}
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    checks_to_run: list[str] = field(default_factory=list)
    would_land: list[str] = field(default_factory=list)     # paths
    would_defer: list[str] = field(default_factory=list)    # paths
    commits: list[dict[str, Any]] = field(default_factory=list)   # commit slices: each commit and what it would do
    applied: list[str] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)


def start_tip(cfg: Config) -> tuple[str, bool]:
    """(the commit the first simulated slice starts on, whether the sync branch exists): the sync branch,
    else the fork's remote's, else ``fork.branch`` (where the run would start it) — read only, never created."""
    known = worktree.sync_ref(cfg)
    sync = git.rev_parse(cfg.fork.path, f"{known}^{{commit}}") if known else None
    if sync:
        return sync, True
    base = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.branch}^{{commit}}")
    if base is None:
        raise ForkwaveError(f"{cfg.file}: fork.branch: no branch {cfg.fork.branch!r} in {cfg.fork.path}")
    return base, False


def current_tip(cfg: Config) -> str:
    return TIPS.get(cfg.fork.sync_branch) or start_tip(cfg)[0]


def record(cfg: Config, slice_: Any, sim: Simulation) -> dict[str, Any]:
    """Keep a simulation for the report; the branch's simulated tip moves to where it would land."""
    start = current_tip(cfg)
    TIPS[cfg.fork.sync_branch] = sim.tip
    result = {"slice": slice_.name, "wave": slice_.wave, "source": slice_.source or cfg.source,
              "branch": cfg.fork.sync_branch, "status": sim.status, "starts_on_tree": git.tree_of(cfg.fork.path, start),
              **{k: v for k, v in asdict(sim).items() if k not in ("status", "tip")},
              "groups": [{"files": list(g.files), "why": list(g.why), "split": g.split.to_json() if g.split else None}
                         for g in slice_.groups]}
    SIMULATED[slice_.name] = result
    return result


def _commit(fork: Path, parent: str, changes: list[importer.Change], name: str) -> str:
    tree = importer.build_tree(fork, parent, changes)
    env = {"GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE}
    return git.git(fork, "commit-tree", tree, "-p", parent, input=f"forkwave dry run: {name}\n".encode(),
                   env=env).decode().strip()


def gates_on(cfg: Config, changes: list[importer.Change], tip: str) -> list[dict[str, Any]]:
    """What each built-in gate says about the files the slice would write, against ``tip``."""
    written = [c for c in changes if c.mode is not None]
    with tempfile.TemporaryDirectory(prefix="forkwave-dry-") as tmp:
        root = Path(tmp)
        blobs = {c.oid: c for c in written if c.mode in ("100644", "100755") and c.oid}
        for oid, data in git.read_blobs(cfg.fork.path, blobs):
            target = root / blobs[oid].path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data or b"")
        for c in written:  # several paths may share one blob
            if c.oid in blobs and not (root / c.path).exists():
                (root / c.path).parent.mkdir(parents=True, exist_ok=True)
                (root / c.path).write_bytes((root / blobs[c.oid].path).read_bytes())
        files = sorted(c.path for c in written)
        results = [run_gate(g, files, cfg.deny, root, repo=cfg.fork.path, parent=tip, secrets=cfg.secrets,
                            deny_except=cfg.deny_except) for g in cfg.gates]
    return [{"gate": r.name, "status": r.status, "message": r.message, "files": sorted(r.files)} for r in results]


def simulate_files(job: Any, tip: str, prepared: Prepared) -> Simulation:
    """A file slice as the run would meet it on ``tip``: changes, conflicts, blocked paths, gates, what would land."""
    cfg = job.cfg
    importer.copy_objects(job.mirror, cfg.fork.path, [c.oid for c in prepared.changes if c.oid and c.mode != "160000"])
    changes = list(prepared.changes)
    gates = gates_on(cfg, changes, tip) if changes else []
    blamed = {f for g in gates if g["status"] == "failed" for f in g["files"]}
    landing = [c for c in changes if c.path not in blamed]
    checks = [check.name for check, applies in applicable(cfg.checks, [c.path for c in landing]) if applies]
    status = ("conflicted" if prepared.conflicts else "split" if blamed and landing else
              "deferred" if blamed else "adopted" if landing else "empty")
    new_tip = _commit(cfg.fork.path, tip, landing, job.name) if landing else tip
    return Simulation(
        status, new_tip,
        changes=[{"path": c.path, "class": c.cls,
                  "action": "delete" if c.mode is None else "merge" if c.cls == "both-changed" else "write"}
                 for c in changes],
        conflicts=[{"path": p, "reason": r} for p, r in prepared.conflicts],
        blocked=[{"path": p, "reason": r} for p, r in prepared.blocked],
        gates=gates, checks_to_run=checks, would_land=sorted(c.path for c in landing), would_defer=sorted(blamed),
        applied=list(prepared.applied),
        kept=[{"path": p, "why": f"a person's version ({c[:12]})"} for p, c in prepared.resolved]
        + [{"path": p, "why": f"rolled back ({c[:12]})"} for p, c in prepared.rolled_back])


def as_outcome(sim: Mapping[str, Any], plan_slice: Any, upstream: str) -> Outcome:
    """A simulation as an outcome (what the risk score and the pull request preview read)."""
    gates = {f: g for g in sim["gates"] if g["status"] == "failed" for f in g["files"]}
    conflicts = tuple(Conflict(c["path"], c["reason"], "resolve it on the sync branch after the real run")
                      for c in sim["conflicts"])
    deferred = tuple(Deferral((f,), f"gate {gates[f]['gate']}: {gates[f]['message']}",
                              "fix it upstream or in the fork; the real run defers it", (gates[f]["gate"],))
                     for f in sim["would_defer"] if f in gates)
    status = Status.CONFLICTED if conflicts else Status.SPLIT if deferred and sim["would_land"] else \
        Status.REVERTED if deferred else Status.ADOPTED if sim["would_land"] else Status.EMPTY
    return Outcome(sim["slice"], sim["wave"], upstream, status, "", source=plan_slice.source,
                   files=tuple(f.to_json() for f in plan_slice.files), adopted=tuple(sim["would_land"]),
                   conflicts=conflicts, deferred=deferred)
