"""``doit publish``'s sync dashboard issue: one issue on the fork's forge whose body is the dashboard, kept up to
date in place, as Renovate keeps its Dependency Dashboard.

It is found again by a marker in its body (among the issues with its label, else those the token's user
opened), opened — and on GitHub pinned — when there is none, and never opened twice; a person who closed
it is left alone. Its body is ``reports/dashboard.md``'s sections (``tasks.report.dashboard``) with the
slices named rather than linked (the reports are not on the forge), trimmed to the forge's limit, least
pressing first (``body.fit``). ``forge: none`` writes it to ``reports/dashboard-issue.md``. An issue the
token may not write costs a warning, never the publish: the pull requests are what it is for.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from tasks import hashing
from tasks.config import Config
from tasks.errors import ForkwaveError
from tasks.publish import body, forge
from tasks.redact import Redactor
from tasks.report import dashboard
from tasks.workspace import Workspace, dump_json, read_json, write_if_changed

TITLE = "Sync dashboard"
LABEL = "sync-dashboard"
MARKER = "<!-- forkwave-dashboard -->"   # the first line of the body; a pull request's is forkwave:<branch>


def text(ws: Workspace, limit: int | None, report_url: str | None, secrets: tuple[str, ...] = ()) -> str:
    """The issue's body: the marker, a line saying who keeps it and where the reports are, the dashboard."""
    where = (f"[the run's reports]({report_url})" if report_url else
             "`reports/` of the workspace that ran forkwave (`reports/index.html`, `reports/slices/<slice>/report.md`)")
    head = [MARKER, f"_Kept up to date by `doit publish`: edits here are overwritten. Every slice's report is in "
                    f"{where}._", ""]
    parts = dashboard.parts(dashboard.sections(dashboard.load(ws)), dashboard.plain)
    sections = [body.Section(head, [], keep=10)] + [body.Section(p.head, p.items, p.tail, p.keep) for p in parts]
    return Redactor.for_env(extra=secrets).text(body.fit(sections, limit, where))


def notice(ws: Workspace, limit: int | None, report_url: str | None, secrets: tuple[str, ...] = ()) -> forge.Notice:
    return forge.Notice(TITLE, text(ws, limit, report_url, secrets), LABEL, MARKER)


def publish(cfg: Config, ws: Workspace, env: Mapping[str, str]) -> str | None:
    """Open or update the sync dashboard issue of the fork's forge; what was done, in words (None: a warning was
    printed instead)."""
    from tasks.publish import run

    try:
        _, remote_url = run.resolve_remote(cfg)
        where = forge.target(cfg.publish, remote_url, env, str(cfg.file))
        cred = forge.need_credential(where.forge, env, where.repository) if where.forge != "none" else None
        cls = forge.load(where.forge)
        client = cls(ws.report(run.PR_FILE), lambda: "") if where.forge == "none" else \
            cls(where.api, where.repository, cred)
        wanted = notice(ws, client.body_limit, run.report_url(cfg, env), (cred.token,) if cred else ())
        record = ws.report(run.RECORD)
        kept = (read_json(record) if record.exists() else {}).get("dashboard") or {}
        digest = hashing.digest([asdict(where), wanted.title, wanted.body, wanted.label])
        if where.forge != "none" and kept.get("digest") == digest:   # as last published: no call to the forge
            return f"publish: the sync dashboard issue #{kept.get('number')} is up to date already: {kept.get('url')}"
        issue, did = forge.sync_issue(client, wanted)
    except ForkwaveError as exc:
        print(f"forkwave: warning: publish: the sync dashboard issue was not kept up to date: {exc} (a token needs "
              "Issues: write on GitHub, the api scope on GitLab)", file=sys.stderr)
        return None
    if where.forge == "none":
        return f"publish: the sync dashboard {did.removeprefix('opened, ')}"
    _remember(record, {"number": issue.number, "url": issue.url, "digest": digest if issue.open else None})
    return f"publish: the sync dashboard issue #{issue.number} {did}: {issue.url}"


def _remember(path: Path, entry: Mapping[str, object]) -> None:
    """``publish.json``'s ``dashboard``: the issue and a digest of what it was given (the same again: no call)."""
    record = read_json(path) if path.exists() else {}
    write_if_changed(path, dump_json({**record, "dashboard": dict(entry)}))
