"""Helpers for the docker tests: images, requests, npm workspaces as file dicts, readers."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checks.model import Request

PYTHON = "forkwave/python:3.11"
NODE = "forkwave/node:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")  # the host bundle: the registries' proxy CA is in it
REPO = Path(__file__).resolve().parents[2]
IMAGES = ("forkwave/base:bookworm", "forkwave/python:3.11", "forkwave/node:bookworm")


def engine_problem(images: tuple[str, ...] = IMAGES) -> tuple[Any, str | None]:
    """(client, None) when the engine answers and the images exist, else (None, what is missing and the fix)."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, a bad DOCKER_HOST...
        return None, (f"no Docker engine answers ({type(exc).__name__}: {exc}); "
                      "start one and build the images: bash .ci/docker.sh as root")
    missing = [tag for tag in images if not client.images.list(name=tag)]
    if missing:
        return None, (f"the Docker engine runs, but image(s) {', '.join(missing)} are missing; "
                      "build them: doit images (or bash .ci/docker.sh as root)")
    return client, None


def docker_request(name: str, command: str, cwd: Path, log_dir: Path, label: str, **kw: Any) -> Request:
    """A container check (``kind="docker"``) in ``cwd``; ``image`` defaults to the Python image."""
    kw.setdefault("image", PYTHON)
    return Request(name, command, cwd, kw.pop("env", {}), kw.pop("timeout", 120), log_dir, kind="docker",
                   label=label, **kw)


# --- an npm workspace, as forkwave.synth file dicts -----------------------------------------

# Every package's build: each src/*.js must parse and must not contain the marker.
BUILD_JS = """\
const fs = require('fs'), path = require('path'), vm = require('vm');
for (const f of fs.readdirSync('src').sort()) {
  const src = fs.readFileSync(path.join('src', f), 'utf8');
  if (src.includes('BROKEN')) { console.error(`BROKEN marker in ${path.basename(process.cwd())}/src/${f}`); \
process.exit(1); }
  new vm.Script(src, {filename: f});
}
console.log('built', path.basename(process.cwd()));
"""


def package_json(name: str, **extra: Any) -> str:
    return json.dumps({"name": name, "version": "1.0.0", "private": True, **extra}, indent=2) + "\n"


def npm_workspace(prefix: str, sources: dict[str, dict[str, str]], **root: Any) -> dict[str, str]:
    """A root ``package.json`` with ``workspaces: [packages/*]`` and one package per ``sources`` key,
    ``packages/<prefix><name>/src/<file>``, whose ``build`` script is ``node ../../build.js``."""
    files = {"package.json": package_json(prefix.rstrip("-") or "root", workspaces=["packages/*"], **root),
             "build.js": BUILD_JS}
    for pkg, srcs in sources.items():
        base = f"packages/{prefix}{pkg}"
        files[f"{base}/package.json"] = package_json(f"{prefix}{pkg}", scripts={"build": "node ../../build.js"})
        for name, text in srcs.items():
            files[f"{base}/src/{name}"] = text
    return files


def js(name: str, version: str) -> str:
    return f"// {name} {version}\nmodule.exports = function {name}(x) {{ return x; }};\n"


def rebrand(files: dict[str, str], old: str, new: str) -> dict[str, str]:
    """Paths and contents renamed (a rebranded fork)."""
    return {p.replace(old, new): c.replace(old, new) for p, c in files.items()}


def example_files(folder: Path) -> dict[str, str]:
    """The files of an on-disk example (``examples/nx``), without install or build output."""
    skip = {"node_modules", ".nx", "dist"}
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and not skip & set(p.relative_to(folder).parts)}


# --- reading what a run left ----------------------------------------------------------------

def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def check_logs(workspace: Path, check: str, stream: str = "stdout") -> dict[str, str]:
    """``slice-N/attempt-K`` -> the check's log, for every attempt of every slice (logs/<run>/attempt-K)."""
    slices = workspace / "reports" / "slices"
    return {f"{p.parent.parent.parent.parent.name}/{p.parent.name}": p.read_text()
            for p in sorted(slices.glob(f"*/logs/*/attempt-*/{check}.{stream}.log"))}
