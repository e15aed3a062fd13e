"""The layers moved every module; the demo's plan and reports did not move a byte.

``tests/golden/demo/`` holds what the demo produced before the move (drift, priority board,
plan, wave manifests); a run of today's code must write the same bytes. Regenerate them
only for a change meant to alter them, and say so in the commit.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import run_doit

GOLDEN = Path(__file__).resolve().parent / "golden" / "demo"  # (demo-summary.json beside it)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("demo")
    result = run_doit(ws, "plan", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws / "reports"


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir()))
def test_the_demo_writes_the_same_bytes(demo: Path, name: str) -> None:
    written = (demo / name).read_bytes().replace(str(demo.parent).encode(), b"<workspace>")  # the demo's local URL
    assert written == (GOLDEN / name).read_bytes()


def normalised(summary: dict) -> dict:
    """summary.json without the commit ids (forkwave's commits carry the time they were made) and the id of the
    run that wrote it."""
    summary["run"].pop("id")
    for wave in summary["waves"].values():
        for entry in wave.values():
            entry.pop("commit", None)
            entry.pop("commits", None)
            for item in entry.get("resolved", []) + entry.get("rolled_back", []):
                item.pop("commit", None)
    return summary


def test_the_whole_demo_ends_as_it_did(tmp_path: Path) -> None:
    result = run_doit(tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr       # a first command does not end red
    assert result.stdout.rstrip().splitlines()[-1].endswith(
        " — exit 0 (the bundled demo): a real run would exit 2: work left for a person (deferred or conflicted "
        "slices)")
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    golden = json.loads((GOLDEN.parent / "demo-summary.json").read_text())
    assert normalised(summary) == golden
    # a CI test view shows the slices that need a person red: a failing case per conflict and deferral
    for wave in summary["waves"].values():
        for name, entry in wave.items():
            suite = ET.parse(tmp_path / "reports" / "slices" / name / "junit.xml").getroot().find("testsuite")
            left = len(entry["conflicts"]) + len(entry["deferred"])
            assert int(suite.get("failures")) == left, name


def test_the_same_work_left_in_a_real_config_still_exits_2(tmp_path: Path) -> None:
    """The demo's config, copied into the workspace, is a real config: the exit code policy holds for it."""
    from tasks.config import DEMO_CONFIG
    from tasks.repo import demo

    (tmp_path / "forkwave.yaml").write_text(DEMO_CONFIG.read_text())
    demo.materialise(tmp_path / ".forkwave" / "demo")     # its repositories, where the config says they are
    result = run_doit(tmp_path, timeout=600)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.rstrip().splitlines()[-1].endswith(
        " — exit 2: work left for a person (deferred or conflicted slices)")
