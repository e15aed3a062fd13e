"""Run targets and the run summary: sources=/direction= selection, results in the seed's shape."""
from __future__ import annotations

import doctest
import json
from typing import Any

import pytest

from tasks.core import runsummary
from tasks.core.outcome import Outcome
from tasks.core.runsummary import Target, select, summary, tally, target_result
from tasks.errors import ForkwaveError

SOURCES = [("oca_web", "pull"), ("oca_base", "both"), ("apps_truth", "pull"), ("notion_docs", "push"),
           ("OCA_legacy", "pull")]


def test_doctests() -> None:
    assert doctest.testmod(runsummary).failed == 0


def pairs(targets: tuple[Target, ...]) -> list[str]:
    return [f"{t.source}:{t.direction}" for t in targets]


@pytest.mark.parametrize(("pattern", "direction", "expected"), [
    (None, None, ["oca_web:pull", "oca_base:pull", "oca_base:push", "apps_truth:pull", "notion_docs:push",
                  "OCA_legacy:pull"]),
    ("", "all", ["oca_web:pull", "oca_base:pull", "oca_base:push", "apps_truth:pull", "notion_docs:push",
                 "OCA_legacy:pull"]),
    ("oca_*", None, ["oca_web:pull", "oca_base:pull", "oca_base:push"]),              # case sensitive
    ("oca_*", "pull", ["oca_web:pull", "oca_base:pull"]),
    ("oca_*", "push", ["oca_base:push"]),
    ("oca_*", "both", ["oca_web:pull", "oca_base:pull", "oca_base:push"]),
    (None, "push", ["oca_base:push", "notion_docs:push"]),
    ("apps_truth,oca_web", None, ["oca_web:pull", "apps_truth:pull"]),                # config order, not the pattern's
    (" oca_web , notion_* ", None, ["oca_web:pull", "notion_docs:push"]),
    ("oca_w?b", None, ["oca_web:pull"]), ("[an]*", None, ["apps_truth:pull", "notion_docs:push"]),
    ("oca_*,oca_web", "pull", ["oca_web:pull", "oca_base:pull"]),                     # overlaps count once
])
def test_select(pattern: str | None, direction: str | None, expected: list[str]) -> None:
    assert pairs(select(SOURCES, pattern, direction)) == expected


@pytest.mark.parametrize(("pattern", "direction", "message"), [
    ("typo", None, "sources=typo: 'typo' matches no source; the sources are oca_web, oca_base, apps_truth"),
    ("oca_*,typo*", None, "sources=oca_*,typo*: 'typo*' matches no source"),
    ("oca_web,,apps_truth", None, "sources=oca_web,,apps_truth: an empty name between commas"),
    ("oca", None, "sources=oca: 'oca' matches no source"),                               # a name is no prefix
    ("apps_truth", "push", "direction=push: none of the selected sources runs that way (apps_truth (pull))"),
    (None, "sideways", "direction=sideways: use pull, push or both"),
    (None, "PULL", "direction=PULL: use pull, push or both"),
])
def test_select_errors(pattern: str | None, direction: str | None, message: str) -> None:
    with pytest.raises(ForkwaveError) as err:
        select(SOURCES, pattern, direction)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def outcome(**data: Any) -> Outcome:
    """An outcome as ``outcome.json`` holds it (the keys a run summary reads)."""
    return Outcome.from_json({"wave": "a", "upstream": "u", "parent": "p", **data})


ADOPTED = outcome(slice="slice-1", status="adopted", adopted=["a.py", "gone.py"], removed=["gone.py"],
                  files=[{"path": "a.py", "class": "upstream-added"}, {"path": "gone.py", "class": "upstream-deleted"}])
SPLIT = outcome(slice="slice-2", status="split", adopted=["b.py"],
                files=[{"path": "b.py", "class": "upstream-changed"}],
                deferred=[{"files": ["c.py", "d.py"], "reason": "check build failed"}])
CONFLICTED = outcome(slice="slice-3", status="conflicted", adopted=[], conflicts=[{"path": "e.py"}])
DEFERRED = outcome(slice="slice-4", status="reverted", adopted=[], deferred=[{"files": ["f.py"]}])
EMPTY = outcome(slice="slice-5", status="empty", adopted=[])
ROLLED = outcome(slice="slice-6", status="rolled-back", adopted=[])
# a merge range of 20 upstream commits: 2 landed, the 3rd conflicts, 17 wait behind it
RANGE = outcome(slice="slice-7", status="conflicted", mode="merge", adopted=["x.py"],
                slice_commits=[f"{i:040x}" for i in range(1, 21)], adopted_commits=[f"{i:040x}" for i in (1, 2)],
                conflicts=[{"path": "y.py", "commit": f"{3:040x}"}, {"path": "z.py", "commit": f"{3:040x}"}],
                waiting=[{"files": ["w.py"], "commits": [f"{i:040x}" for i in range(4, 21)]}])
