"""Slice and wave artifacts for people and CI: report.md, junit.xml, summary.json.

Every report answers three questions without opening JSON: what landed, what did not and
why (the failing test or ``path:line`` from the failing run), and what to do next.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from checks.disk import markdown as disk_markdown, usage
from checks.junit import suites_xml, testcase
from checks.model import Result
from tasks.globs import globs
from tasks.core.plan import CI_DEFINITIONS
from tasks.report.render import code, table
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

# each label its own line in "Side effects to review"; first match wins
SIDE_EFFECTS: dict[str, tuple[str, ...]] = {
    "migrations": ("**/migrations/**", "**/migration/**", "**/*.sql", "**/alembic/**", "**/db/migrate/**"),
    "dependency manifests and lockfiles": (
        "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json", ".yarnrc.yml",
        "requirements*.txt", "requirements/*.txt", "constraints*.txt", "pyproject.toml", "setup.py", "setup.cfg",
        "poetry.lock", "Pipfile", "Pipfile.lock", "uv.lock", "pdm.lock", "go.mod", "go.sum", "Cargo.toml",
        "Cargo.lock", "Gemfile", "Gemfile.lock", "composer.json", "composer.lock"),
    "CI workflows": CI_DEFINITIONS,
    "Dockerfiles and compose files": ("Dockerfile*", "*.Dockerfile", "docker-compose*.y*ml", "compose*.y*ml",
                                      ".dockerignore"),
    "env files": (".env*", "*.env"),
    "config files": ("**/config/**", "*.config.*", "*.ini", "*.toml", "*.conf", "nx.json", "tsconfig*.json",
                     ".nvmrc", ".node-version"),
}
STATUS_ICON = {"adopted": "✅", "empty": "➖", "split": "🟡", "reverted": "❌", "conflicted": "⚠️", "failed": "❌",
               "rolled-back": "↩️", "error": "⛔"}


def result_of(data: Mapping[str, Any]) -> Result:
    return Result.from_json(dict(data))


def slice_cases(outcome: Mapping[str, Any]) -> list[Any]:
    cases = []
    classname = f"forkwave.{outcome['wave']}.{outcome['slice']}"
    for a in outcome["attempts"]:
        if a["inferred"]:
            continue
        suffix = "" if a["n"] == 1 else f" [attempt {a['n']}: {len(a['files'])} files]"
        cases += [testcase(result_of(r), classname, suffix) for r in a["results"]]
    return cases


def own_commits(outcome: Mapping[str, Any]) -> bool:
    """Are all the slice's commits its own (not a joint retry shared with other slices)?"""
    return not outcome.get("retried")


def rollback_command(fork: str, outcome: Mapping[str, Any], sync_branch: str) -> str | None:
    """``doit rollback:<slice>``: reverts on the sync branch in forkwave's private worktree."""
    return f"doit rollback:{outcome['slice']}" if outcome.get("commits") else None


def manual_rollback(fork: str, outcome: Mapping[str, Any], sync_branch: str) -> str | None:
    """The same by hand, in a temporary worktree: the person's own checkout is never switched."""
    commits = outcome.get("commits") or []
    if not commits or not own_commits(outcome):
        return None
    f = shlex.quote(fork)
    return (f'wt=$(mktemp -d) && git -C {f} worktree add -q "$wt" {shlex.quote(sync_branch)} && '
            f'git -C "$wt" revert --no-edit {" ".join(reversed(commits))} && git -C {f} worktree remove "$wt"')


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


def renamed_of(ws: Workspace, name: str) -> dict[str, str]:
    """fork path -> the upstream path it was paired with, for the slice's renamed files."""
    path = ws.reports / "slices" / name / "import.json"
    if not path.exists():
        return {}
    return {f["path"]: f["renamed_from"] for f in read_json(path).get("files", ()) if f.get("renamed_from")}


def file_label(path: str, renamed: Mapping[str, str]) -> str:
    return f"{code(path)} ← {code(renamed[path])}" if path in renamed else code(path)


