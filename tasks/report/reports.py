"""Slice and wave artifacts for people and CI: report.md, junit.xml, summary.json.

Every report answers three questions without opening JSON: what landed, what did not and
why (the failing test or ``path:line`` from the failing run), and what to do next.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from junit_xml import TestCase

from checks.disk import markdown as disk_markdown, usage
from checks.junit import suites_xml, testcase
from checks.model import Result
from tasks.core.outcome import COMMITS, ICONS, Deferral, Outcome, Status, Wait, add, plural
from tasks.core.runstatus import RUNNING, judge
from tasks.core.plan import CI_DEFINITIONS, Plan
from tasks.globs import globs
from tasks.report.render import code, table
from tasks.workspace import Workspace, dump_json, read_json, read_parsed, write_if_changed

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
STATUS_ICON = {str(k): v for k, v in ICONS.items()}
NOT_RUN = "not run"   # the reports' word for a slice no run has reached yet


def icon(status: Status | str) -> str:
    return STATUS_ICON.get(str(status), "")


# --- JUnit: what a CI test view shows -----------------------------------------------------------

def _label(item: Deferral | Wait, commits: Mapping[str, Mapping[str, Any]]) -> str:
    """What a deferred or waiting item is about, short: its commit(s), else its files."""
    shas = [item.commit] if isinstance(item, Deferral) and item.commit else list(getattr(item, "commits", ()))
    if shas:
        first = commits.get(shas[0], {})
        what = f"{shas[0][:10]} {first.get('subject', '')}".strip()
        return what + (f" (+{len(shas) - 1} more)" if len(shas) > 1 else "")
    files = list(item.files)
    return ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")


def slice_cases(o: Outcome, commits: Mapping[str, Mapping[str, Any]] | None = None) -> list[TestCase]:
    """The slice as test cases: the checks' verdict on what landed, and one case per item left — a failure for
    each deferral and each conflict, a skip for what waits, an error when a check could not run."""
    commits = commits or {}
    classname = f"forkwave.{o.wave}.{o.slice}"
    landed = next((a for a in reversed(o.attempts) if a.passed and not a.inferred), None)
    cases = [testcase(Result.from_json(dict(r)), classname) for r in (landed.results if landed else ())]
    for d in o.deferred:
        case = TestCase(f"deferred: {_label(d, commits)}", classname=classname, file=d.log,
                        stdout=d.output or None)
        case.add_failure_info(message=d.reason, output=d.output or None)
        cases.append(case)
    for c in o.conflicts:
        case = TestCase(f"conflict: {c.path}", classname=classname)
        case.add_failure_info(message=c.reason, output=c.next or None)
        cases.append(case)
    for w in o.waiting:
        case = TestCase(f"waiting: {_label(w, commits)}", classname=classname)
        case.add_skipped_info(message=w.reason)
        cases.append(case)
    if o.error:
        case = TestCase("error", classname=classname)
        case.add_error_info(message=o.error)
        cases.append(case)
    if not cases:
        cases.append(TestCase(str(o.status), classname=classname))
    return cases


# --- the slice report -------------------------------------------------------------------------------

def own_commits(o: Outcome) -> bool:
    """Are all the slice's commits its own (not a joint retry shared with other slices)?"""
    return not o.retried


def rollback_command(o: Outcome) -> str | None:
    """``doit rollback:<slice>``: reverts on the sync branch in forkwave's private worktree."""
    return f"doit rollback:{o.slice}" if o.commits and o.status is not Status.ROLLED_BACK else None


def manual_rollback(fork: str, o: Outcome, sync_branch: str) -> str | None:
    """The same by hand, in a temporary worktree: the person's own checkout is never switched."""
    if not o.commits or not own_commits(o) or o.status is Status.ROLLED_BACK:
        return None
    steps = revert_steps(o)
    if not steps:
        return None
    f = shlex.quote(fork)
    reverts = " && ".join(f'git -C "$wt" revert --no-edit {s}' for s in steps)
    return (f'wt=$(mktemp -d) && git -C {f} worktree add -q "$wt" {shlex.quote(sync_branch)} && '
            f'{reverts} && git -C {f} worktree remove "$wt"')


