"""The README's two commands, run as a person runs them: in a copy of this checkout, in a fresh venv they make.

Not the test's own interpreter or packages: ``python3`` from PATH makes ``.venv/`` and installs
forkwave there, as on a fresh machine whose system Python refuses ``pip install`` (PEP 668).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    """The commands of the README's first ``sh`` block, without their comments."""
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "the README has no ```sh block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_starts_with_two_commands_that_make_their_own_venv() -> None:
    first, second = readme_commands()
    for command in (first, second):
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install ")
        assert " pip install" not in command.replace(".venv/bin/pip install", "")   # never the system pip
    assert first.endswith("&& .venv/bin/doit") and second.endswith("&& .venv/bin/python -m pytest")


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()
    assert "bash .ci/docker.sh" in ci and "python3 -m pip" not in ci


def checkout_copy(dest: Path) -> Path:
    """This checkout's files (tracked and new, not ignored): what a fresh clone holds."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def fresh_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "FORKWAVE_SHOW_TASKS", "PYTEST_ADDOPTS")}
    return env | extra


@pytest.mark.slow
def test_the_readme_commands_work_in_a_fresh_venv(tmp_path: Path) -> None:
    if shutil.which("python3") is None:
        pytest.fail("python3 is not on PATH: the README's commands need it")
    checkout = checkout_copy(tmp_path / "forkwave")
    first, second = readme_commands()

    demo = subprocess.run(["bash", "-c", first], cwd=checkout, env=fresh_env(), capture_output=True, text=True,
                          timeout=900)
    # the demo leaves work on purpose, and says a real run exits 2
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    assert lines[0].startswith(f"forkwave: no forkwave.yaml in {checkout}: running the bundled demo")
    assert f"\n{lines[-1]}\n" in README                                       # the last line, as the README shows it
    assert "Traceback" not in demo.stdout + demo.stderr
    interpreter = (checkout / ".venv" / "bin" / "python").resolve()
    assert interpreter.exists() and (checkout / "reports" / "summary.json").exists()

    # the whole suite would run this test again: the same command, on one small test module
    tests = subprocess.run(["bash", "-c", second], cwd=checkout, capture_output=True, text=True, timeout=900,
                           env=fresh_env(PYTEST_ADDOPTS="-q -p no:cacheprovider tests/infra/test_redact.py"))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b\d+ passed\b", tests.stdout), tests.stdout


def test_the_demo_needs_only_python_and_git(tmp_path: Path) -> None:
    """No npm or node on PATH (a fresh machine): the demo's check still runs and still defers the file
    upstream broke, instead of counting a check that cannot run as passing."""
    import sys

    from conftest import run_doit

    tools = tmp_path / "bin"
    tools.mkdir()
    for name, target in (("git", shutil.which("git")), ("bash", shutil.which("bash")), ("sh", shutil.which("sh")),
                         ("python3", sys._base_executable)):
        assert target, name
        (tools / name).symlink_to(os.path.realpath(target))
    ws = tmp_path / "ws"
    ws.mkdir()
    result = run_doit(ws, env={"PATH": str(tools)})
    assert result.returncode == 0, result.stdout + result.stderr          # the demo: "a real run would exit 2"
    assert "a real run would exit 2: work left for a person" in result.stdout.splitlines()[-1]
    outcomes = [json.loads(p.read_text()) for p in sorted((ws / "reports" / "slices").glob("*/outcome.json"))]
    deferred = [(d["files"], d["checks"]) for o in outcomes for d in o["deferred"]]
    assert deferred == [(["packages/acme-front/src/pages/page10.js"], ["build"])]
