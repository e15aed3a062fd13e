"""Verification thresholds and drift gates: the last number a command prints, verdicts, gate trips."""
from __future__ import annotations

import doctest
from decimal import Decimal

import pytest

from tasks.core import thresholds
from tasks.core.thresholds import Verify, check_drift, judge, last_number


def test_doctests() -> None:
    assert doctest.testmod(thresholds).failed == 0


@pytest.mark.parametrize(("output", "expected"), [
    ("130\n", "130"),                                         # find | wc -l
    ("     130\n", "130"),                                    # BSD wc pads
    ("  12 a.txt\n 118 b.txt\n 130 total\n", "130"),          # wc -l with several files: the total is last
    ("found 30 repos\n", "30"),                               # words after the number do not hide it
    ("modules: 42", "42"), ("count=42", "42"), ('{"apps": 3}', "3"), ('{"n":7,"ok":true}', "7"),
    ("coverage 85%", "85"), ("TOTAL 1234 200 83.79%", "83.79"), ("(42)", "42"), ("[1, 2, 3]", "3"),
    ("done: 5.", "5"), ("ratio 0.125!", "0.125"), ("'17'", "17"),
    ("-3\n", "-3"), ("delta +4", "4"), ("007", "7"),
    ("\x1b[1;32m42\x1b[0m\n", "42"),                          # colours
    ("\x1b[32m 42 \x1b[0m modules \x1b[2K\x1b[1G", "42"),      # colours, erase line, cursor moves
    ("\x1b]0;title 99\x07 12", "12"),                         # an OSC window title is not output
    ("\x1b]8;;https://x/5\x1b\\link\x1b]8;;\x1b\\ 6", "6"),   # an OSC 8 hyperlink
    ("10%\r50%\r100%\r", "100"),                              # a progress bar redrawn with \r
    ("1,234 modules", "234"),                                 # the comma separates: two numbers
    ("12 passed in 0.12s", "12"),                             # 0.12s has a unit glued on: not a number
    ("a;b;9", "9"), ("x\t8\t", "8"), ("7\u00a0items", "7"),  # tabs, a no-break space
    ("10 of 12 after v2.0.1", "12"),                          # a version is not a number
])
def test_last_number(output: str, expected: str) -> None:
    assert last_number(output) == Decimal(expected)


@pytest.mark.parametrize("output", [
    "", "\n\n", "no modules found\n", "v2", "x86_64", "sha1", "3f9a1c2 fix", "1.2.3", "0.12s", "12ms",
    "1e5", ".5", "nan", "inf", "2024-01-05", "oca/2/x", "٣", "１２", "--5", "+-5", "5-", "#42", "$5",
    "\x1b[31m\x1b[0m",
])
def test_no_number(output: str) -> None:
    assert last_number(output) is None


def test_the_last_number_wins_over_a_larger_earlier_one() -> None:
    assert last_number("9999 scanned\n3 kept\n") == 3
    assert last_number("7 found\nno more\n\n") == 7                   # lines after it without numbers


def test_a_long_output() -> None:
    lines = [f"./addons/oca/m{i}/__manifest__.py" for i in range(200_000)]
    assert last_number("\n".join([*lines, "\x1b[1m200000\x1b[0m", "done"])) == 200_000
    assert last_number("\n".join(lines)) is None


def spec(**kw: object) -> Verify:
    return Verify("modules", "find . -name __manifest__.py | wc -l", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "code", "out", "passed", "reason"), [
    ({}, 0, "", True, "exit code 0 as expected"),
    ({}, 1, "", False, "exit code 1, expected 0"),
    ({"expected_exit_code": 1}, 1, "", True, "exit code 1 as expected"),   # the seed's secret scan: no match
    ({"expected_exit_code": 1}, 0, "", False, "exit code 0, expected 1"),
    ({"expected_min": Decimal(100)}, 0, "130\n", True, "printed 130, within expected_min 100"),
    ({"expected_min": Decimal(100)}, 0, "100\n", True, "printed 100, within expected_min 100"),  # bounds included
    ({"expected_min": Decimal(100)}, 0, "87\n", False, "printed 87, below expected_min 100"),
    ({"expected_max": Decimal("0.5")}, 0, "0.75", False, "printed 0.75, above expected_max 0.5"),
    ({"expected_min": Decimal(1), "expected_max": Decimal(3)}, 0, "2", True,
     "printed 2, within expected_min 1 and expected_max 3"),
    ({"expected_min": Decimal(100)}, 0, "none found", False,
     "printed no number to compare with expected_min 100 (the last number on stdout counts)"),
    ({"expected_min": Decimal(100)}, 2, "130", False, "exit code 2, expected 0"),   # the exit code first
    ({"expected_min": Decimal(-5)}, 0, "-3", True, "printed -3, within expected_min -5"),
])
def test_judge(kw: dict[str, object], code: int, out: str, passed: bool, reason: str) -> None:
    verdict = judge(spec(**kw), code, out)
    assert (verdict.passed, verdict.reason) == (passed, f"verify 'modules': {reason}")
    assert verdict.exit_code == code and "\n" not in verdict.reason


def test_judge_reports_the_value_it_compared() -> None:
    assert judge(spec(expected_min=Decimal(1)), 0, "\x1b[33m12\x1b[0m").value == Decimal(12)


NUMBERS = {"both_changed": 12, "conflicts": 3, "upstream_paths": 400, "behind_commits": 80}


@pytest.mark.parametrize(("gates", "tripped"), [
    ({}, []),
    ({"max_both_changed": 12, "max_conflicts": 3, "max_upstream_paths": 400, "max_behind_commits": 80},
     []),                                                                    # at the limit is no trip
    ({"max_conflicts": 2}, [("max_conflicts", 3, 2)]),
    ({"max_conflicts": 0, "max_upstream_paths": 399}, [("max_conflicts", 3, 0), ("max_upstream_paths", 400, 399)]),
    ({"max_behind_commits": 79, "max_both_changed": 11},                      # reported in GATES order
     [("max_both_changed", 12, 11), ("max_behind_commits", 80, 79)]),
])
def test_check_drift(gates: dict[str, int], tripped: list[tuple[str, int, int]]) -> None:
    assert [(t.limit, t.value, t.maximum) for t in check_drift(gates, NUMBERS)] == tripped


def test_a_trip_says_which_limit_the_numbers_and_what_to_change() -> None:
    trip, = check_drift({"max_both_changed": 10}, NUMBERS, "sources.1.drift_gates")
    assert trip.message == (
        "drift gate 'sources.1.drift_gates.max_both_changed' stopped the run: 12 paths changed by both the fork "
        "and upstream, the limit is 10; sync more often, or upstream the fork's changes to those paths, or raise "
        "sources.1.drift_gates.max_both_changed to 12 or more")


def test_a_missing_number_is_a_bug_never_a_pass() -> None:
    with pytest.raises(ValueError, match="no 'conflicts'"):
        check_drift({"max_conflicts": 1}, {"both_changed": 0})