def revert_steps(o: Outcome) -> list[str]:
    """``git revert`` arguments that undo the slice, newest first: a merge against its first parent
    (``-m 1``), a fast-forward over its span (``from..to``), a pick or a file slice's commit as it is."""
    moves = (o.record.get("range") or {}).get("moves")
    if moves:
        out = []
        for m in reversed(moves):
            if m["how"] == "merge":
                out.append(f"-m 1 {m['to']}")
            elif m["how"] == "fast-forward" and m.get("from"):
                out.append(f"{m['from']}..{m['to']}")
            elif m["how"] == "revert":
                out.append(m["to"])
        return out
    return list(reversed(o.commits))


def upstream_commits(ws: Workspace, name: str) -> list[dict[str, str]]:
    """The upstream commits of a slice (commit slices: its own; file slices: those that touched its files since
    its base), from its import manifest."""
    path = ws.reports / "slices" / name / "import.json"
    return read_parsed(path, _manifest_commits) if path.exists() else []


def _manifest_commits(manifest: Mapping[str, Any]) -> list[dict[str, str]]:
    return list(manifest.get("commits", []))


def _manifest_renamed(manifest: Mapping[str, Any]) -> dict[str, str]:
    return {f["path"]: f["renamed_from"] for f in manifest.get("files", ()) if f.get("renamed_from")}


def commits_table(commits: Sequence[Mapping[str, str]], fates: Mapping[str, str] | None = None) -> list[str]:
    if not commits:
        return ["No upstream commit touched these files since the base (or no base is known).", ""]
    header = ["commit", "subject", "author"] + (["outcome"] if fates is not None else [])
    rows = [[code(c["sha"][:12]), c["subject"].replace("|", "\\|")[:100], c["author"].replace("|", "\\|")]
            + ([fates.get(c["sha"], "not reached")] if fates is not None else []) for c in commits]
    return [table(header, rows), ""]


def commit_fates(o: Outcome) -> dict[str, str]:
    """Upstream commit -> what happened to it, in words (commit slices)."""
    fates: dict[str, str] = {}
    for p in o.record.get("picked") or ():
        fates[p["sha"]] = (f"picked by a person as {code(p['commit'][:12])}" if p.get("by") else
                           f"picked as {code(p['commit'][:12])}")
    for s in o.adopted_commits:
        fates.setdefault(s, "adopted")
    for s in o.record.get("skipped") or ():
        fates[s["sha"]] = f"skipped: {s['reason']}"
    for d in o.deferred:
        if d.commit:
            fates[d.commit] = "deferred"
    for c in o.conflicts:
        if c.commit:
            fates[c.commit] = "conflicted"
    for w in o.waiting:
        for s in w.commits:
            fates[s] = f"waiting behind {code(w.behind[:10]) if w.behind else 'an earlier commit'}"
    return fates


def renamed_of(ws: Workspace, name: str) -> dict[str, str]:
    """fork path -> the upstream path it was paired with, for the slice's renamed files."""
    path = ws.reports / "slices" / name / "import.json"
    return read_parsed(path, _manifest_renamed) if path.exists() else {}


def file_label(path: str, renamed: Mapping[str, str]) -> str:
    return f"{code(path)} ← {code(renamed[path])}" if path in renamed else code(path)


def _states(o: Outcome) -> dict[str, str]:
    """path -> what happened to it, in words."""
    states: dict[str, str] = {}
    removed = set(o.removed)
    for w in o.waiting:
        for p in w.files:
            states[p] = "waiting"
    for p in o.adopted:
        states[p] = "removed" if p in removed else "adopted"
    for d in o.deferred:
        for p in d.files:
            states[p] = "deferred"
    for c in o.conflicts:
        states[c.path] = "conflict"
    for r in o.resolved:
        states[r["path"]] = f"resolved by a person ({code(r['commit'][:12])})"
    for r in o.rolled_back:
        states[r["path"]] = f"rolled back ({code(r['commit'][:12])})"
    for r in o.reported:
        states.setdefault(r["path"], "kept by policy")
    for p in o.applied_before:
        states.setdefault(p, "already applied")
    culprit = o.record.get("culprit") or {}
    for p in culprit.get("files", ()):  # a commit slice: the rest of a commit that conflicts or fails
        which = "conflicts" if culprit.get("kind") == "conflict" else "fails"
        states.setdefault(p, f"in {code(culprit['sha'][:10])}, which {which}")
    return states


