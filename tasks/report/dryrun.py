"""``reports/dry-run.md`` and ``reports/dry-run.json``: what a run would do, from the simulation (pure rendering).

Deterministic: the same inputs write the same bytes (no times, no durations, sorted where order is
not the plan's), so a dry run in CI can be diffed against the last one.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.workspace import Workspace, dump_json, write_if_changed

JSON, MARKDOWN = "dry-run.json", "dry-run.md"


def write(ws: Workspace, data: Mapping[str, Any]) -> None:
    write_if_changed(ws.report(JSON), dump_json(dict(data)))
    write_if_changed(ws.report(MARKDOWN), render(data))


def _list(items: list[str], empty: str = "none") -> str:
    return ", ".join(f"`{i}`" for i in items) if items else empty


def render(data: Mapping[str, Any]) -> str:
    """The report a person reads before running for real."""
    lines = ["# Dry run", "", "Nothing was written: no branch, state, outcome, memo, ledger entry, remote or "
             "report but this one (what it computed — fetch, drift, plan — is under `.forkwave/dry/`). "
             "This is what `doit` would do with the same inputs.", "",
             "Checks are not run (the built-in gates are): each slice lists the checks that would run, "
             "and a real run defers what they catch.", ""]
    lines += _head(data)
    if data.get("pre"):
        lines += [f"- **pre-sync checks** a real run runs first, on the fork tip: {_list(data['pre'])} "
                  "(a dry run runs no command)", ""]
    for trip in data.get("drift_gates", ()):
        lines += [f"- **stop**: {trip}"]
    if data.get("drift_gates"):
        lines += ["", "The run would stop right after drift; the slices below are shown for information.", ""]
    lines += _slices(data.get("slices", ()))
    lines += _publish(data.get("publish"))
    lines += _exports(data.get("exports", ()))
    return "\n".join(lines).rstrip() + "\n"


def _head(data: Mapping[str, Any]) -> list[str]:
    sync = data.get("sync_branch") or {}
    out = ["| | |", "|---|---|"]
    for name, sha in sorted((data.get("upstream") or {}).items()):
        out.append(f"| upstream `{name}` | `{sha}` |")
    if sync:
        where = f"`{sync['sha'][:12]}`" if sync.get("sha") else f"created from `{sync.get('from', '')[:12]}`"
        out.append(f"| sync branch `{sync['name']}` | {where} |")
    totals = data.get("totals") or {}
    if totals:
        out.append("| slices | " + ", ".join(f"{n} {k}" for k, n in totals.items()) + " |")
    if data.get("exit_code") is not None:
        out.append(f"| a real run would exit | {data['exit_code']} |")
    return out + [""]


def _slices(slices: Any) -> list[str]:
    out: list[str] = []
    for s in slices:
        out += [f"## {s['slice']} (wave {s['wave']}, {s['source']}): would be {s['status']}", ""]
        if s["changes"]:
            out += ["| path | class | action |", "|---|---|---|"]
            out += [f"| `{c['path']}` | {c['class']} | {c['action']} |" for c in s["changes"]]
            out.append("")
        for c in s["conflicts"]:
            out.append(f"- conflict: `{c['path']}` — {c['reason']}")
        for b in s["blocked"]:
            out.append(f"- blocked: `{b['path']}` — {b['reason']}")
        for k in s["kept"]:
            out.append(f"- kept: `{k['path']}` — {k['why']}")
        for g in s["groups"]:
            split = " (split: the group goes on in other slices)" if g.get("split") else ""
            out.append(f"- coupled: {_list(g['files'])} — {', '.join(g['why'])}{split}")
        for g in s["gates"]:
            blamed = f" ({_list(g['files'])})" if g["files"] else ""
            out.append(f"- gate {g['gate']}: {g['status']}{': ' + g['message'] if g['message'] else ''}{blamed}")
        out.append(f"- checks that would run: {_list(s['checks_to_run'])}")
        out.append(f"- would land: {len(s['would_land'])} files; would defer: {_list(s['would_defer'])}")
        out.append("")
    return out


def _publish(pub: Any) -> list[str]:
    if not pub:
        return []
    out = ["## Publish", ""]
    if pub.get("error"):
        return out + [f"- would not publish: {pub['error']}", ""]
    out.append(f"- would push `{pub['branch']}` at tree `{pub['tree'][:12]}` to {pub['remote']} ({pub['forge']})")
    if pub.get("held"):
        out.append(f"- would hold: {pub['held']}")
    if pub.get("pull_request"):
        pr = pub["pull_request"]
        out += [f"- would open or update: **{pr['title']}** ({'draft' if pr['draft'] else 'ready'}), labels "
                f"{_list(pr['labels'])}, reviewers {_list(pr['reviewers'])}",
                f"- risk {pub['risk']['score']} ({pub['risk']['level']}); auto-merge: "
                f"{'yes' if pub['automerge']['merge'] else 'no'} — {pub['automerge']['why']}"]
    else:
        out.append(f"- no pull request: `{pub['branch']}` holds nothing `{pub['base']}` lacks")
    return out + [""]


def _exports(exports: Any) -> list[str]:
    out: list[str] = []
    for e in exports:
        out += [f"## Export to {e['source']} (`{e['branch']}` on {e['push_url']})", ""]
        out += [f"- would export `{p}`" for p in e.get("paths", ())]
        out += [f"- refused `{r['path']}` — {r['reason']}" for r in e.get("refused", ())]
        out += [f"- conflict (changed on both sides, exported nowhere): `{c}`" for c in e.get("conflicts", ())]
        out.append("")
    return out
