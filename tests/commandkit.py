"""Helpers for the command-source tests: a fork, a workspace, entrypoints as real scripts, a stand-in API.

An entrypoint here is a real program (Python, run by the test's interpreter) that reads a real HTTP server on
127.0.0.1 or a JSON file, writes under ``$FORKWAVE_OUT`` (a pull) or reads standard input and ``$FORKWAVE_IN``
(a push), and leaves a trace of each call in a folder outside the workspace, so a test can count the calls.
"""
from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from conftest import Content, commit_tree, make_repo, write_config

# A pull: GET the API's /apps, write docs/runtime/apps_truth.json (and whatever else the API says to), print a
# version line; FAIL in the API's answer makes it fail the way curl does.
PULL = """\
import json, os, pathlib, sys, time, urllib.request
calls = pathlib.Path(os.environ["CALLS"])
calls.mkdir(parents=True, exist_ok=True)
(calls / f"pull-{time.monotonic_ns()}").write_text(os.environ.get("FORKWAVE_CONFIG_REGION", ""))
with urllib.request.urlopen(os.environ["FORKWAVE_CONFIG_API"] + "/apps") as answer:
    data = json.load(answer)
if data.get("fail"):
    print("fetching apps from the platform", flush=True)
    print(data["fail"], file=sys.stderr)
    sys.exit(7)
print(f"version: {data.get('version', 'v1')}")
out = pathlib.Path(os.environ["FORKWAVE_OUT"])
for name, body in data.get("files", {}).items():
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(body)
(out / "docs/runtime").mkdir(parents=True, exist_ok=True)
(out / "docs/runtime/apps_truth.json").write_text(json.dumps({"apps": data["apps"]}, indent=2, sort_keys=True) + "\\n")
for line in data.get("say", ()):
    print(line, file=sys.stderr)
print(f"wrote {len(data['apps'])} apps")
"""

# A push: record standard input and the files under $FORKWAVE_IN, then exit as PUSH_EXIT says.
PUSH = """\
import os, pathlib, sys, time
calls = pathlib.Path(os.environ["CALLS"]) / f"push-{time.monotonic_ns()}"
calls.mkdir(parents=True)
listed = sys.stdin.read()
(calls / "stdin").write_text(listed)
root = pathlib.Path(os.environ["FORKWAVE_IN"])
for path in listed.splitlines():
    if (root / path).is_file():
        (calls / "files" / path).parent.mkdir(parents=True, exist_ok=True)
        (calls / "files" / path).write_bytes((root / path).read_bytes())
code = int(pathlib.Path(os.environ["PUSH_EXIT"]).read_text() or 0) if os.environ.get("PUSH_EXIT") else 0
if code:
    print("notion: 401 unauthorized for workspace acme", file=sys.stderr)
    sys.exit(code)
print(f"sent {len(listed.splitlines())} pages to notion")
"""


class Api:
    """A JSON API on 127.0.0.1 the test changes between runs (``api.data = {...}``)."""

    def __init__(self, data: Mapping[str, Any]):
        self.data: dict[str, Any] = dict(data)
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = json.dumps(api.data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Api:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def api(data: Mapping[str, Any]) -> Iterator[Api]:
    with Api(data) as served:
        yield served


class Setup(NamedTuple):
    root: Path
    fork: Path
    workspace: Path
    calls: Path         # one entry per entrypoint call (outside the workspace)

    @property
    def reports(self) -> Path:
        return self.workspace / "reports"

    def pulls(self) -> list[Path]:
        return sorted(self.calls.glob("pull-*")) if self.calls.exists() else []

    def pushes(self) -> list[Path]:
        return sorted(self.calls.glob("push-*")) if self.calls.exists() else []


def setup(root: Path, fork_files: Mapping[str, Content], config: Mapping[str, Any]) -> Setup:
    """A fork (branch main, one commit of ``fork_files``), a workspace with the entrypoints in ``scripts/`` and
    ``config`` as its forkwave.yaml (with ``fork: {path: ../fork}`` unless it gives one)."""
    fork = make_repo(root / "fork", fork_files)
    ws = root / "ws"
    (ws / "scripts").mkdir(parents=True)
    (ws / "scripts" / "pull.py").write_text(PULL)
    (ws / "scripts" / "push.py").write_text(PUSH)
    write_config(ws, {"fork": {"path": "../fork", "branch": "main"}, "waves": {"a": {"buckets": ["*"]}}, **config})
    return Setup(root, fork, ws, root / "calls")


def pull_source(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "run": f"{sys.executable} scripts/pull.py", "outputs": ["docs/runtime/**"],
            "config": {"api": url}, **extra}


def push_source(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "direction": "push", "push_run": f"{sys.executable} scripts/push.py",
            "inputs": ["docs/notion/**"], **extra}


def env_for(s: Setup, **extra: str) -> dict[str, str]:
    return {"CALLS": str(s.calls), **extra}


def commit_fork(s: Setup, files: Mapping[str, Content], message: str = "fork edit") -> str:
    """A new commit on the fork's main with exactly ``files``."""
    return commit_tree(s.fork, files, message=message, tick=30)


def merge_sync(s: Setup, delete: bool = False) -> None:
    """The sync branch's pull request merged: ``main`` fast-forwards to ``sync/upstream`` (``delete``: and the
    branch is deleted, as a forge does after a merge; the next run starts it again from main)."""
    subprocess.run(["git", "-C", str(s.fork), "update-ref", "refs/heads/main", "refs/heads/sync/upstream"], check=True)
    if delete:
        subprocess.run(["git", "-C", str(s.fork), "update-ref", "-d", "refs/heads/sync/upstream"], check=True)


def git_lines(repo: Path, *args: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


def all_objects(repo: Path) -> bytes:
    """Every object of ``repo`` (loose and packed, reachable or not), as ``git cat-file --batch`` prints them."""
    return subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                          capture_output=True, check=True).stdout
