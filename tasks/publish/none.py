"""``forge: none``: no pull request to keep, so ``reports/pr.md`` holds what one would say, and auto-merge
is a fast-forward push of ``fork.branch`` on the remote (which git refuses unless it is one)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from tasks.publish.forge import Change, Issue, Proposal
from tasks.report.render import code
from tasks.workspace import write_if_changed


def pr_markdown(p: Proposal) -> str:
    """``reports/pr.md``: the title, labels, draft state and description a pull request would have."""
    return "\n".join([f"# {p.title}", "",
                      f"- head: {code(p.head, cell=False)} → base: {code(p.base, cell=False)}",
                      f"- labels: {', '.join(code(lb, cell=False) for lb in p.labels) or 'none'}",
                      f"- draft: {'yes' if p.draft else 'no'}",
                      f"- reviewers: {', '.join(p.reviewers) or 'none'}; assignees: {', '.join(p.assignees) or 'none'}",
                      "", "---", "", p.body])


class NoForge:
    name = "none"
    body_limit = None

    def __init__(self, path: Path, fast_forward: Callable[[], str], issue: Path | None = None):
        self.path, self.fast_forward = path, fast_forward
        self.issue = issue or path.with_name("dashboard-issue.md")   # what the sync dashboard issue would say

    def find(self, head: str, base: str) -> Change | None:
        return None  # a file has nothing to find: it is written whole each time

    def open(self, p: Proposal) -> Change:
        write_if_changed(self.path, pr_markdown(p))
        return Change(0, str(self.path), p.title, p.body, p.draft, p.labels, tuple(r.lstrip("@") for r in p.reviewers),
                      tuple(a.lstrip("@") for a in p.assignees))

    def update(self, c: Change, *, title: str, body: str, draft: bool) -> Change:
        return replace(c, title=title, body=body, draft=draft)

    def set_labels(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None:
        pass

    def request_reviewers(self, c: Change, add: Sequence[str], remove: Sequence[str]) -> None:
        pass

    def assign(self, c: Change, add: Sequence[str]) -> None:
        pass

    def enable_automerge(self, c: Change, method: str) -> str:
        return self.fast_forward()

    def disable_automerge(self, c: Change) -> None:
        pass

    def find_issue(self, marker: str, label: str) -> Issue | None:
        return None  # the file is written whole each time

    def open_issue(self, title: str, body: str, labels: Sequence[str]) -> Issue:
        write_if_changed(self.issue, "\n".join([f"# {title}", "",
                                                f"- labels: {', '.join(code(lb, cell=False) for lb in labels)}",
                                                "", "---", "", body]))
        return Issue(0, str(self.issue), title, body, tuple(labels))

    def update_issue(self, issue: Issue, *, title: str, body: str, labels: Sequence[str]) -> Issue:
        return self.open_issue(title, body, labels)

    def pin_issue(self, issue: Issue) -> str:
        return f"written to {self.issue.name} (no forge to keep an issue on)"
