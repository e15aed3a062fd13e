"""Verification thresholds and drift gates: the last number a command prints, verdicts, gate trips."""
from __future__ import annotations

import doctest
from decimal import Decimal

import pytest

from tasks.core import thresholds
from tasks.core.thresholds import Verify, check_drift, judge, last_number, parse_drift_gates, parse_verify
from tasks.errors import ForkwaveError


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


def test_parse_verify_reads_the_seed_shapes() -> None:
    specs = parse_verify([
        {"name": "modules", "run": "find . -name __manifest__.py | wc -l", "expected_min": 100},
        {"name": "json", "run": "jq -e '.apps | length > 0' apps.json", "expected_exit_code": 0},
        {"name": "ratio", "run": "echo 0.3", "expected_min": 0.1, "expected_max": 0.9},
    ])
    assert [s.name for s in specs] == ["modules", "json", "ratio"]
    assert specs[0].expected_min == Decimal(100) and specs[0].expected_exit_code == 0
    assert specs[2].expected_min == Decimal("0.1")           # the number as written, not 0.1000000000000000055
    assert parse_verify(None) == ()


@pytest.mark.parametrize(("raw", "message"), [
    ({"name": "x"}, "key 'sources.2.verify': must be a list"),
    (["x"], "key 'sources.2.verify.0': must be a mapping with name and run"),
    ([{"run": "x"}], "key 'sources.2.verify.0.name': must be a non-empty string"),
    ([{"name": "a", "run": " "}], "key 'sources.2.verify.0.run': must be a non-empty string"),
    ([{"name": "a", "run": "x", "expected_exit_code": 256}], "key 'sources.2.verify.0.expected_exit_code': must be"),
    ([{"name": "a", "run": "x", "expected_exit_code": True}], "key 'sources.2.verify.0.expected_exit_code': must be"),
    ([{"name": "a", "run": "x", "expected_exit_code": "0"}], "key 'sources.2.verify.0.expected_exit_code': must be"),
    ([{"name": "a", "run": "x", "expected_min": "100"}], "key 'sources.2.verify.0.expected_min': must be a finite"),
    ([{"name": "a", "run": "x", "expected_max": float("nan")}],
     "key 'sources.2.verify.0.expected_max': must be a finite"),
    ([{"name": "a", "run": "x", "expected_min": 3, "expected_max": 1}],
     "key 'sources.2.verify.0': expected_min 3 is above expected_max 1; swap them"),
    ([{"name": "a", "run": "x", "command": "y"}], "key 'sources.2.verify.0.command': unknown key"),
    ([{"name": "a", "run": "x"}, {"name": "a", "run": "y"}], "key 'sources.2.verify.1.name': 'a' is used twice"),
])
def test_parse_verify_errors_name_the_key(raw: object, message: str) -> None:
    with pytest.raises(ForkwaveError) as err:
        parse_verify(raw, "sources.2.verify")  # type: ignore[arg-type]
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


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


@pytest.mark.parametrize(("raw", "message"), [
    ([1], "key 'drift_gates': must be a mapping"),
    ({"max_conflict": 1}, "key 'drift_gates.max_conflict': unknown drift gate; use one of max_behind_commits"),
    ({"max_conflicts": -1}, "key 'drift_gates.max_conflicts': must be a whole number 0 or more"),
    ({"max_conflicts": 1.5}, "key 'drift_gates.max_conflicts': must be a whole number"),
    ({"max_conflicts": True}, "key 'drift_gates.max_conflicts': must be a whole number"),
])
def test_parse_drift_gates_errors(raw: object, message: str) -> None:
    with pytest.raises(ForkwaveError, match="^" + message.replace("(", r"\(")):
        parse_drift_gates(raw)  # type: ignore[arg-type]


def test_parse_drift_gates_null_switches_a_gate_off() -> None:
    assert parse_drift_gates({"max_conflicts": None, "max_behind_commits": 0}) == {"max_behind_commits": 0}
    assert parse_drift_gates(None) == {}
