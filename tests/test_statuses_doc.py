"""docs/reference/statuses.md is the table of every status forkwave gives: each slice status of ``Status`` and each run
and sync status of ``tasks.core.runstatus`` is in it, as the code means it, and every row names a real one."""
from __future__ import annotations

import re
from pathlib import Path

from tasks.core import runstatus
from tasks.core.outcome import SETTLED, STATES, Status
from tasks.report.reports import NOT_RUN

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reference" / "statuses.md"


def table(heading: str) -> list[list[str]]:
    """The rows of the first table under ``## heading`` (cells stripped, the header and rule left out)."""
    section = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def word(cell: str) -> str:
    found = re.fullmatch(r"`([^`]+)`", cell)
    assert found, f"{cell!r}: a status is written in backticks"
    return found.group(1)


def test_every_slice_status_is_in_the_table_as_the_code_means_it() -> None:
    rows = {word(r[0]): r for r in table("A slice's status")}
    assert set(rows) == {s.value for s in Status} | {NOT_RUN}          # each one, and nothing that is none
    for status in Status:
        _, settled, counted, when = rows[status.value]
        assert (settled == "yes") == (status in SETTLED), status
        assert counted == STATES[status], status                        # what the last line counts it as
        assert when, status


def test_every_run_status_is_in_the_table() -> None:
    rows = [word(r[0]) for r in table("The status of a run, and of each sync it works on")]
    assert sorted(rows) == sorted(runstatus.STATUSES) and len(rows) == len(set(rows))


def test_the_table_names_the_surfaces_that_say_them() -> None:
    surfaces = " ".join(r[0] for r in table("Where each is given"))
    for name in ("ledger", "doit history", "run-summary.json", "summary.json", "last line"):
        assert name in surfaces


def test_the_readme_and_the_architecture_link_to_it() -> None:
    assert "(docs/reference/statuses.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "statuses.md" in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