def attempts_line(o: Outcome) -> str:
    attempts = o.attempts
    inferred = sum(1 for a in attempts if a.inferred)
    nothing = sum(1 for a in attempts if not a.inferred and not a.results)
    memo = sum(1 for a in attempts if not a.inferred and a.results and not a.ran)
    ran = len(attempts) - inferred - memo - nothing
    parts = ([f"{ran} run"] + ([f"{inferred} inferred"] if inferred else [])
             + ([f"{memo} from the memo"] if memo else [])
             + ([f"{nothing} with no check or gate to run"] if nothing else []))
    return f"{len(attempts)} attempt(s): {', '.join(parts)}" if attempts else "no validation needed"


def engine_notes(o: Outcome) -> list[str]:
    """Checks that ran again on another Docker engine because the one they started on failed (``rerun``):
    the slice's own, and those of the run's batch when the batch judged it."""
    own = [f"attempt {a.n}, check {code(r['name'], cell=False)}: {r['rerun']}"
           for a in o.attempts for r in a.results if r.get("rerun")]
    return list(dict.fromkeys(own + [f"in the run's batch, {line}" for line in o.validated.get("engines", ())]))


def _engines_section(lines: Sequence[str]) -> list[str]:
    if not lines:
        return []
    return ["## Engines", "", "A Docker engine failed during the run; its checks ran again on another engine and the "
            "run went on (no verdict was taken from the engine that failed):", "", *(f"- {line}" for line in lines),
            ""]


def next_steps(o: Outcome) -> list[str]:
    steps = [f"conflict {code(c.path, cell=False)}: {c.next}" for c in o.conflicts if c.next]
    steps += [f"deferred {', '.join(code(f, cell=False) for f in d.files[:5])}"
              f"{' …' if len(d.files) > 5 else ''}: {d.next}" for d in o.deferred if d.next]
    steps += [f"waiting: {w.next}" for w in o.waiting if w.next]
    if o.error:
        steps.insert(0, o.error)
    return list(dict.fromkeys(steps))


def slice_markdown(o: Outcome, fork: str, sync_branch: str, commits: Sequence[Mapping[str, str]] = (),
                   renamed: Mapping[str, str] | None = None) -> str:
    renamed = renamed or {}
    name, run = o.slice, o.run
    where = f"wave {o.wave}" + (f", source {o.source}" if o.source else "")
    counted = f"{o.counts().line()}; " if o.unit == COMMITS else ""
    what = (f"{code(o.slice_commits[0][:12])}..{code(o.slice_commits[-1][:12])}"
            if o.unit == COMMITS and o.slice_commits else code(o.upstream[:12]))
    out = [f"# {name} ({where}): {icon(o.status)} {o.status}", "",
           f"Upstream {what} onto {code(sync_branch)} at {code(o.parent[:12])}; {counted}"
           f"{attempts_line(o)}; {o.duration:.1f} s" + (f"; run {code(run)}" if run else "") + ".", ""]
    if o.validated:
        out += [f"Validated {validation(o.validated, '../../')}.", ""]
    steps = next_steps(o)
    if steps:
        out += ["## What to do next", ""] + [f"- {s}" for s in steps] + [""]
    if o.unit == COMMITS:
        out += [f"## Commits ({len(o.slice_commits)})", "", "The upstream commits this slice holds, oldest first:", ""]
        by_sha = {c["sha"]: c for c in commits}
        listed = [by_sha.get(s, {"sha": s, "subject": "", "author": ""}) for s in o.slice_commits]
        out += commits_table(listed, commit_fates(o))
    states = _states(o)
    rows = [[file_label(f["path"], renamed), f["class"], states.get(f["path"], "—")] for f in o.files]
    out += ["## Files", "", table(["file", "class", "outcome"], rows), ""]
    out += _deferred_section(o)
    if o.groups_split:
        out += ["## Coupled groups cut apart (last resort)", ""]
        out += [f"- {', '.join(code(f, cell=False) for f in g)}" for g in o.groups_split] + [""]
    out += _conflicts_section(o, sync_branch)
    if o.waiting:
        out += ["## Waiting", ""]
        out += [f"- {_label(w, {c['sha']: c for c in commits})}: {w.reason}" for w in o.waiting] + [""]
    if o.resolved:
        out += ["## Resolved by a person", ""]
        out += [f"- {code(r['path'], cell=False)}: resolved by a person in {code(r['commit'][:12], cell=False)}; "
                "kept as committed" for r in o.resolved] + [""]
    if o.rolled_back:
        out += ["## Rolled back", ""]
        out += [f"- {code(r['path'], cell=False)}: rolled back in {code(r['commit'][:12], cell=False)}; left alone "
                f"until upstream changes it again (or `doit readopt:{name}`)" for r in o.rolled_back] + [""]
    if o.reported:
        out += ["## Left alone by policy", ""] + [f"- {code(r['path'], cell=False)}: {r['reason']}"
                                                  for r in o.reported]
        out += [""]
    out += _commits_section(o, fork, sync_branch)
    if o.unit != COMMITS:
        out += ["## Upstream commits behind these changes", ""] + commits_table(commits)
    out += _engines_section(engine_notes(o))
    out += _checks_section(o)
    return "\n".join(out)


