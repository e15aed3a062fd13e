"""``doit history`` output: the ledger's runs as markdown, plain text and JSON."""
from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from tasks.errors import ForkwaveError
from tasks.report import history
from tasks.report.history import COLUMNS, render, rows
from tasks.report.ledger import Counts, Ledger, Run, Sync


def sync(sync_type: str = "wave-a", status: str = "success", **kw: object) -> Sync:
    values = {"run": "r1", "source": "oca", "sync_type": sync_type, "status": status,
              "started": "2026-01-01T10:00:00Z", "ended": "2026-01-01T10:00:42Z", "revision": "0123456789abcdef0123",
              "counts": Counts(3, 1, 0, 0), "error": None, "note": None, **kw}
    return Sync(**values)  # type: ignore[arg-type]


def run(*syncs: Sync, **kw: object) -> Run:
    values = {"run": "r1", "started": "2026-01-01T10:00:00Z", "ended": "2026-01-01T10:01:00Z", "pid": 42,
              "machine": "m", "origin": "ledger", "error": None, "note": None, "syncs": syncs, **kw}
    return Run(**values)  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(history).failed == 0


def test_markdown_table() -> None:
    text = render([run(sync(), sync("push", "failed", error="push refused\nby the remote", counts=Counts(exported=2)),
                       recorded="partial", error="push refused")])
    head, rule, own, first, second = text.splitlines()
    assert head == "| " + " | ".join(COLUMNS) + " |"
    assert rule == "|---|---|---|---|---|---|---|---:|---:|---:|---:|---|"
    assert own == "| r1 | — | run | partial | 2026-01-01T10:00:00Z | 60 s |  |  |  |  |  | push refused |"
    assert first == "| r1 | oca | wave-a | success | 2026-01-01T10:00:00Z | 42 s | 0123456789ab | 3 | 1 | 0 | 0 |  |"
    assert second.endswith("| failed | 2026-01-01T10:00:00Z | 42 s | 0123456789ab | 0 | 0 | 0 | 2 "
                           "| push refused by the remote |")


@pytest.mark.parametrize(("note", "cell"), [
    ("a | b", "a \\| b"), ("back\\slash", "back\\\\slash"), ("one\ntwo\r\nthree", "one two three"),
    ("x" * 150, "x" * 99 + "…"),
])
def test_markdown_cells_stay_in_their_column(note: str, cell: str) -> None:
    line = render([run(sync(note=note))]).splitlines()[3]
    assert line.endswith(f"| {cell} |")


def test_error_and_note_share_the_note_column() -> None:
    assert rows([run(sync(status="failed", error="boom", note="interrupted"))])[1][-1] == "boom; interrupted"


def test_plain_table_aligns_columns() -> None:
    text = render([run(sync(), sync("wave-b", counts=Counts(120)))], "plain")
    lines = text.splitlines()
    assert lines[0].split() == list(COLUMNS)
    assert len({line.index("oca") for line in lines[2:]}) == 1                       # one column start
    assert lines[1].index(" run ") + 1 == lines[0].index("type")                     # the run's own line: type run
    adopted = [line[lines[0].index("adopted"):lines[0].index("adopted") + 7] for line in lines[2:]]
    assert adopted == ["      3", "    120"]                                          # numbers to the right
    assert "|" not in text


@pytest.mark.parametrize(("live", "pid", "status"), [
    (True, 42, "running"), (False, 42, "running (pid 42 gone: the next run closes it)"),
    (False, None, "running (gone)"), (None, 42, "running (elsewhere)"),
])
def test_a_running_row_says_what_is_known_of_its_process(live: bool | None, pid: int | None, status: str) -> None:
    r = run(sync(status="running", ended=None), ended=None, live=live, pid=pid)
    assert rows([r])[1][3] == status and rows([r])[1][5] == ""                       # no duration yet
    assert rows([r])[0][3] == status                                                 # the run itself, likewise


def test_a_run_between_its_waves_is_running_and_says_where_it_is() -> None:
    """Its wave a closed as a success, wave b not begun: the run is running, not a success."""
    r = run(sync(), ended=None, live=True, recorded="running", phase="verify web")
    assert rows([r])[0] == ["r1", "—", "run", "running", "2026-01-01T10:00:00Z", "", "", "", "", "", "",
                            "now: verify web"]
    assert json.loads(render([r], "json"))["runs"][0]["status"] == "running"


def test_a_run_without_syncs_has_a_line() -> None:
    assert rows([run(error="config: bad key", recorded="failed")]) == [
        ["r1", "—", "run", "failed", "2026-01-01T10:00:00Z", "60 s", "", "", "", "", "", "config: bad key"]]


def test_a_run_of_an_earlier_version_takes_its_status_from_its_syncs() -> None:
    assert run(sync(), sync("wave-b", "failed")).status == "partial"            # recorded: None
    assert run(sync("wave-b", "failed"), recorded="success").status == "success"   # its own word wins


@pytest.mark.parametrize(("started", "ended", "took"), [
    ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z", "0 s"), ("2026-01-01T10:00:00Z", "2026-01-01T10:01:59Z", "119 s"),
    ("2026-01-01T10:00:00Z", "2026-01-01T10:30:00Z", "30 min"),
    ("2026-01-01T10:00:00Z", "2026-01-01T13:00:00Z", "3.0 h"),
    ("", "2026-01-01T10:00:00Z", ""), ("2026-01-01T10:00:00Z", None, ""),
])
def test_took(started: str, ended: str | None, took: str) -> None:
    assert history._took(started, ended) == took


def test_json_has_every_run_and_sync() -> None:
    data = json.loads(render([run(sync(), sync("push", "partial")), run(run="r0")], "json"))
    assert [r["run"] for r in data["runs"]] == ["r1", "r0"]
    first = data["runs"][0]
    assert (first["status"], first["pid"], first["live"], first["phase"]) == ("partial", 42, None, None)
    assert first["syncs"][0] == {"source": "oca", "sync_type": "wave-a", "status": "success",
                                 "started": "2026-01-01T10:00:00Z", "ended": "2026-01-01T10:00:42Z",
                                 "revision": "0123456789abcdef0123", "unit": "files", "adopted": 3, "deferred": 1,
                                 "conflicted": 0, "waiting": 0, "exported": 0, "error": None, "note": None}
    assert json.loads(render([], "json")) == {"runs": []}


def test_no_runs_yet_and_unknown_formats() -> None:
    assert render([], "markdown", where="x/ledger.sqlite") == "no runs recorded yet (x/ledger.sqlite)\n"
    assert render([run(sync())], None).startswith("| run |")                          # markdown by default
    assert render([run(sync())], " PLAIN ").startswith("run ")
    with pytest.raises(ForkwaveError, match="^format=yaml: use markdown, plain or json$"):
        render([], "yaml")


def test_render_what_a_real_ledger_holds(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "reports") as ledger:
        ledger.begin("r1", lock=tmp_path / "lock")
        ledger.close_sync("r1", "oca", "wave-a", "success", revision="abc", counts={"adopted": 2})
        ledger.finish("r1")
        text = render(ledger.recent(), "markdown")
    assert "| r1 | oca | wave-a | success |" in text and "| abc | 2 | 0 | 0 | 0 |" in text
