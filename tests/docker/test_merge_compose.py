"""Merge mode with a docker compose stack as its check: the stack judges each candidate the bisection asks about."""
from __future__ import annotations

import math
from pathlib import Path

from conftest import run_doit, write_config
from dockerkit import PYTHON
from test_merge import AT, N, build, outcome

COMPOSE = f"""\
services:
  test:
    image: {PYTHON}
    volumes: [".:/workspace"]
    working_dir: /workspace
    command: ["sh", "-c", "! grep -q BROKEN src/app.txt"]
"""


def test_a_compose_stack_names_the_commit_that_breaks_it(tmp_path: Path) -> None:
    m = build(tmp_path, bad_at=31, checks=False, extra={"docker-compose.test.yaml": COMPOSE})
    cfg = {"sources": [{"name": "upstream", "url": "../upstream.git", "ref": "main", "mode": "merge"}],
           "fork": {"path": "../fork", "branch": "main"}, "waves": {"a": {"buckets": ["*"]}}, "gates": [],
           "checks": [{"name": "stack", "compose": "docker-compose.test.yaml", "service": "test", "timeout": 300}]}
    write_config(m.ws, cfg)
    res = run_doit(m.ws, timeout=900)
    assert res.returncode == 2, res.stdout + res.stderr
    assert m.holds(30) and not m.holds(31)
    out = outcome(m)
    assert out["culprit"]["sha"] == m.shas[30] and out["culprit"]["failures"][0].startswith("stack")
    assert out["culprit"]["runs"] <= math.ceil(math.log2(N - AT)) + 2
    assert all(r["name"] == "stack" for a in out["attempts"] for r in a["results"])
