"""What container checks cost: a trivial check in a container vs on the host, and a second
validation of an unchanged npm workspace with warm dependency caches vs cold.

    python -m benchmarks.containers [--runs 10] [--installs 3] [--deps is-number@7.0.0,...]
                                    [--managers npm,yarn1,berry,pnpm] [--only managers]

(a) ``true`` through HostRunner and through DockerRunner (create, start, wait, logs, remove):
    median of ``--runs`` each, and the difference (the target is under 1 s).
(b) ``npm install`` + ``npm run build --workspaces`` in forkwave/node:bookworm, through
    DockerRunner with its cache folder (as the pipeline mounts ``.forkwave/cache``):
    cold = empty cache folder and no node_modules; warm = cache populated, node_modules kept
    (what the second slice of a wave sees). Needs the npm registry (the host CA bundle is
    passed in when it exists).
(c) per package manager (npm, Yarn 1, Yarn Berry with a committed yarnPath release, pnpm), on
    the node the workspace pins (``.nvmrc`` 24.5.0 -> forkwave/node:24.5.0): the first slice's
    install (cold: empty .forkwave/cache, no node_modules), the second slice's (warm: caches and
    node_modules kept, as the pipeline does while no lockfile changes; target >= 2.5x faster), and
    an install from the caches alone (node_modules gone, as after a lockfile change).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from checks.docker_runner import DockerRunner
from checks.host import HostRunner
from checks.model import PASSED, Request, Result

NODE = "forkwave/node:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_DEPS = "is-number@7.0.0,chalk@4.1.2,lodash@4.17.21,typescript@5.4.5"
BUILD = """\
const fs = require('fs'), path = require('path'), vm = require('vm');
for (const f of fs.readdirSync('src')) new vm.Script(fs.readFileSync(path.join('src', f), 'utf8'));
require('chalk'); require('lodash');
console.log('built', path.basename(process.cwd()));
"""
INSTALL_AND_BUILD = "npm install --no-audit --no-fund --prefer-offline && npm run build --workspaces --if-present"


def timed(run: Callable[[], Result]) -> float:
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    if result.status != PASSED:
        raise SystemExit(f"benchmark check failed: {result.message}\n{result.stdout}\n{result.stderr}")
    return elapsed


def npm_workspace(root: Path, deps: dict[str, str], packages: int = 4) -> None:
    (root / "build.js").write_text(BUILD)
    (root / "package.json").write_text(json.dumps({"name": "bench", "private": True, "workspaces": ["packages/*"],
                                                   "dependencies": deps}, indent=2))
    for i in range(packages):
        pkg = root / "packages" / f"pkg{i}"
        (pkg / "src").mkdir(parents=True)
        (pkg / "package.json").write_text(json.dumps({"name": f"pkg{i}", "version": "1.0.0", "private": True,
                                                      "scripts": {"build": "node ../../build.js"}}))
        for j in range(20):
            (pkg / "src" / f"m{j}.js").write_text(f"module.exports = function m{j}(x) {{ return x + {j}; }};\n")


def overhead(tmp: Path, runs: int) -> None:
    wt, logs = tmp / "trivial", tmp / "logs"
    wt.mkdir()
    host, docker = HostRunner(), DockerRunner(cache_dir=tmp / "cache-trivial")
    on_host = Request("true", "true", wt, {}, 60, logs)
    in_docker = Request("true", "true", wt, {}, 60, logs, kind="docker", image=NODE, label="bench")
    timed(lambda: docker.run(in_docker))  # first container start warms the engine's caches
    h = [timed(lambda: host.run(on_host)) for _ in range(runs)]
    d = [timed(lambda: docker.run(in_docker)) for _ in range(runs)]
    hm, dm = statistics.median(h), statistics.median(d)
    print(f"(a) `true`, median of {runs} runs each")
    print(f"    host        {hm * 1000:8.0f} ms   (min {min(h) * 1000:.0f}, max {max(h) * 1000:.0f})")
    print(f"    container   {dm * 1000:8.0f} ms   (min {min(d) * 1000:.0f}, max {max(d) * 1000:.0f}, {NODE})")
    print(f"    added cost  {(dm - hm) * 1000:8.0f} ms per container check (target < 1000 ms)")


def caches(tmp: Path, installs: int, deps: dict[str, str]) -> None:
    wt, cache, logs = tmp / "workspace", tmp / "cache", tmp / "logs"
    wt.mkdir()
    npm_workspace(wt, deps)
    runner = DockerRunner(ca_bundle=HOST_CA if HOST_CA.is_file() else None, cache_dir=cache)
    request = Request("install-build", INSTALL_AND_BUILD, wt, {}, 900, logs, kind="docker", image=NODE, label="bench")

    def cold() -> float:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(wt / "node_modules", ignore_errors=True)
        (wt / "package-lock.json").unlink(missing_ok=True)
        return timed(lambda: runner.run(request))

    c = [cold() for _ in range(installs)]
    w = [timed(lambda: runner.run(request)) for _ in range(installs)]  # after the last cold run: all warm
    cm, wm = statistics.median(c), statistics.median(w)
    size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    print(f"(b) npm install + build of a 4-package workspace ({', '.join(f'{k}@{v}' for k, v in deps.items())}),"
          f" median of {installs}")
    print(f"    cold  {cm:6.2f} s   (empty cache, no node_modules: {', '.join(f'{x:.2f}' for x in c)})")
    print(f"    warm  {wm:6.2f} s   (cache {size / 1e6:.0f} MB, node_modules kept: {', '.join(f'{x:.2f}' for x in w)})")
    print(f"    warm is {cm / wm:.1f}x faster, {cm - wm:.2f} s saved per slice")


YARN = "4.9.2"
MANAGERS = {  # name -> (package.json additions, extra files, install command)
    "npm": ({}, {}, "npm install --no-audit --no-fund --prefer-offline"),
    "yarn1": ({"packageManager": "yarn@1.22.22"}, {}, "yarn install --prefer-offline"),
    "berry": ({}, {".yarnrc.yml": f"yarnPath: .yarn/releases/yarn-{YARN}.cjs\nnodeLinker: node-modules\n",
                   "yarn.lock": ""}, "yarn install"),
    "pnpm": ({"packageManager": "pnpm@10.33.0"}, {}, "pnpm install --prefer-offline"),
}
# (c) installs what examples/berry-nx does (Nx and its ~80 dependencies) plus the (b) set's bigger packages.
MANAGER_DEPS = "nx@22.6.1,typescript@5.4.5,lodash@4.17.21,chalk@4.1.2"


def yarn_release(tmp: Path) -> bytes:
    """Yarn's release file from the npm registry (@yarnpkg/cli-dist), as a repository commits it."""
    import docker
    import tarfile

    out = tmp / "yarn-release"
    out.mkdir()
    volumes = {str(out): {"bind": "/out", "mode": "rw"}}
    if HOST_CA.is_file():
        volumes[str(HOST_CA)] = {"bind": "/etc/ssl/certs/ca-certificates.crt", "mode": "ro"}
    docker.from_env().containers.run(NODE, ["sh", "-c", f"cd /out && npm pack --silent @yarnpkg/cli-dist@{YARN}"],
                                     remove=True, environment={"HOME": "/tmp"}, volumes=volumes)
    with tarfile.open(out / f"yarnpkg-cli-dist-{YARN}.tgz") as tar:
        return tar.extractfile("package/bin/yarn.js").read()  # type: ignore[union-attr]


