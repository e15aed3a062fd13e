"""``dry=1``: each slice simulated on the tip the slices before it would have made; nothing a person can see moves.

A simulated slice is prepared as the run would prepare it (its merges and their conflicts, the paths
blocked, its coupled groups from the plan), and judged by the built-in gates on its files, written to a
temporary folder from the fork's object store — never the private worktree, the verdict memo or a check.
What it would adopt becomes a commit *object* with fixed dates (no ref points at it), the tip of the
next simulated slice. Nothing here writes a ref, an outcome, a memo entry, the ledger or a remote;
the only files written are ``reports/dry-run.md`` and ``reports/dry-run.json`` (``tasks.report.dryrun``).

The slices simulated so far in this process are kept in ``SIMULATED`` (plan order), so ``doit dry=1``
writes one report with every wave's slices, whichever task finishes last.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from checks.gates import run_gate
from tasks.config import Config
from tasks.core.fingerprint import applicable
from tasks.repo import git, importer
from tasks.repo.importer import Prepared
from tasks.workspace import Workspace

FIXED_DATE = "@0 +0000"   # simulated commits: the same inputs make the same objects (a deterministic report)
SIMULATED: dict[str, dict[str, Any]] = {}   # slice name -> its simulation, this process
TIPS: dict[str, str] = {}                   # "tip": the simulated sync tip so far


def start_tip(cfg: Config) -> tuple[str, bool]:
    """(the commit the first simulated slice starts on, whether the sync branch exists): the sync branch,
    else ``fork.branch`` (where the run would create it) — read only, never created."""
    sync = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.sync_branch}^{{commit}}")
    if sync:
        return sync, True
    base = git.rev_parse(cfg.fork.path, f"refs/heads/{cfg.fork.branch}^{{commit}}")
    if base is None:
        from tasks.errors import ForkwaveError

        raise ForkwaveError(f"{cfg.file}: fork.branch: no branch {cfg.fork.branch!r} in {cfg.fork.path}")
    return base, False


def current_tip(cfg: Config) -> str:
    return TIPS.get("tip") or start_tip(cfg)[0]


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


Prepare = Callable[..., Prepared]


def simulate(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
             slice_: Mapping[str, Any], prepare: Prepare) -> dict[str, Any]:
    """One slice as the run would meet it: changes, conflicts, blocked paths, groups, gates, what would land."""
    tip = current_tip(cfg)
    prepared = prepare(cfg, ws, mirror, slice_, drift, tip, False)
    importer.copy_objects(mirror, cfg.fork.path, [c.oid for c in prepared.changes if c.oid and c.mode != "160000"])
    changes = list(prepared.changes)
    gates = gates_on(cfg, changes, tip) if changes else []
    blamed = {f for g in gates if g["status"] == "failed" for f in g["files"]}
    landing = [c for c in changes if c.path not in blamed]
    checks = [check.name for check, applies in applicable(cfg.checks, [c.path for c in landing]) if applies]
    status = ("conflicted" if prepared.conflicts else "split" if blamed and landing else
              "deferred" if blamed else "adopted" if landing else "empty")
    if landing:
        TIPS["tip"] = _commit(cfg.fork.path, tip, landing, slice_["name"])
    result = {
        "slice": slice_["name"], "wave": slice_["wave"], "source": slice_.get("source") or cfg.source,
        "status": status, "starts_on_tree": git.tree_of(cfg.fork.path, tip),
        "changes": [{"path": c.path, "class": c.cls,
                     "action": "delete" if c.mode is None else "merge" if c.cls == "both-changed" else "write"}
                    for c in changes],
        "conflicts": [{"path": p, "reason": r} for p, r in prepared.conflicts],
        "blocked": [{"path": p, "reason": r} for p, r in prepared.blocked],
        "applied": list(prepared.applied),
        "kept": [{"path": p, "why": f"a person's version ({c[:12]})"} for p, c in prepared.resolved]
                + [{"path": p, "why": f"rolled back ({c[:12]})"} for p, c in prepared.rolled_back],
        "groups": [{"files": g["files"], "why": g["why"], "split": g.get("split")} for g in slice_.get("groups", ())],
        "gates": gates,
        "checks_to_run": checks,
        "would_land": sorted(c.path for c in landing),
        "would_defer": sorted(blamed),
    }
    SIMULATED[slice_["name"]] = result
    return result


def as_outcome(sim: Mapping[str, Any], plan_slice: Mapping[str, Any]) -> dict[str, Any]:
    """A simulation in the shape of ``outcome.json`` (what ``tasks.publish.risk.facts`` reads)."""
    gates = {f: g for g in sim["gates"] if g["status"] == "failed" for f in g["files"]}
    return {"slice": sim["slice"], "status": sim["status"], "files": plan_slice["files"],
            "adopted": sim["would_land"],
            "conflicts": [{**c, "next": "resolve it on the sync branch after the real run"} for c in sim["conflicts"]],
            "deferred": [{"files": [f], "checks": [gates[f]["gate"]], "tests": [],
                          "reason": f"gate {gates[f]['gate']}: {gates[f]['message']}",
                          "next": "fix it upstream or in the fork; the real run defers it"} for f in sim["would_defer"]]}
