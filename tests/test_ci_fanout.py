"""The CI fan-out replayed for real: `doit ci matrix=sources` writes a GitHub workflow whose matrix judges each
source's batch on a runner of its own and whose final job gathers their artifacts, lands and publishes. Each
matrix job runs in a fresh clone of the workspace repository (as ``test_ci_publish`` replays a job), its
uploads kept as the runner would; the final job downloads them into ``reports/`` and must land what a single
job lands, judging no tree a matrix job judged. The check logs the tree of every run, so runs are counted."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema

from addonskit import SCHEDULES, Vendored
from conftest import git_out
from slicekit import read, tree
from test_ci_publish import Ci, ci_for
from test_schedules_ci import schema

CRON = SCHEDULES["web"]


def check(log: Path) -> dict[str, Any]:
    """Fails while sale's new module is in the tree: sale_stock is what a search must find and defer."""
    return {"name": "build", "run": f"git rev-parse 'HEAD^{{tree}}' >> {log}; "
                                    "! test -e addons/oca/sale/sale_stock/__manifest__.py"}


class Fanout(Ci):
    """``Ci`` with the matrix: a judge job per source, its uploads kept, then the final job that gathers them."""

    def __init__(self, v: Vendored, tmp: Path):
        super().__init__(v, tmp)
        self.store = tmp / "artifacts"

    def judge(self, source: str) -> tuple[bool, str]:
        [job] = [j for j in self.workflow()["jobs"].values() if "strategy" in j]
        assert source in job["strategy"]["matrix"]["source"]
        self.jobs += 1
        root = self.clone(self.tmp / f"judge-{source}")
        env = self.env(job, {"FORKWAVE_SOURCE": source})
        log = []
        for step in job["steps"]:
            given = step.get("with") or {}
            if step.get("uses", "").startswith("actions/upload-artifact"):
                name = given["name"].replace("${{ matrix.source }}", source)
                for rel in given["path"].split():   # the paths' common folder, reports/, is the artifact's root
                    if (root / rel).exists():
                        shutil.copytree(root / rel, self.store / name / Path(rel).relative_to("reports"),
                                        dirs_exist_ok=True)
                continue
            done, out = self.step(step, root, env)
            log.append(out)
            if not done:
                return False, "\n".join(log)
        return True, "\n".join(log)

    def final(self) -> Any:
        """The final job: its download step copies every matching artifact into reports/."""
        flow = self.workflow()
        [name] = [n for n, j in flow["jobs"].items() if j.get("needs")]
        job = flow["jobs"][name]
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/download-artifact"):
                pattern = step["with"]["pattern"].rstrip("*")
                step["run"] = "; ".join(f"cp -r {a}/. reports/" for a in sorted(self.store.iterdir())
                                        if a.name.startswith(pattern))
                step.pop("uses")
        flow["jobs"] = {name: job | {"if": f"github.event.schedule == '{CRON}'"}}
        self.workflow = lambda: flow   # type: ignore[method-assign]
        return self.run(CRON)

    def env(self, job: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
        import os
        return {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", **job["env"], **extra,
                "GITHUB_STEP_SUMMARY": str(self.tmp / f"summary-{self.jobs}.md")}


def runs(log: Path, since: int = 0) -> list[str]:
    return log.read_text().split()[since:] if log.exists() else []


def outcome_of(reports: Path) -> dict[str, Any]:
    """Each slice's status and the files it deferred; the files the batch adopted."""
    plan = read(reports / "plan.json")
    slices = {s["name"]: read(reports / "slices" / s["name"] / "outcome.json") for s in plan["slices"]}
    return {n: (o["status"], sorted(f for d in o["deferred"] for f in d["files"])) for n, o in slices.items()}


def test_a_matrix_judges_each_source_apart_and_the_final_job_lands_what_one_job_would(tmp_path: Path) -> None:
    log = tmp_path / "checks.log"
    both = {"sources": {"sale": {"schedule": CRON}}, "checks": [check(log)]}   # web and sale on one schedule

    # one job, as `doit ci` writes it without a matrix
    single_log = tmp_path / "single" / "checks.log"
    (tmp_path / "single").mkdir()
    v1, one = ci_for(tmp_path / "single", sources={"sale": {"schedule": CRON}}, checks=[check(single_log)])
    alone = one.run(CRON)
    assert alone.ok, alone.log

    # the fan-out
    v, fan = ci_for(tmp_path, ("matrix=sources",), Fanout, **both)
    assert isinstance(fan, Fanout)
    flow = fan.workflow()
    jsonschema.Draft7Validator(schema("github-workflows")).validate(flow)
    assert flow["jobs"]["judge-1"]["strategy"]["matrix"]["source"] == ["web", "sale"]
    judged: dict[str, list[str]] = {}
    for source in ("web", "sale"):
        before = len(runs(log))
        ok, out = fan.judge(source)
        assert ok, out
        judged[source] = runs(log, before)
        assert f"slice-{'sale' if source == 'web' else 'web'}" not in out   # each judged only its own source
    assert (fan.store / "forkwave-judged-1-sale" / "fanout" / "sale.json").is_file()

    before = len(runs(log))
    final = fan.final()

    assert final.ok, final.log
    assert "judged on runners of their own" in final.log
    in_final = runs(log, before)
    in_matrix = {t for trees in judged.values() for t in trees}
    assert not set(in_final) & in_matrix, "the final job judged again a tree a matrix job had judged"
    assert len(in_final) == len(set(in_final))
    # the only tree both matrix jobs judged is the sync tip itself: each one's baseline, none cached yet
    start = git_out(v.fork, "rev-parse", "main^{tree}").strip()
    assert set(judged["web"]) & set(judged["sale"]) <= {start}
    # the batch asked each source's search again and every answer came from the memo; the union was new
    batch = read(final.reports / "batch.json")
    assert batch["runs"] == len([t for t in in_final if t != start]) - retried(final.reports)
    # the same outcome as one job: what lands, each slice's status and what it deferred, and it was published
    assert outcome_of(final.reports) == outcome_of(alone.reports)
    landed = {p: c for p, c in tree(v.remote, "refs/heads/sync/upstream").items() if not p.startswith(".forkwave")}
    landed_alone = {p: c for p, c in tree(v1.remote, "refs/heads/sync/upstream").items()
                    if not p.startswith(".forkwave")}
    assert landed == landed_alone
    assert "addons/oca/sale/sale_stock/__manifest__.py" not in landed
    assert "addons/oca/web/web_chart/__manifest__.py" in landed


def retried(reports: Path) -> int:
    """Check runs of the wave's joint retry (the deferred files again on the new tip), not the batch's."""
    path = reports / "wave-a" / "retry.json"
    return int(json.loads(path.read_text()).get("runs", 0)) if path.exists() else 0