def validation(v: Mapping[str, Any], up: str = "") -> str:
    """How an outcome was judged, in words: in the run's batch (with a link to its record), alone, or split."""
    runs = v.get("runs", 0)
    if v.get("how") == "batch":
        return (f"in the run's batch: {v.get('slices', '?')} slices judged together in {runs} check run(s) "
                f"(run {code(str(v.get('run')), cell=False)}, [batch report]({up}batch/report.md)); no run of its own")
    if v.get("how") == "alone":
        return f"alone: its changes judged together ({runs} check run)"
    return f"split: its changes searched for what fails ({runs} check run(s))"


def batch_markdown(record: Mapping[str, Any]) -> str:
    """``reports/batch/report.md``: what the run judged at once, what passed, and what the search deferred."""
    deferred = record.get("deferred", ())
    out = ["# The run's batch", "",
           f"Everything run {code(str(record.get('run')), cell=False)} would land on the sync branch — "
           f"{record.get('files', 0)} change(s) of {len(record.get('scope', ()))} slice(s) in wave(s) "
           f"{', '.join(record.get('waves', ()))} — judged together on "
           f"{code(str(record.get('start', ''))[:12], cell=False)} "
           f"before any slice: {'**passed**' if record.get('passed') else '**failed**, then searched'} in "
           f"{record.get('runs', 0)} check run(s) (and the baseline).", "",
           "Each slice still lands as its own commit, wave by wave; the tip the last wave leaves is the tree "
           "judged here.", ""]
    if deferred:
        out += [f"## Deferred ({sum(len(d['files']) for d in deferred)})", ""]
        out += [f"- {d.get('slice', '?')}: {', '.join(code(f, cell=False) for f in d['files'][:10])}: {d['reason']}"
                for d in deferred] + [""]
    out += _engines_section(record.get("engines", ()))
    rows = [[a["n"], a["files"], "inferred" if a["inferred"] else "passed" if a["passed"] else "failed",
             "yes" if a["ran"] and not a["inferred"] else "no"] for a in record.get("attempts", ())]
    if rows:
        out += ["## Attempts", "", table(["attempt", "changes", "verdict", "ran"], rows, "rrll"), ""]
    out += [f"Slices: {', '.join(record.get('scope', ()))}.", ""]
    return "\n".join(out)


def write_batch(ws: Workspace, record: Mapping[str, Any]) -> None:
    write_if_changed(ws.reports / "batch" / "report.md", batch_markdown(record))


def _deferred_section(o: Outcome) -> list[str]:
    if not o.deferred:
        return []
    out = ["## Deferred", ""]
    for d in o.deferred:
        together = " (fail only together)" if len(d.files) > 1 and not d.commit else ""
        out += [f"- {', '.join(code(f, cell=False) for f in d.files)}{together}: {d.reason}"]
        for t in d.tests[:10]:
            out += [f"  - test {code(t['id'], cell=False)}" + (f": {t['line']}" if t.get("line") else "")]
        if d.log:
            out += [f"  - full log: [{d.log}](../../{d.log})"]
        if d.output:
            out += ["", "  <details><summary>output</summary>", "", "  ```",
                    *("  " + line for line in d.output.splitlines()[-20:]), "  ```", "  </details>", ""]
    return out + [""]


