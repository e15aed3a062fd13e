"""Slice names and the commands that carry them, on the vendored-addons fork with a team edit upstream also
changed: a person's command acts on the plan that printed it (``batch_size=`` or not), a printed re-run
carries the ``batch_size=`` that named its slice, and a person's edited conflict file follows its path into
whichever slice holds it after a new plan — never orphaned, never written over."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import commit_tree, run_doit, write_config
from slicekit import plan, read, slice_of, tree
from addonskit import Vendored, build, config

EDITED = "addons/oca/web/web_tools/models/web_tools.py"
MINE = b"class WebTools:\n    version = '2'  # team: merged by hand\n"


@pytest.fixture
def conflicted(tmp_path: Path) -> Vendored:
    """The team edits the line upstream changed in web_tools: a 3-way conflict for a person."""
    v = build(tmp_path)
    files = {p: data for p, (_, data) in tree(v.fork, "main").items()}
    files[EDITED] = b"class WebTools:\n    version = '1-team'\n"
    commit_tree(v.fork, files, message="team: web_tools", tick=20)
    return v


def ran(result) -> set[str]:  # noqa: ANN001
    return {task for task, state in result.status().items() if state == "ran"}


def printed(text: str, task: str) -> list[str]:
    """The backticked ``doit <task>:…`` command in a report's next step, as argv."""
    [command] = re.findall(rf"`(doit {task}:[^`]*)`", text)
    return shlex.split(command)[1:]


def conflict_of(v: Vendored, name: str) -> dict:
    [c] = [c for c in read(v.reports / "slices" / name / "outcome.json")["conflicts"] if c["path"] == EDITED]
    return c


def edit_conflict(v: Vendored, name: str) -> Path:
    path = v.reports / "slices" / name / "conflicts" / EDITED
    assert b"<<<<<<<" in path.read_bytes()
    path.write_bytes(MINE)
    return path


def test_the_printed_resolve_works_after_a_batch_size_run_and_re_plans_nothing(conflicted: Vendored) -> None:
    v = conflicted
    first = run_doit(v.workspace, "batch_size=1")
    assert first.returncode == 2, first.stdout + first.stderr
    name = slice_of(v, EDITED)
    assert plan(v)["batch_size"] == 1 and len(plan(v)["slices"][0]["files"]) == 1
    edit_conflict(v, name)
    before = (v.reports / "plan.json").read_bytes()

    command = printed(conflict_of(v, name)["next"], "resolve")
    assert command == [f"resolve:{name}"]                      # a person's command needs no option
    resolved = run_doit(v.workspace, *command)

    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert not {"fetch:web", "drift:web", "plan"} & ran(resolved)   # the plan that printed it, as it stands
    assert (v.reports / "plan.json").read_bytes() == before
    assert tree(v.fork, "refs/heads/sync/upstream")[EDITED][1] == MINE
    # the next plain run plans with the config's slice size and keeps the person's version
    after = run_doit(v.workspace)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "batch_size" not in plan(v) and slice_of(v, EDITED) != name
    assert tree(v.fork, "refs/heads/sync/upstream")[EDITED][1] == MINE


def test_an_edited_conflict_follows_its_path_into_the_new_plan(conflicted: Vendored) -> None:
    v = conflicted
    assert run_doit(v.workspace, "batch_size=1").returncode == 2
    old = slice_of(v, EDITED)
    edited = edit_conflict(v, old)

    again = run_doit(v.workspace)                               # a plain run before resolving: a new plan

    assert again.returncode == 2, again.stdout + again.stderr
    new = slice_of(v, EDITED)
    assert new != old                                           # the path is in a slice of another name now
    moved = v.reports / "slices" / new / "conflicts" / EDITED
    assert moved.read_bytes() == MINE and not edited.exists()   # moved whole, not written over
    assert f"{new}: your edit of {EDITED} (begun as {old}'s conflict) moved to" in again.stdout
    command = printed(conflict_of(v, new)["next"], "resolve")
    assert command == [f"resolve:{new}"]
    resolved = run_doit(v.workspace, *command)
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert tree(v.fork, "refs/heads/sync/upstream")[EDITED][1] == MINE
    assert run_doit(v.workspace).returncode == 0


def test_a_printed_re_run_carries_the_batch_size_that_named_its_slice(tmp_path: Path) -> None:
    v = build(tmp_path)
    cfg = config(checks=[{"name": "no-charts", "run": "! test -d addons/oca/web/web_chart",
                          "when": ["addons/oca/web/web_chart/**"]}])
    write_config(v.workspace, cfg)
    first = run_doit(v.workspace, "batch_size=2")
    assert first.returncode == 2, first.stdout + first.stderr
    name = slice_of(v, "addons/oca/web/web_chart/__manifest__.py")
    deferral = read(v.reports / "slices" / name / "outcome.json")["deferred"][0]
    command = printed(deferral["next"], "validate")
    assert command == [f"validate:{name}", "batch_size=2"]
    files = [s["files"] for s in plan(v)["slices"] if s["name"] == name]

    rerun = run_doit(v.workspace, *command)                     # the same slice: the plan is not re-cut

    assert rerun.returncode == 2, rerun.stdout + rerun.stderr
    assert [s["files"] for s in plan(v)["slices"] if s["name"] == name] == files
    assert "plan" not in ran(rerun)
    assert rerun.status()[f"validate:{name}"] == "up to date"   # that slice, inputs unchanged: nothing to run
    bare = run_doit(v.workspace, f"validate:{name}")             # without the option the plan is re-cut
    assert "plan" in ran(bare)
    assert [s["files"] for s in plan(v)["slices"] if s["name"] == name] != files


def test_a_sources_slices_keep_their_names_and_commands_across_another_schedules_run(conflicted: Vendored) -> None:
    v = conflicted
    assert run_doit(v.workspace).returncode == 2
    name = slice_of(v, EDITED)
    assert name.startswith("slice-web-")
    command = printed(conflict_of(v, name)["next"], "resolve")
    other = run_doit(v.workspace, "sources=sale")              # the other schedule: it plans only sale
    assert other.returncode == 0, other.stdout + other.stderr
    assert {s["source"] for s in plan(v)["slices"]} == {"sale"}
    assert conflict_of(v, name)["path"] == EDITED              # web's outcome files were not renamed over
    edit_conflict(v, name)

    resolved = run_doit(v.workspace, *command)                 # found in web's own part of the plan

    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert tree(v.fork, "refs/heads/sync/upstream")[EDITED][1] == MINE
