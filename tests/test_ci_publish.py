"""Two CI schedules publishing one shared sync branch, replayed for real: the GitHub workflow `doit ci` writes
is run step by step (its ``run:`` scripts by bash, its ``uses:`` steps as GitHub would do them: clones, and a
``reports/`` cache restored from the previous job's save), each job in a fresh clone of the workspace
repository, on the vendored-addons fork — the fork's remote a real bare repository, ``forge: none``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from conftest import DODO, git_out, run_doit, write_config
from slicekit import read, tree
from addonskit import SCHEDULES, SOURCES, Vendored, build, config, manifests, repo_files


class Job(NamedTuple):
    root: Path          # the job's fresh clone of the workspace repository
    ok: bool
    log: str

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def fork(self) -> Path:
        return self.root / "fork"


class Ci:
    """The workspace repository, the workflow from it, and the runner's cache between jobs."""

    def __init__(self, v: Vendored, tmp: Path):
        self.v, self.tmp, self.jobs = v, tmp, 0
        self.repo = tmp / "workspace.git"
        self.cache = tmp / "cache" / "reports"
        self.bin = tmp / "bin"
        self.bin.mkdir()
        shim = self.bin / "doit"  # what `pip install -e .` puts on PATH: doit, reading forkwave's dodo.py
        shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m doit -f {DODO} -d \"$PWD\" \"$@\"\n")
        shim.chmod(0o755)

    def workflow(self) -> dict[str, Any]:
        return yaml.safe_load((self.clone(self.tmp / "peek") / ".github" / "workflows" / "forkwave.yml").read_text())

    def clone(self, where: Path) -> Path:
        shutil.rmtree(where, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", str(self.repo), str(where)], check=True)
        return where

    def run(self, cron: str) -> Job:
        """One scheduled job: the workflow's job for ``cron``, its steps in order, in a fresh clone."""
        flow = self.workflow()
        [job] = [j for j in flow["jobs"].values() if j["if"].endswith(f"github.event.schedule == '{cron}'")]
        self.jobs += 1
        root = self.clone(self.tmp / f"job-{self.jobs}")
        env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", **job["env"],
               "GITHUB_STEP_SUMMARY": str(self.tmp / f"summary-{self.jobs}.md")}
        log, failed = [], False
        for step in job["steps"]:
            if failed and step.get("if") != "always()":
                continue
            done, out = self.step(step, root, env)
            log.append(f"--- {step.get('name') or step.get('uses')}\n{out}")
            failed = failed or not done
        return Job(root, not failed, "\n".join(log))

    def step(self, step: dict[str, Any], root: Path, env: dict[str, str]) -> tuple[bool, str]:
        uses, given = step.get("uses", ""), step.get("with") or {}
        if uses.startswith("actions/checkout") and "repository" in given:   # the fork, full history
            subprocess.run(["git", "clone", "-q", str(self.v.remote), str(root / given["path"])], check=True)
            return True, "cloned the fork"
        if uses.startswith("actions/cache/restore"):
            if self.cache.exists():
                shutil.copytree(self.cache, root / given["path"], dirs_exist_ok=True)
            return True, "restored" if self.cache.exists() else "no cache yet"
        if uses.startswith("actions/cache/save"):
            shutil.rmtree(self.cache, ignore_errors=True)
            shutil.copytree(root / given["path"], self.cache)
            return True, "saved"
        if uses or step["run"].startswith("pip install"):  # the workspace itself, python, uploads: nothing to do
            return True, "skipped"
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=root,
                              env={**env, **{k: "" for k in step.get("env") or {}}}, capture_output=True, text=True,
                              timeout=300)
        return proc.returncode == 0, proc.stdout + proc.stderr


def ci_for(tmp: Path, ci_args: tuple[str, ...] = (), kind: type[Ci] | None = None,
           **overrides: Any) -> tuple[Vendored, Ci]:
    """The vendored fork, and a workspace repository whose config CI can use (the fork at fork/, the
    sources by absolute URL, publishing to the fork's origin) with the workflow `doit ci` wrote committed."""
    v = build(tmp)
    cfg = config(verify=True, fork="fork", publish={"remote": "origin", "forge": "none", "automerge_max": None},
                 **overrides)
    for src in cfg["sources"]:
        src["url"] = str(v.sources[src["name"]])
    ws = tmp / "workspace"
    ws.mkdir()
    write_config(ws, cfg)
    (ws / ".gitignore").write_text("reports/\n.forkwave/\nfork/\n")
    made = run_doit(ws, "ci", *ci_args)
    assert made.returncode == 0, made.stdout + made.stderr
    subprocess.run(["git", "init", "-q", "-b", "main", str(ws)], check=True)
    subprocess.run(["git", "-C", str(ws), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(ws), "commit", "-qm", "forkwave workspace"], check=True)
    c = (kind or Ci)(v, tmp)
    subprocess.run(["git", "clone", "-q", "--bare", str(ws), str(c.repo)], check=True)
    return v, c


