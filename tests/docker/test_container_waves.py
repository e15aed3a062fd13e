"""Waves end to end (doit as a subprocess) with container checks: an npm workspace fork with no
history shared with its upstream, a broken upstream file isolated in a container build, and
dependency caches that survive from one slice to the next."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from checks.docker_runner import DockerRunner
from checks.model import PASSED
from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from dockerkit import (
    HOST_CA,
    NODE,
    check_logs,
    docker_request,
    js,
    npm_workspace,
    read_json,
    rebrand,
)

ONE_WAVE = {"a": {"buckets": ["*"]}}
MAP = [{"from": "packages/twenty-", "to": "packages/acme-"}]


def pair(root: Path, base: dict[str, str], upstream: dict[str, str], **config: Any) -> Path:
    """Upstream (bare: tag v1 = ``base``, then ``upstream``), a rebranded fork of v1 with its own
    history, and a workspace with a forkwave.yaml; returns the workspace."""
    up = make_repo(root / "upstream.git", bare=True)
    commit_tree(up, base, message="v1", tag="v1")
    commit_tree(up, upstream, message="v2", tick=10)
    fork = make_repo(root / "fork")
    commit_tree(fork, rebrand(base, "twenty-", "acme-"), message="acme fork", author="Acme <a@example.com>", tick=5)
    ws = root / "ws"
    ws.mkdir()
    # each slice judged in its own container run (its attempts and logs are read): no batch
    write_config(ws, {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1", "batch": False,
                      "map": MAP, "waves": ONE_WAVE, **config})
    return ws


def outcomes(ws: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: read_json(p) for p in sorted((ws / "reports" / "slices").glob("*/outcome.json"))}


def show(repo: Path, rev: str, path: str) -> str:
    return git_out(repo, "show", f"{rev}:{path}")


# --- a broken upstream file, found by a container build --------------------------------------

V1 = {"ui": {f"{n}.js": js(n, "v1") for n in ("button", "link", "tag")},
      "server": {f"{n}.js": js(n, "v1") for n in ("api", "auth")}}
V2 = {pkg: {name: text.replace("v1", "v2") for name, text in srcs.items()} for pkg, srcs in V1.items()}
V2["ui"]["link.js"] += "// BROKEN: upstream shipped this half-done\n"
CULPRIT = "packages/acme-ui/src/link.js"
BUILD = {"name": "build", "image": NODE, "run": "npm run build --workspaces --if-present", "timeout": 120}


def test_a_broken_upstream_file_is_deferred_and_the_rest_of_its_slice_adopted(tmp_path: Path) -> None:
    ws = pair(tmp_path, npm_workspace("twenty-", V1), npm_workspace("twenty-", V2), checks=[BUILD])
    result = run_doit(ws, "wave_a", timeout=300)
    assert result.returncode != 0, result.stdout            # a deferred file: the wave is not a success
    [(name, out)] = outcomes(ws).items()
    changed = sorted(f"packages/acme-{pkg}/src/{f}" for pkg, srcs in V2.items() for f in srcs)
    assert out["status"] == "split" and [f["path"] for f in out["files"]] == changed
    assert out["adopted"] == [p for p in changed if p != CULPRIT]
    [deferred] = out["deferred"]
    assert deferred["files"] == [CULPRIT] and deferred["checks"] == ["build"]
    # the failing run's own error line, not the echo of the command
    assert deferred["reason"].startswith("build: ") and deferred["reason"].endswith("(exit code 1)")
    assert "BROKEN marker in acme-ui/src/link.js" in deferred["reason"]
    assert "BROKEN marker in acme-ui/src/link.js" in deferred["output"]  # what the container printed
    # the first attempt built every package in the container and failed on the culprit
    first = out["attempts"][0]
    assert first["files"] == changed and not first["passed"]
    logs = check_logs(ws, "build")
    assert "built acme-server" in logs[f"{name}/attempt-1"]
    assert len(logs) == out["runs"] >= 3                   # one container build per run, each logged
    # the sync branch holds upstream's content for the adopted files, the fork's for the culprit
    for path in out["adopted"]:
        assert "v2" in show(tmp_path / "fork", "sync/upstream", path)
    assert show(tmp_path / "fork", "sync/upstream", CULPRIT) == js("link", "v1")
    assert show(tmp_path / "fork", "sync/upstream", "packages/acme-ui/package.json") == \
        show(tmp_path / "fork", "main", "packages/acme-ui/package.json")
    assert git_out(tmp_path / "fork", "rev-list", "--count", "main..sync/upstream").strip() == "1"
    assert f"{name}: split" in result.stdout
    report = (ws / "reports" / "wave-a" / "report.md").read_text()
    assert f"`{CULPRIT}`: build: BROKEN marker in acme-ui/src/link.js (exit code 1)" in report


# --- dependency caches survive between slices ------------------------------------------------

PACKAGES = ("a", "b", "c")
DEPS = {"is-number": "7.0.0"}
INSTALL = ("rm -rf node_modules && npm install --no-audit --no-fund --prefer-offline --loglevel=http"
           " && node -e \"require('is-number')\" && npm run build --workspaces --if-present")


def test_the_npm_cache_survives_from_one_slice_to_the_next(tmp_path: Path, docker_client: Any) -> None:
    base = npm_workspace("twenty-", {p: {"index.js": js(p, "v1")} for p in PACKAGES}, dependencies=DEPS)
    upstream = npm_workspace("twenty-", {p: {"index.js": js(p, "v2")} for p in PACKAGES}, dependencies=DEPS)
    ws = pair(tmp_path, base, upstream, slices={"max_files": 1}, containers={"ca_bundle": str(HOST_CA)},
              checks=[{"name": "deps", "image": NODE, "run": INSTALL, "timeout": 300}])
    result = run_doit(ws, "wave_a", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {n: o["status"] for n, o in outcomes(ws).items()} == {"slice-1": "adopted", "slice-2": "adopted",
                                                                 "slice-3": "adopted"}
    cache = ws / ".forkwave" / "cache" / "npm"
    assert any((cache / "_cacache" / "content-v2").rglob("*")), "the npm cache folder was not populated"
    # every slice installed from scratch (no node_modules); only the first downloaded the tarball (a passing
    # slice needs no baseline run): the next ones found it in the cache it left
    logs = check_logs(ws, "deps", "stderr")
    assert list(logs) == ["slice-1/attempt-1", "slice-2/attempt-1", "slice-3/attempt-1"]
    tarball = "is-number-7.0.0.tgz"
    assert tarball in logs["slice-1/attempt-1"] and "(cache miss)" in logs["slice-1/attempt-1"]
    later = [logs["slice-2/attempt-1"], logs["slice-3/attempt-1"]]
    assert not any(tarball in text for text in later), logs
    assert all("(cache miss)" not in text for text in later)
    assert not (ws / "reports" / "wave-a" / "baseline-logs").exists()
    # and the cache alone installs it: offline, with no network at all
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "package.json").write_text(base["package.json"].replace('"workspaces"', '"_workspaces"'))
    offline = DockerRunner(client=docker_client, cache_dir=ws / ".forkwave" / "cache").run(docker_request(
        "offline", "npm install --offline --no-audit --no-fund && node -e \"require('is-number')\"", fresh,
        tmp_path / "logs", "offline", image=NODE, network="none"))
    assert offline.status == PASSED, offline
