"""Cherry-pick mode's slice runner: a slice's commits picked onto the integration branch and validated.

The whole chain is picked first (trees only) and judged once: when it passes, every commit lands
with one check run. Otherwise commits are picked and judged one by one on top of what passed: a
commit that conflicts or fails is dropped with its reason, and a later commit that only applies on
top of a dropped one is dropped as ``needs <sha>``. What passed lands as pick commits (the
source's message and author, ``(cherry picked from commit …)`` and ``Forkwave-Source``
trailers), followed by the source's record in the fork's state file (cursor, processed and
dropped commits). A dropped commit is tried again only when the fork's side of its paths or the
checks change (its ``key``).
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.model import Runner
from tasks.config import Config
from tasks.core.commit import Commit
from tasks.errors import CannotRun
from tasks.engine import candidates, slices
from tasks.engine.memo import Memo
from tasks.engine.status import commit_inputs, find_slice, load_outcome, on_sync_branch, slice_dir
from tasks.engine.validate import baseline, default_runner, fingerprint
from tasks.hashing import digest
from tasks.repo import commits, git, importer, pickstate, worktree
from tasks.workspace import Workspace


@dataclass
class Picks:
    cfg: Config
    ws: Workspace
    mirror: Path
    name: str
    start: str
    tip: str
    validator_args: dict[str, Any] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    picked: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return git.alternates_env(self.mirror)

    @property
    def fork(self) -> Path:
        return self.cfg.fork.path

    def pick(self, sha: str, onto: str, drop: Sequence[str]) -> commits.Pick:
        return commits.pick(self.fork, sha, onto, drop=drop, env=self.env)

    def passes(self, tree: str, label: str) -> tuple[bool, list[Any]]:
        changes = candidates.tree_changes(self.fork, git.tree_of(self.fork, self.tip), tree, "pick", self.env)
        self.bring(tree)
        return candidates.judge(self.cfg, self.ws, self.name, self.tip, tree, changes, label, self.attempts,
                                self.validator_args)

    def bring(self, tree: str) -> None:
        """Copy the source's objects a candidate tree needs into the fork: the root, the new trees and blobs
        (``diff-tree -t`` lists both; an unchanged subtree is one the fork holds already)."""
        out = git.git(self.fork, "diff-tree", "-r", "-t", "-z", "--no-renames", "--no-abbrev",
                      git.tree_of(self.fork, self.tip), tree, env=self.env)
        importer.copy_objects(self.mirror, self.fork, [tree] + [c.new[1] for c in git.parse_diff_raw(out)
                                                                if c.new and c.new[0] != "160000"])

    def land_pick(self, info: Commit, tree: str) -> None:
        new = commits.commit_pick(self.fork, tree, self.tip, info, self.cfg.source, env=self.env)
        self.picked.append({"sha": info.sha, "subject": info.subject, "commit": new})
        self.tip = new


def dependency_key(cfg: Config, tip: str, paths: Sequence[str]) -> str:
    """What a dropped commit's fate depends on: the integration tip's entries at its paths, and the checks."""
    listing = git.git(cfg.fork.path, "ls-tree", "-z", "--full-tree", tip, "--", *paths) if paths else b""
    return digest({"tree": listing.decode("utf-8", "surrogateescape"), "checks": fingerprint(cfg, list(paths))})


# --- one slice ----------------------------------------------------------------------------

def run_picks(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str, runner: Runner | None = None, run_id: str = "run") -> dict[str, Any]:
    slice_ = find_slice(plan, name)
    entries = {c["sha"]: c for c in drift["commits"]}
    started = time.monotonic()
    worktree.guard(cfg, ws)
    start = worktree.sync_tip(cfg)
    record = pickstate.read(cfg, start)
    run = Picks(cfg, ws, mirror, name, start, start)
    # picked by an earlier run of this plan (the drift is only recomputed when the fork branch moves)
    todo = [entries[s] for s in slice_["commits"] if not str(record["processed"].get(s, "")).startswith("picked")]
    todo = _still_dropped(run, record, todo)
    error = None
    if todo:
        runner = runner or default_runner(cfg, ws)
        try:
            memo = Memo(ws)
            base = baseline(cfg, ws, slice_["wave"], plan["upstream"], runner, memo, run_id)
            run.validator_args = {"runner": runner, "memo": memo, "baseline": base,
                                  "log_root": slice_dir(ws, name) / "logs" / run_id}
            if not whole_chain(run, todo):
                one_by_one(run, todo)
        except CannotRun as exc:
            error = str(exc)
    final = run.tip
    if error is None:
        new_record = updated_record(cfg, record, slice_, run)
        final = pickstate.commit(cfg, run.tip, new_record, name) or run.tip
    outcome = build_outcome(cfg, ws, plan, slice_, drift, start, final, run, error, time.monotonic() - started)
    outcome["run"] = run_id
    if final != start:
        slices.land(cfg, ws, f"slice-{name}", final, start, f"forkwave: pick {name}", {name: outcome})
    slices.write_outcome(ws, name, outcome)
    return outcome


def _still_dropped(run: Picks, record: Mapping[str, Any], todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Commits dropped before whose dependencies did not change stay dropped, with no check run."""
    left = []
    for c in todo:
        was = record["dropped"].get(c["sha"])
        if was and was.get("key") == dependency_key(run.cfg, run.tip, c["paths"]):
            run.dropped.append({"sha": c["sha"], "subject": c["subject"], "reason": was["reason"],
                                "needs": was.get("needs"), "key": was["key"], "files": c["paths"], "again": True})
        else:
            left.append(c)
    return left


