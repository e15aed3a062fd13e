"""Verification thresholds and drift gates (pure): numbers in, verdicts out.

``tasks.config`` reads the ``verify:`` and ``drift_gates:`` keys (one parser, one set of messages);
this module judges what their commands print and what drift measured.

A verification runs a command (the engine does that) and is judged here: its exit code, and
the *last number it prints* against ``expected_min`` / ``expected_max``. A drift gate compares
the numbers ``drift`` measured with ``drift_gates`` limits, before any slice is touched.

What counts as a number (``last_number``), exactly:

1. ANSI escape sequences (colours, cursor moves, OSC titles and links) are removed first.
2. The text is cut into fields at whitespace (``\\r`` of progress bars included) and at
   ``,`` ``;`` ``=`` ``:`` — so ``count=42``, ``"apps": 3,`` and CSV cells are fields.
3. Each field loses wrapping punctuation: leading ``( [ { < " '``, trailing
   ``) ] } > " ' . ! ? %`` — so ``(42)``, ``42.``, ``85%`` and ``{"n":7}`` count.
4. What is left counts when it is entirely ``[+-]?[0-9]+(\\.[0-9]+)?`` (ASCII digits): an
   integer or a decimal, optionally signed. Everything else is not a number: ``v2``,
   ``x86_64``, ``sha1``, ``3f9a1c2`` (a hash), ``1.2.3`` (a version), ``0.12s`` (a unit glued
   on), ``1e5``, ``.5``, ``nan``, dates like ``2024-01-05``; ``1,234`` is two numbers (the
   comma separates), and a path like ``oca/2/x`` holds none.
5. The last field that counts wins; none at all is "printed no number".

Only stdout is read: stderr carries diagnostics and progress, not the answer.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and the two-byte escapes (ESC x)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_FIELD_SEP = re.compile(r"[\s,;=:]+")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_LEADING, _TRAILING = "([{<\"'", ")]}>\"'.!?%"


def strip_ansi(text: str) -> str:
    r"""Remove terminal escape sequences.

    >>> strip_ansi("\x1b[1;32m42\x1b[0m modules")
    '42 modules'
    """
    return _ANSI.sub("", text)


def last_number(text: str) -> Decimal | None:
    r"""The last number ``text`` prints (see the module docstring for what counts), or None.

    >>> last_number("found 12 repos\n\x1b[32m  130\x1b[0m\n"), last_number("coverage: 85.5%"), last_number("v1.2.3")
    (Decimal('130'), Decimal('85.5'), None)
    """
    for line in reversed(strip_ansi(text).splitlines()):  # a field never spans lines: the last line with one wins
        found = _last_in_line(line)
        if found is not None:
            return Decimal(found)
    return None


def _last_in_line(line: str) -> str | None:
    found = None
    for field in _FIELD_SEP.split(line):
        field = field.lstrip(_LEADING).rstrip(_TRAILING)
        if _NUMBER.fullmatch(field):
            found = field
    return found


# --- verification ---------------------------------------------------------------------

@dataclass(frozen=True)
class Verify:
    """One ``verify:`` entry: run ``run``; pass when the exit code and the last number fit."""

    name: str
    run: str
    expected_exit_code: int = 0
    expected_min: Decimal | None = None
    expected_max: Decimal | None = None


@dataclass(frozen=True)
class Verdict:
    """A verification's result: ``reason`` is one line for reports and the ledger."""

    name: str
    passed: bool
    exit_code: int
    value: Decimal | None
    reason: str


def judge(spec: Verify, exit_code: int, stdout: str) -> Verdict:
    """Judge one run of ``spec.run``: the exit code first, then the last number against the bounds.

    >>> v = Verify("modules", "find . -name __manifest__.py | wc -l", expected_min=Decimal(100))
    >>> judge(v, 0, "87\\n").reason
    "verify 'modules': printed 87, below expected_min 100"
    >>> judge(v, 0, "130\\n").passed, judge(v, 1, "130").reason
    (True, "verify 'modules': exit code 1, expected 0")
    """
    value = last_number(stdout)
    problem = _problem(spec, exit_code, value)
    return Verdict(spec.name, problem is None, exit_code, value,
                   f"verify {spec.name!r}: {problem or _fine(spec, exit_code, value)}")


