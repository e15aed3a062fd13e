"""Slice and wave artifacts for people and CI: report.md, junit.xml, summary.json."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checks.disk import markdown as disk_markdown, usage
from checks.junit import suites_xml, testcase
from checks.model import Result
from tasks.globs import globs
from tasks.render import code, table
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

SIDE_EFFECTS = {
    "migrations": ("**/migrations/**", "**/migration/**", "**/*.sql", "**/alembic/**"),
    "config and env files": (".env*", "*.env", "**/config/**", "*.config.*", "*.ini", "*.toml", "*.conf",
                             "docker-compose*.y*ml", "Dockerfile*", ".github/workflows/**", "nx.json"),
    "dependency manifests and lockfiles": (
        "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json",
        "requirements*.txt", "pyproject.toml", "poetry.lock", "Pipfile", "Pipfile.lock", "uv.lock",
        "go.mod", "go.sum", "Cargo.toml", "Cargo.lock", "Gemfile", "Gemfile.lock", "composer.json", "composer.lock"),
}
STATUS_ICON = {"adopted": "✅", "empty": "➖", "split": "🟡", "reverted": "❌", "conflicted": "⚠️", "failed": "❌"}


def result_of(data: Mapping[str, Any]) -> Result:
    return Result(data["name"], data["status"], data.get("duration", 0.0), data.get("message", ""),
                  data.get("stdout", ""), data.get("stderr", ""), data.get("log"), data.get("kind", "check"))


def slice_cases(outcome: Mapping[str, Any]) -> list[Any]:
    cases = []
    classname = f"forkwave.{outcome['wave']}.{outcome['slice']}"
    for a in outcome["attempts"]:
        if a["inferred"]:
            continue
        suffix = "" if a["n"] == 1 else f" [attempt {a['n']}: {len(a['files'])} files]"
        cases += [testcase(result_of(r), classname, suffix) for r in a["results"]]
    return cases


def rollback_command(fork: str, outcome: Mapping[str, Any], sync_branch: str) -> str | None:
    """Revert every commit of the slice (newest first) on the sync branch."""
    commits = outcome.get("commits") or []
    if not commits:
        return None
    return (f"git -C {fork} checkout {sync_branch} && "
            f"git -C {fork} revert --no-edit {' '.join(reversed(commits))}")


def upstream_commits(ws: Workspace, name: str) -> list[dict[str, str]]:
    """The upstream commits that touched a slice's files since its base (from its import manifest)."""
    path = ws.reports / "slices" / name / "import.json"
    return read_json(path).get("commits", []) if path.exists() else []


def commits_table(commits: Sequence[Mapping[str, str]]) -> list[str]:
    if not commits:
        return ["No upstream commit touched these files since the base (or no base is known).", ""]
    rows = [[code(c["sha"][:12]), c["subject"].replace("|", "\\|")[:100], c["author"].replace("|", "\\|")]
            for c in commits]
    return [table(["commit", "subject", "author"], rows), ""]


