"""Shared by the benchmark scripts: build a workspace with an upstream and a fork, run doit."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tasks.repo.synth import Content, commit_tree, init_repo

ROOT = Path(__file__).resolve().parent.parent


def workspace(root: Path, upstream_v1: Mapping[str, Content], upstream_v2: Mapping[str, Content],
              fork: Mapping[str, Content], **config: Any) -> Path:
    up = init_repo(root / "upstream.git", bare=True)
    commit_tree(up, upstream_v1, tag="v1")
    commit_tree(up, upstream_v2, tick=10)
    fk = init_repo(root / "fork")
    commit_tree(fk, fork, tick=5)
    ws = root / "ws"
    ws.mkdir()
    data = {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1", **config}
    (ws / "forkwave.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return ws


def doit(ws: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["FORKWAVE_SHOW_TASKS"] = "1"  # doit's `.  task` lines: what ran is read from them
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "-d", str(ws), *args],
                          capture_output=True, text=True, env=env)
    return time.perf_counter() - start, proc


@contextmanager
def scratch(keep: Path | None, prefix: str) -> Iterator[Path]:
    """A folder to build in: ``keep`` (kept afterwards) or a temporary one (removed)."""
    root = keep or Path(tempfile.mkdtemp(prefix=prefix))
    root.mkdir(parents=True, exist_ok=True)
    try:
        yield root
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def median_of(fn: Any, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))
