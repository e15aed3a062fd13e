"""Merge mode's slice runner: a range of upstream commits merged onto the sync branch, bisected when it fails.

A range is the upstream's first-parent commits ``1..n`` of a slice that the sync tip does not
hold yet. Candidate ``i`` is commit ``i`` merged into the sync tip (``git merge-tree``: a tree,
no checkout). First the range is bisected for the first commit whose merge **conflicts**
(cheap: no check runs), then the clean prefix for the first commit whose merge **fails its
checks** (``tasks.core.ranges.first_bad`` through the verdict memo: at most ⌈log2 n⌉ + 2
check runs). What passes lands as one move — a fast-forward when the sync branch has no
commits of its own, else a merge commit — after a backup ref keeps the old tip. A failing
commit is named (sha, subject, author, files, failures); with ``on_failure: revert`` it is
merged and reverted in a follow-up commit so the rest of the range can land.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.model import Runner
from tasks.config import Config
from tasks.core import ranges
from tasks.core.commit import Commit
from tasks.errors import CannotRun
from tasks.engine import candidates, slices
from tasks.engine.memo import Memo
from tasks.engine.status import commit_inputs, find_slice, load_outcome, on_sync_branch, slice_dir
from tasks.engine.validate import baseline, default_runner, fingerprint
from tasks.repo import commits, git, landing, merge, policy, worktree
from tasks.repo.commits import TreeMerge
from tasks.workspace import Workspace


@dataclass
class Culprit:
    kind: str                     # "checks" (its merge fails them) or "conflict" (its merge conflicts)
    commit: Commit
    bisection: ranges.Bisection
    results: list[Any] = field(default_factory=list)   # the failing candidate's check results
    merge: TreeMerge | None = None


@dataclass
class Range:
    """One run of a range: where it started, what it asked, what it moved to."""

    cfg: Config
    ws: Workspace
    name: str
    validator_args: dict[str, Any]
    tip: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    taken: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def fork(self) -> Path:
        return self.cfg.fork.path

    def merged(self, sha: str) -> TreeMerge:
        """``sha`` merged into the tip, conflicts a ``policy:`` rule covers resolved (``self.taken``)."""
        fixed, taken = policy.resolve(self.fork, commits.merge(self.fork, self.tip, sha), self.cfg.policy)
        self.taken[(self.tip, sha)] = taken
        return fixed

    def passes(self, tree: str, label: str) -> tuple[bool, list[Any]]:
        """The checks' verdict on ``tree`` (a candidate on top of the current tip), through the memo."""
        changes = candidates.tree_changes(self.fork, git.tree_of(self.fork, self.tip), tree, "merge")
        return candidates.judge(self.cfg, self.ws, self.name, self.tip, tree, changes, label, self.attempts,
                                self.validator_args)


# --- one range ----------------------------------------------------------------------------

def run_range(cfg: Config, ws: Workspace, mirror: Path, plan: Mapping[str, Any], drift: Mapping[str, Any],
              name: str, runner: Runner | None = None, run_id: str = "run") -> dict[str, Any]:
    """Merge what the sync branch lacks of the slice's range; land the good prefix; write the outcome."""
    slice_ = find_slice(plan, name)
    shas = list(slice_["commits"])
    started = time.monotonic()
    worktree.guard(cfg, ws)
    start = worktree.sync_tip(cfg)
    landing.bring(mirror, cfg.fork.path, shas[-1], [start])
    info = {c.sha: c for c in commits.first_parent(cfg.fork.path, shas[-1], limit=len(shas))}
    held = landing.contained(cfg.fork.path, shas, start)
    pending = [info[s] for s in shas[held:]]
    earlier = load_outcome(ws, name) or {}
    memo = Memo(ws)
    run = Range(cfg, ws, name, {}, start)
    culprit, waits, error = None, None, None
    if pending and pending[0].parents and not commits.is_ancestor(cfg.fork.path, pending[0].parents[0], start):
        waits = pending[0].parents[0]  # an earlier range's commit is not merged yet: a merge cannot skip it
    elif pending:
        runner = runner or default_runner(cfg, ws)
        try:
            base = baseline(cfg, ws, slice_["wave"], plan["upstream"], runner, memo, run_id)
            run.validator_args = {"runner": runner, "memo": memo, "baseline": base,
                                  "log_root": slice_dir(ws, name) / "logs" / run_id}
            culprit, pending = advance(run, pending, cfg.current.options.on_failure if cfg.sources else "stop")
        except CannotRun as exc:
            error = str(exc)
    outcome = build_outcome(cfg, ws, plan, slice_, info, shas, start, run, culprit, waits, earlier, error,
                            time.monotonic() - started)
    outcome |= {"validated_with": fingerprint(cfg, [f["path"] for f in slice_["files"]]), "run": run_id,
                "inputs": commit_inputs(cfg, plan, drift, [f["path"] for f in slice_["files"]], run.tip)}
    if run.tip != start:
        landing.backup(cfg, start)
        slices.land(cfg, ws, f"slice-{name}", run.tip, start, f"forkwave: merge {name}", {name: outcome})
    slices.write_outcome(ws, name, outcome)
    return outcome


