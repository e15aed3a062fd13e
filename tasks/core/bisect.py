"""Revert and split: find the largest passing part of a failing slice and name the culprits.

Pure: ``isolate(files, validate)`` only calls ``validate(adopted, part, n)``, which answers
whether ``adopted + part`` passes on top of the slice's starting point (``n`` numbers the
attempt, so its logs can be found under the same number).

The unit of work is an **atom**: a coupled group of files (a module and its test, a manifest
and its lockfile, one upstream commit's files) or a single file. Atoms are never separated,
except a failing multi-file atom that is ``splittable``, as a last resort (reported).

The search is cumulative: a part that passes is adopted at once, and later parts are
validated on top of it. That makes one inference exact rather than hopeful — when a
failing set splits into (first, second) and ``first`` passes, then ``adopted + first +
second`` is the very tree that already failed, so ``second`` is split without running it
again. When ``first`` fails instead, ``second`` is set aside, and everything set aside is
validated together in one run once the culprit is found — not one run per level. So one
culprit among n files costs at most ceil(log2(n)) + 3 runs.

Precise failures need no search: a verdict may ``blame`` files (a gate names the files that
broke it); their atoms are deferred at once and the rest validated again.

Files that only fail together: when a single atom fails on top of parts adopted earlier in
the same slice, it is validated once alone; if it passes alone, the adopted atoms it breaks
with are found by halving, and the whole set is deferred as inseparable.

Files that only pass together are kept in one atom by the planner (coupling); what is left
is found when a wave ends and everything deferred is validated again as one part on top of
the new sync tip (``isolate`` over those atoms: one run, a search only when it fails).

Looking ahead: the search is a deterministic function of the verdicts it gets, so what it
asks next under either verdict of the call it is waiting for is known in advance — replay it
with that verdict assumed (``upcoming``). A validator with several slots (engines, host slots;
``Slots``) is told those calls and judges them while the current one runs; the search itself is
the same and takes the same verdicts, so its outcome is the same as with one slot. ``speculate``
does this for any search that is such a function — the commit modes' bisection of a range
(``tasks.core.ranges.first_bad``) and picks judged one by one as well as this one.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

Atom = tuple[str, ...]
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)   # a question's key
Validate = Callable[[Sequence[str], Sequence[str], int], "Verdict"]
CallKey = tuple[tuple[str, ...], tuple[str, ...]]   # (adopted, part)
MAX_RUNS = 64
BUDGET = "split budget exhausted: not validated"
WAITS = "waits: fails with the tree as it is; retried with everything deferred when the wave ends"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: Any = None                 # whatever the validator wants recorded (check results)
    blame: tuple[str, ...] = ()        # files a precise check named as the whole cause of the failure
    ran: bool = True                   # False: every verdict came from the memo, nothing ran


@dataclass(frozen=True)
class Attempt:
    n: int
    files: tuple[str, ...]
    on_top_of: int          # how many files of this slice were adopted underneath
    passed: bool
    inferred: bool = False  # not run: the same tree already failed
    detail: Any = None
    ran: bool = True


@dataclass
class Result:
    adopted: list[str] = field(default_factory=list)
    deferred: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)  # (files, failing detail)
    attempts: list[Attempt] = field(default_factory=list)
    split_groups: list[tuple[str, ...]] = field(default_factory=list)  # coupled groups cut as a last resort

    @property
    def runs(self) -> int:
        """Attempts that ran something (not inferred, not answered from the memo)."""
        return sum(1 for a in self.attempts if a.ran and not a.inferred)


def split(files: Sequence[str]) -> list[list[str]]:
    """Two halves, by directory first (whole folders on each side), then by file.

    >>> split(["a/1", "a/2", "a/3", "b/1"])
    [['a/1', 'a/2', 'a/3'], ['b/1']]
    >>> split(["a/1", "a/2", "a/3", "a/4"])
    [['a/1', 'a/2'], ['a/3', 'a/4']]
    """
    files = sorted(files)
    prefix = _common_dir(files)
    groups: dict[str, list[str]] = {}
    for f in files:
        head = f[len(prefix):].split("/", 1)[0]
        groups.setdefault(head, []).append(f)
    if len(groups) > 1 and all(len(g) < len(files) for g in groups.values()):
        ordered = [groups[k] for k in sorted(groups)]
        # cut between folders at the point closest to the middle
        best, acc, cut_at = None, 0, 1
        for i, g in enumerate(ordered[:-1], 1):
            acc += len(g)
            score = abs(len(files) - 2 * acc)
            if best is None or score < best:
                best, cut_at = score, i
        return [sum(ordered[:cut_at], []), sum(ordered[cut_at:], [])]
    mid = len(files) // 2
    return [files[:mid], files[mid:]]


def split_atoms(atoms: Sequence[Atom]) -> list[list[Atom]]:
    """``split`` over atoms, each placed by its first file; both halves non-empty for 2+ atoms.

    >>> split_atoms([("a/1", "t/a"), ("a/2",), ("b/1",)])
    [[('a/1', 't/a'), ('a/2',)], [('b/1',)]]
    """
    by_key = {a[0]: a for a in sorted(atoms)}
    halves = [[by_key[k] for k in half] for half in split(list(by_key))]
    if not halves[0] or not halves[1]:  # a single atom: nothing to split
        return [list(by_key.values())[:1], list(by_key.values())[1:]]
    return halves


def _common_dir(files: Sequence[str]) -> str:
    if not files:
        return ""
    first, last = min(files), max(files)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    common = first[:i]
    return common[: common.rfind("/") + 1]


def _flat(atoms: Sequence[Atom]) -> list[str]:
    return [f for a in atoms for f in a]


def singles(atom: Atom) -> list[Atom]:
    return [(f,) for f in atom]


Suspects = Callable[[Any, Sequence[Atom]], Iterable[str]]   # (a failure's detail, a part) -> its files to try first


class _Search:
    def __init__(self, validate: Validate, max_runs: int, refine: Callable[[Atom], list[Atom]],
                 waits: Callable[[Atom], bool] = lambda atom: False, suspects: Suspects | None = None):
        self.validate, self.max_runs, self.refine, self.waits = validate, max_runs, refine, waits
        self.suspects = suspects
        self.result = Result()
        self.adopted: list[Atom] = []
        self.pending: list[Atom] = []  # halves set aside while their sibling is narrowed
        self.deferred: list[tuple[list[Atom], Any]] = []

    # --- bookkeeping ---------------------------------------------------------------
    def adopt(self, part: Sequence[Atom]) -> None:
        self.adopted.extend(part)

    def defer(self, atoms: Sequence[Atom], detail: Any) -> None:
        self.deferred.append((list(atoms), detail))

    def run(self, part: Sequence[Atom]) -> Verdict:
        n = len(self.result.attempts) + 1
        files = tuple(_flat(part))
        verdict = self.validate(tuple(_flat(self.adopted)), files, n)
        self.result.attempts.append(Attempt(n, files, len(_flat(self.adopted)), verdict.passed,
                                            detail=verdict.detail, ran=verdict.ran))
        return verdict

    def infer(self, part: Sequence[Atom], failure: Any) -> None:
        n = len(self.result.attempts) + 1
        self.result.attempts.append(Attempt(n, tuple(_flat(part)), len(_flat(self.adopted)), False,
                                            inferred=True, detail=failure, ran=False))

    def out_of_budget(self, part: Sequence[Atom]) -> bool:
        if self.result.runs < self.max_runs:
            return False
        self.defer(part, BUDGET)
        return True

    def precise(self, part: Sequence[Atom], verdict: Verdict) -> list[Atom] | None:
        """The rest of ``part`` once the atoms a precise verdict blames are deferred; None if not precise."""
        blamed = set(verdict.blame)
        if verdict.passed or not blamed or not blamed <= set(_flat(part)):
            return None
        rest = []
        for atom in part:
            if not blamed & set(atom):
                rest.append(atom)
                continue
            # a co-change group keeps its parts that are not to blame; what is bound tighter
            # (a lockfile, a test, a couple: rule) goes with the blamed file
            pieces = self.refine(atom) if len(atom) > 1 else [atom]
            if len(pieces) > 1 and any(not blamed & set(p) for p in pieces):
                self.result.split_groups.append(atom)
            for piece in pieces:
                if blamed & set(piece):
                    self.defer([piece], verdict.detail)  # each with its own reason
                else:
                    rest.append(piece)
        return rest

    # --- the search ----------------------------------------------------------------
    def drain(self) -> None:
        """Validate everything set aside in one run, and narrow again if it fails."""
        while self.pending:
            batch, self.pending = sorted(self.pending), []
            self.solve(batch)

    def solve(self, part: Sequence[Atom]) -> None:
        if not part or self.out_of_budget(part):
            return
        v = self.run(part)
        if v.passed:
            self.adopt(part)
        elif (rest := self.precise(part, v)) is not None:
            self.solve(rest)
        elif not self.set_aside(part):
            self.solve_failing(part, v.detail)

    def set_aside(self, part: Sequence[Atom]) -> bool:
        """``adopted + part`` fails, and holds atoms that may only work once later work lands (an
        upstream deletion whose importers a later wave removes): the rest is validated without
        them first. If it passes, they wait for the joint retry when the wave ends instead of
        being searched now; if not, they go back into the search. False: nothing to set aside."""
        waiting = [a for a in part if self.waits(a)]
        rest = [a for a in part if not self.waits(a)]
        if not waiting or self.result.runs >= self.max_runs:
            return False
        if not rest:  # all of it waits: the run that just failed says enough for now
            for atom in waiting:
                self.defer([atom], WAITS)
            return True
        v = self.run(rest)
        if v.passed:
            self.adopt(rest)
            for atom in waiting:
                self.defer([atom], WAITS)
        else:
            self.pending.extend(waiting)
            if (left := self.precise(rest, v)) is not None:
                self.solve(left)
            else:
                self.solve_failing(rest, v.detail)
        return True

    def solve_failing(self, part: Sequence[Atom], failure: Any) -> None:
        """``adopted + part`` is known to fail."""
        if len(part) == 1:
            self.isolate_single(part[0], failure)
            return
        if self.guided(part, failure):
            return
        first, second = split_atoms(part)
        if self.out_of_budget(part):
            return
        v = self.run(first)
        if v.passed:
            self.adopt(first)
            self.infer(second, failure)
            self.solve_failing(second, failure)
        elif (rest := self.precise(first, v)) is not None:
            self.pending.extend(second)
            self.solve(rest)
        else:
            self.pending.extend(second)
            self.solve_failing(first, v.detail)

    def guided(self, part: Sequence[Atom], failure: Any) -> bool:
        """Suspects first: the files the failure points at (the failing tests, the files they import or
        name) are set aside — out of their atoms too: a coupled group is a guess at what must land
        together, and a run that passes without them proves it was too wide — and the rest is judged
        without them. When the rest passes it is adopted, and ``adopted + suspects`` is the tree that
        already failed, so the suspects are searched with no run more; otherwise they wait for the
        rest's culprit to be found, as a halving's second half would. False: the failure points at
        nothing, or at all of ``part``."""
        named = set(self.suspects(failure, part)) if self.suspects else set()
        rest, suspects, cut = [], [], []
        for atom in part:
            if not named & set(atom):
                rest.append(atom)
                continue
            pieces = self.refine(atom) if len(atom) > 1 else [atom]  # what may never part stays whole
            suspects += [p for p in pieces if named & set(p)]
            rest += [p for p in pieces if not named & set(p)]
            if len(pieces) > 1 and any(not named & set(p) for p in pieces):
                cut.append(atom)
        if not suspects or not rest or self.result.runs >= self.max_runs:
            return False
        v = self.run(rest)
        if v.passed:
            self.adopt(rest)
            self.result.split_groups.extend(a for a in cut if len(a) > 1)
            self.infer(suspects, failure)
            self.solve_failing(suspects, failure)
        else:  # the guess was wrong: search the atoms as they were
            return self._unguided(part, v)
        return True

    def _unguided(self, part: Sequence[Atom], rest: Verdict) -> bool:
        """The suspects' rest failed too: fall back to halving ``part`` whole (its atoms kept), knowing the
        rest's own verdict."""
        self.suspects = None  # one guess per search: a failure that misleads once misleads again
        first, second = split_atoms(part)
        self.pending.extend(second)
        self.solve(first)
        return True

    def isolate_single(self, atom: Atom, failure: Any) -> None:
        # out of budget: defer with the failure already seen (out_of_budget() would defer it a second time)
        if not self.adopted or self.result.runs >= self.max_runs:
            self.last_resort(atom, failure)
            return
        saved, self.adopted = self.adopted, []
        alone = self.run([atom])
        if not alone.passed:
            self.adopted = saved
            if (rest := self.precise([atom], alone)) is not None:
                self.solve(rest)
                return
            self.last_resort(atom, alone.detail)
            return
        partners = self.find_partners(saved, atom)
        rest = [a for a in saved if a not in partners]
        check = self.run(rest) if rest else Verdict(True)
        if check.passed:
            self.adopted = rest
            self.defer(sorted(partners + [atom]), failure)
        else:  # cannot separate cleanly: keep what passed before, defer the single atom
            self.adopted = saved
            self.defer([atom], failure)

    def last_resort(self, atom: Atom, failure: Any) -> None:
        """A failing atom on its own: defer it, or cut a coupled group into its finer parts."""
        parts = self.refine(atom) if len(atom) > 1 else [atom]
        if len(parts) > 1 and self.result.runs < self.max_runs:
            self.result.split_groups.append(atom)
            self.solve_failing(sorted(parts), failure)
            return
        self.defer([atom], failure)

    def find_partners(self, adopted: list[Atom], atom: Atom) -> list[Atom]:
        """The shortest prefix of ``adopted`` that makes ``atom`` fail; its last atom is a partner.

        Repeats on the remaining prefix until ``atom`` passes with what is left.
        """
        partners: list[Atom] = []
        pool = adopted
        while pool and self.result.runs < self.max_runs:
            lo, hi = 1, len(pool)  # answer in [lo, hi]: pool[:hi] + partners + atom fails
            while lo < hi and self.result.runs < self.max_runs:
                mid = (lo + hi) // 2
                if self.run(partners + pool[:mid] + [atom]).passed:
                    lo = mid + 1
                else:
                    hi = mid
            partners.append(pool[lo - 1])
            pool = pool[: lo - 1]
            if not pool or self.run(partners + [atom]).passed is False:
                break
        return partners

    def finish(self) -> Result:
        self.result.adopted = _flat(self.adopted)
        self.result.deferred = [(tuple(sorted(_flat(atoms))), detail) for atoms, detail in self.deferred]
        return self.result