PASS = {"name": "modules", "passed": True, "reason": "verify 'modules': printed 130, within expected_min 100"}
FAIL = {"name": "modules", "passed": False, "reason": "verify 'modules': printed 87, below expected_min 100"}


def target(**kw: Any) -> dict[str, Any]:
    return {"source": "oca_web", "direction": "pull", "duration": 1.5, **kw}


@pytest.mark.parametrize(("kw", "status", "message"), [
    ({}, "success", "nothing to do"),
    ({"outcomes": [ADOPTED, EMPTY]}, "success", "2 slices: 2 adopted; 2 files adopted"),
    ({"outcomes": [ADOPTED, ROLLED]}, "success", "2 slices: 1 adopted, 1 rolled back; 2 files adopted"),
    ({"outcomes": [ADOPTED, SPLIT]}, "partial", "2 slices: 1 adopted, 1 deferred; 3 files adopted"),
    ({"outcomes": [SPLIT, CONFLICTED]}, "partial", "2 slices: 1 deferred, 1 conflicted; 1 file adopted"),
    ({"outcomes": [DEFERRED, CONFLICTED]}, "failed", "2 slices: 1 deferred, 1 conflicted"),   # nothing landed
    ({"outcomes": [ADOPTED], "verification": [PASS]}, "success", "1 slice: 1 adopted; 2 files adopted"),
    ({"outcomes": [ADOPTED], "verification": [FAIL]}, "partial",
     "1 slice: 1 adopted; 2 files adopted; verification failed for oca_web: verify 'modules': printed 87, below "
     "expected_min 100"),
    ({"outcomes": [EMPTY], "verification": [FAIL]}, "failed",
     "1 slice: 1 adopted; verification failed for oca_web: verify 'modules': printed 87, below expected_min 100"),
    # an error after something landed: partial (the landed work is there), the error first
    ({"outcomes": [ADOPTED], "error": "fetch: upstream unreachable"}, "partial",
     "fetch: upstream unreachable; 1 slice: 1 adopted; 2 files adopted"),
    ({"outcomes": [DEFERRED], "error": "fetch: upstream unreachable"}, "failed",
     "fetch: upstream unreachable; 1 slice: 1 deferred"),
    ({"outcomes": [ADOPTED], "held": "drift gate 'drift_gates.max_conflicts' stopped the run"}, "partial",
     "drift gate 'drift_gates.max_conflicts' stopped the run; 1 slice: 1 adopted; 2 files adopted"),
    ({"direction": "push", "exported": ["x.py", "y.py", "x.py"]}, "success", "nothing to do; 2 paths exported"),
    ({"direction": "push", "exported": ["x.py"], "outcomes": [DEFERRED]}, "partial",
     "1 slice: 1 deferred; 1 path exported"),
])
def test_target_status_and_message(kw: dict[str, Any], status: str, message: str) -> None:
    r = target_result(target(**kw))
    assert (r["status"], r["message"], r["success"]) == (status, message, status == "success")


def test_a_slice_with_a_conflict_counts_as_conflicted_even_when_adopted_otherwise() -> None:
    mixed = outcome(slice="s", status="adopted", adopted=["a"], conflicts=[{"path": "b"}])
    assert target_result(target(outcomes=[mixed]))["status"] == "partial"


def test_result_has_the_seeds_keys_and_outputs() -> None:
    r = target_result(target(outcomes=[ADOPTED, SPLIT], exported=["z.py"], verification=[PASS], duration=12.34567))
    assert list(r) == ["target", "direction", "success", "status", "message", "duration", "outputs_created",
                       "verification_passed"]
    assert r["outputs_created"] == ["a.py"]   # created: not b.py (changed), gone.py (deleted), z.py (not an add)
    pushed = target_result(target(direction="push", exported=["new.py", "old.py"], created=["new.py"]))
    assert pushed["outputs_created"] == ["new.py"]                          # an export adds new.py to the source
    assert r["duration"] == 12.346 and r["verification_passed"] is True
    assert target_result(target())["verification_passed"] is None         # nothing verified: null, not true