def whole_chain(run: Picks, todo: Sequence[dict[str, Any]]) -> bool:
    """Pick every commit in turn (trees only) and judge the end once; True when it all landed."""
    tip, trees, last = run.tip, [], None
    for c in todo:
        p = run.pick(c["sha"], tip, _drop(c))
        if p.empty:
            trees.append((c, None, p.reason))
            continue
        if not p.clean:
            return False
        info = commits.commit_info(run.fork, c["sha"], env=run.env)
        tip = commits.commit_tree(run.fork, p.tree or "", (tip,), "candidate\n", env=run.env)
        trees.append((c, p.tree, info))
        last = p.tree  # may be one of the source's own trees, not yet in the fork: judged (and brought) by id
    if tip == run.tip:
        run.skipped += [{"sha": c["sha"], "subject": c["subject"], "reason": why} for c, _, why in trees]
        return True
    ok, _ = run.passes(last or "", f"all {len(todo)} commits")
    if not ok:
        return False
    run.bring(last or "")
    for c, tree, info in trees:
        if tree is None:
            run.skipped.append({"sha": c["sha"], "subject": c["subject"], "reason": info})
        else:
            run.land_pick(info, tree)
    return True


def _drop(c: Mapping[str, Any]) -> list[str]:
    return [d["path"] for d in c.get("dropped", ())]


def one_by_one(run: Picks, todo: Sequence[dict[str, Any]]) -> None:
    for c in todo:
        p = run.pick(c["sha"], run.tip, _drop(c))
        if p.empty:
            run.skipped.append({"sha": c["sha"], "subject": c["subject"], "reason": p.reason})
            continue
        if not p.clean:
            needs = _needs(run, c)
            why = (f"needs {needs['sha'][:10]} ({needs['subject']!r}), which was dropped" if needs else
                   "conflicts on the integration branch: " + ", ".join(p.result.conflicted_paths if p.result else ()))
            drop(run, c, why, needs)
            continue
        ok, results = run.passes(p.tree or "", c["sha"][:10])
        if not ok:
            overlap = next((d for d in run.dropped if set(d["files"]) & set(c["paths"])), None)
            failing = "; ".join(slices.why(r) for r in slices.failing_of(results)) or "its checks fail"
            why = (f"needs {overlap['sha'][:10]} ({overlap['subject']!r}), which was dropped; alone it fails: {failing}"
                   if overlap else f"fails its checks: {failing}")
            drop(run, c, why, overlap, results)
            continue
        run.bring(p.tree or "")
        run.land_pick(commits.commit_info(run.fork, c["sha"], env=run.env), p.tree or "")


