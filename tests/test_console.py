"""``forkwave``: the console script is the doit face with its own dodo file and ``-d .``.

One test installs a copy of this checkout into a fresh virtual environment as ``pipx install`` would (a wheel,
not editable: no checkout behind it) and uses the command from an empty directory; the others run
``python -m tasks.console`` on a real workspace.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DODO, run_doit
from slicekit import build, rev, tree
from test_readme import checkout_copy, fresh_env


def forkwave(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tasks.console", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(DODO.parent)}, timeout=300)


def test_the_current_directory_is_the_workspace(tmp_path: Path) -> None:
    r = build(tmp_path, {"a.txt": "1\n"}, {"a.txt": "2\n"})

    result = forkwave(r.workspace, "wave_a")

    assert result.returncode == 0, result.stdout + result.stderr
    assert tree(r.fork, "sync/upstream")["a.txt"] == ("100644", b"2\n")
    assert (r.workspace / "reports" / "plan.json").exists() and not (Path.cwd() / "reports" / "plan.json").exists()
    assert result.stdout.rstrip().splitlines()[-1].startswith("forkwave: 1 slice: 1 adopted")


def test_a_workspace_given_with_d_wins(tmp_path: Path) -> None:
    r = build(tmp_path, {"a.txt": "1\n"}, {"a.txt": "2\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = forkwave(elsewhere, "-d", str(r.workspace), "plan")

    assert result.returncode == 0, result.stdout + result.stderr
    assert (r.workspace / "reports" / "plan.json").exists() and not (elsewhere / "reports").exists()
    assert rev(r.fork, "sync/upstream") is None                      # plan only: nothing landed


def test_the_command_line_is_forkwaves(tmp_path: Path) -> None:
    r = build(tmp_path, {"a.txt": "1\n"}, {"a.txt": "2\n"})
    typo = forkwave(r.workspace, "dyr=1")
    assert typo.returncode == 1 and "unknown variable dyr= (did you mean 'dry='?)" in typo.stderr
    assert forkwave(r.workspace, "--help").stdout == forkwave(r.workspace, "help").stdout
    assert forkwave(r.workspace, "help").stdout.startswith("forkwave: keep a fork in sync")
    assert forkwave(r.workspace, "list").stdout == run_doit(r.workspace, "list", env={"FORKWAVE_SHOW_TASKS": ""}).stdout


@pytest.mark.slow
def test_installed_from_a_wheel_it_runs_the_demo_in_an_empty_directory(tmp_path: Path) -> None:
    checkout = checkout_copy(tmp_path / "forkwave")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(checkout)], capture_output=True,
                               text=True, env=fresh_env(), timeout=900)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    import shutil

    shutil.rmtree(checkout)                                          # nothing of the checkout is left to lean on
    ws = tmp_path / "ws"
    ws.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(venv / "bin" / "forkwave"), *args], cwd=ws, capture_output=True, text=True,
                              env=fresh_env(), timeout=600)

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith(f"forkwave: no forkwave.yaml in {ws}: running the bundled demo")
    assert "a real run would exit 2: work left for a person" in first.stdout.splitlines()[-1]
    assert "Traceback" not in first.stdout + first.stderr
    assert (ws / "reports" / "summary.json").exists() and (ws / ".forkwave" / "demo" / "fork").is_dir()

    wave = run("wave_a")
    assert wave.returncode == 0 and "unchanged since run" in wave.stdout, wave.stdout + wave.stderr
    dry = run("dry=1")
    assert dry.returncode == 0 and "dry run: reports/dry-run.md (a real run would exit 2)" in dry.stdout
    assert run("help").stdout.startswith("forkwave: keep a fork in sync")
    assert run("dyr=1").returncode == 1
    dodo = next((venv / "lib").glob("python3*/site-packages/tasks/dodo.py"))
    by_doit = subprocess.run([str(venv / "bin" / "doit"), "-f", str(dodo), "-d", ".", "list"], cwd=ws,
                             capture_output=True, text=True, env=fresh_env(), timeout=300)
    assert run("list").stdout == by_doit.stdout and by_doit.returncode == 0
    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("forkwave 0.1.0 (doit ")
