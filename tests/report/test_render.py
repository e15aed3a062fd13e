"""Markdown renders: inline code that survives any path, well-formed tables, escaped pipes."""
from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import pure_config
from tasks.config import Wave
from tasks.core.classify import build_report
from tasks.core.plan import plan_waves
from tasks.report.render import code, drift_board, table, wave_manifest

ODD_PATHS = ["a|b.txt", "dir with space/x.js", "tick`name.md", "double``tick.md", " lead.txt", "café/日本.md",
             "new\nline.txt", "pipe\\|escaped.txt"]


@pytest.mark.parametrize("text,expected", [
    ("plain.txt", "`plain.txt`"),
    ("a|b", "`a\\|b`"),
    ("a`b", "`` a`b ``"),
    (" lead", "`  lead `"),
    ("new\nline", "`new line`"),
    ("a``b", "``` a``b ```"),
    ("`start", "`` `start ``"),
    ("café/日本.md", "`café/日本.md`"),
])
def test_code(text: str, expected: str) -> None:
    assert code(text) == expected


def code_span_content(md: str) -> str:
    """What GitHub shows for one inline code span (CommonMark: strip one space each side if both)."""
    m = re.fullmatch(r"(`+)(.*)\1", md, re.S)
    assert m, f"not a code span: {md!r}"
    inner = m.group(2)
    # a backtick run as long as the fence would close the span early
    assert len(m.group(1)) not in {len(run) for run in re.findall(r"`+", inner)}, f"span closes early: {md!r}"
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip(" "):
        inner = inner[1:-1]
    return inner.replace("\\|", "|")


@pytest.mark.parametrize("path", ODD_PATHS)
def test_code_spans_survive_any_path(path: str) -> None:
    assert code_span_content(code(path)) == path.replace("\n", " ")
    assert code(path, cell=False) == code(path).replace("\\|", "|")  # no escaping outside tables


def cells(row: str) -> list[str]:
    """Split a GitHub table row on pipes that are not escaped."""
    assert row.startswith("| ") and row.endswith(" |"), row
    return [c.strip() for c in re.split(r"(?<!\\)\|", row[1:-1])]


def tables(md: str) -> list[list[str]]:
    """Every table of a markdown document, as its list of lines."""
    found, current = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found + ([current] if current else [])


def assert_well_formed(md: str) -> int:
    all_tables = tables(md)
    for lines in all_tables:
        width = len(cells(lines[0]))
        assert all(re.fullmatch(r"-{3,}:?", c) for c in cells(lines[1])), lines[1]
        for line in lines:
            assert len(cells(line)) == width, f"row has the wrong number of cells: {line!r}"
    return len(all_tables)


def test_table_alignment_and_shape() -> None:
    md = table(["name", "count"], [["`a\\|b`", 1], ["x", 22]], "lr")
    assert md.splitlines() == ["| name | count |", "| --- | ---: |", "| `a\\|b` | 1 |", "| x | 22 |"]
    assert assert_well_formed(md) == 1


A = ("100644", "a" * 40)
B = ("100644", "b" * 40)


def odd_report() -> dict[str, Any]:
    cfg = pure_config(deny=("**/.env",))
    triples = {p: (A, B, A) for p in ODD_PATHS}                # upstream-changed
    triples["pkg|x/.env"] = (None, A, None)                    # blocked
    triples["packages/a|b/src/x.js"] = (None, A, None)         # upstream-added, bucket `packages/a|b`
    report = build_report(cfg, triples, fork_files=len(ODD_PATHS), three_way=True)
    return report | {"upstream": {"ref": "ma|in", "sha": "f" * 40}, "fork": {"branch": "main", "sha": "e" * 40},
                     "base": {"rev": "v1", "sha": "d" * 40}, "warnings": ["map: upstream x lands on y"]}


def test_drift_board_tables_are_well_formed_with_odd_paths() -> None:
    md = drift_board(odd_report(), "https://***@example.com/up.git")
    assert assert_well_formed(md) == 2
    assert "`packages/a\\|b`" in md                      # bucket named after a path with a pipe
    assert "`a\\|b.txt`" in md                           # sample paths escaped too
    assert "- `pkg|x/.env`" in md                        # outside a table a pipe needs no escape
    assert "at `ma|in`" in md
    assert md.startswith("# Drift report and priority board\n")
    assert "**9 paths carry upstream work**" in md


def test_drift_board_ranks_buckets_by_upstream_work_and_marks_p0() -> None:
    cfg = pure_config(waves=(Wave("a", ("core",)), Wave("b", ("*",))))
    triples = {"core/x": (A, B, A), "ui/1": (A, B, A), "ui/2": (A, B, A), "ui/3": (A, B, A), "extra/x": (None, None, A)}
    report = build_report(cfg, triples, fork_files=4, three_way=True) | {
        "upstream": {"ref": "main", "sha": "f" * 40}, "fork": {"branch": "main", "sha": "e" * 40}, "base": None}
    md = drift_board(report, "/srv/up.git")
    rows = [cells(line) for line in tables(md)[1][2:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("1", "`ui`", "3"), ("2", "**`core`** 🔴 P0", "1"),
                                                  ("3", "`extra`", "0")]
    assert "none given, so a 2-way comparison" in md


def test_wave_manifest_is_well_formed() -> None:
    report = odd_report()
    waves = (Wave("a", (), ("**/*.md",)), Wave("b", ("*",)), Wave("c", ("nothing",)))
    plan = plan_waves(report, waves, max_files=3)
    md_a = wave_manifest(plan, "a")
    assert md_a.startswith("# Wave a: 1 slices, 3 files\n")
    assert assert_well_formed(md_a) == 1
    assert "`` tick`name.md ``" in md_a
    md_b = wave_manifest(plan, "b")
    assert assert_well_formed(md_b) >= 2 and "`a\\|b.txt`" in md_b
    assert "Nothing to do in this wave." in wave_manifest(plan, "c")


def test_p0_comes_from_upstream_work_only_and_the_board_lists_what_needs_a_person() -> None:
    cfg = pure_config(waves=(Wave("a", ("server",), ("**/auth/**",)), Wave("b", ("*",))),
                      deny=(".env", "**/secrets/**"))
    triples = {
        "front/src/auth/login.js": (A, A, B),          # fork-changed under **/auth/**: nothing to sync
        "server/db/upgrade/v2.ts": (A, B, A),          # upstream-changed in a bucket wave a names
        "ui/src/app.js": (A, B, ("100644", "c" * 40)),  # both-changed
        "ui/src/menu.js": (A, ("100644", "c" * 40), B),  # both-changed
        "config/Secrets/key.pem": (None, A, None),     # blocked (deny ignores case)
    }
    report = build_report(cfg, triples, fork_files=5, three_way=True) | {
        "upstream": {"ref": "main", "sha": "f" * 40}, "fork": {"branch": "main", "sha": "e" * 40}, "base": None}
    assert report["critical_buckets"] == ["server"]             # not `front`: its auth change is the fork's own
    md = drift_board(report, "/srv/up.git", cfg.deny)
    assert "**`server`** 🔴 P0" in md and "**`front`** 🔴 P0" not in md
    both = md[md.index("## Changed on both sides (2)"):]
    assert "- `ui/src/app.js`" in both and "- `ui/src/menu.js`" in both and "doit resolve:" in both
    blocked = md[md.index("## Blocked (1)"):]
    assert "- `config/Secrets/key.pem` (matched by `**/secrets/**`)" in blocked
    assert "remove the pattern that matches it from `deny`" in blocked
    assert assert_well_formed(md) == 2