def _problem(spec: Verify, exit_code: int, value: Decimal | None) -> str | None:
    if exit_code != spec.expected_exit_code:
        return f"exit code {exit_code}, expected {spec.expected_exit_code}"
    if spec.expected_min is None and spec.expected_max is None:
        return None
    if value is None:
        return f"printed no number to compare with {_bounds_text(spec)} (the last number on stdout counts)"
    if spec.expected_min is not None and value < spec.expected_min:
        return f"printed {value}, below expected_min {spec.expected_min}"
    if spec.expected_max is not None and value > spec.expected_max:
        return f"printed {value}, above expected_max {spec.expected_max}"
    return None


def _fine(spec: Verify, exit_code: int, value: Decimal | None) -> str:
    if spec.expected_min is None and spec.expected_max is None:
        return f"exit code {exit_code} as expected"
    return f"printed {value}, within {_bounds_text(spec)}"


def _bounds_text(spec: Verify) -> str:
    parts = [f"expected_min {spec.expected_min}" if spec.expected_min is not None else "",
             f"expected_max {spec.expected_max}" if spec.expected_max is not None else ""]
    return " and ".join(p for p in parts if p)


# --- drift gates ----------------------------------------------------------------------

# limit -> (the number it bounds, how a person reads it, what brings the number down)
GATES: dict[str, tuple[str, str, str]] = {
    "max_both_changed": ("both_changed", "paths changed by both the fork and upstream",
                         "sync more often, or upstream the fork's changes to those paths"),
    "max_conflicts": ("conflicts", "paths whose 3-way merge conflicts",
                      "resolve or drop the fork's edits to those paths"),
    "max_upstream_paths": ("upstream_paths", "paths upstream changed",
                           "sync more often, or narrow the source's paths"),
    "max_behind_commits": ("behind_commits", "upstream commits since the base",
                           "sync more often, or set the source's base nearer its ref"),
}


@dataclass(frozen=True)
class Trip:
    """A drift gate that stopped the run: which limit, the number and the limit."""

    limit: str
    value: int
    maximum: int
    message: str


def check_drift(gates: Mapping[str, int], numbers: Mapping[str, int], key: str = "drift_gates") -> tuple[Trip, ...]:
    """The gates ``numbers`` exceed, in ``GATES`` order; empty when the run may go on.

    ``numbers`` holds what drift measured, keyed by the limit's name without ``max_``
    (``both_changed``, ``conflicts``, ``upstream_paths``, ``behind_commits``). A number a set
    gate needs but ``numbers`` lacks is the caller's bug (``ValueError``), never a pass.

    >>> trip, = check_drift({"max_conflicts": 2, "max_behind_commits": 900}, {"conflicts": 5, "behind_commits": 40})
    >>> trip.limit, trip.value, trip.maximum
    ('max_conflicts', 5, 2)
    >>> trip.message[:77]
    "drift gate 'drift_gates.max_conflicts' stopped the run: 5 paths whose 3-way m"
    """
    trips = []
    for limit, (number, what, remedy) in GATES.items():
        if limit not in gates:
            continue
        if number not in numbers:
            raise ValueError(f"drift gate {limit}: no {number!r} among the numbers given ({sorted(numbers)})")
        value, maximum = numbers[number], gates[limit]
        if value > maximum:
            trips.append(Trip(limit, value, maximum,
                              f"drift gate '{key}.{limit}' stopped the run: {value} {what}, the limit is "
                              f"{maximum}; {remedy}, or raise {key}.{limit} to {value} or more"))
    return tuple(trips)
