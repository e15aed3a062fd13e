"""Batch first, on real repositories: everything a run lands judged at once; a search only when that fails.

The project has code in wave a and its tests in wave b — each module and its test pass only together, and
an API change reaches several callers — so a wave judged alone fails where the whole batch passes. The
check is pytest itself, with no ``junit:``: forkwave has it write JUnit, so a failure names its tests.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
import pytest

from conftest import commit_tree, git_out, run_doit
from slicekit import Repos, build, commits, outcome, read, slice_names, tree
from tasks.config import load_config
from tasks.engine import batch
from tasks.workspace import Workspace

PAIRS = 6


def project(upstream: bool, broken: bool = False) -> dict[str, str]:
    v = 2 if upstream else 1
    files = {"proj/__init__.py": "", "tests/__init__.py": "", "pytest.ini": "[pytest]\ntestpaths = tests\n",
             "proj/api.py": f"def {'load' if upstream else 'fetch'}(key):\n    return key.upper()\n"}
    for i in range(PAIRS):
        files[f"proj/mod{i}.py"] = f"VERSION = {v}\n"
        # named apart from the module (as a real suite's tests often are): no name couples them
        files[f"tests/test_part{i}.py"] = (f"from proj.mod{i} import VERSION\n\n\n"
                                           f"def test_v():\n    assert VERSION == {v}\n")
    for i in range(3):  # callers of the API: none works with the other side's api.py
        files[f"proj/use{i}.py"] = (f"from proj import api\n\n\ndef run():\n"
                                    f"    return api.{'load' if upstream else 'fetch'}('u{i}')\n")
        files[f"tests/test_flow{i}.py"] = (f"from proj.use{i} import run\n\n\n"
                                           f"def test_run():\n    assert run() == 'U{i}'\n")
    if broken:
        files["proj/mod2.py"] = "VERSION = 2\nraise RuntimeError('mod2 is broken upstream')\n"
    return files


def repos(root: Path, broken: bool = False) -> Repos:
    log = root / "runs.log"
    check = {"name": "suite", "run": f'echo "${{FORKWAVE_SLICE:-baseline}}" >> {log}; '
                                     f"{sys.executable} -m pytest -q -p no:cacheprovider"}
    code = {**project(False), **{p: t for p, t in project(True, broken).items() if p.startswith("proj/")}}
    # the package and its tests in separate upstream commits: co-change does not couple them either
    return build(root, project(False), project(True, broken), steps=[code], checks=[check], gates=["syntax"],
                 waves={"a": {"paths": ["proj/**"]}, "b": {"paths": ["tests/**"]}, "c": {"buckets": ["*"]}},
                 slices={"max_files": 4})


def runs(r: Repos) -> list[str]:
    log = r.root / "runs.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_passing_batch_lands_every_wave_as_its_own_commits_for_one_run(tmp_path: Path) -> None:
    r = repos(tmp_path)
    res = run_doit(r.workspace)
    assert res.returncode == 0, res.stdout + res.stderr
    assert runs(r) == ["batch"]                                           # the batch, once (it passes: no baseline)
    names = slice_names(r)
    assert len(names) > 3 and all(outcome(r, n)["status"] == "adopted" for n in names)
    for n in names:
        how = outcome(r, n)["validated"]
        assert how["how"] == "batch" and how["runs"] == 1 and outcome(r, n)["runs"] == 0
    # the playbook's order: wave a's commits first, each slice its own commit
    landed = [m for _, m in reversed(commits(r.fork, "main..sync/upstream"))]
    order = [next(line.split(": ", 1)[1] for line in m.splitlines() if line.startswith("Forkwave-Slice"))
             for m in landed if "Forkwave-Slice:" in m]
    assert order == names and [outcome(r, n)["wave"] for n in order] == sorted(outcome(r, n)["wave"] for n in order)
    record = read(r.reports / "batch.json")
    assert record["passed"] and record["runs"] == 1
    # the tip is the tree the batch judged, and each wave's record beside it (the judged tree itself never landed:
    # it was dropped with the run's private object directory, so its id is compared)
    assert tree_id_without(r.fork, "sync/upstream", ".forkwave") == record["tree"]
    wave = (r.reports / "wave-a" / "report.md").read_text()
    assert "in the run's batch" in wave and "[batch report](../batch/report.md)" in wave
    assert "Validated in the run's batch" in (r.reports / "slices" / names[0] / "report.md").read_text()
    again = run_doit(r.workspace)
    assert again.returncode == 0 and runs(r) == ["batch"]                # nothing changed: no run


def test_wave_a_alone_fails_where_the_batch_passes(tmp_path: Path) -> None:
    """The same project, asked for wave a only: code without its tests cannot land; the whole batch could."""
    r = repos(tmp_path)
    res = run_doit(r.workspace, "wave_a")
    assert res.returncode == 2, res.stdout + res.stderr
    wave_a = slice_names(r, "a")
    assert all(outcome(r, n)["adopted"] == [] for n in wave_a)            # every module fails its old test
    assert read(r.reports / "batch.json")["waves"] == ["a"]


def test_a_failing_batch_is_searched_from_its_failing_tests_and_the_rest_lands(tmp_path: Path) -> None:
    r = repos(tmp_path, broken=True)
    res = run_doit(r.workspace)
    assert res.returncode == 2, res.stdout + res.stderr
    record = read(r.reports / "batch.json")
    # the broken module, and the new test that needs its new version: everything else passes together
    assert not record["passed"] and [d["files"] for d in record["deferred"]] == [["proj/mod2.py"],
                                                                                ["tests/test_part2.py"]]
    assert "tests.test_part2" in record["deferred"][0]["reason"]          # pytest's own JUnit, unasked
    assert record["attempts"][1]["passed"] and record["attempts"][1]["files"] == record["files"] - 2  # suspects first
    n = record["files"]
    assert len(runs(r)) <= math.ceil(math.log2(n)) + 3
    synced = tree(r.fork, "sync/upstream")
    assert synced["proj/mod2.py"][1] == b"VERSION = 1\n" and synced["tests/test_part2.py"][1].endswith(b"== 1\n")
    assert synced["proj/use0.py"][1] == project(True)["proj/use0.py"].encode()   # the API change landed whole
    holder = next(n for n in slice_names(r) if "proj/mod2.py" in [f["path"] for f in outcome(r, n)["files"]])
    out = outcome(r, holder)
    assert out["status"] == "split" and out["validated"]["how"] == "batch"
    assert [d["files"] for d in out["deferred"]] == [["proj/mod2.py"]] and out["deferred"][0]["batch"]


def test_a_persons_commit_between_batch_slices_makes_the_batch_stand_aside(tmp_path: Path) -> None:
    r = repos(tmp_path)
    assert run_doit(r.workspace, "batch").returncode == 0
    cfg = load_config(r.workspace / "forkwave.yaml")
    record = batch.read(Workspace(r.workspace))
    assert record is not None
    start, name = record["start"], record["scope"][0]
    assert batch.applies(cfg, record, name, start)
    person = commit_tree(r.fork, {**project(False), "NOTES": "mine\n"}, message="a person's commit", tick=90,
                         author="Person <p@example.com>")
    assert not batch.applies(cfg, record, name, person)                    # a tip the batch never saw
    assert not batch.applies(cfg, record, "slice-99", start)               # a slice it never held


@pytest.mark.parametrize("command,expected", [
    ("python -m pytest -q", ".forkwave-junit/unit.xml"), ("pytest", ".forkwave-junit/unit.xml"),
    ("cd sub && python3.11 -m pytest tests", ".forkwave-junit/unit.xml"),
    (".venv/bin/pytest -x", ".forkwave-junit/unit.xml"),
    ("ruff check .", None), ("echo pytest-like", None), ("npm test", None),
])
def test_pytest_checks_write_junit_without_being_told(command: str, expected: str | None) -> None:
    from tasks.config import Check
    from tasks.engine.validate import auto_junit

    assert auto_junit(Check("unit", run=command)) == expected
    assert auto_junit(Check("unit", run=command, junit="out.xml")) is None   # the config's own wins


def tree_id_without(repo: Path, rev: str, name: str) -> str:
    """The id of ``rev``'s tree without its top-level entry ``name``, computed as git does (nothing written)."""
    import hashlib

    entries = []
    for rec in filter(None, git_out(repo, "ls-tree", "-z", f"{rev}^{{tree}}").split("\0")):
        meta, path = rec.split("\t", 1)
        mode, kind, oid = meta.split(" ")
        if path != name:
            entries.append((path + "/" if kind == "tree" else path, mode.lstrip("0"), path, oid))
    body = b"".join(f"{mode} {path}".encode() + b"\0" + bytes.fromhex(oid) for _, mode, path, oid in sorted(entries))
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()