def _states(outcome: Mapping[str, Any]) -> dict[str, str]:
    """path -> what happened to it, in words."""
    states: dict[str, str] = {}
    removed = set(outcome.get("removed", ()))
    for p in outcome["adopted"]:
        states[p] = "removed" if p in removed else "adopted"
    for d in outcome["deferred"]:
        for p in d["files"]:
            states[p] = "deferred"
    for c in outcome["conflicts"]:
        states[c["path"]] = "conflict"
    for r in outcome.get("resolved", ()):
        states[r["path"]] = f"resolved by a person ({code(r['commit'][:12])})"
    for r in outcome.get("rolled_back", ()):
        states[r["path"]] = f"rolled back ({code(r['commit'][:12])})"
    for r in outcome.get("reported", ()):
        states.setdefault(r["path"], "kept by policy")
    for p in outcome.get("applied_before", ()):
        states.setdefault(p, "already applied")
    return states


def attempts_line(outcome: Mapping[str, Any]) -> str:
    attempts = outcome["attempts"]
    inferred = sum(1 for a in attempts if a["inferred"])
    memo = sum(1 for a in attempts if not a["inferred"] and not a.get("ran", True))
    ran = len(attempts) - inferred - memo
    parts = [f"{ran} run"] + ([f"{inferred} inferred"] if inferred else []) + ([f"{memo} from the memo"] if memo else [])
    return f"{len(attempts)} attempt(s): {', '.join(parts)}" if attempts else "no validation needed"


def next_steps(outcome: Mapping[str, Any]) -> list[str]:
    steps = [f"conflict {code(c['path'], cell=False)}: {c['next']}" for c in outcome["conflicts"] if c.get("next")]
    steps += [f"deferred {', '.join(code(f, cell=False) for f in d['files'][:5])}"
              f"{' …' if len(d['files']) > 5 else ''}: {d['next']}" for d in outcome["deferred"] if d.get("next")]
    if outcome.get("error"):
        steps.insert(0, f"{outcome['error']}")
    return steps


def slice_markdown(outcome: Mapping[str, Any], fork: str, sync_branch: str,
                   commits: Sequence[Mapping[str, str]] = (), renamed: Mapping[str, str] | None = None) -> str:
    renamed = renamed or {}
    name, status = outcome["slice"], outcome["status"]
    run = outcome.get("run")
    where = f"wave {outcome['wave']}" + (f", source {outcome['source']}" if outcome.get("source") else "")
    out = [f"# {name} ({where}): {STATUS_ICON.get(status, '')} {status}", "",
           f"Upstream {code(outcome['upstream'][:12])} onto {code(sync_branch)} at {code(outcome['parent'][:12])}; "
           f"{attempts_line(outcome)}; {outcome['duration']:.1f} s" + (f"; run {code(run)}" if run else "") + ".", ""]
    steps = next_steps(outcome)
    if steps:
        out += ["## What to do next", ""] + [f"- {s}" for s in steps] + [""]
    states = _states(outcome)
    rows = [[file_label(f["path"], renamed), f["class"], states.get(f["path"], "—")] for f in outcome["files"]]
    out += ["## Files", "", table(["file", "class", "outcome"], rows), ""]
    if outcome["deferred"]:
        out += ["## Deferred", ""]
        for d in outcome["deferred"]:
            together = " (fail only together)" if len(d["files"]) > 1 else ""
            out += [f"- {', '.join(code(f, cell=False) for f in d['files'])}{together}: {d['reason']}"]
            for t in d.get("tests", ())[:10]:
                out += [f"  - test {code(t['id'], cell=False)}" + (f": {t['line']}" if t.get("line") else "")]
            if d.get("log"):
                out += [f"  - full log: [{d['log']}](../../{d['log']})"]
            if d.get("output"):
                out += ["", "  <details><summary>output</summary>", "", "  ```",
                        *("  " + line for line in d["output"].splitlines()[-20:]), "  ```", "  </details>", ""]
        out += [""]
    if outcome.get("groups_split"):
        out += ["## Coupled groups cut apart (last resort)", ""]
        out += [f"- {', '.join(code(f, cell=False) for f in g)}" for g in outcome["groups_split"]] + [""]
    if outcome["conflicts"]:
        out += ["## Conflicts (not imported)", ""]
        for c in outcome["conflicts"]:
            link = f" — resolve from [{c['file']}]({c['file']})" if c.get("file") else ""
            out += [f"- {code(c['path'], cell=False)}: {c['reason']}{link}"]
        out += ["", f"Resolve each one: edit the file under `conflicts/` and run `doit resolve:{name}`, or commit "
                f"your resolution on {code(sync_branch, cell=False)} from any checkout of your own; the next "
                "`doit` validates it and reports the slice adopted.", ""]
    if outcome.get("resolved"):
        out += ["## Resolved by a person", ""]
        out += [f"- {code(r['path'], cell=False)}: resolved by a person in {code(r['commit'][:12], cell=False)}; "
                "kept as committed" for r in outcome["resolved"]] + [""]
    if outcome.get("rolled_back"):
        out += ["## Rolled back", ""]
        out += [f"- {code(r['path'], cell=False)}: rolled back in {code(r['commit'][:12], cell=False)}; left alone "
                f"until upstream changes it again (or `doit readopt:{name}`)" for r in outcome["rolled_back"]] + [""]
    if outcome.get("reported"):
        out += ["## Left alone by policy", ""] + [f"- {code(r['path'], cell=False)}: {r['reason']}"
                                                  for r in outcome["reported"]]
        out += [""]
    if outcome.get("commits"):
        out += ["## Commits on the sync branch", "", ", ".join(code(c, cell=False) for c in outcome["commits"]), "",
                f"Roll back: `{rollback_command(fork, outcome, sync_branch)}` (reverts on {code(sync_branch, cell=False)}"
                " in forkwave's private worktree; your checkout is not touched)."]
        manual = manual_rollback(fork, outcome, sync_branch)
        if manual:
            out += ["", "Or by hand, in a temporary worktree:", "", "```sh", manual, "```"]
        out += [""]
    out += ["## Upstream commits behind these changes", ""] + commits_table(commits)
    if outcome["attempts"]:
        out += ["## Checks", "", f"Attempt *n* keeps its logs in `logs/{run or '<run>'}/attempt-n/`.", ""]
        rows = []
        for a in outcome["attempts"]:
            label = f"{a['n']}: {len(a['files'])} files" + (f" on top of {a['on_top_of']}" if a["on_top_of"] else "")
            if a["inferred"]:
                rows.append([label, "—", "failed (inferred: this tree already failed)", "", ""])
            for r in a["results"]:
                memo = " (memo)" if r.get("memo") else ""
                rows.append([label, code(r["name"]), r["status"] + memo, f"{r['duration']:.2f} s",
                             (r.get("error") or r["message"] or "").replace("|", "\\|")[:160]])
        out += [table(["attempt", "check", "status", "duration", "message"], rows), ""]
    return "\n".join(out)


