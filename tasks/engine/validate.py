"""Judging candidate trees: gates and checks, answered from the verdict memo when it knows them.

A ``Validator`` is what ``bisect.isolate`` calls: it builds the candidate tree for
(adopted + part) on the slice's start, asks the memo for every gate and check verdict on
that tree, checks the candidate out in the private worktree only when something must
really run, and turns failures into a ``Verdict`` — precise (a gate that names its files)
or not. Every verdict is compared with the wave's baseline: a check, or with ``junit:`` a
test case, that already fails on the sync tip does not block (``gating: baseline``).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from checks import tracking
from checks.diagnose import error_line
from checks.gates import run_gate
from checks.model import ERROR, FAILED, PREEXISTING, SKIPPED, Cancelled, Request, Result, Runner
from checks.runners import Dispatch
from checks.testcases import JUnitError, read_failures
from tasks.repo import git, importer, objects, worktree
from tasks.core.bisect import Call, Verdict
from tasks.engine.bench import Bench
from tasks.config import Check, Config
from tasks.errors import CannotRun
from tasks.repo.importer import Change
from tasks.engine.memo import Memo, check_fingerprint
from tasks.core.fingerprint import applicable, containers_key, fingerprint, gate_policy, validation_config  # noqa: F401
from tasks.hashing import digest
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

FILES_INLINE = 32_000  # bytes of FORKWAVE_FILES kept in the environment; beyond, only FORKWAVE_FILES_FROM


_RUNNERS: dict[tuple[Path, Any, Any], Dispatch] = {}


def default_runner(cfg: Config, ws: Workspace) -> Runner:
    """Host, docker and compose runners, configured from ``containers:`` (the engines and their slots) and
    ``host:`` (the host's slots). One per workspace and config for the whole run (the doit process), so
    an engine found gone stays gone and an image copied to an engine is known there."""
    c = cfg.containers
    tracking.use(ws.state / "running")
    key = (ws.state, c, cfg.host)
    if key not in _RUNNERS:
        _RUNNERS[key] = Dispatch(options={"ca_bundle": c.ca_bundle, "pass_env": c.pass_env, "network": c.network,
                                          "cache_dir": ws.state / "cache"}, engines=c.engines,
                                 host_slots=cfg.host.slots)
    return _RUNNERS[key]


def request_for(check: Check, wt: Path, env: Mapping[str, str], log_dir: Path, label: str) -> Request:
    """What running ``check`` in worktree ``wt`` means, for whichever runner its kind needs."""
    report = check.junit or auto_junit(check)   # an engine that copies the worktree in copies it back
    return Request(check.name, check.run, wt, {**env, **dict(check.env), **junit_env(check, wt)}, check.timeout,
                   log_dir,
                   kind=check.kind, image=check.image, network=check.network, cpus=check.cpus, memory=check.memory,
                   compose=check.compose, service=check.service, label=label, node=check.node,
                   outputs=(report,) if report else ())


# --- test-level results without configuration ------------------------------------------------

_PYTEST = re.compile(r"(?:^|[;&|(`]|\bthen\b|\bdo\b)\s*(?:\w+=\S*\s+)*"          # a command's start, env first
                     r"(?:[\w./-]*python[\d.]*\s+-m\s+|[\w./-]*/)?py\.?test(?=$|[\s;&|)])")
AUTO_JUNIT = ".forkwave-junit"   # in the worktree: untracked, cleaned with the next checkout


def auto_junit(check: Check) -> str | None:
    """Where a pytest check writes its JUnit report when the config gives no ``junit:`` (host and container
    checks; a compose service runs elsewhere): test-level gating without configuration, so a test already
    failing on the sync tip never blocks, and a failure names the tests a split suspects first.

    >>> from tasks.config import Check
    >>> auto_junit(Check("unit", run="python -m pytest -q tests")), auto_junit(Check("lint", run="ruff check ."))
    ('.forkwave-junit/unit.xml', None)
    """
    if check.junit or check.compose or not check.run or not _PYTEST.search(check.run):
        return None
    return f"{AUTO_JUNIT}/{re.sub(r'[^A-Za-z0-9_.-]', '_', check.name)}.xml"


def junit_env(check: Check, wt: Path) -> dict[str, str]:
    """``PYTEST_ADDOPTS`` that makes pytest write its JUnit report (``auto_junit``), the check's own kept."""
    path = auto_junit(check)
    if path is None:
        return {}
    where = f"/workspace/{path}" if check.kind == "docker" else str(wt / path)
    own = dict(check.env).get("PYTEST_ADDOPTS", "")
    return {"PYTEST_ADDOPTS": f"{own} --junitxml={where}".strip(), "FORKWAVE_JUNIT": path}


# --- one check's verdict against the baseline -----------------------------------------

def gate_on_baseline(result: Result, baseline: Result | None, gating: str) -> Result:
    """A check that already failed on the baseline does not block a slice, unless ``gating: strict``.

    With test cases on both sides (``junit:``) only the comparison of failing tests counts:
    new failures block, the ones that already failed are reported as pre-existing.
    """
    if result.ok or result.status == ERROR or gating == "strict" or baseline is None:
        return result
    if baseline.status not in (FAILED, PREEXISTING):
        return result
    if result.tests and baseline.tests:
        known = {t[0] for t in baseline.tests}
        new = [t for t in result.tests if t[0] not in known]
        if new:
            first = f"{new[0][0]}: {new[0][1]}" if new[0][1] else new[0][0]
            return replace(result, message=f"{len(new)} new failing test(s) (of {len(result.tests)}; "
                                           f"{len(result.tests) - len(new)} fail on the baseline too): {first}",
                           tests=tuple(new), error=first)
        return replace(result, status=PREEXISTING,
                       message=f"pre-existing: all {len(result.tests)} failing test(s) fail on the baseline too")
    if result.tests and not baseline.tests:  # the baseline failed without test cases: compare as a whole
        pass
    return replace(result, status=PREEXISTING,
                   message=f"pre-existing: fails on the baseline too, not blocking ({result.message})")


def with_tests(check: Check, wt: Path, result: Result) -> Result:
    """Attach the failing test cases of ``check.junit`` (or of the report pytest wrote by itself,
    ``auto_junit``) to a failed result."""
    path = check.junit or auto_junit(check)
    if not path or result.ok or result.status == ERROR or result.timed_out:
        return result
    try:
        failures = read_failures(wt / path)
    except JUnitError as exc:
        if not check.junit:  # pytest never started, or stopped before its report: the output says why
            return result
        return replace(result, message=f"{result.message}; junit: {exc}")
    if not failures:
        return result
    first = f"{failures[0].id}: {failures[0].line}" if failures[0].line else failures[0].id
    return replace(result, tests=tuple((f.id, f.line) for f in failures), error=first,
                   message=f"{len(failures)} failing test(s): {first}")


# --- the validator ----------------------------------------------------------------------

Key = tuple[str, str, tuple[str, ...]]   # (start tree, candidate tree, the part it judges): what one judging is of
_OWNERS = itertools.count(1)


@dataclass
class _Job:
    """A candidate judged on a bench worker: its results come back through ``future``; ``cancel``
    stops it when the search will not ask for it after all."""

    key: Key
    future: Future[list[Result]]
    cancel: threading.Event
    log_dir: Path
    memo: list[tuple[str, str, int]] = field(default_factory=list)   # (fingerprint, tree, index) of what it put
    claimed: bool = False   # an attempt took its results; asked again, they come as the memo's


@dataclass
class Validator:
    """Builds the candidate for (adopted + part), judges it (memo first), returns a Verdict.

    With a ``bench`` (several slots), candidates are judged on its workers, each in a worktree of its
    own: ``bisect.isolate`` hands this validator the calls it will make next (``judge_ahead``), and
    they run while the current one does; a call the search then makes is answered by its judging.
    """

    cfg: Config
    ws: Workspace
    name: str                          # the slice (or retry) the attempts belong to
    start: str                         # commit the candidates are built on
    changes: Mapping[str, Change]
    runner: Runner | None
    memo: Memo
    log_root: Path                     # reports/slices/<name>/logs/<run id>
    # the wave's baseline: its results, its judging under way beside the candidates (a bench), or what runs it
    # when a check first fails (one slot: a candidate that passes every check never waits for it)
    baseline: Mapping[str, Result] | Future[dict[str, Result]] | Callable[[], Mapping[str, Result]] = \
        field(default_factory=dict)
    bench: Bench | None = None
    trees: dict[str, str] = field(default_factory=dict)
    _calls: dict[tuple[tuple[str, ...], tuple[str, ...]], Key] = field(default_factory=dict)
    _owner: int = field(default_factory=lambda: next(_OWNERS))   # whose checkout a worktree holds
    _start_tree: str = ""

    @property
    def _jobs(self) -> dict[Key, _Job]:
        """What is judged on the bench, shared by every validator of the slice (``Bench.jobs``)."""
        assert self.bench is not None
        return self.bench.jobs   # type: ignore[return-value]

    def key(self, tree: str, part: Sequence[str]) -> Key:
        """A judging's identity: the start's tree (a commit mode's look-ahead builds its start anew, with the
        same tree), the candidate tree and the part whose checks and gates apply."""
        if not self._start_tree:
            self._start_tree = git.tree_of(self.cfg.fork.path, self.start)
        return self._start_tree, tree, tuple(part)

    @property
    def width(self) -> int:
        return self.bench.width if self.bench else 1

    def candidate(self, paths: Sequence[str], message: str) -> str:
        return importer.build_commit(self.cfg.fork.path, self.start, [self.changes[p] for p in sorted(paths)],
                                     message)

    def tree(self, adopted: Sequence[str], part: Sequence[str]) -> str:
        """The candidate tree of ``adopted + part`` on the start (built once per pair)."""
        call = (tuple(adopted), tuple(part))
        if call not in self._calls:
            paths = sorted({*adopted, *part})
            tree = importer.build_tree(self.cfg.fork.path, self.start, [self.changes[p] for p in paths])
            self._calls[call] = self.key(tree, part)
        return self._calls[call][1]

    def __call__(self, adopted: Sequence[str], part: Sequence[str], n: int = 0) -> Verdict:
        tree = self.tree(adopted, part)
        self.trees[str(n)] = tree
        results = self.judge(tree, part, n)
        return verdict_of(results)

    def judge(self, tree: str, part: Sequence[str], n: int, commit: str | None = None) -> list[Result]:
        """Every gate and check on ``tree``; ``part`` picks the gates' files and the checks that apply."""
        if self.bench is None:
            log_dir = self.log_root / f"attempt-{n}" if n else self.log_root
            raw = self._raw(tree, part, 0, log_dir, f"{self.name}-{n}", str(n), commit)
        else:
            raw = self._claim(self._job(tree, part, commit), n)
        return self._gated(raw)

    def _gated(self, raw: Sequence[Result]) -> list[Result]:
        """Raw results against the baseline; a check that could not run stops the judging (``CannotRun``)."""
        failed = any(r.kind == "check" and not r.ok and r.status != ERROR for r in raw)
        base = self._baseline() if failed else {}  # (strict gating excuses nothing, but the report shows it)
        results = [gate_on_baseline(r, base.get(r.name), self.cfg.gating) if r.kind == "check" else r for r in raw]
        errors = [r for r in results if r.status == ERROR]
        if errors:
            why = errors[0].message   # a runner's message may already say "cannot run (exit …)"
            raise CannotRun(f"check {errors[0].name!r} {why if why.startswith('cannot run') else 'cannot run: ' + why}")
        return results

    def _baseline(self) -> Mapping[str, Result]:
        if callable(self.baseline):
            self.baseline = self.baseline()
        return self.baseline.result() if isinstance(self.baseline, Future) else self.baseline

    def _raw(self, tree: str, part: Sequence[str], slot: int, log_dir: Path, label: str, files_key: str,
             commit: str | None, job: _Job | None = None) -> list[Result]:
        """Gates and checks on ``tree``, raw (not yet compared with the baseline), in worktree ``slot``."""
        written = [p for p in part if p not in self.changes or self.changes[p].mode is not None]
        results = [self.gate(g, tree, written, commit, slot) for g in self.cfg.gates]
        gated = [r.name for r in results if not r.ok]
        for check, applies in applicable(self.cfg.checks, part):
            if gated:  # this tree cannot land whatever the checks say: they run on what is left of it
                results.append(Result(check.name, SKIPPED, 0.0, f"not run: gate {gated[0]} failed on this tree"))
                continue
            if not applies:
                results.append(Result(check.name, SKIPPED, 0.0,
                                      f"no file of this part matches when: {list(check.when)}"))
                continue
            results.append(self.check(check, tree, part, 0, commit, slot=slot, log_dir=log_dir, label=label,
                                      files_key=files_key, job=job, index=len(results)))
        return results

    def gate(self, gate: str, tree: str, files: Sequence[str], commit: str | None, slot: int = 0) -> Result:
        key = digest({"gate": gate, "files": sorted(files), "deny": list(self.cfg.deny), "start": self.start,
                      "policy": gate_policy(self.cfg)})
        known = self.memo.get(key, tree)
        if known is not None:
            return replace(Result.from_json(known), memo=True)
        root = self.checkout(tree, commit, slot)
        # baseline-relative: the gate compares with the start (sync tip) and counts what the part introduces
        result = run_gate(gate, files, self.cfg.deny, root, repo=self.cfg.fork.path, parent=self.start,
                          secrets=self.cfg.secrets, deny_except=self.cfg.deny_except)
        self.memo.put(key, tree, result.to_json() | {"stdout": result.stdout})
        return result

    def check(self, check: Check, tree: str, part: Sequence[str], n: int, commit: str | None, *, slot: int = 0,
              log_dir: Path | None = None, label: str | None = None, files_key: str | None = None,
              job: _Job | None = None, index: int = 0, cancel: threading.Event | None = None) -> Result:
        key = check_fingerprint(check, containers_key(self.cfg), part)
        seen = verdict_tree(self.cfg.fork.path, tree)
        known = self.memo.get(key, seen)
        if known is not None:
            return replace(Result.from_json(known), memo=True)
        wt = self.checkout(tree, commit, slot)
        log_dir = log_dir or (self.log_root / f"attempt-{n}" if n else self.log_root)
        env = files_env(self.ws, self.name, files_key or str(n), part)
        # the baseline is no slice: checks can tell (docs/guides/snapshot.md, Baseline gating)
        if self.name.startswith("baseline-"):
            env.pop("FORKWAVE_SLICE")
        if check.kind == "host":  # git in the worktree reads the candidate where it is, and writes nothing to the fork
            env |= objects.for_checks(self.cfg.fork.path)
        if self.runner is None:
            raise CannotRun("no check runner is configured")
        request = replace(request_for(check, wt, env, log_dir, label or f"{self.name}-{n}"),
                          cancel=job.cancel if job else cancel)
        res = self.runner.run(request)
        res = with_tests(check, wt, res)
        log_path = log_dir / f"{check.name}.stdout.log"
        log = str(log_path.relative_to(self.ws.reports)) if log_path.exists() else None
        res = replace(res, log=log, error=res.error or ("" if res.ok else error_line(res.stdout, res.stderr,
                                                                                     check.run)))
        self.memo.put(key, seen, _memo_entry(res))
        if job is not None:
            job.memo.append((key, seen, index))
        return res

    def checkout(self, tree: str, commit: str | None, slot: int = 0) -> Path:
        """Worktree ``slot`` at ``tree`` (made once per tree; the candidate commit is made only now)."""
        wt = worktree.path_for(self.ws, slot)
        if worktree.held(wt) == (self._owner, tree) and wt.is_dir():
            return wt
        commit = commit or git.git(self.cfg.fork.path, "commit-tree", tree, "-p", self.start,
                                   input=f"forkwave candidate {self.name}\n".encode()).decode().strip()
        wt = worktree.ensure(self.cfg, self.ws, commit, slot)
        worktree.hold(wt, self._owner, tree)
        return wt

    def recheck(self, paths: Sequence[str], n: int = 1) -> Verdict:
        """One verdict on the start commit itself, for files already on it (re-checks, resolutions)."""
        tree = git.tree_of(self.cfg.fork.path, self.start)
        return verdict_of(self.judge(tree, paths, n, commit=self.start))

    # --- several candidates at once (``bisect.Slots``) -------------------------------------------

    def _job(self, tree: str, part: Sequence[str], commit: str | None = None) -> _Job:
        """The judging of (``tree``, ``part``) on the bench: the one already started, or a new one."""
        assert self.bench is not None
        key = self.key(tree, part)
        job = self._jobs.get(key)
        if job is not None and not job.cancel.is_set():
            return job
        k = next(self.bench.numbers)
        job = _Job(key, Future(), threading.Event(), self.log_root / f"ahead-{k}")

        def work(slot: int) -> list[Result]:
            if job.cancel.is_set():
                raise Cancelled(f"{self.name} ahead-{k}")
            if key[1] == key[0]:
                self._start_judged()
            return self._raw(tree, part, slot, job.log_dir, f"{self.name}-a{k}", f"ahead-{k}", commit, job)

        job.future = self.bench.submit(work, job.cancel)
        self._jobs[key] = job
        return job

    def _start_judged(self) -> None:
        """The start's own tree (a commit mode asking about the sync tip) is the tree the baseline judges beside
        the first candidates: wait for it, so the memo answers instead of a second run of the same tree. (The
        baseline was submitted first, so it holds a slot already; a failure of it is the slice's to meet.)"""
        if isinstance(self.baseline, Future):
            futures.wait([self.baseline])

    def _claim(self, job: _Job, n: int) -> list[Result]:
        """The job's results as attempt ``n``: its logs move to ``attempt-<n>``, as if it ran just now."""
        raw = job.future.result()
        if job.claimed:  # the same candidate asked again: what one slot would get from the memo
            return [r if r.status == SKIPPED else replace(r, memo=True) for r in raw]
        job.claimed = True
        target = self.log_root / f"attempt-{n}" if n else self.log_root
        if not job.log_dir.is_dir() or target == job.log_dir:  # nothing ran (memo, skipped): no logs to move
            return raw
        if n and target.exists():
            shutil.rmtree(target)
        if n:
            job.log_dir.rename(target)
        else:  # attempt 0 logs in the root: move each file up
            target.mkdir(parents=True, exist_ok=True)
            for f in job.log_dir.iterdir():
                f.replace(target / f.name)
            job.log_dir.rmdir()
        old, new = str(job.log_dir.relative_to(self.ws.reports)), str(target.relative_to(self.ws.reports))
        moved = [replace(r, log=new + r.log[len(old):]) if r.log and r.log.startswith(old + "/") else r for r in raw]
        for key, tree, index in job.memo:  # the memo links the logs where they are now
            self.memo.put(key, tree, _memo_entry(moved[index]))
        job.log_dir, job.memo = target, []
        job.future = _done(moved)
        return moved

    def judge_ahead(self, calls: Sequence[Call]) -> None:
        """Judge ``calls`` (most wanted first) on free slots; stop what the search no longer asks for."""
        wanted = [(self.tree(c.adopted, c.part), c.part) for c in calls]
        drop_others(self._jobs, {self.key(tree, part) for tree, part in wanted})
        for tree, part in wanted:
            self._job(tree, part)

    def ready(self) -> dict[tuple[tuple[str, ...], tuple[str, ...]], Verdict]:
        """Verdicts of calls judged ahead and done (none before the baseline is: each verdict needs it)."""
        out = {}
        for call, key in self._calls.items():
            verdict = self.judged(key)
            if verdict is not None:
                out[call] = verdict
        return out

    def judged(self, key: Key) -> Verdict | None:
        """The verdict of the judging ``key`` when it is done (None: not yet, or the baseline is not)."""
        if isinstance(self.baseline, Future) and not self.baseline.done():
            return None
        job = self._jobs.get(key)
        if job is None or not job.future.done() or job.future.cancelled() or job.future.exception():
            return None
        try:
            return verdict_of(self._gated(job.future.result()))
        except CannotRun:
            return None  # the search meets it when it asks, and stops there

    def wait(self, call: Call) -> bool:
        """Until ``call``'s judging is done (True) or another one's is, freeing a slot (False)."""
        return wait_for(self._jobs, self._calls.get(call.key))

    def ahead(self, tree: str, part: Sequence[str], commit: str | None = None) -> Key:
        """Start judging (``tree``, ``part``) on the bench, unless it is judged or under way already."""
        self._job(tree, part, commit)
        return self.key(tree, part)


def drop_others(jobs: dict[Key, _Job], wanted: set[Key]) -> None:
    """Cancel every judging on the bench that is not ``wanted`` and not done."""
    for key, job in list(jobs.items()):
        if key not in wanted and not job.future.done():
            job.cancel.set()
            job.future.cancel()


def wait_for(jobs: dict[Key, _Job], key: Key | None) -> bool:
    """Until the judging ``key`` is done (True) or another one's is, freeing a slot (False)."""
    job = jobs.get(key) if key else None
    if job is None or job.future.done():
        return True  # nothing ahead for it: the search's own call judges it
    running = [j.future for j in jobs.values() if not j.future.done()]
    futures.wait(running, return_when=futures.FIRST_COMPLETED)
    return job.future.done()


Candidate = tuple[str, str, Mapping[str, Change]]   # (start commit, candidate tree, its changes on the start)


@dataclass
class Ahead:
    """``bisect.Slots`` for a commit mode's search: each question is a candidate tree on a start commit
    (``candidate``: the question -> (start, tree, changes)), judged ahead on the slice's bench through a
    validator of its own; the call that then asks for it (``SliceRun.judge``) claims that judging, on the
    same bench, as its attempt."""

    validator: Callable[[str, Mapping[str, Change]], Validator]
    candidate: Callable[[Any], Candidate]
    bench: Bench
    _asked: dict[Any, tuple[Validator, Key]] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.bench.width

    def _entry(self, question: Any) -> tuple[Validator, Key]:
        if question.key not in self._asked:
            start, tree, changes = self.candidate(question)
            v = self.validator(start, changes)
            self._asked[question.key] = (v, v.key(tree, sorted(changes)))
        return self._asked[question.key]

    def judge_ahead(self, calls: Sequence[Any]) -> None:
        wanted = [self._entry(q) for q in calls]
        drop_others(self.bench.jobs, {key for _, key in wanted})   # type: ignore[arg-type]
        for v, (_, tree, part) in wanted:
            v.ahead(tree, part)

    def ready(self) -> dict[Any, Verdict]:
        out = {}
        for qkey, (v, key) in self._asked.items():
            verdict = v.judged(key)
            if verdict is not None:
                out[qkey] = verdict
        return out

    def wait(self, call: Any) -> bool:
        entry = self._asked.get(call.key)
        return wait_for(self.bench.jobs, entry[1] if entry else None)   # type: ignore[arg-type]


def _memo_entry(res: Result) -> dict[str, Any]:
    clean = res.unmoved()   # the verdict memo keeps what the tree did, not which engine failed meanwhile
    return clean.to_json() | {"stdout": clean.stdout, "stderr": clean.stderr}


def _done(results: list[Result]) -> Future[list[Result]]:
    future: Future[list[Result]] = Future()
    future.set_result(results)
    return future


_VERDICT_TREES: dict[str, str] = {}


def verdict_tree(fork: Path, tree: str) -> str:
    """The tree as a check's verdict depends on it: without forkwave's own record
    (``.forkwave/sync-state.json``), so recording a wave's state does not make the next wave's
    baseline run its checks again on what the last slice already validated."""
    if tree not in _VERDICT_TREES:
        _VERDICT_TREES[tree] = _without_state(fork, tree)
    return _VERDICT_TREES[tree]


def _without_state(fork: Path, tree: str) -> str:
    from tasks.repo.state import STATE_PATH

    folder, name = STATE_PATH.split("/")
    top = git.ls_tree(fork, tree)
    holder = next((e for e in top if e.name == folder and e.type == "tree"), None)
    if holder is None:
        return tree
    inside = [e for e in git.ls_tree(fork, holder.oid) if e.name != name]
    rest = [e for e in top if e.name != folder]
    if inside:
        rest.append(git.TreeEntry(holder.mode, "tree", git.mktree(fork, inside), folder))
    return git.mktree(fork, sorted(rest, key=lambda e: e.name))


def verdict_of(results: Sequence[Result]) -> Verdict:
    """Passed, or failed — precisely when every failure is a gate naming its files."""
    failing = [r for r in results if not r.ok]
    precise = bool(failing) and all(r.kind == "gate" and r.files for r in failing)
    blame = tuple(sorted({f for r in failing for f in r.files})) if precise else ()
    ran = any(not r.memo and r.status != SKIPPED for r in results if r.kind != "gate")
    return Verdict(not failing, list(results), blame, ran)


def files_env(ws: Workspace, name: str, n: int | str, part: Sequence[str]) -> dict[str, str]:
    """``FORKWAVE_FILES_FROM`` (a file, always) and ``FORKWAVE_FILES`` (inline, only while it is small):
    20,000 paths in one variable exceed the OS's argument limit and no check would start."""
    listing = "\n".join(part)
    path = ws.state / "files" / f"{name}-{n}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(listing + ("\n" if listing else ""), encoding="utf-8", errors="surrogateescape")
    env = {"FORKWAVE_SLICE": name, "FORKWAVE_FILES_FROM": str(path)}
    if len(listing.encode("utf-8", "surrogateescape")) <= FILES_INLINE:
        env["FORKWAVE_FILES"] = listing
    return env


# --- the baseline -----------------------------------------------------------------------

def baseline_path(ws: Workspace, wave: str) -> Path:
    return ws.reports / f"wave-{wave}" / "baseline.json"


def checks_key(cfg: Config) -> str:
    return hashlib.sha1(json.dumps([c.__dict__ for c in cfg.checks], sort_keys=True, default=str).encode()).hexdigest()


def results_at(cfg: Config, ws: Workspace, commit: str, runner: Runner | None, memo: Memo, log_root: Path,
               name: str) -> dict[str, Result]:
    """Every check on ``commit`` as it stands (through the memo: usually known already), by name — what a
    person's change is judged against: the branch before the person changed it, not the wave's baseline."""
    v = Validator(cfg, ws, name, commit, {}, runner, memo, log_root)
    tree = git.tree_of(cfg.fork.path, commit)
    return {check.name: v.check(check, tree, [], 0, commit) for check in cfg.checks}


def lazy_baseline(bench: Bench | None, cfg: Config, ws: Workspace, wave: str, upstream: str, runner: Runner | None,
                  memo: Memo, run_id: str = "run") -> Future[dict[str, Result]] | Callable[[], dict[str, Result]]:
    """The baseline as a validator takes it: on a bench, under way beside the first candidates (``baseline_on``);
    with one slot, run only when a check fails — a candidate that passes is judged with one run of each check,
    as a person would judge it."""
    if bench is not None:
        return baseline_on(bench, cfg, ws, wave, upstream, runner, memo, run_id)  # type: ignore[return-value]
    return lambda: baseline(cfg, ws, wave, upstream, runner, memo, run_id)


def baseline_on(bench: Bench | None, cfg: Config, ws: Workspace, wave: str, upstream: str, runner: Runner | None,
                memo: Memo, run_id: str) -> dict[str, Result] | Future[dict[str, Result]]:
    """The baseline now, or, on a bench, under way beside the first candidates (a Future the verdicts wait
    for; closing the bench with ``abort`` stops it)."""
    if bench is None:
        return baseline(cfg, ws, wave, upstream, runner, memo, run_id)
    stop = threading.Event()
    return bench.submit(lambda slot: baseline(cfg, ws, wave, upstream, runner, memo, run_id, slot, stop), stop)


def baseline(cfg: Config, ws: Workspace, wave: str, upstream: str, runner: Runner | None = None,
             memo: Memo | None = None, run_id: str = "run", slot: int = 0,
             cancel: threading.Event | None = None) -> dict[str, Result]:
    """Every check, once, on the sync branch as it stands before the wave (reused for the wave's slices).

    Returns check name -> raw result. Recorded in ``reports/wave-<x>/baseline.json``. A check
    that cannot run there (exit 126/127, a missing image) or that times out stops the wave:
    nothing it would judge may land. ``slot``: the worktree it is checked out in (a bench worker's,
    when it runs beside the slice's first candidates).
    """
    if not cfg.checks:
        return {}
    path = baseline_path(ws, wave)
    if path.exists():
        saved = read_json(path)
        if saved.get("upstream") == upstream and saved.get("checks") == checks_key(cfg):
            return {r["name"]: Result.from_json(r) for r in saved["results"]}
    tip = worktree.sync_tip(cfg)
    memo = memo or Memo(ws)
    v = Validator(cfg, ws, f"baseline-{wave}", tip, {}, runner or default_runner(cfg, ws), memo,
                  path.parent / "baseline-logs" / run_id)
    tree = git.tree_of(cfg.fork.path, tip)
    print(f"baseline: wave {wave}: {len(cfg.checks)} checks on {cfg.fork.sync_branch} at {tip[:12]} ...", flush=True)
    results = []
    for check in cfg.checks:
        res = v.check(check, tree, [], 0, tip, slot=slot, cancel=cancel)
        if res.status == ERROR or res.timed_out:
            raise CannotRun(f"wave {wave}: check {check.name!r} cannot run on the baseline ({cfg.fork.sync_branch} at "
                            f"{tip[:12]}): {res.message}; fix the check (or the machine it runs on) and run again — "
                            "no slice of the wave was adopted")
        results.append(res)
    write_if_changed(path, dump_json({"wave": wave, "upstream": upstream, "checks": checks_key(cfg), "tip": tip,
                                      "results": [r.to_json() for r in results]}))
    failing = [r.name for r in results if not r.ok]
    print(f"baseline: wave {wave}: " + (f"already failing: {', '.join(failing)}" if failing else "all checks pass"))
    return {r.name: r for r in results}
