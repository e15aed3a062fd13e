"""The reports say when a Docker engine failed under a check and the check ran again on another: the slice
report and the wave report each get an "Engines" section, from the outcome (and the baseline) alone."""
from __future__ import annotations

from checks.model import PASSED, Result
from tasks.core.outcome import Attempt, Outcome, Status
from tasks.report.reports import engine_notes, slice_markdown, wave_markdown

NOTE = ("ran on engine 'first' (unix:///var/run/docker.sock) after engine 'build-2' (ssh://ci@build-2) stopped "
        "answering while 'unit' ran")


def outcome(*results: Result) -> Outcome:
    attempt = Attempt(1, ("pkg/a.txt",), "abc123", True, results=tuple(r.to_json() for r in results))
    return Outcome("slice-1", "b", "f" * 40, Status.ADOPTED, "a" * 40, files=({"path": "pkg/a.txt",
                   "class": "upstream-changed", "bucket": "pkg"},), adopted=("pkg/a.txt",), attempts=(attempt,),
                   runs=1)


def test_a_check_that_moved_is_named_in_the_slice_and_wave_reports() -> None:
    moved = Result("unit", PASSED, 8.0, engine="first").moved(NOTE)
    o = outcome(moved, Result("lint", PASSED, 1.0, engine="build-2"))
    assert engine_notes(o) == [f"attempt 1, check `unit`: {NOTE}"]
    report = slice_markdown(o, "/fork", "sync/upstream")
    assert "## Engines" in report and f"- attempt 1, check `unit`: {NOTE}" in report
    assert NOTE in report.split("## Checks")[1]            # and in the check's own row, as its message says
    baseline = {"tip": "a" * 40, "results": [Result("unit", PASSED, engine="first").moved(NOTE).to_json()]}
    wave = wave_markdown("b", {"slice-1": o}, "/fork", "sync/upstream", baseline)
    assert f"- baseline, check `unit`: {NOTE}" in wave and f"- slice-1, attempt 1, check `unit`: {NOTE}" in wave


def test_no_engine_section_when_no_engine_failed() -> None:
    o = outcome(Result("unit", PASSED, 8.0, engine="first"))
    assert engine_notes(o) == []
    assert "## Engines" not in slice_markdown(o, "/fork", "sync/upstream")
    assert "## Engines" not in wave_markdown("b", {"slice-1": o}, "/fork", "sync/upstream")


def test_the_note_leaves_the_message_as_it_was_when_taken_off() -> None:
    failed = Result("unit", "failed", 3.0, message="exit code 1: make test")
    assert failed.moved(NOTE).message == f"exit code 1: make test; {NOTE}"
    assert failed.moved(NOTE).unmoved() == failed
    assert Result.from_json(failed.moved(NOTE).to_json()).rerun == NOTE


def test_a_check_of_the_runs_batch_that_moved_is_named_in_the_batch_slice_and_wave_reports() -> None:
    from dataclasses import replace

    from tasks.report.reports import batch_markdown

    line = f"attempt 2, check `unit`: {NOTE}"
    o = replace(outcome(), validated={"how": "batch", "run": "r1", "runs": 3, "slices": 2, "engines": [line]})
    other = replace(o, slice="slice-2")
    assert f"- in the run's batch, {line}" in slice_markdown(o, "/fork", "sync/upstream")
    wave = wave_markdown("b", {"slice-1": o, "slice-2": other}, "/fork", "sync/upstream")
    assert wave.count(f"- in the run's batch, {line}") == 1          # once for the batch, not once a slice
    assert f"- {line}" in batch_markdown({"run": "r1", "engines": [line], "attempts": []})
