"""``direction: push``: build the source's export, judge it with the push checks in the source's tree, record it.

``export.json`` (the source's reports) says what would go to ``push_url`` and why each other path does
not: refused (with the reason), skipped (the source has it, or it was exported before), conflicts
(changed on both sides: exported nowhere). ``exported.json`` lists what did go (source path -> blob id);
``tasks.publish.contrib`` writes it after a push, and ``exported_count`` is the hook the ledger's
``exported`` count reads.
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checks.model import Result
from tasks.config import Config
from tasks.engine import verify
from tasks.engine.validate import default_runner, request_for
from tasks.repo import export as building
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

RECORD, EXPORTED = "export.json", "exported.json"
FIXED_DATE = "@0 +0000"


def exported(ws: Workspace) -> dict[str, str]:
    """What went to the source before: source path -> blob id."""
    path = ws.source_report(EXPORTED)
    return dict(read_json(path).get("paths", {})) if path.exists() else {}


def exported_count(ws: Workspace, source: str | None = None) -> int:
    """Hook for the ledger (``syncs.exported``): paths the source's pushes exported so far."""
    return len(exported(ws.scoped(source)))


def prepare(cfg: Config, ws: Workspace, mirror: Path, report: Mapping[str, Any], dry: bool = False) -> dict[str, Any]:
    """The export and its checks' verdicts, recorded (not in a dry run); nothing is pushed here."""
    built = building.build(cfg, mirror, report, exported(ws), fixed_date=FIXED_DATE if dry else None)
    deferred: list[dict[str, Any]] = []
    results, verdicts = _checks(cfg, ws, mirror, built.tree or "", dry) if built.commit else ([], [])
    if built.commit and not _passed(results, verdicts):
        deferred = _split(cfg, ws, mirror, built)  # like a wave's slice: the culprits stay, the rest goes
        if deferred and built.commit:
            results, verdicts = _checks(cfg, ws, mirror, built.tree or "", dry)
    record = built.to_json() | {"push_url": cfg.current.push_url, "checks": [], "verify": [], "ready": False,
                                "deferred": deferred}
    if built.commit:
        record["checks"] = [r.to_json() | ({"stdout": r.stdout} if not r.ok else {}) for r in results]
        record["verify"] = verdicts
        record["ready"] = _passed(results, verdicts)
    if not dry:
        write_if_changed(ws.source_report(RECORD), dump_json(record))
    return record


def _passed(results: list[Result], verdicts: list[dict[str, Any]]) -> bool:
    return all(r.ok for r in results) and all(v["passed"] for v in verdicts)


def _split(cfg: Config, ws: Workspace, mirror: Path, built: building.Export) -> list[dict[str, Any]]:
    """Revert and split the failing export (``tasks.core.bisect.isolate``): what passes stays in the commit,
    the culprits are deferred with the checks that failed; an export that fails on every part keeps nothing."""
    from tasks.core.bisect import Verdict, isolate

    def validate(adopted: list[str], part: list[str], n: int = 0) -> Verdict:
        tree = building.tree_for(mirror, built, sorted({*adopted, *part}))
        results, verdicts = _checks(cfg, ws, mirror, tree, False)
        failing = [r.name for r in results if not r.ok] + [v["name"] for v in verdicts if not v["passed"]]
        return Verdict(not failing, detail=failing)

    files = [f["path"] for f in built.files]
    found = isolate(files, validate)
    building.commit_files(cfg, mirror, built, found.adopted)
    return [{"files": list(group), "checks": list(detail or ())} for group, detail in found.deferred]


def _checks(cfg: Config, ws: Workspace, mirror: Path, tree: str, dry: bool
            ) -> tuple[list[Result], list[dict[str, Any]]]:
    """Each push check, then the source's ``verify:``, on a checkout of the export's tree (a temporary folder,
    never the fork's worktree)."""
    commands = cfg.current.verify
    if dry:  # a dry run says which would run; it runs none
        return ([Result(c.name, "skipped", message="would run on the export (dry run)") for c in cfg.push_checks],
                [])
    if not cfg.push_checks and not commands:
        return [], []
    runner = default_runner(cfg, ws)
    env = {"FORKWAVE_DIRECTION": "push", "FORKWAVE_SOURCE": cfg.source}
    with tempfile.TemporaryDirectory(prefix="forkwave-export-") as tmp:
        wt = building.checkout(mirror, tree, Path(tmp))
        logs = ws.source_report("export-logs")
        results = [runner.run(request_for(c, wt, env, logs, f"export-{c.name}")) for c in cfg.push_checks]
        verdicts = [verify.run_command(c, wt, logs, env) for c in commands]
    for v in verdicts:
        v["log"] = ws.rel(v["log"])
    return results, verdicts
