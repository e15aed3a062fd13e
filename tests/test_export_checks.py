"""Push checks and ``verify`` on an export run in a git checkout of the exported tree — in the source's layout by
default, in the fork's with ``layout: fork`` — and say what they printed; a failed export holds its own source
only. On the vendored-addons fork, where ``web`` goes both ways and the team's edit of a web view is exported."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import run_doit, write_config
from slicekit import read, rev, tree
from addonskit import Vendored, build, config

EXPORTED = "web_widget/views/web_widget.xml"          # the team's edit, as the source names it
FORK_LAYOUT = "git ls-files 'addons/oca/web/*/__manifest__.py' | wc -l"   # a verify written for the fork
SOURCE_LAYOUT = "git ls-files '*/__manifest__.py' | wc -l"                # one written for the source


def both(tmp: Path, verify: list[dict[str, Any]], **top: Any) -> tuple[Vendored, Path]:
    contrib = tmp / "contrib.git"
    subprocess.run(["git", "init", "-q", "--bare", str(contrib)], check=True)
    web = {"direction": "both", "push_url": "../contrib.git", "verify": verify}
    v = build(tmp)
    write_config(v.workspace, config(sources={"web": web}, **top))
    return v, contrib


def contrib_tip(contrib: Path) -> str | None:
    return rev(contrib, "refs/heads/contrib/erp")


def test_checks_and_verify_run_in_a_git_checkout_of_each_layout(tmp_path: Path) -> None:
    on_branch = ('test "$(git rev-parse --abbrev-ref HEAD)" = "$EXPECTED" && git diff --quiet HEAD '
                 '&& test "$(git diff --name-only HEAD~1)" = "$CHANGED"')
    v, contrib = both(tmp_path, [
        {"name": "modules", "run": f"echo modules in the source; {SOURCE_LAYOUT}", "expected_min": 4},
        {"name": "vendored", "run": f"echo modules vendored; {FORK_LAYOUT}", "expected_min": 4, "layout": "fork"}],
        checks=[{"name": "source-side", "run": on_branch, "direction": "push",
                 "env": {"EXPECTED": "contrib/erp", "CHANGED": EXPORTED}},
                # the fork as the source would hold it once the export lands: the team's edit, upstream's new module
                {"name": "fork-side", "direction": "push", "layout": "fork",
                 "run": 'test "$(git rev-parse --abbrev-ref HEAD)" = main && git diff --quiet HEAD '
                        f"&& grep -q team addons/oca/web/{EXPORTED} "
                        "&& git ls-files --error-unmatch addons/oca/web/web_chart/__manifest__.py "
                        "custom/erp_base/__manifest__.py addons/oca/sale/sale_margin/__manifest__.py"}])

    result = run_doit(v.workspace)

    assert result.returncode == 0, result.stdout + result.stderr
    record = read(v.reports / "sources" / "web" / "export.json")
    assert [f["source_path"] for f in record["files"]] == [EXPORTED]
    assert [(c["name"], c["status"], c["layout"]) for c in record["checks"]] == [
        ("source-side", "passed", "source"), ("fork-side", "passed", "fork")]
    assert [(x["name"], x["value"], x["passed"], x["layout"]) for x in record["verify"]] == [
        ("modules", "4", True, "source"), ("vendored", "4", True, "fork")]
    assert "export web: verify vendored passed (in the fork's layout)" in result.stdout
    assert run_doit(v.workspace, "publish").returncode == 0
    assert tree(contrib, "refs/heads/contrib/erp")[EXPORTED][1] == b"<odoo><!-- team: wider widget --></odoo>\n"


def test_a_fork_layout_verify_fails_on_the_source_layout_says_why_and_holds_only_that_export(tmp_path: Path) -> None:
    verify = [{"name": "vendored", "run": f"echo counting vendored manifests; {FORK_LAYOUT}", "expected_min": 4}]
    v, contrib = both(tmp_path, verify)

    result = run_doit(v.workspace)

    assert result.returncode == 2, result.stdout + result.stderr
    # its reason, its layout, and what it printed — no "not a git repository": the checkout is a clone's
    assert (f"export web: deferred addons/oca/web/{EXPORTED}: vendored failed with it\n"
            "export web:   verify 'vendored': printed 0, below expected_min 4 (in the source's layout)\n"
            "export web: vendored output with it (last lines):\n"
            "    counting vendored manifests\n    0\n") in result.stdout
    assert "not a git repository" not in result.stdout
    assert "verify web: vendored passed" in result.stdout          # on the sync tip (the fork's layout) it holds

    published = run_doit(v.workspace, "publish")

    assert published.returncode == 2, published.stdout + published.stderr
    assert ("forkwave: error: publish: web: held, nothing pushed to " in published.stderr
            and "verify 'vendored': printed 0, below expected_min 4" in published.stderr)
    assert contrib_tip(contrib) is None                             # the export is held ...
    assert rev(v.remote, "refs/heads/sync/upstream") == rev(v.fork, "refs/heads/sync/upstream")  # ... nothing else

    verify[0]["layout"] = "fork"                                    # where it was written to run
    write_config(v.workspace, config(sources={"web": {"direction": "both", "push_url": "../contrib.git",
                                                      "verify": verify}}))
    fixed = run_doit(v.workspace)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert run_doit(v.workspace, "publish").returncode == 0
    assert contrib_tip(contrib) is not None


@pytest.mark.parametrize("where,message", [
    ("check", "key 'checks.0': 'layout' places a check on an export: give it direction push or both, or drop "
              "'layout'"),
    ("verify", "key 'sources.1.verify.0.layout': places a verification on an export, and this source only pulls"),
])
def test_layout_where_nothing_is_exported_is_refused(tmp_path: Path, where: str, message: str) -> None:
    v = build(tmp_path)
    if where == "check":
        cfg = config(checks=[{"name": "c", "run": "true", "layout": "fork"}])
    else:
        cfg = config(sources={"sale": {"verify": [{"name": "m", "run": "true", "layout": "fork"}]}})
    write_config(v.workspace, cfg)
    result = run_doit(v.workspace, "list")
    assert result.returncode == 1 and message in result.stderr, result.stderr
