"""An Odoo-style fork that vendors community-module repositories under ``addons/<org>/<name>/``, with a remote.

Each source is a real bare repository holding several modules (``<module>/__manifest__.py``,
``models/``, ``views/``), tagged ``v1`` where the fork copied it and moved on since; the fork
(a real repository, pushed to a bare ``fork-remote.git`` as its ``origin``) holds every source's
``v1`` under ``addons/oca/<name>/``, the team's own code, and team edits inside vendored modules.
One ``forkwave.yaml`` syncs them all onto the one sync branch, each source with its own
``schedule`` and a ``verify`` that counts its manifests, as the directional-sync document's user
would write it. Built on conftest's ``make_repo`` / ``commit_tree``; nothing is mocked.
"""
from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from conftest import Content, commit_tree, make_repo, write_config

SCHEDULES = {"web": "0 2 * * *", "sale": "0 3 * * *"}


def module(name: str, version: str, extra: Mapping[str, str] | None = None) -> dict[str, Content]:
    """One Odoo module's files (the manifest, a model, a view)."""
    return {f"{name}/__manifest__.py": f"{{'name': '{name}', 'version': '16.0.{version}'}}\n",
            f"{name}/__init__.py": "from . import models\n",
            f"{name}/models/{name}.py": f"class {name.title().replace('_', '')}:\n    version = '{version}'\n",
            f"{name}/views/{name}.xml": f"<odoo><record id='{name}' model='ir.ui.view'/></odoo>\n",
            **(extra or {})}


def repo_files(modules: Mapping[str, str], readme: str) -> dict[str, Content]:
    files: dict[str, Content] = {"README.md": readme}
    for name, version in modules.items():
        files |= module(name, version)
    return files


# name -> (modules at v1, modules upstream has now): each source gains modules and moves the old ones
SOURCES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "web": ({"web_tools": "1", "web_widget": "1"}, {"web_tools": "2", "web_widget": "2", "web_dialog": "1",
                                                    "web_chart": "1"}),
    "sale": ({"sale_tools": "1", "sale_margin": "1"}, {"sale_tools": "2", "sale_margin": "1", "sale_stock": "1"}),
}
# the team's edits inside vendored modules: (fork path, content) — app-local patches
TEAM_EDITS = {"addons/oca/web/web_widget/views/web_widget.xml": "<odoo><!-- team: wider widget --></odoo>\n",
              "addons/oca/sale/sale_margin/models/sale_margin.py": "class SaleMargin:\n    version = '1'  # team\n"}


class Vendored(NamedTuple):
    root: Path
    sources: dict[str, Path]    # name -> its bare repository
    fork: Path                  # the team's checkout (pushed to ``remote``)
    remote: Path                # the fork's ``origin``: a bare repository
    workspace: Path

    @property
    def reports(self) -> Path:
        return self.workspace / "reports"

    def upstream(self, name: str, files: Mapping[str, Content], message: str, tick: int) -> str:
        """A new upstream commit of source ``name`` holding exactly ``files``."""
        return commit_tree(self.sources[name], files, message=message, tick=tick)


def vendored_files(name: str, modules: Mapping[str, str]) -> dict[str, Content]:
    return {f"addons/oca/{name}/{p}": c for p, c in repo_files(modules, f"# {name}\n").items()}


def build(root: Path, *, verify: bool = False, **overrides: Any) -> Vendored:
    """The sources (v1, then one upstream commit each), the fork (every v1 vendored, team edits, its own code)
    pushed to ``fork-remote.git``, and a workspace whose ``forkwave.yaml`` is ``config(...)``."""
    repos = {}
    for i, (name, (old, new)) in enumerate(SOURCES.items()):
        repo = make_repo(root / f"{name}.git", bare=True)
        commit_tree(repo, repo_files(old, f"# {name}\n"), message=f"{name} 16.0 v1", tag="v1", tick=i)
        commit_tree(repo, repo_files(new, f"# {name}\n"), message=f"{name}: new modules", tick=10 + i)
        repos[name] = repo
    files: dict[str, Content] = {"README.md": "# erp\n", "custom/erp_base/__manifest__.py": "{'name': 'erp'}\n"}
    for name, (old, _) in SOURCES.items():
        files |= vendored_files(name, old)
    files |= TEAM_EDITS
    fork = make_repo(root / "erp")
    commit_tree(fork, files, message="erp with vendored addons", tick=5)
    remote = root / "fork-remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(fork), str(remote)], check=True)
    subprocess.run(["git", "-C", str(fork), "remote", "add", "origin", str(remote)], check=True)
    ws = root / "ws"
    ws.mkdir()
    write_config(ws, config(verify=verify, **overrides))
    return Vendored(root, repos, fork, remote, ws)


def manifests(name: str, at_least: int) -> dict[str, Any]:
    """A ``verify`` that counts the source's vendored manifests (what the issue's user wrote)."""
    return {"name": "manifests", "run": f"find addons/oca/{name} -name __manifest__.py | wc -l",
            "expected_min": at_least}


def config(*, verify: bool = False, fork: str = "../erp", publish: Mapping[str, Any] | None = None,
           sources: Mapping[str, Mapping[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    """One source per vendored repository (its schedule, and with ``verify`` a manifest count), one wave;
    ``sources`` adds keys per source name, ``top`` at the top level."""
    entries = []
    for name, (_, new) in SOURCES.items():
        entry: dict[str, Any] = {"name": name, "url": f"../{name}.git", "ref": "main", "base": "v1",
                                 "paths": [f"addons/oca/{name}/**"], "map": [{"from": "", "to": f"addons/oca/{name}/"}],
                                 "schedule": SCHEDULES[name]}
        if verify:
            entry["verify"] = [manifests(name, len(new))]
        entries.append(entry | dict((sources or {}).get(name, {})))
    return {"sources": entries, "fork": {"path": fork, "branch": "main"}, "waves": {"a": {"buckets": ["*"]}},
            "slices": {"max_files": 4}, "publish": dict(publish or {"remote": "origin", "forge": "none"}), **top}
