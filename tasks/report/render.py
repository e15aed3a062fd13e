"""Markdown for people: the priority board and wave manifests. GitHub-flavoured, escaped."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tasks.core.classify import upstream_work
from tasks.core.vocabulary import ACTIONABLE, CLASSES
from tasks.core.coupling import Group
from tasks.core.plan import Plan

SAMPLES = 3
_NO_BASE = "none given, so a 2-way comparison: changes cannot be told apart from fork edits"


def code(text: str, *, cell: bool = True) -> str:
    """Inline code that survives any path: backticks, pipes, leading spaces.

    The fence is one backtick longer than the longest run inside (CommonMark closes a span
    at the first run of the fence's length). Pipes are escaped only in table cells
    (``cell``): outside a table GitHub would show the backslash.
    """
    text = text.replace("\n", " ")
    if cell:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") or text.endswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A GitHub table; ``align`` is one letter per column (l/r), default left."""
    marks = [("---:" if (align[i:i + 1] == "r") else "---") for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _match(path: str, patterns: Sequence[str]) -> str | None:
    from tasks.globs import denied

    hit = denied(tuple(patterns)).first(path)
    return None if hit is None else patterns[hit]


def _base_line(base: Mapping[str, Any] | None) -> str:
    """The drift board's base: the revision, or per wave the revisions the fork recorded (with no other base, as a
    command source's: its output commits), or none."""
    if not base:
        return _NO_BASE
    if base.get("sha"):
        return code(base["rev"], cell=False) + " (" + code(base["sha"][:12]) + ")"
    waves = ", ".join(f"wave {w} {code(sha[:12])}" for w, sha in sorted((base.get("groups") or {}).items()))
    return code(base["rev"], cell=False) + (f" ({waves}; other waves: none)" if waves else "")


def drift_board(report: Mapping[str, Any], upstream_url: str, deny: Sequence[str] | None = None) -> str:
    totals = report["totals"]
    up, fork, base = report["upstream"], report["fork"], report.get("base")
    work = upstream_work(totals)
    out = [
        "# Drift report and priority board", "",
        f"Upstream {code(upstream_url, cell=False)} at {code(up['ref'], cell=False)} ({code(up['sha'][:12])}) "
        f"compared with fork branch {code(fork['branch'], cell=False)} ({code(fork['sha'][:12])}).",
        f"Base: {_base_line(base)}.",
        "", f"**{work} paths carry upstream work**; {totals.get('identical', 0)} fork paths are identical.", "",
        "## Summary", "",
        table(["class", "paths"], ((c, totals[c]) for c in CLASSES if c in totals), "lr"), "",
    ]
    out += _bucket_section(report)
    both = report.get("paths", {}).get("both-changed") or []
    if both:
        out += [f"## Changed on both sides ({len(both)})", "",
                "Each needs a 3-way merge: a clean one lands like any change; a conflict waits for a person "
                "(`reports/slices/<slice>/conflicts/`, then `doit resolve:<slice>`).", ""]
        listing = [f"- {code(p, cell=False)}" for p in both]
        out += (listing if len(both) <= 30 else
                ["<details><summary>every path</summary>", "", *listing, "", "</details>"]) + [""]
    blocked = report.get("paths", {}).get("blocked") or []
    if blocked:
        patterns = deny or []
        out += [f"## Blocked ({len(blocked)}): deny-listed, never imported", "",
                "To import one, remove the pattern that matches it from `deny` in the config (or add the path to "
                "`deny_except`); the next `doit` plans it.", ""]
        out += [f"- {code(p, cell=False)}"
                + (f" (matched by {code(m, cell=False)})" if (m := _match(p, patterns)) else "")
                for p in blocked[:100]]
        if len(blocked) > 100:
            out.append(f"- … and {len(blocked) - 100} more (drift.json → paths.blocked)")
        out.append("")
    if report.get("warnings"):
        out += ["## Warnings", ""] + [f"- {w}" for w in report["warnings"]] + [""]
    return "\n".join(out)


def _bucket_section(report: Mapping[str, Any]) -> list[str]:
    buckets = report["buckets"]
    critical = set(report.get("critical_buckets", ()))
    ranked = sorted(buckets, key=lambda b: (-upstream_work(buckets[b]), b not in critical, b))
    columns = [c for c in CLASSES if c != "identical" and any(c in buckets[b] for b in buckets)]
    samples: dict[str, list[str]] = {}
    for path, e in report["entries"].items():
        if e["class"] in ACTIONABLE and len(samples.setdefault(e["bucket"], [])) < SAMPLES:
            samples[e["bucket"]].append(path)
    rows = []
    for rank, b in enumerate(ranked, 1):
        name = f"**{code(b)}** 🔴 P0" if b in critical else code(b)
        rows.append([rank, name, upstream_work(buckets[b])] + [buckets[b].get(c, "") for c in columns]
                    + ["<br>".join(code(p) for p in samples.get(b, [])) or "—"])
    return ["## Buckets by upstream work", "",
            "🔴 P0 marks runtime-critical buckets: upstream work in a bucket the first wave names, or at a path "
            "its patterns match (fork-only edits do not count).", "",
            table(["#", "bucket", "upstream work"] + columns + ["sample paths"], rows,
                  "llr" + "r" * len(columns) + "l"), ""]


CI_NOTE = ("CI definitions, in a slice of their own (coupled to nothing else): GitHub takes a push that changes "
           "`.github/workflows/` only from a token with the `workflow` scope; `doit publish` says so before it pushes.")


def wave_manifest(plan: Plan, wave: str) -> str:
    names = dict(plan.waves)[wave]
    slices = [s for s in plan.slices if s.name in set(names)]
    files = sum(len(s.files) for s in slices)
    commits = sum(len(s.commits) for s in slices)
    if any(s.commits for s in plan.slices):  # ranges or picks are cut by commit count, not by files
        size = (f"a merge range or cherry-pick slice holds at most {_max_commits(plan)} upstream commits, in "
                f"order" + (f"; a file slice at most {plan.max_files} files" if not all(s.commits for s in plan.slices)
                            else ""))
        head = f"# Wave {wave}: {len(slices)} slices, {commits} commits, {files} files"
    else:
        size, head = f"at most {plan.max_files} files a slice", f"# Wave {wave}: {len(slices)} slices, {files} files"
    out = [head, "",
           f"Upstream {code(plan.upstream[:12])}, {size}. "
           f"Run one slice with `doit validate:<slice>`, the whole wave with `doit wave_{wave}`.", "",
           "Coupled files — one upstream commit's, a module and its test, a manifest and its lockfile, "
           "a `couple:` rule — share a slice, in the earliest wave of any of them. A group larger than a "
           "slice is cut (along upstream commit order, then by directory) and marked *split* below; "
           "a manifest and its lockfile are never split.", ""]
    if not slices:
        out += ["Nothing to do in this wave.", ""]
    for s in slices:
        classes = _counts(f.cls for f in s.files)
        buckets = _counts(f.bucket for f in s.files)
        over = (f" · **{len(s.files)} files, over {plan.max_files}: a manifest and its lockfile are never split**"
                if len(s.files) > plan.max_files and not s.commits else "")
        held = (f"{len(s.commits)} commits ({code(s.commits[0][:12])}..{code(s.commits[-1][:12])}) changing "
                if s.commits else "")
        out += [f"## {s.name}", "",
                f"{held}{len(s.files)} files · classes: {classes} · buckets: {buckets}{over}", ""]
        if s.ci:
            out += [CI_NOTE, ""]
        out += [table(["file", "class", "bucket"], ((code(f.path), f.cls, code(f.bucket)) for f in s.files)), ""]
        out += _groups(s.groups, plan.max_files)
    return "\n".join(out)


def _max_commits(plan: Plan) -> int | str:
    """``slices.max_commits`` as the plan recorded it (per source, with several)."""
    found = {c["max_commits"] for c in [plan.coupling, *plan.coupling.values()] if isinstance(c, Mapping)
             and "max_commits" in c}
    return found.pop() if len(found) == 1 else " or ".join(str(n) for n in sorted(found)) or "?"


def _groups(groups: Sequence[Group], max_files: int) -> list[str]:
    if not groups:
        return []
    out = ["Coupled groups:", ""]
    for g in groups:
        why = "; ".join(_reason(w) for w in g.why) or "its partners are in other slices"
        line = f"- {', '.join(code(p, cell=False) for p in g.files)} — {why}"
        if g.split:
            line += (f". ⚠️ **split**: the group has {g.split.group_files} files, more than {max_files}; "
                     f"the rest is in {', '.join(g.split.slices)} (cut: "
                     f"{'; '.join(_reason(w) for w in g.split.broken)})")
        out.append(line)
    return out + [""]


def _reason(why: str) -> str:
    kind, _, rest = why.partition(" ")
    if kind == "commit":
        return f"upstream commit {code(rest[:12], cell=False)}"
    if why.startswith(("test of ", "lockfile of ")):
        head, _, path = why.partition(" of ")
        return f"{head} of {code(path, cell=False)}"
    return f"`{why}`"


def _counts(values: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return ", ".join(f"{k} ({n})" for k, n in sorted(counts.items()))
