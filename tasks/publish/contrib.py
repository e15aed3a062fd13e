"""``doit publish`` for ``direction: push`` sources: push the export commit to ``push_url`` as ``contrib/<fork>``.

Never forced: a branch there that the export does not fast-forward is refused and reported. What was
pushed is recorded in the source's ``exported.json`` (source path -> blob id), so it is not exported again.
"""
from __future__ import annotations

from typing import Any

from tasks.config import Config
from tasks.engine import export
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.publish.push import PushRefused, push
from tasks.redact import redact_url
from tasks.repo import git
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed


def pending(cfg: Config, ws: Workspace) -> list[tuple[Config, Workspace, dict[str, Any]]]:
    """(source config, its workspace view, its export record) for every push source with something to push."""
    out = []
    for src in cfg.sources:
        if src.direction not in ("push", "both"):
            continue
        c = cfg.for_source(src.name)
        w = ws.scoped(src.name if cfg.several else None)
        path = w.source_report(export.RECORD)
        record = read_json(path) if path.exists() else None
        if record is None:
            print(f"publish: {src.name}: no export yet (run `doit` first)")
        elif not record.get("commit") and record.get("deferred"):
            failed = sorted({c for d in record["deferred"] for c in d["checks"]})
            raise ForkwaveError(f"publish: {src.name}: the export failed its push checks ({', '.join(failed)}) on "
                                f"every change; see {w.rel(path)}; nothing was pushed")
        elif not record.get("commit"):
            print(f"publish: {src.name}: nothing new to export to {redact_url(src.push_url or '')}")
        elif not record.get("ready"):
            bad = [r["name"] for r in record["checks"] if r["status"] not in ("passed", "skipped")]
            bad += [v["name"] for v in record.get("verify", ()) if not v["passed"]]
            raise ForkwaveError(f"publish: {src.name}: the export failed its push checks ({', '.join(bad)}); "
                                f"see {w.rel(path)}; nothing was pushed")
        else:
            out.append((c, w, record))
    return out


def push_exports(cfg: Config, ws: Workspace) -> list[dict[str, Any]]:
    """Push each ready export; record what went."""
    done = []
    for c, w, record in pending(cfg, ws):
        src = c.current
        url = src.push_url or ""
        bare, env = git.remote(url) if "://" in url else (url, {})
        mirror = w.mirror
        ref = f"refs/heads/{src.contrib_branch}"
        try:
            pushed = push(mirror, bare, [f"{record['commit']}:{ref}"], env,
                          tuple(v for k, v in env.items() if k == "FORKWAVE_GIT_PASSWORD"), shown=redact_url(url))
        except PushRefused as exc:
            raise ForkwaveFailure(f"publish: {src.name}: {exc}; {src.contrib_branch} there holds commits the export "
                                  "lacks (an earlier export?): merge or close its pull request and delete the "
                                  "branch, then publish again") from None
        kept = w.source_report(export.EXPORTED)
        paths = {**export.exported(w), **{f["source_path"]: f["oid"] for f in record["files"]}}
        write_if_changed(kept, dump_json({"paths": dict(sorted(paths.items())),
                                          "last": {"commit": record["commit"], "branch": src.contrib_branch}}))
        status = ", ".join(p.status for p in pushed) or "pushed"  # GitPython reports no line for some local pushes
        print(f"publish: {src.name}: pushed {src.contrib_branch} ({len(record['files'])} files) to {redact_url(url)}: "
              f"{status}")
        done.append({"source": src.name, "branch": src.contrib_branch, "commit": record["commit"],
                     "files": [f["source_path"] for f in record["files"]]})
    return done
