"""``doit publish`` for ``direction: push`` sources: push the export commit to ``push_url`` as ``contrib/<fork>``.

Never forced: a branch there that the export does not fast-forward is refused and reported. What was
pushed is recorded in the source's ``exported.json`` (source path -> blob id), so it is not exported again.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tasks.config import Config
from tasks.engine import export
from tasks.errors import ForkwaveFailure
from tasks.publish.push import PushRefused, push
from tasks.redact import redact_url
from tasks.repo import git
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed


def pending(cfg: Config, ws: Workspace, only: Sequence[str] | None = None
            ) -> tuple[list[tuple[Config, Workspace, dict[str, Any]]], list[str]]:
    """(source config, its workspace view, its export record) for every push source (of ``only``) with something
    to push; and a line for each one held — its export failed its push checks, which the line names with what
    each said. A held source holds only itself."""
    out, held = [], []
    for src in cfg.sources:
        if src.direction not in ("push", "both") or (only is not None and src.name not in only):
            continue
        c = cfg.for_source(src.name)
        w = ws.scoped(src.name if cfg.several else None)
        path = w.source_report(export.RECORD)
        record = read_json(path) if path.exists() else None
        if record is None:
            print(f"publish: {src.name}: no export yet (run `doit` first)")
        elif not record.get("commit") and record.get("deferred"):
            blamed: dict[str, list[str]] = {}
            for d in record["deferred"]:
                for check in d["checks"]:
                    blamed.setdefault(d.get("why", {}).get(check) or check, []).extend(d["files"])
            failed = "; ".join(f"{c} ({', '.join(files[:3])}{' …' if len(files) > 3 else ''})"
                               for c, files in blamed.items())
            held.append(f"{src.name}: held, nothing pushed to {redact_url(src.push_url or '')}: the export failed its "
                        f"push checks on every change: {failed} ({w.rel(path)})")
        elif not record.get("commit"):
            print(f"publish: {src.name}: nothing new to export to {redact_url(src.push_url or '')}")
        elif not record.get("ready"):
            bad = [f"{r['name']}: {r.get('error') or r['message']}" for r in record["checks"]
                   if r["status"] not in ("passed", "skipped")]
            bad += [v["reason"] for v in record.get("verify", ()) if not v["passed"]]
            held.append(f"{src.name}: held, nothing pushed to {redact_url(src.push_url or '')}: the export failed its "
                        f"push checks — {'; '.join(bad)} ({w.rel(path)})")
        else:
            out.append((c, w, record))
    return out, held


def push_exports(cfg: Config, ws: Workspace,
                 only: Sequence[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Push each ready export (of the sources ``only`` names); record what went. Returns what went and the holds."""
    done = []
    ready, held = pending(cfg, ws, only)
    for c, w, record in ready:
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
    return done, held