def atoms_of(files: Sequence[str], groups: Sequence[Sequence[str]] = ()) -> list[Atom]:
    """``files`` as atoms: each group (restricted to ``files``) is one, every other file alone.

    >>> atoms_of(["a", "b", "c", "t/a"], [["a", "t/a", "gone"]])
    [('a', 't/a'), ('b',), ('c',)]
    """
    present, atoms = set(files), []
    seen: set[str] = set()
    for g in groups:
        members = tuple(sorted(f for f in g if f in present and f not in seen))
        if members:
            atoms.append(members)
            seen.update(members)
    atoms += [(f,) for f in sorted(present - seen)]
    return sorted(atoms)


def isolate(files: Sequence[str], validate: Validate, first: Verdict | None = None,
            max_runs: int = MAX_RUNS, groups: Sequence[Sequence[str]] = (),
            refine: Callable[[Atom], list[Atom]] = singles,
            waits: Callable[[Atom], bool] = lambda atom: False, suspects: Suspects | None = None,
            slots: Slots | None = None) -> Result:
    """Adopt what passes, defer culprits (atoms, or sets of atoms that only fail together).

    ``groups`` are coupled files kept together (an atom each); ``refine`` gives the finer parts
    a failing group may be cut into as a last resort (one part: never cut); ``waits`` names atoms
    that, when their part fails, wait for the wave's joint retry (``WAITS``) instead of being
    searched. ``first`` is the verdict of the whole slice when the caller already has it.
    ``suspects`` names, from a failure's detail, the files of a part to set aside first (``guided``).

    ``slots``, a validator with room for more than one candidate at once, is told before and while
    each call is judged which calls the search may make from here (``upcoming``), and judges them on
    its free slots; the search takes the same verdicts, so the result is the one without it.
    """
    def search(v: Validate) -> Result:
        return _isolate(files, v, first, max_runs, groups, refine, waits, suspects)

    if slots is None or slots.width < 2:
        return search(validate)
    return speculate(asking(search), lambda call: validate(call.adopted, call.part, call.n), slots)