def test_summary_counts_targets_and_durations() -> None:
    s = summary([target(outcomes=[ADOPTED]), target(source="oca_base", outcomes=[SPLIT], duration=2.0),
                 target(source="oca_base", direction="push", error="push refused", duration=0.5)],
                "2025-01-04T10:30:00Z")
    assert (s["timestamp"], s["total_targets"], s["successful"], s["failed"], s["total_duration"]) == \
        ("2025-01-04T10:30:00Z", 3, 1, 2, 4.0)
    assert [(r["target"], r["direction"], r["status"]) for r in s["results"]] == [
        ("oca_web", "pull", "success"), ("oca_base", "pull", "partial"), ("oca_base", "push", "failed")]
    assert summary([], "t", total_duration=9.87654)["total_duration"] == 9.877
    json.dumps(s)                                                          # plain data all the way


def test_summary_of_no_targets() -> None:
    assert summary([], "2025-01-04T10:30:00Z") == {"timestamp": "2025-01-04T10:30:00Z", "total_targets": 0,
                                                   "successful": 0, "failed": 0, "total_duration": 0.0, "results": []}


@pytest.mark.parametrize(("outcomes", "exported", "expected"), [
    ([], (), {"unit": "files", "adopted": 0, "deferred": 0, "conflicted": 0, "waiting": 0, "exported": 0}),
    ([ADOPTED, SPLIT, CONFLICTED, DEFERRED], (),
     {"unit": "files", "adopted": 3, "deferred": 3, "conflicted": 1, "waiting": 0, "exported": 0}),
    ([ADOPTED, ADOPTED], ["x", "x", "y"],
     {"unit": "files", "adopted": 2, "deferred": 0, "conflicted": 0, "waiting": 0, "exported": 2}),
    # a commit slice counts commits: one conflicting commit (two paths), seventeen waiting
    ([RANGE], (), {"unit": "commits", "adopted": 2, "deferred": 0, "conflicted": 1, "waiting": 17, "exported": 0}),
])
def test_tally(outcomes: list[Outcome], exported: list[str], expected: dict[str, int]) -> None:
    assert tally(outcomes, exported) == expected


# --- this run's work, not the running total -------------------------------------------------------

EARLIER = outcome(slice="slice-1", status="adopted", adopted=["a.py"], landed=["a.py"], run="r1",
                  files=[{"path": "a.py", "class": "upstream-added"}])
RETRIED = outcome(slice="slice-2", status="adopted", adopted=["b.py", "c.py"], landed=["b.py", "c.py"], run="r1",
                  files=[{"path": "b.py", "class": "upstream-changed"}, {"path": "c.py", "class": "missing"}],
                  retried=[{"wave": "a", "commit": "c1", "files": ["c.py"], "run": "r2"}])
PICKED = outcome(slice="slice-3", status="adopted", mode="cherry-pick", run="r2", adopted=["p.py"], landed=["p.py"],
                 slice_commits=[f"{i:040x}" for i in (7, 8)], adopted_commits=[f"{i:040x}" for i in (7, 8)],
                 landed_commits=[f"{8:040x}"], files=[{"path": "p.py", "class": "upstream-added"}])


def test_counts_and_outputs_are_the_runs_own() -> None:
    """A slice an earlier run adopted counts nothing for the next; a joint retry's files count for its run."""
    assert tally([EARLIER, RETRIED], run="r2")["adopted"] == 1                 # c.py, by r2's joint retry
    assert tally([EARLIER, RETRIED], run="r1")["adopted"] == 3
    assert tally([PICKED], run="r2") == {"unit": "commits", "adopted": 1, "deferred": 0, "conflicted": 0,
                                         "waiting": 0, "exported": 0}   # the one pick r2 made, not the earlier one
    r = target_result(target(outcomes=[EARLIER, RETRIED], run="r2"))
    assert (r["status"], r["outputs_created"]) == ("success", ["c.py"])
    nothing_new = target_result(target(outcomes=[EARLIER, CONFLICTED], run="r3"))
    assert nothing_new["status"] == "failed" and nothing_new["outputs_created"] == []   # nothing landed by r3


def test_the_summary_carries_the_runs_own_status_after_the_seeds_keys() -> None:
    s = summary([target(outcomes=[ADOPTED])], "t", run={"status": "partial", "message": "post-sync check failed"})
    assert list(s)[-2:] == ["status", "message"] and (s["status"], s["successful"]) == ("partial", 1)