def advance(run: Range, pending: list[Commit], on_failure: str) -> tuple[Culprit | None, list[Commit]]:
    """Land (in ``run.tip``, objects only) as much of ``pending`` as passes; (the culprit that stops it, what is left)."""
    while pending:
        good, culprit = bisect(run, pending)
        if good:
            move(run, pending[good - 1], good)
        pending = pending[good:]
        if culprit is None:
            return None, []
        if culprit.kind != "checks" or on_failure != "revert" or not revert(run, culprit):
            return culprit, pending
        pending = pending[1:]
    return None, []


def bisect(run: Range, pending: Sequence[Commit]) -> tuple[int, Culprit | None]:
    """(how many of ``pending`` can land on ``run.tip``, the first commit that cannot)."""
    n = len(pending)
    cache: dict[int, TreeMerge] = {}

    def at(i: int) -> TreeMerge:
        if i not in cache:
            cache[i] = run.merged(pending[i - 1].sha)
        return cache[i]

    clean_upto = n
    conflict = None
    if not at(n).clean:
        cb = ranges.first_bad(n, lambda i: at(i).clean, known={0: True})
        clean_upto = cb.good
        conflict = Culprit("conflict", pending[cb.good], cb, merge=at(cb.good + 1))
    if clean_upto == 0:
        return 0, conflict
    failing: dict[int, list[Any]] = {}

    def verdict(i: int) -> bool:
        tree = at(i).tree if i else git.tree_of(run.fork, run.tip)
        ok, results = run.passes(tree, f"1..{i} of {n}" if i else "the sync tip")
        if not ok:
            failing[i] = results
        return ok

    b = ranges.first_bad(clean_upto, verdict, check_ends=True)
    if b.status == ranges.CLEAN:
        return clean_upto, conflict
    if b.status == ranges.START_FAILS:
        raise CannotRun(f"{run.name}: the sync branch at {run.tip[:12]} itself fails its checks "
                        "(gating: strict); fix it there and run again")
    return b.good, Culprit("checks", pending[b.culprit], b, failing.get(b.culprit + 1, []))


def move(run: Range, commit: Commit, count: int) -> None:
    """``run.tip`` to the merge of ``commit`` (fast-forward when it can)."""
    merged = run.merged(commit.sha)
    message = (f"forkwave: merge upstream {commit.short} into {run.cfg.fork.sync_branch} ({count} commit"
               f"{'s' if count != 1 else ''})\n\n{commit.subject}\n\nUpstream-Revision: {commit.sha}\n"
               f"Forkwave-Slice: {run.name}\n")
    taken = run.taken.get((run.tip, commit.sha), ())
    if taken:
        message += "".join(f"Forkwave-Policy: {p} take {t}\n" for p, t in taken)
    new, how = landing.land_commit(run.fork, run.tip, commit.sha, merged.tree, message)
    run.moves.append({"to": new, "upstream": commit.sha, "how": how, "commits": count,
                      **({"policy": [{"path": p, "take": t} for p, t in taken]} if taken else {})})
    run.tip = new