def _conflicts_section(o: Outcome, sync_branch: str) -> list[str]:
    if not o.conflicts:
        return []
    out = ["## Conflicts (not imported)", ""] + smallest_conflict(o)
    for c in o.conflicts:
        link = f" — resolve from [{c.file}]({c.file})" if c.file else ""
        out += [f"- {code(c.path, cell=False)}: {c.reason}{link}"]
    if o.unit == COMMITS:
        step = o.conflicts[0].next
        return out + ["", f"Resolve: {step}; the next `doit` validates it.", ""]
    return out + ["", f"Resolve each one: edit the file under `conflicts/` and run `doit resolve:{o.slice}`, or commit "
                  f"your resolution on {code(sync_branch, cell=False)} from any checkout of your own; the next "
                  "`doit` validates it and reports the slice adopted.", ""]


def smallest_conflict(o: Outcome) -> list[str]:
    """The upstream commit that conflicts and the fork commit it conflicts with, in one line (commit slices)."""
    culprit = o.record.get("culprit") or {}
    mine = culprit.get("fork_commit")
    if culprit.get("kind") != "conflict" or not mine:
        return []
    paths = culprit.get("conflicted") or []
    shown = (", ".join(code(p, cell=False) for p in paths[:3])
             + (f" and {len(paths) - 3} more" if len(paths) > 3 else ""))
    return [f"Upstream commit {code(culprit['short'], cell=False)} {culprit['subject']!r} ({culprit['author']}) "
            f"conflicts with fork commit {code(mine['short'], cell=False)} {mine['subject']!r} ({mine['author']}) "
            f"in {shown}.", ""]


def _commits_section(o: Outcome, fork: str, sync_branch: str) -> list[str]:
    if not o.commits:
        return []
    out = ["## Commits on the sync branch", "", ", ".join(code(c, cell=False) for c in o.commits), ""]
    command = rollback_command(o)
    if command:
        out += [f"Roll back: `{command}` (reverts on {code(sync_branch, cell=False)} in forkwave's private worktree; "
                "your checkout is not touched)."]
    manual = manual_rollback(fork, o, sync_branch)
    if manual:
        out += ["", "Or by hand, in a temporary worktree:", "", "```sh", manual, "```"]
    return out + [""]


def _checks_section(o: Outcome) -> list[str]:
    if not any(a.results or a.inferred for a in o.attempts):
        return []
    out = ["## Checks", "", f"Attempt *n* keeps its logs in `logs/{o.run or '<run>'}/attempt-n/`.", ""]
    rows = []
    for a in o.attempts:
        what = f"{a.commits}" if a.commits else f"{len(a.files)} files"
        label = f"{a.n}: {what}" + (f" on top of {a.on_top_of}" if a.on_top_of else "")
        if a.inferred:
            rows.append([label, "—", "failed (inferred: this tree already failed)", "", ""])
        for r in a.results:
            memo = " (memo)" if r.get("memo") else ""
            rows.append([label, code(r["name"]), r["status"] + memo, f"{r['duration']:.2f} s",
                         (r.get("error") or r["message"] or "").replace("|", "\\|")[:160]])
    return out + [table(["attempt", "check", "status", "duration", "message"], rows), ""]


def commits_by_sha(ws: Workspace, name: str) -> dict[str, Mapping[str, Any]]:
    return {c["sha"]: c for c in upstream_commits(ws, name)}


def write_slice(ws: Workspace, o: Outcome, fork: str, sync_branch: str) -> None:
    d = ws.reports / "slices" / o.slice
    commits = upstream_commits(ws, o.slice)
    # rendered from outcome.json again by every run that reaches the slice: no fsync
    write_if_changed(d / "junit.xml", suites_xml([(o.slice, slice_cases(o, {c["sha"]: c for c in commits}))]),
                     durable=False)
    write_if_changed(d / "report.md", slice_markdown(o, fork, sync_branch, commits, renamed_of(ws, o.slice)),
                     durable=False)


def load_outcomes(ws: Workspace, names: Sequence[str]) -> dict[str, Outcome | None]:
    return {n: (read_parsed(p, Outcome.from_json) if (p := ws.reports / "slices" / n / "outcome.json").exists()
                else None) for n in names}


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


def _size(o: Outcome) -> str:
    return plural(o.counts().total, o.unit)


