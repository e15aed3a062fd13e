"""An image build shows its steps as docker reaches them (containers/lib.sh), not one line at the end."""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from dockerkit import REPO

LIB = REPO / "containers" / "lib.sh"


def test_docker_build_steps_are_logged_one_line_each_as_they_start(tmp_path: Path, docker_client: Any) -> None:
    """A real `docker build` (classic builder or BuildKit) through lib.sh's step filter: one line per step,
    each once, in order, while the whole output goes to the log."""
    (tmp_path / "Dockerfile").write_text("FROM forkwave/base:bookworm\nRUN echo first step\nRUN echo second step\n")
    tag = f"forkwave/steps-test:{uuid.uuid4().hex[:8]}"
    script = (f'source "{LIB}"; set -o pipefail; docker build --no-cache -t "{tag}" "{tmp_path}" 2>&1 '
              f'| tee "{tmp_path}/build.log" | steps "{tag}" >&2')
    try:
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
    assert done.returncode == 0, done.stderr
    steps = done.stderr.splitlines()
    assert all(line.startswith(f"[bash] {tag}: ") for line in steps), steps
    runs = [line for line in steps if "RUN echo" in line]
    assert len(runs) == 2 and "first step" in runs[0] and "second step" in runs[1], steps
    assert len(steps) == len(set(steps))                                   # BuildKit repeats a step: shown once
    assert len(steps) < len((tmp_path / "build.log").read_text().splitlines())  # the log has everything