def _isolate(files: Sequence[str], validate: Validate, first: Verdict | None, max_runs: int,
             groups: Sequence[Sequence[str]], refine: Callable[[Atom], list[Atom]],
             waits: Callable[[Atom], bool], suspects: Suspects | None) -> Result:
    search = _Search(validate, max_runs, refine, waits, suspects)
    atoms = atoms_of(files, groups)
    if first is None:
        search.solve(atoms)
    elif first.passed:
        search.adopt(atoms)
    elif (rest := search.precise(atoms, first)) is not None:
        search.solve(rest)
    else:
        search.solve_failing(atoms, first.detail)
    search.drain()
    return search.finish()


# --- looking ahead -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One question the search asks: does ``adopted + part`` pass? (``n``: the attempt's number)."""

    adopted: tuple[str, ...]
    part: tuple[str, ...]
    n: int

    @property
    def key(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.adopted, self.part


class Slots(Protocol):
    """Judges several candidates at once (``tasks.engine.validate.Validator`` with a bench; a commit mode's
    questions through ``tasks.engine.validate.Ahead``). A question is anything with a hashable ``key``: an
    ``isolate`` search's is a ``Call``."""

    @property
    def width(self) -> int: ...

    def judge_ahead(self, calls: Sequence[Any]) -> None:
        """Judge these questions (most wanted first) on free slots, and stop judging any other."""

    def ready(self) -> Mapping[Any, Verdict]:
        """Verdicts of questions judged ahead that are done, by their ``key``."""

    def wait(self, call: Any) -> bool:
        """Block until ``call`` is judged (True) or another judging ends and frees a slot (False)."""


class _Asked(Exception):
    """Raised from a replay's validator at the first question whose verdict is not known or assumed."""

    def __init__(self, question: Any):
        self.question = question


PASS, FAIL = Verdict(True), Verdict(False)
Ask = Callable[[Any], Verdict]        # a question (anything with a hashable ``key``) -> its verdict


def asking(search: Callable[[Validate], R]) -> Callable[[Ask], R]:
    """An ``isolate`` search (which calls ``validate(adopted, part, n)``) as one that asks ``Call`` questions."""
    def run(ask: Ask) -> R:
        return search(lambda adopted, part, n: ask(Call(tuple(adopted), tuple(part), n)))
    return run


def first_question(search: Callable[[Ask], Any], assumed: Mapping[K, Verdict]) -> Any | None:
    """The first question ``search`` asks whose verdict ``assumed`` lacks (None: it finishes)."""
    def ask(question: Any) -> Verdict:
        if question.key in assumed:
            return assumed[question.key]
        raise _Asked(question)

    try:
        search(ask)
    except _Asked as asked:
        return asked.question
    return None


def questions(search: Callable[[Ask], Any], known: Mapping[K, Verdict], limit: int,
              ready: Mapping[K, Verdict] | None = None, prefer: Verdict = FAIL) -> list[Any]:
    """Up to ``limit`` questions ``search`` may ask next, given the verdicts ``known``: the one it asks now,
    then, breadth first, the one after it gets ``prefer`` and the one after the other verdict, and so on.
    A question whose verdict is ``ready`` (judged ahead, not yet asked) takes no slot: only its real verdict
    is followed. ``search`` is any deterministic function of the verdicts it gets (a file split, a commit
    bisection, picks judged one by one)."""
    other = PASS if prefer is FAIL else FAIL
    ready = ready or {}
    found: list[Any] = []
    queue = [dict(known)]
    while queue and len(found) < limit:
        assumed = queue.pop(0)
        question = first_question(search, assumed)
        if question is None or question.key in {q.key for q in found}:
            continue
        if question.key in ready:
            queue.append({**assumed, question.key: ready[question.key]})
            continue
        found.append(question)
        queue += [{**assumed, question.key: prefer}, {**assumed, question.key: other}]
    return found


def speculate(search: Callable[[Ask], R], ask: Ask, slots: Slots, prefer: Verdict = FAIL,
              rehearse: Callable[[Ask], Any] | None = None) -> R:
    """``search(ask)``, with the questions it may ask next judged ahead on ``slots`` while each is answered.

    Before and while a question is answered, ``slots`` is told what the search asks next under either
    verdict (``questions``, ``prefer`` explored first) and judges it on its free slots; ``ask`` is called
    for each question the search really asks, in the order it asks them, and its verdicts are what the
    search follows — so the result is the one without ``slots``. ``rehearse`` replays the search with
    assumed verdicts when the real ``search`` has side effects a replay must not have (default: ``search``).
    """
    rehearse = rehearse or search
    known: dict[Hashable, Verdict] = {}

    def told(question: Any) -> Verdict:
        while True:  # keep every slot busy until this question's verdict is in
            slots.judge_ahead(questions(rehearse, known, slots.width, slots.ready(), prefer))
            if slots.wait(question):
                break
        verdict = ask(question)
        known[question.key] = verdict
        return verdict

    try:
        return search(told)
    finally:
        slots.judge_ahead([])  # what is still judged ahead is no longer wanted


def replay(search: Callable[[Validate], Any], assumed: Mapping[CallKey, Verdict]) -> Call | None:
    """The first call an ``isolate`` search makes whose verdict ``assumed`` lacks (None: it finishes)."""
    return first_question(asking(search), assumed)


def upcoming(search: Callable[[Validate], Any], known: Mapping[CallKey, Verdict], limit: int,
             ready: Mapping[CallKey, Verdict] | None = None) -> list[Call]:
    """Up to ``limit`` calls an ``isolate`` search may make next, given the verdicts ``known``: the one it
    makes now, then, breadth first, the one after it fails and the one after it passes, and so on. A call
    whose verdict is ``ready`` (judged ahead, not yet asked for) takes no slot: only its real verdict is
    followed.

    Failure first: in the searches of ``benchmarks/engines.py``'s model (one or two culprits among 16
    or 32 files, every position) it cuts the rounds a search takes with two slots by a further tenth
    over passing first. A failure is assumed imprecise (no file blamed): a gate that names files
    takes the search elsewhere, and what was judged ahead for that branch is simply not asked for.

    The whole slice first; if it fails, ``a, b``; if they fail too, ``a`` alone (a passing slice
    ends the search: nothing follows that branch). With ``a, b`` judged ahead and passing, ``c``
    is asked on top of them:

    >>> files = ["a", "b", "c", "d"]
    >>> search = lambda v: isolate(files, v)
    >>> [(c.adopted, c.part) for c in upcoming(search, {}, 3)]
    [((), ('a', 'b', 'c', 'd')), ((), ('a', 'b')), ((), ('a',))]
    >>> [(c.adopted, c.part) for c in upcoming(search, {}, 2, {((), ("a", "b")): PASS})]
    [((), ('a', 'b', 'c', 'd')), (('a', 'b'), ('c',))]
    """
    return questions(asking(search), known, limit, ready)