def wave_markdown(wave: str, outcomes: Mapping[str, Outcome | None], fork: str, sync_branch: str,
                  baseline: Mapping[str, Any] | None = None,
                  commits: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
                  renamed: Mapping[str, str] | None = None, retry: Mapping[str, Any] | None = None) -> str:
    commits, renamed = commits or {}, renamed or {}
    done = [o for o in outcomes.values() if o]
    removed = {p for o in done for p in o.removed}
    adopted = sorted(p for o in done for p in o.adopted if p not in removed)
    deferred = [(o.slice, d) for o in done for d in o.deferred]
    conflicts = [(o.slice, c) for o in done for c in o.conflicts]
    waiting = [(o.slice, w) for o in done for w in o.waiting]
    counts: dict[str, int] = {}
    for o in outcomes.values():
        s = str(o.status) if o else NOT_RUN
        counts[s] = counts.get(s, 0) + 1
    by_source = any(o and o.source for o in outcomes.values())  # several sources: a column, sorted by it
    mixed = any(o and o.unit == COMMITS for o in done)
    rows = []
    for n, o in outcomes.items():
        c = o.counts() if o else None
        row = ([o.source or "" if o else ""] if by_source else []) + [
            f"[{n}](../slices/{n}/report.md)", f"{icon(o.status)} {o.status}" if o else NOT_RUN,
            (_size(o) if mixed else c.total) if o and c else "", c.adopted if c else "", c.deferred if c else "",
            c.conflicted if c else ""] + ([c.waiting if c else ""] if mixed else []) + [
            o.runs if o else "", code(o.commits[-1][:12]) if o and o.commits else ""]
        rows.append(row)
    if by_source:
        rows.sort(key=lambda row: row[0])
    size = "size" if mixed else "files"
    header = (["source"] if by_source else []) + ["slice", "outcome", size, "adopted", "deferred", "conflicts"] + \
        (["waiting"] if mixed else []) + ["runs", "commit"]
    align = ("l" if by_source else "") + "llrrrr" + ("r" if mixed else "") + "rl"
    out = [f"# Wave {wave}", "", " · ".join(f"{k}: {v}" for k, v in sorted(counts.items())), ""]
    if mixed:
        out += ["Counts are in each slice's unit: files for a snapshot slice, upstream commits for a merge range or "
                "cherry-picked commits.", ""]
    out += [table(header, rows, align), ""]
    hows = [o.validated.get("how") for o in done if o.validated]
    if hows:
        words = {"batch": "in the run's batch", "alone": "alone", "split": "split"}
        out += ["Validated: " + ", ".join(f"{hows.count(h)} {words[h]}" for h in words if h in hows)
                + (" ([batch report](../batch/report.md))" if "batch" in hows else "") + ".", ""]
    if deferred or conflicts or waiting:
        out += ["## What to do next", ""]
        out += [f"- {s}: conflict in {code(c.path, cell=False)}"
                + (f" ([conflict file](../slices/{s}/{c.file}))" if c.file else "") + f": {c.next}"
                for s, c in conflicts]
        out += [f"- {s}: {_paths(list(d.files), renamed, 5)} deferred: {d.next or d.reason}" for s, d in deferred]
        blockers = sorted({(w.slice or s, w.behind or "") for s, w in waiting})
        out += [f"- {len(waiting)} item(s) wait behind "
                f"{', '.join(f'{b} ({code(sha[:10], cell=False)})' for b, sha in blockers)}: "
                "resolve that first; they follow on the next `doit`"] if waiting else []
        out += [""]
    out += _baseline_section(baseline)
    moved = [f"baseline, check {code(r['name'], cell=False)}: {r['rerun']}"
             for r in (baseline or {}).get("results", ()) if r.get("rerun")]
    out += _engines_section(list(dict.fromkeys(moved + [
        line if line.startswith("in the run's batch") else f"{o.slice}, {line}"   # one line for the batch's
        for o in done for line in engine_notes(o)])))
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
    out += [f"## Deferred ({len({f for _, d in deferred for f in d.files})})", ""]
    out += [f"- {s}: {_paths(list(d.files), renamed, 10)}: {d.reason}" for s, d in deferred] or ["none"]
    if waiting:
        out += ["", f"## Waiting ({len({f for _, w in waiting for f in w.files})} paths)", ""]
        out += [f"- {s}: {w.reason}" for s, w in waiting]
    if retry and retry.get("retried"):
        out += ["", "## Joint retry", "",
                f"After the wave, {len(retry['retried'])} deferred file(s) of this and earlier waves were validated "
                f"again together on the sync tip: {len(retry.get('adopted', ()))} landed"
                + (f" in {code(retry['commit'][:12], cell=False)}" if retry.get("commit") else "")
                + f" ({retry.get('runs', 0)} run(s))."]
    kept = [(o.slice, r) for o in done for r in o.reported]
    if kept:
        out += ["", f"## Kept by policy ({len(kept)})", ""]
        out += [f"- {s}: {code(r['path'], cell=False)}: {r['reason']}" for s, r in kept]
    if conflicts:
        out += ["", f"## Conflicts ({len(conflicts)})", ""]
        out += [f"- {s}: {code(c.path, cell=False)}: {c.reason}"
                + (f" — [resolve from here](../slices/{s}/{c.file})" if c.file else "") for s, c in conflicts]
        out += ["", "Edit the conflict file and run `doit resolve:<slice>`, or commit your resolution on "
                f"{code(sync_branch, cell=False)} from any checkout; the next `doit` validates it."]
    if commits:
        out += ["", "## Upstream commits, by slice", ""]
        for name, cs in commits.items():
            out += ([f"<details><summary>{name}: {len(cs)} commit(s)</summary>", ""] + commits_table(cs)
                    + ["</details>", ""])
    rollbacks = [o.slice for o in done if rollback_command(o)]
    if rollbacks:
        out += ["", "## Roll back", "", "Each command reverts on the sync branch in forkwave's private worktree "
                "(your checkout is not touched); newest first:", "", "```sh",
                *(f"doit rollback:{s}" for s in reversed(rollbacks)), "```"]
    return "\n".join(out) + "\n"