def slice_markdown(outcome: Mapping[str, Any], fork: str, sync_branch: str,
                   commits: Sequence[Mapping[str, str]] = ()) -> str:
    status = outcome["status"]
    out = [f"# {outcome['slice']} (wave {outcome['wave']}): {STATUS_ICON.get(status, '')} {status}", "",
           f"Upstream {code(outcome['upstream'][:12])} onto {code(sync_branch)} at {code(outcome['parent'][:12])}; "
           f"{outcome['runs']} validation run(s), {outcome['duration']:.1f} s.", ""]
    if outcome.get("commits"):
        out += ["Commits: " + ", ".join(code(c) for c in outcome["commits"]), "",
                f"Roll back: {code(rollback_command(fork, outcome, sync_branch) or '')}", ""]
    adopted, deferred = set(outcome["adopted"]), {f: d for d in outcome["deferred"] for f in d["files"]}
    conflicts = {c["path"]: c["reason"] for c in outcome["conflicts"]}
    rows = []
    for f in outcome["files"]:
        p = f["path"]
        state = ("adopted" if p in adopted else "deferred" if p in deferred else "conflict" if p in conflicts
                 else "already applied" if p in outcome["applied_before"] else "—")
        rows.append([code(p), f["class"], state])
    out += ["## Files", "", table(["file", "class", "outcome"], rows), ""]
    if outcome["deferred"]:
        out += ["## Deferred", ""]
        for d in outcome["deferred"]:
            together = " (fail only together)" if len(d["files"]) > 1 else ""
            out += [f"- {', '.join(code(f) for f in d['files'])}{together}: {d['reason']}"]
            if d.get("output"):
                out += ["", "  <details><summary>output</summary>", "", "  ```",
                        *("  " + line for line in d["output"].splitlines()[-20:]), "  ```", "  </details>", ""]
        out += [""]
    if outcome["conflicts"]:
        out += ["## Conflicts (not imported)", ""]
        out += [f"- {code(c['path'])}: {c['reason']}" + (f" — resolve from [{c['file']}]({c['file']})" if c.get("file")
                                                          else "") for c in outcome["conflicts"]]
        out += [""]
    if outcome.get("reported"):
        out += ["## Left alone by policy", ""] + [f"- {code(r['path'])}: {r['reason']}" for r in outcome["reported"]]
        out += [""]
    out += ["## Upstream commits behind these changes", ""] + commits_table(commits)
    if outcome["attempts"]:
        out += ["## Checks", ""]
        rows = []
        for a in outcome["attempts"]:
            label = f"{a['n']}: {len(a['files'])} files" + (f" on top of {a['on_top_of']}" if a["on_top_of"] else "")
            if a["inferred"]:
                rows.append([label, "—", "failed (inferred: this tree already failed)", "", ""])
            for r in a["results"]:
                rows.append([label, code(r["name"]), r["status"], f"{r['duration']:.2f} s",
                             (r["message"] or "").replace("|", "\\|")[:160]])
        out += [table(["attempt", "check", "status", "duration", "message"], rows), ""]
    return "\n".join(out)


def write_slice(ws: Workspace, outcome: Mapping[str, Any], fork: str, sync_branch: str) -> None:
    d = ws.reports / "slices" / outcome["slice"]
    write_if_changed(d / "junit.xml", suites_xml([(outcome["slice"], slice_cases(outcome))]))
    write_if_changed(d / "report.md", slice_markdown(outcome, fork, sync_branch, upstream_commits(ws, outcome["slice"])))


