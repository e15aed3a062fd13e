"""A merge range bisected over two real Docker engines (the first, and a second ``dockerd`` in its own network
namespace, ``tests/dockerd.py``) decides exactly what one engine decides: the merges it asks next are judged on
the other engine while the current one runs, and every attempt, its number and its logs are the same."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from conftest import git_out, run_doit
from modes.test_merge import build
from modes.test_speculative import decided, logs_where_reported

BASE = "forkwave/base:bookworm"


def test_a_merge_range_bisected_on_two_engines_decides_what_one_engine_does(docker_client: Any, second_engine: Any,
                                                                             tmp_path: Path) -> None:
    first = {"name": "first", "url": os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"}
    runs = {}
    for label, engines in (("one", [first]), ("two", [first, {"name": "second", "url": second_engine.url}])):
        root = tmp_path / label
        root.mkdir()
        m = build(root, bad_at=29, checks=False,
                  top={"checks": [{"name": "app", "image": BASE, "run": "sleep 2; ! grep -q BROKEN src/app.txt"}],
                       "containers": {"engines": engines}})
        res = run_doit(m.ws, timeout=900)
        assert res.returncode == 2, res.stdout + res.stderr
        logs_where_reported(m.ws)
        out = decided(m.ws, m.fork, "sync/upstream")
        attempts = json.loads((m.reports / "slices/slice-1/outcome.json").read_text())["attempts"]
        ran_on = {r.get("engine") for a in attempts for r in a["results"] if a["ran"]}
        runs[label] = (out, git_out(m.fork, "rev-parse", "refs/heads/sync/upstream^{tree}").strip(), ran_on)
    (one, tree_one, _), (two, tree_two, engines_used) = runs["one"], runs["two"]
    assert two == one and tree_two == tree_one
    assert one["culprit"]["position"] == 9           # commit 29 of the range 21..40
    assert "second" in engines_used                   # the second engine judged some of the attempts