def write_wave(ws: Workspace, wave: str, names: Sequence[str], fork: str, sync_branch: str,
               disk: bool = False) -> dict[str, str]:
    outcomes = load_outcomes(ws, names)
    d = ws.reports / f"wave-{wave}"
    write_if_changed(d / "junit.xml", suites_xml([(n, slice_cases(o, commits_by_sha(ws, n)))
                                                  for n, o in outcomes.items() if o]))
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
    return {n: (str(o.status) if o else NOT_RUN) for n, o in outcomes.items()}


# --- summary.json ------------------------------------------------------------------------------

def slice_summary(o: Outcome) -> dict[str, Any]:
    out: dict[str, Any] = {**({"source": o.source} if o.source else {}), "status": str(o.status)}
    if o.unit == COMMITS:
        out["counts"] = o.counts().to_json()
    out |= {"adopted": [p for p in o.adopted if p not in set(o.removed)],
            "removed": list(o.removed),
            "deferred": [{"files": list(d.files), "reason": d.reason, "next": d.next}
                         | ({"commit": d.commit} if d.commit else {})
                         | ({"tests": [t["id"] for t in d.tests]} if d.tests else {})
                         for d in o.deferred],
            "conflicts": [{k: v for k, v in c.to_json().items() if k in ("path", "reason", "file", "next", "commit")}
                          for c in o.conflicts]}
    if o.waiting:
        out["waiting"] = [{"commits": list(w.commits), "files": list(w.files), "behind": w.behind,
                           "slice": w.slice, "reason": w.reason} for w in o.waiting]
    out |= {"resolved": list(o.resolved), "rolled_back": list(o.rolled_back), "commits": list(o.commits),
            "commit": (o.commits or [None])[-1], "report": f"reports/slices/{o.slice}/report.md"}
    return out


SETTLED = ("adopted", "empty", "rolled-back")