def revert(run: Range, culprit: Culprit) -> bool:
    """``on_failure: revert``: merge the culprit, revert it in a follow-up commit; True when that passes."""
    before = run.tip
    why = "; ".join(slices.why(r) for r in slices.failing_of(culprit.results)) or "its checks fail"
    move(run, culprit.commit, 1)
    undone = commits.revert(run.fork, culprit.commit.sha, run.tip)
    ok = undone.clean and run.passes(undone.tree, f"revert of {culprit.commit.short}")[0]
    if not ok:
        run.tip, run.moves = before, run.moves[:-1]
        return False
    message = commits.revert_message(culprit.commit, why) + f"\nForkwave-Slice: {run.name}\nForkwave-Revert: " \
                                                             f"{culprit.commit.sha}\n"
    reverted = commits.commit_tree(run.fork, undone.tree, (run.tip,), message)
    run.moves.append({"to": reverted, "upstream": culprit.commit.sha, "how": "revert", "commits": 0,
                      "reverted": culprit.commit.sha, "why": why})
    run.tip = reverted
    return True


# --- the outcome -------------------------------------------------------------------------

def build_outcome(cfg: Config, ws: Workspace, plan: Mapping[str, Any], slice_: Mapping[str, Any],
                  info: Mapping[str, Commit], shas: Sequence[str], start: str, run: Range, culprit: Culprit | None,
                  waits: str | None, earlier: Mapping[str, Any], error: str | None,
                  duration: float) -> dict[str, Any]:
    name = slice_["name"]
    now_held = landing.contained(cfg.fork.path, shas, run.tip)
    held_before = landing.contained(cfg.fork.path, shas, start)
    files = {f["path"] for f in slice_["files"]}
    adopted = sorted(files & {p for s in shas[:now_held] for p in info[s].paths})
    landed = sorted(files & {p for s in shas[held_before:now_held] for p in info[s].paths})
    deferred, conflicts = [], []
    if culprit and culprit.kind == "checks":
        deferred.append(culprit_deferral(name, culprit))
    if culprit and culprit.kind == "conflict":
        conflicts = conflict_entries(cfg, ws, name, culprit, run.tip)
    else:
        slices.save_conflicts(ws, name, {})
    if waits:
        deferred.append(waiting(ws, plan, slice_, sorted(files - set(adopted)), waits))
    mine = [c for c in earlier.get("commits", []) if on_sync_branch(cfg, c)] + [m["to"] for m in run.moves]
    resolved = person_resolved(cfg, earlier, start)
    status = slices.status_of(error=error is not None, recheck_failed=False, conflicts=bool(conflicts),
                              deferred=bool(deferred), adopted=bool(adopted) or bool(resolved), rolled_back=False)
    outcome: dict[str, Any] = {
        "slice": name, "wave": slice_["wave"], **({"source": slice_["source"]} if slice_.get("source") else {}),
        "mode": "merge", "upstream": plan["upstream"], "status": status, "parent": start,
        "commit": run.tip if run.tip != start else None, "verified_at": run.tip,
        "commits": list(dict.fromkeys(mine)),
        "files": [{"path": f["path"], "class": f["class"], "bucket": f.get("bucket")}
                  for f in sorted(slice_["files"], key=lambda f: f["path"])],
        "adopted": adopted, "landed": landed, "removed": [], "deferred": deferred, "conflicts": conflicts,
        "resolved": resolved, "rolled_back": [], "reported": policy_reported(run, info), "applied_before": [],
        "groups_split": [],
        "range": {"commits": list(shas), "held_before": held_before, "held": now_held, "moves": run.moves},
        "reverted": [m for m in run.moves if m["how"] == "revert"],
        "culprit": culprit_json(culprit) if culprit else None,
        "runs": sum(1 for a in run.attempts if a["ran"]), "attempts": run.attempts, "duration": round(duration, 3),
    }
    if error:
        outcome["error"] = error
    return outcome


def waiting(ws: Workspace, plan: Mapping[str, Any], slice_: Mapping[str, Any], files: list[str],
            waits: str) -> dict[str, Any]:
    """A range behind one an earlier slice could not merge: it names that slice and its culprit."""
    blocker = None
    for s in plan["slices"]:
        if s["name"] == slice_["name"]:
            break
        earlier = load_outcome(ws, s["name"]) or {}
        if s.get("source") == slice_.get("source") and earlier.get("culprit"):
            blocker = (s["name"], earlier["culprit"])
    what = (f"{blocker[0]}'s upstream commit {blocker[1]['short']} {blocker[1]['subject']!r}" if blocker
            else f"upstream commit {waits[:10]}")
    return {"files": files, "reason": f"waits behind {what}, not merged yet (a merge cannot skip a commit)",
            "checks": [], "output": "", "waits_for": waits, "blocked_by": blocker[1]["sha"] if blocker else None,
            "next": f"resolve {blocker[0] if blocker else 'the earlier slice'} first (its report says how); this "
                    "range follows on the next `doit`"}


