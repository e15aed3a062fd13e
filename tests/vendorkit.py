"""An Odoo-shaped fork for the run-status tests: community module repositories vendored under
``addons/<org>/``, one source each on the one sync branch, team edits in vendored modules, and a
``verify:`` per source counting ``__manifest__.py`` files that only the finished sync satisfies.

Each source repository holds modules ``<org>_m0``..``<org>_m5``; the fork was copied when it had
m0..m2 (tag ``v1``). Upstream then added m3, m4, m5 (one commit each, so the plan does not couple
them) and changed m0's model. Wave ``a`` takes m3, wave ``b`` the rest: after wave a a source has
4 manifests, after wave b 6, and ``verify`` asks for 6.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, NamedTuple

from conftest import commit_tree, make_repo, write_config

ORGS = ("web", "sale", "acct")
WAVES = {"a": {"paths": ["**/*_m3/**"]}, "b": {"buckets": ["*"]}}
FINISHED = 6   # manifests per source once every wave landed (4 after wave a alone)


def module(name: str, version: int = 1) -> dict[str, str]:
    return {f"{name}/__manifest__.py": f"{{'name': '{name}', 'version': '{version}.0'}}\n",
            f"{name}/models/{name}.py": f"VERSION = {version}\n"}


class Vendored(NamedTuple):
    root: Path
    fork: Path
    workspace: Path
    orgs: tuple[str, ...]

    @property
    def reports(self) -> Path:
        return self.workspace / "reports"

    def source_report(self, org: str, name: str) -> Path:
        """A source's own report: under ``reports/sources/<org>/`` with several sources, else ``reports/``."""
        return self.reports / "sources" / org / name if len(self.orgs) > 1 else self.reports / name

    def configure(self, **overrides: Any) -> None:
        write_config(self.workspace, config(self.orgs, **overrides))


def count_manifests(org: str) -> str:
    return f"find addons/{org} -name __manifest__.py | wc -l"


def source(org: str, verify: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": org, "url": f"../{org}.git", "ref": "main", "base": "v1", "paths": [f"addons/{org}/**"],
            "map": [{"from": "", "to": f"addons/{org}/"}],
            "verify": [{"name": "manifests", "run": count_manifests(org), "expected_min": FINISHED}]
            if verify is None else verify}


def config(orgs: tuple[str, ...], verify: dict[str, list[dict[str, Any]]] | None = None,
           **overrides: Any) -> dict[str, Any]:
    """One source per org, each verifying its manifest count (``verify``: org -> its own list instead)."""
    cfg: dict[str, Any] = {"sources": [source(o, (verify or {}).get(o)) for o in orgs],
                           "fork": {"path": "../fork", "branch": "main"}, "waves": WAVES,
                           "slices": {"max_files": 25}}
    cfg.update(overrides)
    return {k: v for k, v in cfg.items() if v is not ...}


def build(root: Path, orgs: tuple[str, ...] = ORGS, conflict: str | None = "acct") -> Vendored:
    """The source repositories, the fork and a workspace with ``config(orgs)``.

    The team edited two vendored modules: ``web_m1``'s model (upstream left it alone: the edit is
    kept) and, when ``conflict`` names an org, ``<conflict>_m0``'s model, which upstream changed too
    (a conflict for a person in wave b).
    """
    fork_files = {"README.md": "# erp\n", "custom/ours.py": "OURS = 1\n"}
    for org in orgs:
        repo = make_repo(root / f"{org}.git", bare=True)
        files: dict[str, str] = {}
        for i in range(3):
            files |= module(f"{org}_m{i}")
        commit_tree(repo, files, message=f"{org} v1", tag="v1")
        fork_files |= {f"addons/{org}/{p}": c for p, c in files.items()}
        for i in range(3, 6):
            files = {**files, **module(f"{org}_m{i}")}
            commit_tree(repo, files, message=f"{org}_m{i}", tick=i)
        commit_tree(repo, {**files, **module(f"{org}_m0", 2)}, message=f"{org}_m0 2.0", tick=9)
    if "web" in orgs:
        fork_files["addons/web/web_m1/models/web_m1.py"] = "VERSION = 1  # the team's fix\n"
    if conflict:
        fork_files[f"addons/{conflict}/{conflict}_m0/models/{conflict}_m0.py"] = "VERSION = 1  # the team's tweak\n"
    fork = make_repo(root / "fork")
    commit_tree(fork, fork_files, message="erp", tick=5)
    workspace = root / "ws"
    workspace.mkdir()
    write_config(workspace, config(orgs))
    return Vendored(root, fork, workspace, orgs)


def show(repo: Path, rev: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, text=True,
                          check=True).stdout


def manifests(repo: Path, rev: str, org: str) -> int:
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", rev, f"addons/{org}/"],
                             capture_output=True, text=True, check=True).stdout.split()
    return sum(1 for p in listing if p.endswith("/__manifest__.py"))