def write_slice(ws: Workspace, outcome: Mapping[str, Any], fork: str, sync_branch: str) -> None:
    d = ws.reports / "slices" / outcome["slice"]
    write_if_changed(d / "junit.xml", suites_xml([(outcome["slice"], slice_cases(outcome))]))
    write_if_changed(d / "report.md", slice_markdown(outcome, fork, sync_branch, upstream_commits(ws, outcome["slice"]),
                                                     renamed_of(ws, outcome["slice"])))


def load_outcomes(ws: Workspace, names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    return {n: (read_json(p) if (p := ws.reports / "slices" / n / "outcome.json").exists() else None)
            for n in names}


def side_effects(paths: Sequence[str]) -> dict[str, list[str]]:
    """Paths by kind of side effect, each path under its first matching label."""
    out: dict[str, list[str]] = {kind: [] for kind in SIDE_EFFECTS}
    for p in sorted(paths):
        for kind, patterns in SIDE_EFFECTS.items():
            if globs(patterns)(p):
                out[kind].append(p)
                break
    return out


def _baseline_section(baseline: Mapping[str, Any] | None) -> list[str]:
    if not baseline:
        return []
    rows = [[code(r["name"]), r["status"], (r.get("error") or r.get("message") or "").replace("|", "\\|")[:120]]
            for r in baseline["results"]]
    return ["## Baseline", "",
            f"Every check on the sync branch before the wave ({code(baseline['tip'][:12])}). A check (or, with "
            "`junit:`, a test) failing here is pre-existing: it does not block a slice (unless `gating: strict`).", "",
            table(["check", "status", "message"], rows), ""]


def _paths(paths: Sequence[str], renamed: Mapping[str, str], limit: int = 20) -> str:
    shown = ", ".join(file_label(p, renamed) for p in paths[:limit])
    return shown + (f" … and {len(paths) - limit} more" if len(paths) > limit else "")


def wave_markdown(wave: str, outcomes: Mapping[str, Mapping[str, Any] | None], fork: str, sync_branch: str,
                  baseline: Mapping[str, Any] | None = None,
                  commits: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
                  renamed: Mapping[str, str] | None = None, retry: Mapping[str, Any] | None = None) -> str:
    commits, renamed = commits or {}, renamed or {}
    done = [o for o in outcomes.values() if o]
    removed = {p for o in done for p in o.get("removed", ())}
    adopted = sorted(p for o in done for p in o["adopted"] if p not in removed)
    deferred = [(o["slice"], d) for o in done for d in o["deferred"]]
    conflicts = [(o["slice"], c) for o in done for c in o["conflicts"]]
    counts: dict[str, int] = {}
    for o in outcomes.values():
        s = o["status"] if o else "not run"
        counts[s] = counts.get(s, 0) + 1
    by_source = any(o and o.get("source") for o in outcomes.values())  # several sources: a column, sorted by it
    rows = [([o.get("source", "") if o else ""] if by_source else [])
            + [f"[{n}](../slices/{n}/report.md)", f"{STATUS_ICON.get(o['status'], '')} {o['status']}" if o else
               "not run", len(o["files"]) if o else "", len(o["adopted"]) if o else "",
               sum(len(d["files"]) for d in o["deferred"]) if o else "", len(o["conflicts"]) if o else "",
               o["runs"] if o else "", code(o["commits"][-1][:12]) if o and o.get("commits") else ""]
            for n, o in outcomes.items()]
    if by_source:
        rows.sort(key=lambda row: row[0])
    out = [f"# Wave {wave}", "", " · ".join(f"{k}: {v}" for k, v in sorted(counts.items())), "",
           table((["source"] if by_source else []) + ["slice", "outcome", "files", "adopted", "deferred", "conflicts",
                                                      "runs", "commit"],
                 rows, ("l" if by_source else "") + "llrrrrrl"), ""]
    if deferred or conflicts:
        out += ["## What to do next", ""]
        out += [f"- {s}: conflict in {code(c['path'], cell=False)}"
                + (f" ([conflict file](../slices/{s}/{c['file']}))" if c.get("file") else "") + f": {c.get('next', '')}"
                for s, c in conflicts]
        out += [f"- {s}: {_paths(d['files'], renamed, 5)} deferred: {d.get('next', d['reason'])}" for s, d in deferred]
        out += [""]
    out += _baseline_section(baseline)
    effects = side_effects(sorted({*adopted, *removed}))
    out += ["## Side effects to review", ""]
    for kind, paths in effects.items():
        out += [f"- **{kind}**: " + (_paths(paths, renamed) if paths else "none")]
    out += ["", f"## Adopted ({len(adopted)})", ""]
    out += ["<details><summary>paths</summary>", "", *(f"- {file_label(p, renamed)}" for p in adopted), "",
            "</details>", ""]
    if removed:
        out += [f"## Removed ({len(removed)})", "", "Deleted upstream, and gone from the sync branch now:", ""]
        out += [f"- {code(p, cell=False)}" for p in sorted(removed)] + [""]
    renames = sorted(p for p in {*adopted} if p in renamed)
    if renames:
        out += [f"## Renamed in the fork ({len(renames)})", "", "Upstream's changes landed at the fork's name:", ""]
        out += [f"- {code(p, cell=False)} ← {code(renamed[p], cell=False)}" for p in renames] + [""]
    out += [f"## Deferred ({sum(len(d['files']) for _, d in deferred)})", ""]
    out += [f"- {s}: {_paths(d['files'], renamed, 10)}: {d['reason']}" for s, d in deferred] or ["none"]
    if retry and retry.get("retried"):
        out += ["", "## Joint retry", "",
                f"After the wave, {len(retry['retried'])} deferred file(s) of this and earlier waves were validated "
                f"again together on the sync tip: {len(retry.get('adopted', ()))} landed"
                + (f" in {code(retry['commit'][:12], cell=False)}" if retry.get("commit") else "")
                + f" ({retry.get('runs', 0)} run(s))."]
    kept = [(o["slice"], r) for o in done for r in o.get("reported", ())]
    if kept:
        out += ["", f"## Kept by policy ({len(kept)})", ""]
        out += [f"- {s}: {code(r['path'], cell=False)}: {r['reason']}" for s, r in kept]
    if conflicts:
        out += ["", f"## Conflicts ({len(conflicts)})", ""]
        out += [f"- {s}: {code(c['path'], cell=False)}: {c['reason']}"
                + (f" — [resolve from here](../slices/{s}/{c['file']})" if c.get("file") else "") for s, c in conflicts]
        out += ["", "Edit the conflict file and run `doit resolve:<slice>`, or commit your resolution on "
                f"{code(sync_branch, cell=False)} from any checkout; the next `doit` validates it."]
    if commits:
        out += ["", "## Upstream commits, by slice", ""]
        for name, cs in commits.items():
            out += [f"<details><summary>{name}: {len(cs)} commit(s)</summary>", ""] + commits_table(cs) + ["</details>", ""]
    rollbacks = [o["slice"] for o in done if o.get("commits")]
    if rollbacks:
        out += ["", "## Roll back", "", "Each command reverts on the sync branch in forkwave's private worktree "
                "(your checkout is not touched); newest first:", "", "```sh",
                *(f"doit rollback:{s}" for s in reversed(rollbacks)), "```"]
    return "\n".join(out) + "\n"


def write_wave(ws: Workspace, wave: str, names: Sequence[str], fork: str, sync_branch: str,
               disk: bool = False) -> dict[str, Any]:
    outcomes = load_outcomes(ws, names)
    d = ws.reports / f"wave-{wave}"
    write_if_changed(d / "junit.xml", suites_xml([(n, slice_cases(o)) for n, o in outcomes.items() if o]))
    base, retry = d / "baseline.json", d / "retry.json"
    renamed = {k: v for n in names for k, v in renamed_of(ws, n).items()}
    text = wave_markdown(wave, outcomes, fork, sync_branch, read_json(base) if base.exists() else None,
                         {n: upstream_commits(ws, n) for n in names}, renamed,
                         read_json(retry) if retry.exists() else None)
    if disk:  # the wave's disk use, measured when the wave ends (walking node_modules takes a while)
        write_if_changed(d / "disk.json", dump_json(usage(ws.state)))
    if (d / "disk.json").exists():
        text += "\n" + "\n".join(disk_markdown(read_json(d / "disk.json")))
    write_if_changed(d / "report.md", text)
    return {n: (o["status"] if o else "not run") for n, o in outcomes.items()}


def slice_summary(o: Mapping[str, Any]) -> dict[str, Any]:
    return {**({"source": o["source"]} if o.get("source") else {}), "status": o["status"],
            "adopted": [p for p in o["adopted"] if p not in set(o.get("removed", ()))],
            "removed": list(o.get("removed", ())),
            "deferred": [{"files": d["files"], "reason": d["reason"], "next": d.get("next", "")}
                         | ({"tests": [t["id"] for t in d["tests"]]} if d.get("tests") else {})
                         for d in o["deferred"]],
            "conflicts": [{k: c[k] for k in ("path", "reason", "file", "next") if k in c} for c in o["conflicts"]],
            "resolved": list(o.get("resolved", ())), "rolled_back": list(o.get("rolled_back", ())),
            "commits": list(o.get("commits", ())),
            "commit": (o.get("commits") or [None])[-1],
            "report": f"reports/slices/{o['slice']}/report.md"}


def write_summary(ws: Workspace, plan: Mapping[str, Any]) -> dict[str, Any]:
    waves: dict[str, dict[str, Any]] = {}
    for w in plan["waves"]:
        outcomes = load_outcomes(ws, w["slices"])
        waves[w["name"]] = {n: (slice_summary(o) if o else {"status": "not run"}) for n, o in outcomes.items()}
    every = [s for w in waves.values() for s in w.values()]
    statuses = [s["status"] for s in every]
    settled = ("adopted", "empty", "rolled-back")
    files = {"adopted": sum(len(s.get("adopted", ())) + len(s.get("removed", ())) for s in every),
             "deferred": sum(len(d["files"]) for s in every for d in s.get("deferred", ())),
             "conflicted": sum(len(s.get("conflicts", ())) for s in every)}
    summary = {"upstream": plan["upstream"],
               "status": "success" if all(s in settled for s in statuses) else
                         "partial" if any(s in ("adopted", "split", "conflicted") for s in statuses) else "failed",
               "slices": len(statuses),
               "counts": {s: statuses.count(s) for s in sorted(set(statuses))},
               "files": files,
               "next_steps": [f"{n}: {step}" for w in waves.values() for n, s in w.items()
                              for step in ([c["next"] for c in s.get("conflicts", ()) if c.get("next")]
                                           + [d["next"] for d in s.get("deferred", ()) if d.get("next")])],
               "waves": waves}
    write_if_changed(ws.report("summary.json"), dump_json(summary))
    return summary
