"""``fetch`` of a command source: run ``run`` into a scratch folder, sanitise what it wrote, commit it.

What the entrypoint wrote under ``$FORKWAVE_OUT`` that ``outputs`` names is the source's upstream tree: sanitised
(``tasks.engine.sanitize``), written into the source's mirror and committed on its ``outputs`` branch
(``tasks.repo.outputs``) — one deterministic commit per change, none when nothing changed — and recorded in
``upstream.json`` like a fetched commit. From there on it is a snapshot source like any other: drift against
the fork (3-way against the output commit the fork last landed, recorded in its sync state), slices, checks,
gates, verification, the sync branch, reports, ledger rows, publish.

The revision is the output commit; ``upstream.json`` also gives its tree (the content hash of the outputs: the
same files, the same id) and the entrypoint's version line. A failing entrypoint, one that wrote no file the
source owns (an empty tree would delete all of them), or one whose secrets cannot be replaced, is an error
naming the source (exit 3): nothing is committed and nothing lands.
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tasks.config import OUTPUT_REF, Config
from tasks.engine import entrypoint
from tasks.engine.sanitize import Sanitizer
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.globs import globs
from tasks.redact import Redactor, redact_text
from tasks.repo import git, outputs
from tasks.repo.fetch import source_key
from tasks.repo.importer import check_path
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

VERSION_TRAILER = "Forkwave-Version"


def fetch(cfg: Config, ws: Workspace, *, offline: bool = False) -> dict[str, Any]:
    """Run the entrypoint, commit what changed; ``offline=1``: the last outputs as recorded, nothing run."""
    src = cfg.current
    assert src.command is not None and src.command.run
    if offline:
        return _recorded(cfg, ws)
    mirror = outputs.init(ws)
    previous = outputs.tip(mirror)
    files, ver = _produce(cfg, ws)
    tree = outputs.write_tree(mirror, files)
    if previous is not None and git.tree_of(mirror, previous) == tree:
        sha = previous
    else:
        sha = outputs.commit(mirror, tree, previous, _message(src.name, len(files), ver))
        outputs.advance(ws, mirror, sha, previous)
    return _record(cfg, ws, mirror, sha, tree, previous, len(files))


def _produce(cfg: Config, ws: Workspace) -> tuple[dict[str, tuple[str, bytes]], str | None]:
    """(path -> (mode, sanitised bytes) of the files the source owns, its version line); what it left out said."""
    src = cfg.current
    entry = src.command
    assert entry is not None and entry.run
    with tempfile.TemporaryDirectory(prefix="forkwave-run-") as tmp:
        scratch = entrypoint.Scratch(Path(tmp)).make(entry.config)
        ran = entrypoint.run(cfg, ws, src, "run", scratch)
        taken, left_out = collect(scratch.out, entry.outputs)
        with Sanitizer(entry.sanitize, cfg.secrets, src.name) as clean:
            files = {path: (mode, clean.file(path, data)) for path, (mode, data) in taken.items()}
            redactor = Redactor.for_env(dict(entry.env))
            stdout = redactor.text(clean.text(ran.stdout, "run.stdout.log"))
            stderr = redactor.text(clean.text(ran.stderr, "run.stderr.log"))
        logs = entrypoint.write_logs(ws, "run", stdout, stderr)
    for path, why in left_out:
        print(f"fetch {src.name}: left out {path}: {why}")
    for path, count in sorted(clean.replaced.items()):
        print(f"fetch {src.name}: {path}: {count} secret{'' if count == 1 else 's'} replaced by <redacted:…>")
    last = entrypoint.last_line(stdout, stderr, failed=not ran.ok)
    where = f"{source_key(cfg, 'run')}: `{redact_text(entry.run)}`"
    if not ran.ok:
        raise ForkwaveFailure(f"{where} {entrypoint.describe(ran, last)}; nothing of {src.name} lands this run "
                              f"(its output: {ws.rel(logs)}/)")
    if not files:
        raise ForkwaveFailure(f"{where} wrote no file that outputs ({', '.join(entry.outputs)}) names, under "
                              f"$FORKWAVE_OUT; an empty output would delete every file {src.name} owns, so nothing "
                              f"lands (its output: {ws.rel(logs)}/)")
    return files, entrypoint.version(stdout)


def collect(root: Path, patterns: tuple[str, ...]) -> tuple[dict[str, tuple[str, bytes]], list[tuple[str, str]]]:
    """The regular files under ``root`` that ``patterns`` name: fork-side path -> (git mode, bytes); and what was
    left out, with why (not named by ``outputs``, a symlink, a path the fork cannot hold)."""
    owned = globs(patterns)
    taken: dict[str, tuple[str, bytes]] = {}
    left: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            info = full.lstat()
            problem = check_path(rel)
            if problem:
                left.append((rel, problem))
            elif stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
                left.append((rel, "not a regular file (a command source gives files, not symlinks)"))
            elif not owned(rel):
                left.append((rel, f"outputs ({', '.join(patterns)}) does not name it"))
            else:
                taken[rel] = ("100755" if info.st_mode & stat.S_IXUSR else "100644", full.read_bytes())
    return taken, left


def _message(name: str, count: int, ver: str | None) -> str:
    lines = [f"forkwave: {name}: {count} file{'' if count == 1 else 's'} as its entrypoint wrote them", "",
             f"Forkwave-Source: {name}"]
    return "\n".join(lines + ([f"{VERSION_TRAILER}: {ver}"] if ver else [])) + "\n"


def version_of(mirror: Path, sha: str) -> str | None:
    """The version line the entrypoint printed when it wrote the outputs of ``sha`` (its commit's trailer)."""
    body = git.git(mirror, "show", "-s", "--format=%B", sha).decode("utf-8", "replace")
    found = [line.split(":", 1)[1].strip() for line in body.splitlines() if line.startswith(f"{VERSION_TRAILER}:")]
    return found[-1] if found else None


def _record(cfg: Config, ws: Workspace, mirror: Path, sha: str, tree: str, previous: str | None,
            count: int) -> dict[str, Any]:
    """``upstream.json`` as a fetch writes it, rewritten only when the output commit moved."""
    src = cfg.current
    assert src.command is not None
    record = {"url": redact_text(src.command.label), "ref": OUTPUT_REF, "sha": sha, "tree": tree,
              "version": version_of(mirror, sha), "files": count}
    path = ws.source_report("upstream.json")
    before = read_json(path) if path.exists() else {}
    if {k: before.get(k) for k in record} != record:
        record["fetched_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_if_changed(path, dump_json(record))
    said = f" (version {record['version']})" if record["version"] else ""
    if sha == previous:
        print(f"fetch {src.name}: outputs unchanged at {sha[:12]} (tree {tree[:12]}), nothing to commit{said}")
    else:
        print(f"fetch {src.name}: {count} files -> {sha[:12]} (tree {tree[:12]}){said}")
    sys.stdout.flush()
    return record


def _recorded(cfg: Config, ws: Workspace) -> dict[str, Any]:
    path = ws.source_report("upstream.json")
    if not path.exists():
        raise ForkwaveError(f"offline=1 but {cfg.current.name} has no recorded outputs ({ws.rel(path)}); run once "
                            "without offline=1 (its entrypoint runs)")
    record = read_json(path)
    outputs.ensure(cfg, ws, record["sha"])
    print(f"fetch {cfg.current.name}: offline=1: the outputs recorded at {record['sha'][:12]}, nothing run")
    return dict(record)