def load_outcomes(ws: Workspace, names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    return {n: (read_json(p) if (p := ws.reports / "slices" / n / "outcome.json").exists() else None)
            for n in names}


def side_effects(paths: Sequence[str]) -> dict[str, list[str]]:
    return {kind: sorted(p for p in paths if globs(patterns)(p)) for kind, patterns in SIDE_EFFECTS.items()}


def _baseline_section(baseline: Mapping[str, Any] | None) -> list[str]:
    if not baseline:
        return []
    rows = [[code(r["name"]), r["status"], (r.get("message") or "").replace("|", "\\|")[:120]]
            for r in baseline["results"]]
    return ["## Baseline", "",
            f"Every check on the sync branch before the wave ({code(baseline['tip'][:12])}). A check failing here "
            "is pre-existing: it does not block a slice (unless `gating: strict`).", "",
            table(["check", "status", "message"], rows), ""]


def wave_markdown(wave: str, outcomes: Mapping[str, Mapping[str, Any] | None], fork: str, sync_branch: str,
                  baseline: Mapping[str, Any] | None = None,
                  commits: Mapping[str, Sequence[Mapping[str, str]]] | None = None) -> str:
    commits = commits or {}
    done = [o for o in outcomes.values() if o]
    adopted = sorted(p for o in done for p in o["adopted"])
    deferred = [(o["slice"], d) for o in done for d in o["deferred"]]
    conflicts = [(o["slice"], c) for o in done for c in o["conflicts"]]
    counts: dict[str, int] = {}
    for o in outcomes.values():
        s = o["status"] if o else "not run"
        counts[s] = counts.get(s, 0) + 1
    out = [f"# Wave {wave}", "", " · ".join(f"{k}: {v}" for k, v in sorted(counts.items())), "",
           table(["slice", "outcome", "files", "adopted", "deferred", "runs", "commit"],
                 ([n, f"{STATUS_ICON.get(o['status'], '')} {o['status']}" if o else "not run",
                   len(o["files"]) if o else "", len(o["adopted"]) if o else "",
                   sum(len(d["files"]) for d in o["deferred"]) if o else "", o["runs"] if o else "",
                   code(o["commits"][-1][:12]) if o and o.get("commits") else ""] for n, o in outcomes.items()),
                 "llrrrrl"), ""]
    out += _baseline_section(baseline)
    effects = side_effects(adopted)
    out += ["## Side effects to review", ""]
    for kind, paths in effects.items():
        out += [f"- **{kind}**: " + (", ".join(code(p) for p in paths[:20]) + (" …" if len(paths) > 20 else "")
                                     if paths else "none")]
    out += ["", f"## Adopted ({len(adopted)})", ""]
    out += ["<details><summary>paths</summary>", "", *(f"- {code(p)}" for p in adopted), "", "</details>", ""]
    out += [f"## Deferred ({sum(len(d['files']) for _, d in deferred)})", ""]
    out += [f"- {s}: {', '.join(code(f) for f in d['files'])}: {d['reason']}" for s, d in deferred] or ["none"]
    kept = [(o["slice"], r) for o in done for r in o.get("reported", ())]
    if kept:
        out += ["", f"## Kept by policy ({len(kept)})", ""]
        out += [f"- {s}: {code(r['path'])}: {r['reason']}" for s, r in kept]
    if conflicts:
        out += ["", f"## Conflicts ({len(conflicts)})", ""]
        out += [f"- {s}: {code(c['path'])}: {c['reason']}" for s, c in conflicts]
    if commits:
        out += ["", "## Upstream commits, by slice", ""]
        for name, cs in commits.items():
            out += [f"<details><summary>{name}: {len(cs)} commit(s)</summary>", ""] + commits_table(cs) + ["</details>", ""]
    rollbacks = [(o["slice"], rollback_command(fork, o, sync_branch)) for o in done if o.get("commits")]
    if rollbacks:
        out += ["", "## Roll back", "", "Newest first:", "", "```sh",
                *(f"{cmd}   # {s}" for s, cmd in reversed(rollbacks)), "```"]
    return "\n".join(out) + "\n"


def write_wave(ws: Workspace, wave: str, names: Sequence[str], fork: str, sync_branch: str) -> dict[str, Any]:
    outcomes = load_outcomes(ws, names)
    d = ws.reports / f"wave-{wave}"
    write_if_changed(d / "junit.xml", suites_xml([(n, slice_cases(o)) for n, o in outcomes.items() if o]))
    base = d / "baseline.json"
    disk = usage(ws.state)  # hook (issue 11): the wave's disk use, in disk.json and the report's last section
    write_if_changed(d / "disk.json", dump_json(disk))
    write_if_changed(d / "report.md", wave_markdown(wave, outcomes, fork, sync_branch,
                                                    read_json(base) if base.exists() else None,
                                                    {n: upstream_commits(ws, n) for n in names})
                     + "\n" + "\n".join(disk_markdown(disk)))
    return {n: (o["status"] if o else "not run") for n, o in outcomes.items()}


def write_summary(ws: Workspace, plan: Mapping[str, Any]) -> dict[str, Any]:
    waves = {}
    for w in plan["waves"]:
        outcomes = load_outcomes(ws, w["slices"])
        waves[w["name"]] = {n: ({"status": o["status"], "adopted": len(o["adopted"]),
                                 "deferred": sum(len(d["files"]) for d in o["deferred"]),
                                 "conflicts": len(o["conflicts"]), "commit": o.get("commit")}
                                if o else {"status": "not run"}) for n, o in outcomes.items()}
    statuses = [s["status"] for w in waves.values() for s in w.values()]
    summary = {"upstream": plan["upstream"],
               "status": "success" if all(s in ("adopted", "empty") for s in statuses) else
                         "partial" if any(s in ("adopted", "split") for s in statuses) else "failed",
               "slices": len(statuses),
               "counts": {s: statuses.count(s) for s in sorted(set(statuses))},
               "waves": waves}
    write_if_changed(ws.report("summary.json"), dump_json(summary))
    return summary