def _needs(run: Picks, c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The dropped commit on top of which ``c`` applies cleanly, if any (newest first)."""
    for d in reversed(run.dropped):
        base = run.pick(d["sha"], run.tip, [])
        if base.tree is None or not base.clean:
            continue
        with_it = commits.commit_tree(run.fork, base.tree, (run.tip,), "candidate\n", env=run.env)
        if run.pick(c["sha"], with_it, _drop(c)).clean:
            return d
    return None


def drop(run: Picks, c: Mapping[str, Any], why: str, needs: Mapping[str, Any] | None,
         results: Sequence[Any] = ()) -> None:
    failing = slices.failing_of(list(results))
    run.dropped.append({"sha": c["sha"], "subject": c["subject"], "reason": why,
                        "needs": needs["sha"] if needs else None, "files": list(c["paths"]),
                        "checks": [r.name for r in failing], "key": dependency_key(run.cfg, run.tip, c["paths"])})


def updated_record(cfg: Config, record: Mapping[str, Any], slice_: Mapping[str, Any], run: Picks) -> dict[str, Any]:
    processed = dict(record["processed"])
    for p in run.picked:
        processed[p["sha"]] = f"picked as {p['commit']}"
    for s in run.skipped:
        processed.setdefault(s["sha"], f"skipped: {s['reason']}")
    dropped = {k: v for k, v in record["dropped"].items() if k not in processed}
    for d in run.dropped:
        dropped[d["sha"]] = {"reason": d["reason"], "key": d["key"], **({"needs": d["needs"]} if d.get("needs") else {})}
    cursor = record["cursor"]
    if slice_.get("cursor"):
        cursor = slice_["cursor"]
    return {"cursor": cursor, "processed": processed, "dropped": dropped}


# --- the outcome -------------------------------------------------------------------------

def build_outcome(cfg: Config, ws: Workspace, plan: Mapping[str, Any], slice_: Mapping[str, Any],
                  drift: Mapping[str, Any], start: str, final: str, run: Picks, error: str | None,
                  duration: float) -> dict[str, Any]:
    name = slice_["name"]
    entries = {c["sha"]: c for c in drift["commits"]}
    files = {f["path"] for f in slice_["files"]}
    adopted = sorted(files & {p for c in run.picked for p in entries[c["sha"]]["paths"]})
    earlier = load_outcome(ws, name) or {}
    kept = sorted(set(earlier.get("adopted", ())) & files) if earlier.get("commits") and all(
        on_sync_branch(cfg, c) for c in earlier.get("commits", ())) else []
    deferred = [{"files": d["files"], "reason": f"commit {d['sha'][:10]} {d['subject']!r}: {d['reason']}",
                 "checks": d.get("checks", []), "output": "", "commit": d["sha"], "needs": d.get("needs"),
                 "next": ("fix it in the source repository (the next `doit` picks the new commit), or commit the "
                          f"change yourself on {cfg.fork.sync_branch}; it is tried again when its files or the checks "
                          "change")} for d in run.dropped]
    review = [{"path": f, "reason": f"breaking change {p['sha'][:10]} {p['subject']!r}: picked, for a person to "
                                    "review"} for p in run.picked if entries[p["sha"]].get("review")
              for f in entries[p["sha"]]["paths"]]
    status = slices.status_of(error=error is not None, recheck_failed=False, conflicts=False, deferred=bool(deferred),
                              adopted=bool(adopted or kept), rolled_back=False)
    mine = ([c for c in earlier.get("commits", []) if on_sync_branch(cfg, c)] +
            [p["commit"] for p in run.picked] + ([final] if final != run.tip else []))
    outcome: dict[str, Any] = {
        "slice": name, "wave": slice_["wave"], **({"source": slice_["source"]} if slice_.get("source") else {}),
        "mode": "cherry-pick", "upstream": plan["upstream"], "status": status, "parent": start,
        "commit": final if final != start else None, "verified_at": final, "commits": list(dict.fromkeys(mine)),
        "files": [{"path": f["path"], "class": f["class"], "bucket": f.get("bucket")}
                  for f in sorted(slice_["files"], key=lambda f: f["path"])],
        "adopted": sorted({*adopted, *kept}), "landed": adopted, "removed": [], "deferred": deferred, "conflicts": [],
        "resolved": [], "rolled_back": [], "reported": review, "applied_before": [], "groups_split": [],
        "review": [p["sha"] for p in run.picked if entries[p["sha"]].get("review")], "picked": run.picked, "skipped": run.skipped, "dropped": run.dropped,
        "runs": sum(1 for a in run.attempts if a["ran"]), "attempts": run.attempts, "duration": round(duration, 3),
        "validated_with": fingerprint(cfg, sorted(files)), "run": None,
        "inputs": commit_inputs(cfg, plan, drift, sorted(files), final),
    }
    if error:
        outcome["error"] = error
    return outcome