def managed_workspace(root: Path, manager: str, deps: dict[str, str], release: bytes) -> None:
    npm_workspace(root, deps)
    extra, files, _ = MANAGERS[manager]
    pkg = json.loads((root / "package.json").read_text())
    (root / "package.json").write_text(json.dumps({**pkg, **extra}, indent=2))
    (root / ".nvmrc").write_text("24.5.0\n")
    for rel, text in files.items():
        (root / rel).write_text(text)
    if manager == "berry":
        (root / ".yarn" / "releases").mkdir(parents=True)
        (root / ".yarn" / "releases" / f"yarn-{YARN}.cjs").write_bytes(release)


def managers(tmp: Path, installs: int, deps: dict[str, str], names: list[str]) -> None:
    release = yarn_release(tmp) if "berry" in names else b""
    print(f"(c) install per package manager on node 24.5.0 (.nvmrc), {', '.join(f'{k}@{v}' for k, v in deps.items())}"
          f" in a 4-package workspace, median of {installs}; target: second slice >= 2.5x faster than the first")
    print(f"    {'manager':8} {'1st slice (cold)':>17} {'2nd slice (warm)':>17} {'speed-up':>9} "
          f"{'caches only':>12} {'cache size':>11}")
    for name in names:
        wt, cache, logs = tmp / f"ws-{name}", tmp / f"cache-{name}", tmp / "logs"
        wt.mkdir()
        managed_workspace(wt, name, deps, release)
        runner = DockerRunner(ca_bundle=HOST_CA if HOST_CA.is_file() else None, cache_dir=cache)
        request = Request(f"install-{name}", MANAGERS[name][2], wt, {}, 900, logs, kind="docker", image=NODE,
                          label="bench")
        def reset(keep_cache: bool) -> None:
            if not keep_cache:
                shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(wt / "node_modules", ignore_errors=True)

        def cold() -> float:  # the lockfile stays what the first install wrote, as in a repository
            reset(keep_cache=False)
            return timed(lambda: runner.run(request))

        c = [cold() for _ in range(installs)]
        w = [timed(lambda: runner.run(request)) for _ in range(installs)]

        def cache_only() -> float:
            reset(keep_cache=True)
            return timed(lambda: runner.run(request))

        o = [cache_only() for _ in range(installs)]
        cm, wm, om = statistics.median(c), statistics.median(w), statistics.median(o)
        size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
        flag = "" if cm / wm >= 2.5 else "  (below target)"
        print(f"    {name:8} {cm:15.2f} s {wm:15.2f} s {cm / wm:8.1f}x {om:10.2f} s {size / 1e6:8.0f} MB{flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of `true` on each side")
    parser.add_argument("--installs", type=int, default=3, help="cold and warm installs each")
    parser.add_argument("--deps", default=DEFAULT_DEPS, help="comma-separated name@version")
    parser.add_argument("--managers", default=",".join(MANAGERS), help="package managers for (c)")
    parser.add_argument("--manager-deps", default=MANAGER_DEPS, help="comma-separated name@version for (c)")
    parser.add_argument("--only", choices=["overhead", "npm", "managers"], help="run one part")
    args = parser.parse_args()
    deps = dict(d.rsplit("@", 1) for d in args.deps.split(",") if d)
    with tempfile.TemporaryDirectory(prefix="forkwave-bench-") as tmp:
        if args.only in (None, "overhead"):
            overhead(Path(tmp), args.runs)
        if args.only in (None, "npm"):
            caches(Path(tmp), args.installs, deps)
        if args.only in (None, "managers"):
            mdeps = dict(d.rsplit("@", 1) for d in args.manager_deps.split(",") if d)
            managers(Path(tmp), args.installs, mdeps, [m for m in args.managers.split(",") if m])


if __name__ == "__main__":
    main()