def policy_reported(run: Range, info: Mapping[str, Commit]) -> list[dict[str, str]]:
    """Paths a ``policy:`` rule settled in this run's merges (``regenerate``: a check must rebuild them), and
    the paths of a culprit merged and reverted (``on_failure: revert``)."""
    out = {}
    for m in run.moves:
        for t in m.get("policy", ()):
            out[t["path"]] = (policy.REGENERATE if t["take"] == "regenerate" else
                              f"policy take: {t['take']} for its conflicting hunks (merge of {m['upstream'][:10]})")
        if m["how"] == "revert" and m["reverted"] in info:
            for p in info[m["reverted"]].paths:
                out.setdefault(p, f"upstream commit {m['reverted'][:10]} merged and reverted in {m['to'][:10]} "
                                  f"(on_failure: revert): {m['why']}")
    return [{"path": p, "reason": r} for p, r in sorted(out.items())]


def culprit_json(culprit: Culprit) -> dict[str, Any]:
    failures = [slices.why(r) for r in slices.failing_of(culprit.results)]
    record = ranges.culprit_record(culprit.commit, culprit.bisection, failures=failures)
    return record | {"kind": culprit.kind, "line": ranges.culprit_line(culprit.commit),
                     **({"conflicted": list(culprit.merge.conflicted_paths)} if culprit.merge else {})}


def culprit_deferral(name: str, culprit: Culprit) -> dict[str, Any]:
    c = culprit.commit
    out = slices.deferral(name, list(c.paths), culprit.results, False)
    failing = out["reason"]
    out["reason"] = (f"upstream commit {c.short} {c.subject!r} by {c.author} fails its checks (commit "
                     f"{culprit.bisection.good + 1} of {culprit.bisection.n}, found in {culprit.bisection.calls} runs): "
                     f"{failing}")
    out["commit"] = c.sha
    out["next"] = (f"merge {c.short} into the sync branch with a fix, from any checkout (`git merge {c.sha}`, fix, "
                   "commit), or fix it upstream; the next `doit` sees the sync branch holds it and merges the rest. "
                   "Or set `on_failure: revert` on the source to merge it and revert it")
    return out


def conflict_entries(cfg: Config, ws: Workspace, name: str, culprit: Culprit, tip: str) -> list[dict[str, Any]]:
    """The conflicting commit's paths, with diff3 texts under ``reports/slices/<name>/conflicts/``."""
    raw = commits.merge(cfg.fork.path, tip, culprit.commit.sha)
    result, _ = policy.resolve(cfg.fork.path, raw, cfg.policy)  # what a rule settles is no conflict to report
    left = {c.path for c in result.conflicts}
    texts = {p: t for p, t in commits.conflict_texts(cfg.fork.path, raw).items() if p in left or not raw.conflicts}
    slices.save_conflicts(ws, name, {p: merge.Merge(p, False, reason="conflict", conflict=t) for p, t in texts.items()})
    c = culprit.commit
    step = (f"merge upstream commit {c.short} into {cfg.fork.sync_branch} from any checkout (`git merge {c.sha}`), "
            f"resolve (the diff3 texts are in reports/slices/{name}/conflicts/), commit; the next `doit` sees the "
            "sync branch holds it and merges the rest")
    return [{"path": p, "reason": f"merge conflict with upstream commit {c.short} {c.subject!r} ({c.author}): "
             + (result.why(p) or "conflict"), "commit": c.sha, "next": step}
            | ({"file": f"conflicts/{p}"} if p in texts else {}) for p in result.conflicted_paths]


def person_resolved(cfg: Config, earlier: Mapping[str, Any], start: str) -> list[dict[str, Any]]:
    """An earlier run's culprit that the sync tip now holds, merged by a person (the resolve loop)."""
    culprit = earlier.get("culprit") or {}
    sha = culprit.get("sha")
    if not sha or sha in {m.get("upstream") for m in (earlier.get("range") or {}).get("moves", [])}:
        return []
    if not commits.is_ancestor(cfg.fork.path, sha, start):
        return []
    paths = culprit.get("conflicted") or culprit.get("files") or []
    return [{"path": p, "commit": start, "by": "a person"} for p in paths]