def remote_tip(v: Vendored) -> str | None:
    out = git_out(v.remote, "for-each-ref", "--format=%(objectname)", "refs/heads/sync/upstream").strip()
    return out or None


def test_two_schedules_each_publish_what_they_synced_on_the_shared_branch(tmp_path: Path) -> None:
    v, ci = ci_for(tmp_path)
    assert [s["cron"] for s in ci.workflow()["on"]["schedule"]] == [SCHEDULES["web"], SCHEDULES["sale"]]

    web = ci.run(SCHEDULES["web"])

    assert web.ok, web.log
    assert remote_tip(v) == git_out(web.fork, "rev-parse", "refs/heads/sync/upstream").strip()   # published
    pushed = tree(v.remote, "refs/heads/sync/upstream")
    assert "addons/oca/web/web_chart/__manifest__.py" in pushed
    assert "addons/oca/sale/sale_stock/__manifest__.py" not in pushed     # sale's schedule has not run yet
    assert (web.reports / "pr.md").read_text().splitlines()[0] == "# chore: sync with web"

    sale = ci.run(SCHEDULES["sale"])    # a fresh clone; reports/ as web's job saved it; the branch web pushed

    assert sale.ok, sale.log
    assert remote_tip(v) == git_out(sale.fork, "rev-parse", "refs/heads/sync/upstream").strip()   # published
    pushed = tree(v.remote, "refs/heads/sync/upstream")
    assert {"addons/oca/web/web_chart/__manifest__.py", "addons/oca/sale/sale_stock/__manifest__.py"} <= set(pushed)
    assert "held" not in sale.log
    pr = (sale.reports / "pr.md").read_text()
    assert pr.splitlines()[0] == "# chore: sync with web, sale"
    for name in SOURCES:                          # each source's own URL and the revision its slices synced
        sha = git_out(v.sources[name], "rev-parse", "refs/heads/main").strip()
        assert f"| {name} | `{v.sources[name]}` | `main` | `{sha[:12]}` | ready |" in pr
    # web's slices, planned by the other schedule's job, still count in the description: every slice of both
    planned = sum(len(read(sale.reports / "sources" / n / "plan.json")["slices"]) for n in SOURCES)
    assert f"{planned} slices: {planned} adopted" in pr


def test_a_failed_verification_holds_only_its_source(tmp_path: Path) -> None:
    v, ci = ci_for(tmp_path, sources={"sale": {"verify": [manifests("sale", 99)]}})   # sale can never pass
    web = ci.run(SCHEDULES["web"])
    assert web.ok, web.log

    sale = ci.run(SCHEDULES["sale"])

    assert sale.ok, sale.log                     # exit 2 (work for a person) does not fail the job
    assert "publish: sale: held, its part of sync/upstream is in the draft pull request" in sale.log
    assert "verify 'manifests': printed 3, below expected_min 99" in sale.log
    pr = (sale.reports / "pr.md").read_text()
    assert "- draft: yes" in pr                 # not to be merged while sale is held
    assert "**Held**: sale — verify 'manifests': printed 3, below expected_min 99" in pr
    web_sha = git_out(v.sources["web"], "rev-parse", "refs/heads/main").strip()[:12]
    assert f"| web | `{v.sources['web']}` | `main` | `{web_sha}` | ready |" in pr
    assert "| sale |" in pr and "| held (below) |" in pr

    # web's next run: new upstream work for web; it publishes, and sale's hold is a note, not its failure
    v.upstream("web", repo_files({**SOURCES["web"][1], "web_gantt": "1"}, "# web\n"), "web: gantt", 40)
    again = ci.run(SCHEDULES["web"])
    assert again.ok, again.log
    assert "publish: note: sale (not asked for in this run): held" in again.log
    assert "addons/oca/web/web_gantt/__manifest__.py" in tree(v.remote, "refs/heads/sync/upstream")
    assert remote_tip(v) == git_out(again.fork, "rev-parse", "refs/heads/sync/upstream").strip()
