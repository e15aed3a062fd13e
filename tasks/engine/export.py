"""``direction: push``: build the source's export, judge it with the push checks in a checkout of it, record it.

``export.json`` (the source's reports) says what would go to ``push_url`` and why each other path does
not: refused (with the reason), skipped (the source has it, or it was exported before), conflicts
(changed on both sides: exported nowhere). ``exported.json`` lists what did go (source path -> blob id);
``tasks.publish.contrib`` writes it after a push, and ``exported_count`` is the hook the ledger's
``exported`` count reads.
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.model import Result
from tasks.config import Check, Command, Config
from tasks.engine import verify
from tasks.engine.validate import default_runner, request_for
from tasks.repo import export as building
from tasks.repo import git
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
    every = [f["path"] for f in built.files]
    results, verdicts = _checks(cfg, ws, mirror, built, report, every, dry) if built.commit else ([], [])
    if built.commit and not _passed(results, verdicts):
        deferred = _split(cfg, ws, mirror, built, report)  # like a wave's slice: the culprits stay, the rest goes
        if deferred and built.commit:
            results, verdicts = _checks(cfg, ws, mirror, built, report, [f["path"] for f in built.files], dry)
    record = built.to_json() | {"push_url": cfg.current.push_url, "checks": [], "verify": [], "ready": False,
                                "deferred": deferred}
    if built.commit:
        record["checks"] = [r.to_json() | ({"stdout": r.stdout, "stderr": r.stderr} if not r.ok else {})
                            | {"layout": _layout(cfg, r.name)} for r in results]
        record["verify"] = verdicts
        record["ready"] = _passed(results, verdicts)
    if not dry:
        write_if_changed(ws.source_report(RECORD), dump_json(record))
    return record


def _passed(results: list[Result], verdicts: list[dict[str, Any]]) -> bool:
    return all(r.ok for r in results) and all(v["passed"] for v in verdicts)


def _split(cfg: Config, ws: Workspace, mirror: Path, built: building.Export, report: Mapping[str, Any]
           ) -> list[dict[str, Any]]:
    """Revert and split the failing export (``tasks.core.bisect.isolate``): what passes stays in the commit,
    the culprits are deferred with the checks that failed; an export that fails on every part keeps nothing."""
    from tasks.core.bisect import Verdict, isolate

    def validate(adopted: Sequence[str], part: Sequence[str], n: int = 0) -> Verdict:
        results, verdicts = _checks(cfg, ws, mirror, built, report, sorted({*adopted, *part}), False)
        failing = [(r.name, f"{r.name}: {r.error or r.message}", _output(r.stdout, r.stderr))
                   for r in results if not r.ok]
        failing += [(v["name"], v["reason"], _output(v["stdout"], v["stderr"])) for v in verdicts if not v["passed"]]
        return Verdict(not failing, detail=failing)

    files = [f["path"] for f in built.files]
    found = isolate(files, validate)
    building.commit_files(cfg, mirror, built, found.adopted)
    out = []
    for group, detail in found.deferred:
        said = {name: text for name, _, text in detail or () if text}  # what each failing check printed, if anything
        out.append({"files": list(group), "checks": [name for name, _, _ in detail or ()],
                    "why": {name: reason for name, reason, _ in detail or ()}, **({"output": said} if said else {})})
    return out


def _output(stdout: str, stderr: str) -> str:
    """A failed check's last lines of output (its tails, joined)."""
    return "\n".join((stdout + "\n" + stderr).strip().splitlines()[-OUTPUT_LINES:])


OUTPUT_LINES = 15