def write_summary(ws: Workspace, plan: Plan, *, run: str | None = None,
                  verification: Mapping[str, bool | None] | None = None) -> dict[str, Any]:
    """``reports/summary.json``: every slice of the plan as it stands, and the sync's status.

    ``status`` is ``running`` while run ``run`` writes it (``settle_summary`` says how it ended);
    otherwise, by ``tasks.core.runstatus``'s rules over every slice of the plan (what landed is what
    any run landed: the file describes the sync, not one run): ``success`` when every slice is settled
    and every source's verification (``verification``: each source that has a ``verify:`` -> passed on
    the sync tip, None when it has not run there) passed, else ``partial`` when something landed, else
    ``failed``. ``run`` holds the id and
    status of the run that wrote it.
    """
    waves: dict[str, dict[str, Any]] = {}
    done: list[Outcome] = []
    for w, names in plan.waves:
        outcomes = load_outcomes(ws, names)
        done += [o for o in outcomes.values() if o]
        waves[w] = {n: (slice_summary(o) if o else {"status": NOT_RUN}) for n, o in outcomes.items()}
    every = [s for w in waves.values() for s in w.values()]
    statuses = [s["status"] for s in every]
    waiting = {f for o in done for w in o.waiting for f in w.files}
    files = {"adopted": len({p for o in done for p in (*o.adopted,)}),
             "deferred": len({f for o in done for d in o.deferred for f in d.files}),
             "conflicted": len({c.path for o in done for c in o.conflicts})}
    if waiting:
        files["waiting"] = len(waiting)
    units = add(o.counts() for o in done)
    checked = dict(verification or {})
    summary: dict[str, Any] = {"upstream": plan.upstream,
                               "status": RUNNING if run else sync_status(every, checked),
                               "slices": len(statuses),
                               "counts": {s: statuses.count(s) for s in sorted(set(statuses))},
                               "files": files}
    if COMMITS in units:
        summary["commits"] = units[COMMITS]
    summary |= {"verification": checked,
                "run": {"id": run, "status": RUNNING} if run else None,
                "next_steps": list(dict.fromkeys(
                    f"{n}: {step}" for w in waves.values() for n, s in w.items()
                    for step in ([c["next"] for c in s.get("conflicts", ()) if c.get("next")]
                                 + [d["next"] for d in s.get("deferred", ()) if d.get("next")]))),
                "waves": waves}
    write_if_changed(ws.report("summary.json"), dump_json(summary))
    return summary


def sync_status(slices: Sequence[Mapping[str, Any]], verification: Mapping[str, bool | None]) -> str:
    """The sync's status from its slices' summaries (``slice_summary``) and each source's verification.

    >>> done = {"status": "adopted", "adopted": ["a.py"], "deferred": [], "conflicts": []}
    >>> left = {"status": "conflicted", "adopted": [], "deferred": [], "conflicts": [{"path": "b.py"}]}
    >>> sync_status([done], {}), sync_status([done], {"web": False}), sync_status([done, left], {})
    ('success', 'partial', 'partial')
    >>> sync_status([done], {"web": True}), sync_status([done], {"web": None})   # not verified on the tip yet
    ('success', 'partial')
    >>> sync_status([left], {}), sync_status([{"status": "not run"}], {"web": None})
    ('failed', 'failed')
    """
    left = any(_left(s) for s in slices) or any(v is not True for v in verification.values())
    landed = any(s.get("adopted") or (s.get("counts") or {}).get("adopted") for s in slices)
    return judge(landed=landed, left=left, failed=any(s["status"] == "error" for s in slices))


def _left(s: Mapping[str, Any]) -> bool:
    if s["status"] == "rolled-back":
        return False
    return s["status"] not in SETTLED or bool(s.get("deferred") or s.get("conflicts") or s.get("waiting"))


def settle_summary(ws: Workspace, run: str, status: str,
                   verification: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
    """Run ``run`` ended as ``status``: the ``summary.json`` it left ``running`` says so, and gives the sync's
    status from the slices it lists (a summary another run wrote since is left alone). ``verification``:
    each source's verdicts on the sync tip as the run ended (a source it lacks was not verified there);
    None keeps what the file says (a dead run's)."""
    path = ws.report("summary.json")
    if not path.exists():
        return
    summary = read_json(path)
    mine = summary.get("run") or {}
    if mine.get("id") != run:
        return
    summary["run"] = {"id": run, "status": status}
    if verification is not None:
        summary["verification"] = {s: (all(r["passed"] for r in verification[s]) if s in verification else None)
                                   for s in summary.get("verification") or {}}
    if summary.get("status") == RUNNING:
        every = [s for w in summary.get("waves", {}).values() for s in w.values()]
        summary["status"] = sync_status(every, summary.get("verification") or {})
    write_if_changed(path, dump_json(summary))
