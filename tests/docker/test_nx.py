"""A real Nx build in a container, through the whole pipeline: Nx installed from the npm registry
(with the host CA bundle passed through), `npx nx run acme-ui:build` on examples/nx."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from dockerkit import HOST_CA, NODE, REPO, check_logs, example_files, read_json

EXAMPLE = REPO / "examples" / "nx"
NX_BUILD = {"name": "nx-build", "image": NODE, "timeout": 600,
            "run": "npm install --no-audit --no-fund --prefer-offline && npx nx run acme-ui:build",
            "env": {"NX_DAEMON": "false", "NX_NO_CLOUD": "true"}}


@pytest.mark.slow
def test_an_nx_build_validates_a_slice_in_a_container(tmp_path: Path) -> None:
    base = example_files(EXAMPLE)
    upstream = dict(base)
    upstream["packages/acme-ui/src/button.js"] = base["packages/acme-ui/src/button.js"].replace(
        "<button>", "<button class=\"acme\">")
    upstream["packages/acme-ui/src/tag.js"] = "// acme-ui tag\nmodule.exports.tag = t => `<span>${t}</span>`;\n"
    up = make_repo(tmp_path / "upstream.git", bare=True)
    commit_tree(up, base, message="v1", tag="v1")
    commit_tree(up, upstream, message="v2", tick=10)
    fork = make_repo(tmp_path / "fork", base, message="fork", tick=5)
    ws = tmp_path / "ws"
    ws.mkdir()
    # each slice judged in its own container run (its attempts and logs are read): no batch
    write_config(ws, {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1", "batch": False,
                      "waves": {"a": {"buckets": ["*"]}}, "checks": [NX_BUILD],
                      "containers": {"ca_bundle": str(HOST_CA)}})

    result = run_doit(ws, "wave_a", timeout=900)

    assert result.returncode == 0, result.stdout + result.stderr
    out = read_json(ws / "reports" / "slices" / "slice-1" / "outcome.json")
    assert out["status"] == "adopted"
    assert out["adopted"] == ["packages/acme-ui/src/button.js", "packages/acme-ui/src/tag.js"]
    log = check_logs(ws, "nx-build")["slice-1/attempt-1"]
    # a passing slice needs no baseline: nx and its dependencies came from the registry in the slice's own run
    assert not (ws / "reports" / "wave-a" / "baseline-logs").exists()
    assert "added " in log
    assert "> nx run acme-ui:build" in log and "acme-ui: bundled 3 files" in log
    assert "Successfully ran target build for project acme-ui" in log
    assert git_out(fork, "show", "sync/upstream:packages/acme-ui/src/tag.js") == upstream["packages/acme-ui/src/tag.js"]
    assert (ws / ".forkwave" / "worktree" / "node_modules" / "nx" / "package.json").is_file()  # kept for the next slice
