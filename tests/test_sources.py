"""Several sources in one fork: two module repositories vendored into ``addons/oca/web/`` and
``addons/oca/sale/``, each with its own mirror, drift, base and recorded state, synced by one ``doit``."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from conftest import commit_tree, make_repo, run_doit, write_config
from slicekit import read, rev, tree

WEB_V1 = {"__manifest__.py": "{'name': 'web', 'version': '1'}\n", "static/app.js": "app v1\n", "README.md": "web\n"}
WEB_V2 = {**WEB_V1, "__manifest__.py": "{'name': 'web', 'version': '2'}\n", "static/app.js": "app v2\n",
          "static/new.js": "new\n"}
SALE_V1 = {"__manifest__.py": "{'name': 'sale', 'version': '1'}\n", "models/order.py": "ORDER = 1\n"}
SALE_V2 = {**SALE_V1, "models/order.py": "ORDER = 2\n", "models/line.py": "LINE = 1\n"}


class Vendored(NamedTuple):
    root: Path
    web: Path
    sale: Path
    fork: Path
    workspace: Path

    @property
    def reports(self) -> Path:
        return self.workspace / "reports"


def sources_config(**overrides: Any) -> dict[str, Any]:
    cfg = {
        "sources": [
            {"name": "web", "url": "../web.git", "ref": "main", "base": "v1", "paths": ["addons/oca/web/**"],
             "map": [{"from": "", "to": "addons/oca/web/"}]},
            {"name": "sale", "url": "../sale.git", "ref": "main", "base": "v1", "paths": ["addons/oca/sale/**"],
             "map": [{"from": "", "to": "addons/oca/sale/"}]},
        ],
        "fork": {"path": "../fork", "branch": "main"},
        "waves": {"a": {"buckets": ["*"]}},
        "slices": {"max_files": 25},
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
def vendored(tmp_path: Path) -> Vendored:
    web = make_repo(tmp_path / "web.git", bare=True)
    commit_tree(web, WEB_V1, message="web v1", tag="v1")
    commit_tree(web, WEB_V2, message="web v2", tick=10)
    sale = make_repo(tmp_path / "sale.git", bare=True)
    commit_tree(sale, SALE_V1, message="sale v1", tag="v1")
    commit_tree(sale, SALE_V2, message="sale v2", tick=10)
    fork_files = {"README.md": "# erp\n", "custom/ours.py": "OURS = 1\n",
                  **{f"addons/oca/web/{p}": c for p, c in WEB_V1.items()},
                  **{f"addons/oca/sale/{p}": c for p, c in SALE_V1.items()}}
    fork_files["addons/oca/web/static/app.js"] = "app v1, patched by the fork\n"       # a fork-local edit
    fork_files["addons/oca/web/static/fork_only.js"] = "ours\n"                       # a fork-added file
    fork = make_repo(tmp_path / "fork")
    commit_tree(fork, fork_files, message="erp", tick=5)
    ws = tmp_path / "ws"
    ws.mkdir()
    write_config(ws, sources_config())
    return Vendored(tmp_path, web, sale, fork, ws)


def test_one_doit_syncs_both_sources_each_with_its_own_drift_and_state(vendored: Vendored) -> None:
    r = vendored
    result = run_doit(r.workspace, timeout=300)

    assert result.returncode == 2, result.stdout + result.stderr       # app.js: both changed one line
    web = read(r.reports / "sources" / "web" / "drift.json")
    sale = read(r.reports / "sources" / "sale" / "drift.json")
    # each source sees only the paths it owns: the other's files and the fork's own are no "fork-added"
    assert all(p.startswith("addons/oca/web/") for p in web["entries"])
    assert all(p.startswith("addons/oca/sale/") for p in sale["entries"])
    assert web["entries"]["addons/oca/web/static/fork_only.js"]["class"] == "fork-added"
    assert "custom/ours.py" not in web["entries"] and "custom/ours.py" not in sale["entries"]
    assert sale["entries"]["addons/oca/sale/models/order.py"]["class"] == "upstream-changed"
    assert (r.root / "ws" / ".forkwave" / "sources" / "web.git" / "HEAD").exists()
    assert (r.reports / "sources" / "sale" / "upstream.json").exists()

    plan = read(r.reports / "plan.json")
    assert set(plan["sources"]) == {"web", "sale"}
    assert {s["source"] for s in plan["slices"]} == {"web", "sale"}
    for source in ("web", "sale"):   # each source numbers its own: a run of one names them as a run of both
        mine = [s["name"] for s in plan["slices"] if s["source"] == source]
        assert mine == [f"slice-{source}-{i}" for i in range(1, len(mine) + 1)]
        assert read(r.reports / "sources" / source / "plan.json")["slices"] == [
            s for s in plan["slices"] if s["source"] == source]

    synced = tree(r.fork, "sync/upstream")
    assert synced["addons/oca/sale/models/order.py"] == ("100644", b"ORDER = 2\n")
    assert synced["addons/oca/sale/models/line.py"] == ("100644", b"LINE = 1\n")
    assert synced["addons/oca/web/static/new.js"] == ("100644", b"new\n")
    assert synced["addons/oca/web/static/fork_only.js"] == ("100644", b"ours\n")     # the fork's own, untouched
    assert synced["custom/ours.py"] == ("100644", b"OURS = 1\n")
    assert rev(r.fork, "main") is not None

    log = subprocess.run(["git", "-C", str(r.fork), "log", "--format=%B", "main..sync/upstream"],
                         capture_output=True, text=True, check=True).stdout
    assert "Forkwave-Source: web" in log and "Forkwave-Source: sale" in log
    wave = (r.reports / "wave-a" / "report.md").read_text()
    assert "| source |" in wave and "sale" in wave and "web" in wave


def test_a_landed_wave_records_each_sources_revision_and_a_fresh_clone_reads_it(vendored: Vendored) -> None:
    r = vendored
    # no both-changed file this time: the wave lands whole and is recorded
    subprocess.run(["git", "-C", str(r.fork), "update-ref", "refs/heads/main",
                    commit_tree(r.fork, {**{f"addons/oca/web/{p}": c for p, c in WEB_V1.items()},
                                         **{f"addons/oca/sale/{p}": c for p, c in SALE_V1.items()},
                                         "custom/ours.py": "OURS = 1\n"}, message="clean", tick=7)], check=True)
    assert run_doit(r.workspace, timeout=300).returncode == 0
    state = json.loads(subprocess.run(["git", "-C", str(r.fork), "show", "sync/upstream:.forkwave/sync-state.json"],
                                      capture_output=True, text=True, check=True).stdout)
    web_sha = read(r.reports / "sources" / "web" / "upstream.json")["sha"]
    sale_sha = read(r.reports / "sources" / "sale" / "upstream.json")["sha"]
    assert state["version"] == 2
    assert state["sources"]["web"]["groups"]["a"]["revision"] == web_sha
    assert state["sources"]["sale"]["groups"]["a"]["revision"] == sale_sha

    subprocess.run(["git", "-C", str(r.fork), "update-ref", "refs/heads/main", rev(r.fork, "sync/upstream")],
                   check=True)                                                        # the PR was merged
    clone = r.root / "clone"
    subprocess.run(["git", "clone", "-q", str(r.fork), str(clone)], check=True)
    ws2 = r.root / "ws2"
    ws2.mkdir()
    cfg = sources_config(fork={"path": "../clone", "branch": "main"})
    for src in cfg["sources"]:
        del src["base"]                                                              # from the recorded state
    write_config(ws2, cfg)
    assert run_doit(ws2, "drift", timeout=300).returncode == 0
    for name, sha in (("web", web_sha), ("sale", sale_sha)):
        drift = read(ws2 / "reports" / "sources" / name / "drift.json")
        assert drift["base"]["source"] == "state" and drift["base"]["groups"] == {"a": sha}
        assert not drift["entries"]                                                  # in sync


def test_drift_of_one_source_alone(vendored: Vendored) -> None:
    r = vendored
    result = run_doit(r.workspace, "drift:web", timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (r.reports / "sources" / "web" / "drift.json").exists()
    assert not (r.reports / "sources" / "sale" / "drift.json").exists()              # the other did not run
    assert not (r.root / "ws" / ".forkwave" / "sources" / "sale.git").exists()
    listing = run_doit(r.workspace, "list", "--all").stdout
    assert "drift:web" in listing and "fetch:sale" in listing


@pytest.mark.parametrize("paths,message", [
    ((["addons/**"], ["addons/oca/sale/**"]), "both own paths such as addons/oca/sale/x"),
    ((["addons/oca/web/**"], ["addons/oca/web/**"]), "both own paths such as addons/oca/web/x"),
    ((["addons/oca/web/**"], None), "missing key 'paths'"),
])
def test_sources_that_do_not_say_or_share_their_paths_are_refused(vendored: Vendored, paths: tuple,
                                                                 message: str) -> None:
    cfg = sources_config()
    for src, p in zip(cfg["sources"], paths):
        if p is None:
            del src["paths"]
        else:
            src["paths"] = p
    write_config(vendored.workspace, cfg)

    result = run_doit(vendored.workspace, "list")

    assert result.returncode == 1
    [line] = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "forkwave.yaml" in line and "sources.1" in line and message in line


@pytest.mark.parametrize("extra,message", [
    ({"upstream": {"url": "../web.git"}}, "give either 'upstream' (one source) or 'sources'"),
    ({"base": "v1"}, "key 'base': with 'sources', give it per source"),
])
def test_top_level_keys_that_clash_with_sources(vendored: Vendored, extra: dict, message: str) -> None:
    write_config(vendored.workspace, {**sources_config(), **extra})
    result = run_doit(vendored.workspace, "list")
    assert result.returncode == 1 and message in result.stderr


def test_a_source_name_given_twice_is_refused(vendored: Vendored) -> None:
    cfg = sources_config()
    cfg["sources"][1]["name"] = "web"
    write_config(vendored.workspace, cfg)
    result = run_doit(vendored.workspace, "list")
    assert result.returncode == 1 and "source name 'web' is used twice" in result.stderr
