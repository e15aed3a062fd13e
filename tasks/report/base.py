"""``reports/base.md`` and ``base.json``: what base detection found, for a person."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.report.render import code, table
from tasks.workspace import dump_json, write_if_changed


def render_markdown(report: Mapping[str, Any]) -> str:
    """``reports/base.md``: the best candidate, the runner-up, what differs."""
    best, runner, fork, up = report["best"], report.get("runner_up"), report["fork"], report["upstream"]
    out = ["# Base detection", "",
           f"Fork branch {code(fork['branch'], cell=False)} ({code(fork['sha'][:12], cell=False)}, "
           f"{fork['files']} counted files) against the {report['commits_scanned']} first-parent commits of "
           f"upstream {code(up['ref'], cell=False)} ({code(up['sha'][:12], cell=False)}).", "",
           f"**Best: {code(best['sha'][:12], cell=False)}**, {best['distance']} paths differ. "
           f"Set `base: {best['sha']}` in `forkwave.yaml` to use it.", ""]
    rows = [["best", code(c["sha"][:12]), c["distance"], c["position"], code(c["date"]), code(c["subject"]),
             c.get("same_tree_count", 0)] for c in [best] + ([runner] if runner else [])]
    if runner:
        rows[1][0] = "runner-up"
    out += [table(["", "commit", "distance", "#", "date", "subject", "same tree as"], rows, "llrrllr"), "",
            "Distance: counted fork-side paths (not `ignore`d or `deny`-listed) whose mode or content differs, "
            "or which one side lacks, after `map` and `rewrite`. `#` counts first-parent commits from the oldest. "
            "Commits with the identical tree are not told apart; the oldest is reported.", ""]
    if best.get("same_tree_as"):
        out += ["The best candidate has the same tree as: "
                + ", ".join(code(s[:12], cell=False) for s in best["same_tree_as"])
                + (" …" if best["same_tree_count"] > len(best["same_tree_as"]) else "") + ".", ""]
    diffs = best.get("differences")
    if diffs and best["distance"]:
        counts = diffs["counts"]
        out += ["## What differs from the best candidate", "",
                f"{counts['differs']} differ, {counts['fork-only']} only in the fork, "
                f"{counts['upstream-only']} only upstream.", "",
                table(["path", "kind"], ((code(d["path"]), d["kind"]) for d in diffs["sample"])), ""]
        if best["distance"] > len(diffs["sample"]):
            out += [f"(first {len(diffs['sample'])} of {best['distance']})", ""]
    if report.get("warnings"):
        out += ["## Warnings", ""] + [f"- {w}" for w in report["warnings"]] + [""]
    return "\n".join(out)


def write_reports(ws_reports_dir: Path, report: Mapping[str, Any]) -> None:
    """``base.json`` (without the timing, so identical inputs give identical bytes) and ``base.md``."""
    body = {k: v for k, v in report.items() if k != "seconds"}
    write_if_changed(ws_reports_dir / "base.json", dump_json(body))
    write_if_changed(ws_reports_dir / "base.md", render_markdown(report))
    best = report["best"]
    print(f"base: {best['sha'][:12]} ({best['distance']} paths differ) of {report['commits_scanned']} "
          f"commits in {report.get('seconds', 0):.2f} s")