def say(cfg: Config, record: Mapping[str, Any], where: str) -> list[str]:
    """What an export's checks said, for the run's output: each push check and verification that did not pass,
    with its reason, which layout it ran in, and its last lines of output; each deferred part with its checks'."""
    lines = []
    for r in record["checks"]:
        if r["status"] in ("passed", "skipped"):
            continue
        lines.append(f"export{where}: push check {r['name']} {r['status'].upper()} (in the {r['layout']}'s layout) — "
                     f"{r.get('error') or r['message']}")
        lines += _tail(r.get("stdout", ""), r.get("stderr", ""), r.get("log"), where, r["name"])
    for v in record.get("verify", ()):
        mark = "passed" if v["passed"] else "FAILED"
        lines.append(f"export{where}: verify {v['name']} {mark} (in the {v['layout']}'s layout) — {v['reason']}")
        if not v["passed"]:
            lines += _tail(v["stdout"], v["stderr"], v["log"], where, v["name"])
    for d in record.get("deferred", ()):
        lines.append(f"export{where}: deferred {', '.join(d['files'])}: {', '.join(d['checks'])} failed with it")
        for name in d["checks"]:
            layout = _layout(cfg, name)
            if name in d.get("why", {}):
                lines.append(f"export{where}:   {d['why'][name]} (in the {layout}'s layout)")
            text = d.get("output", {}).get(name)
            if text:
                lines += [f"export{where}: {name} output with it (last lines):"]
                lines += [f"    {x}" for x in text.splitlines()]
    return lines


def _tail(stdout: str, stderr: str, log: str | None, where: str, name: str) -> list[str]:
    out = _output(stdout, stderr)
    if not out:
        return []
    return ([f"export{where}: {name} output (last lines; full log {log or '-'}):"]
            + [f"    {x}" for x in out.splitlines()])


def _judges(cfg: Config) -> tuple[Check | Command, ...]:
    """What judges an export: the push checks, then the source's ``verify:`` commands."""
    return (*cfg.push_checks, *cfg.current.verify)


def _layout(cfg: Config, name: str) -> str:
    return next((c.layout for c in _judges(cfg) if c.name == name), "source")


def _checks(cfg: Config, ws: Workspace, mirror: Path, built: building.Export, report: Mapping[str, Any],
            paths: list[str], dry: bool) -> tuple[list[Result], list[dict[str, Any]]]:
    """Each push check, then the source's ``verify:``, on the export of ``paths``: each in a git checkout of its
    ``layout`` — the exported tree in the source's layout (on the source ref), or the fork's tree as the export
    leaves it (``layout: fork``) — in a temporary folder, never the fork's worktree."""
    commands = cfg.current.verify
    if dry:  # a dry run says which would run; it runs none
        return ([Result(c.name, "skipped", message="would run on the export (dry run)") for c in cfg.push_checks],
                [])
    if not cfg.push_checks and not commands:
        return [], []
    runner = default_runner(cfg, ws)
    env = {"FORKWAVE_DIRECTION": "push", "FORKWAVE_SOURCE": cfg.source}
    with tempfile.TemporaryDirectory(prefix="forkwave-export-") as tmp:
        trees = _checkouts(cfg, mirror, built, report, paths, {c.layout for c in _judges(cfg)},
                           Path(tmp))
        logs = ws.source_report("export-logs")
        results = [runner.run(request_for(c, trees[c.layout], env, logs, f"export-{c.name}")) for c in cfg.push_checks]
        verdicts = [verify.run_command(c, trees[c.layout], logs, env) | {"layout": c.layout} for c in commands]
    for v in verdicts:
        v["log"] = ws.rel(v["log"])
    return results, verdicts


def _checkouts(cfg: Config, mirror: Path, built: building.Export, report: Mapping[str, Any], paths: list[str],
               layouts: set[str], tmp: Path) -> dict[str, Path]:
    """A git checkout per layout the checks ask for: ``source`` on the source ref's tip, ``fork`` on the fork's."""
    out = {}
    if "source" in layouts:
        out["source"] = building.checkout(building.tree_for(mirror, built, paths), tmp / "source", built.base,
                                          built.branch, [git.object_dir(mirror)])
    if "fork" in layouts:
        out["fork"] = building.checkout(building.fork_tree_for(cfg, mirror, built, report, paths), tmp / "fork",
                                        report["fork"]["sha"], cfg.fork.branch,
                                        [git.object_dir(mirror), git.object_dir(cfg.fork.path)])
    return out
