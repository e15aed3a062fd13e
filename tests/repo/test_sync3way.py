"""True 3-way sync on real repositories: rewrites, renames, merges, deletions, per-group state in the
fork, base order, baseline gating and upstream-commit traceability. Pure parts by table."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import doit_ok, run_doit, write_config
from slicekit import build, config_for, outcome, plan, rev, slice_of, tree
from syncdkit import (Snapshot, advance, blob_entry, build_history, classes, compute, config_of, drift_report,
                      land, lines, section, text)
from tasks.repo import content, merge, state
from tasks.repo.importer import prepare
from tasks.config import RewriteRule
from tasks.core.rewrite import Rewriter

BRAND = [{"from": "twenty", "to": "acme", "paths": ["**/*.js"]}]


# --- pure: rewrites, similarity, merges, the deletion policy ------------------------------------

@pytest.mark.parametrize("rules,path,data,expected", [
    ((RewriteRule("twenty", "acme"),), "a.js", b'name = "twenty"\n', b'name = "acme"\n'),
    ((RewriteRule("twenty", "acme", ("**/*.js",)),), "a.md", b"twenty\n", b"twenty\n"),       # not its paths
    ((RewriteRule(r"twenty-(\w+)", r"acme-\1", regex=True),), "a.js", b"twenty-ui twenty\n", b"acme-ui twenty\n"),
    ((RewriteRule("twenty", "acme"), RewriteRule("Twenty", "Acme")), "a.js", b"Twenty twenty\n", b"Acme acme\n"),
    ((RewriteRule("twenty", "acme"),), "logo.png", b"\x89PNG\0twenty", b"\x89PNG\0twenty"),  # binary: untouched
])
def test_rewriter_apply(rules: tuple[RewriteRule, ...], path: str, data: bytes, expected: bytes) -> None:
    assert Rewriter(rules).apply(path, data) == expected


@pytest.mark.parametrize("data,expected", [
    (b"twenty only\n", []),
    (b"twenty, formerly acme\n", ["'twenty' -> 'acme'"]),
    (b"\0acme", []),                                                          # binary
])
def test_rewriter_irreversible_names_rules_whose_target_upstream_already_has(data: bytes,
                                                                             expected: list[str]) -> None:
    rules = (RewriteRule("twenty", "acme"), RewriteRule(r"acme\d", "x", regex=True))  # regex rules: not judged
    assert Rewriter(rules).irreversible("a.js", data) == expected


@pytest.mark.parametrize("a,b,expected", [
    (b"", b"", 1.0),
    (b"same\nlines\n", b"lines\nsame\n", 1.0),                                # order does not matter
    (b"x\n", b"y\n", 0.0),
    (b"}\nreturn x;\nlong line of its own here\n", b"}\nreturn x;\nanother long line, different\n", 12 / 41),
])
def test_similarity(a: bytes, b: bytes, expected: float) -> None:
    assert content.similarity(a, b) == pytest.approx(expected)


A, B, C = ("100644", "a" * 40), ("100644", "b" * 40), ("100644", "c" * 40)


@pytest.mark.parametrize("triples,three_way,expected", [
    ({"old.js": (A, A, None), "new.js": (None, None, B)}, True, (["old.js"], ["new.js"])),
    ({"old.js": (A, B, None), "new.js": (None, None, C)}, True, (["old.js"], ["new.js"])),  # changed upstream too
    ({"gone.js": (A, None, None), "moved.js": (None, None, A)}, True, (["gone.js"], ["moved.js"])),  # deleted upstream
    ({"old.js": (False, A, None), "new.js": (False, None, B)}, False, (["old.js"], ["new.js"])),
    ({"add.js": (None, A, None), "fork.js": (A, None, A)}, True, ([], [])),   # upstream-added; deleted upstream
])
def test_rename_candidates(triples: dict[str, Any], three_way: bool, expected: tuple[list[str], list[str]]) -> None:
    assert content.rename_candidates(triples, three_way) == expected


@pytest.mark.parametrize("base,fork,up,clean,expected", [
    (b"1\n2\n3\n4\n5\n", b"one\n2\n3\n4\n5\n", b"1\n2\n3\n4\nfive\n", True, b"one\n2\n3\n4\nfive\n"),
    (b"1\n2\n3\n", b"1\nfork\n3\n", b"1\nup\n3\n", False,
     b"1\n<<<<<<< fork\nfork\n||||||| base\n2\n=======\nup\n>>>>>>> upstream\n3\n"),
    (b"", b"same\n", b"same\n", True, b"same\n"),             # added on both sides alike
])
def test_merge_text(base: bytes, fork: bytes, up: bytes, clean: bool, expected: bytes) -> None:
    assert merge.merge_text(base, fork, up) == (clean, expected)


@pytest.mark.parametrize("deletions,changes,reported", [
    ("apply", [("gone.js", None)], []),
    ("report", [], ["gone.js"]),
])
def test_prepare_applies_or_reports_upstream_deletions(deletions: str, changes: list[tuple[str, Any]],
                                                       reported: list[str]) -> None:
    entries = {"gone.js": {"upstream": None, "fork": "100644 " + "a" * 40, "base": "100644 " + "a" * 40}}
    out = prepare([{"path": "gone.js", "class": "upstream-deleted"}], entries, {"gone.js": A}, {},
                  deletions=deletions)
    assert [(c.path, c.mode) for c in out.changes] == changes
    assert [p for p, _ in out.reported] == reported and out.conflicts == ()


# --- rewrites: rebranded content is identical ---------------------------------------------------

def rebranded(tmp_path: Path) -> Any:
    base = {"src/name.js": 'export const name = "twenty";\n', "docs/name.md": "twenty\n", "same.txt": "same\n"}
    fork = {"src/name.js": 'export const name = "acme";\n', "docs/name.md": "acme\n", "same.txt": "same\n"}
    return build(tmp_path, base, base, fork)


@pytest.mark.parametrize("base,differs", [(..., "differs"), ("v1", "fork-changed")])
def test_rebranded_content_is_identical_under_a_rewrite_rule(tmp_path: Path, base: Any, differs: str) -> None:
    r = rebranded(tmp_path)
    with_rule = compute(r.workspace, base=base, rewrite=BRAND)
    assert "src/name.js" not in with_rule["entries"]                    # judged identical once rewritten
    assert classes(with_rule) == {"docs/name.md": differs}              # the rule's paths are **/*.js only
    assert with_rule["totals"]["identical"] == 2 and with_rule["warnings"] == []

    without = compute(r.workspace, base=base)
    assert classes(without) == {"src/name.js": differs, "docs/name.md": differs}


def test_upstream_already_holding_the_target_text_warns_in_drift_json(tmp_path: Path) -> None:
    base = {"src/compat.js": 'export const name = "twenty"; // formerly acme\n', "src/plain.js": "twenty\n"}
    fork = {"src/compat.js": 'export const name = "acme"; // formerly acme\n', "src/plain.js": "acme\n"}
    r = build(tmp_path, base, {**base, "src/new.js": "twenty\n"}, fork, rewrite=BRAND)

    doit_ok(r.workspace, "drift")

    report = drift_report(r)
    assert classes(report) == {"src/new.js": "upstream-added"}          # both rebranded files match
    assert report["warnings"] == [("rewrite 'twenty' -> 'acme' is not reversible on src/compat.js: "
                                   "upstream already contains the target text")]


def test_upstream_changes_to_rebranded_files_land_rewritten_and_merge_after_rewriting(tmp_path: Path) -> None:
    name = ['export const name = "twenty";\n'] + lines("name")
    base = {"src/name.js": text(name), "src/brand.js": 'export const brand = "twenty";\n'}
    upstream = {"src/name.js": text(name[:-1] + ['export const site = "twenty.com";\n']),
                "src/brand.js": 'export const brand = "twenty";\nexport const since = 2020;\n'}
    fork = {"src/name.js": text(['export const name = "acme"; // ours\n'] + name[1:]),
            "src/brand.js": 'export const brand = "acme";\n'}
    r = build(tmp_path, base, upstream, fork, rewrite=BRAND)

    doit_ok(r.workspace, "wave_a")

    assert classes(drift_report(r)) == {"src/name.js": "both-changed", "src/brand.js": "upstream-changed"}
    assert outcome(r, "slice-1")["adopted"] == ["src/brand.js", "src/name.js"]
    synced = tree(r.fork, "sync/upstream")
    assert synced["src/brand.js"][1] == b'export const brand = "acme";\nexport const since = 2020;\n'
    assert synced["src/name.js"][1] == text(['export const name = "acme"; // ours\n'] + name[1:-1]
                                            + ['export const site = "acme.com";\n']).encode()


def test_a_regex_rewrite_rule(tmp_path: Path) -> None:
    base = {"src/deps.js": 'import ui from "twenty-ui";\nconst site = "twenty.com";\n'}
    fork = {"src/deps.js": 'import ui from "acme-ui";\nconst site = "twenty.com";\n'}
    r = build(tmp_path, base, base, fork)
    rule = {"from": r"twenty-([a-z]+)", "to": r"acme-\1", "regex": True}
    assert compute(r.workspace, rewrite=[rule])["entries"] == {}
    assert classes(compute(r.workspace, rewrite=[{**rule, "regex": False}])) == {"src/deps.js": "fork-changed"}


def test_a_bad_regex_is_a_one_line_config_error_naming_the_rule(tmp_path: Path) -> None:
    r = rebranded(tmp_path)
    path = write_config(r.workspace, config_for(rewrite=[*BRAND, {"from": "twenty-(", "to": "x", "regex": True}]))
    result = run_doit(r.workspace, "drift")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert re.match(rf"forkwave: error: {re.escape(str(path))}:\d+:\d+: key 'rewrite.1.from': not a valid regex \(",
                    line)
    assert "Traceback" not in result.stdout + result.stderr


# --- renames: paired, and upstream's change lands at the fork's name ------------------------------

UTIL, FORMAT = lines("util"), lines("format")


def renamed(tmp_path: Path) -> Any:
    base = {"src/util.js": text(UTIL), "src/format.js": text(FORMAT), "src/main.js": "main\n"}
    upstream = {**base, "src/util.js": text(UTIL[:10] + ["export const UTIL_V2 = true;\n"] + UTIL[11:]),
                "src/format.js": text(FORMAT[:11] + ["export const FORMAT_V2 = true;\n"])}
    fork = {"src/helpers.js": base["src/util.js"],                                 # a pure rename
            "lib/fmt.js": text(["// acme formatting\n"] + FORMAT[1:]),            # moved, renamed, edited
            "src/main.js": "main\n"}
    return build(tmp_path, base, upstream, fork), upstream


def test_renamed_files_are_paired_and_upstream_changes_land_at_the_forks_names(tmp_path: Path) -> None:
    r, upstream = renamed(tmp_path)

    doit_ok(r.workspace, "wave_a")

    report = drift_report(r)
    assert report["renamed"] == {"lib/fmt.js": "src/format.js", "src/helpers.js": "src/util.js"}
    helpers, fmt = report["entries"]["src/helpers.js"], report["entries"]["lib/fmt.js"]
    assert helpers["class"] == "upstream-changed" and helpers["renamed_from"] == "src/util.js"
    assert fmt["class"] == "both-changed" and fmt["renamed_from"] == "src/format.js"
    assert helpers["upstream"] == blob_entry(r.upstream, r.main, "src/util.js")
    assert set(report["entries"]) == {"src/helpers.js", "lib/fmt.js"}   # the old names are gone

    [name] = {slice_of(r, "src/helpers.js"), slice_of(r, "lib/fmt.js")}
    assert outcome(r, name)["status"] == "adopted"
    synced = tree(r.fork, "sync/upstream")
    assert synced["src/helpers.js"] == ("100644", upstream["src/util.js"].encode())
    assert synced["lib/fmt.js"][1] == text(["// acme formatting\n"] + FORMAT[1:11]
                                           + ["export const FORMAT_V2 = true;\n"]).encode()  # merged
    assert "src/util.js" not in synced and "src/format.js" not in synced     # never recreated
    manifest = json.loads((r.reports / "slices" / name / "import.json").read_text())
    assert {f["path"]: f.get("renamed_from") for f in manifest["files"]} == {
        "lib/fmt.js": "src/format.js", "src/helpers.js": "src/util.js"}
    assert [c["subject"] for c in manifest["commits"]] == ["v2"]        # found under the upstream names


@pytest.mark.parametrize("path,kind", [("a/b.js", "js"), ("a/B.TSX", "js"), ("x.mjs", "js"), ("ci.yml", "yaml"),
                                       ("ci.yaml", "yaml"), ("README", ""), ("a.json", "json")])
def test_extension_families(path: str, kind: str) -> None:
    assert content._kind(path) == kind


@pytest.mark.parametrize("wide", [False, True])
def test_pairing_across_extensions_and_between_identical_small_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     wide: bool) -> None:
    if wide:  # too many candidates to score them all: only pairs sharing a rare line or a basename
        monkeypatch.setattr(content, "MAX_PAIRS", 0)
    barrel = "export * from './types';\n"
    base = {"src/util.js": text(UTIL), "src/config.json": '{"a": 1, "b": 2, "c": 3, "d": 4}\n',
            "src/modules/person-import/index.ts": barrel, "src/modules/search-company/index.ts": barrel,
            "src/gone.js": text(lines("gone"))}
    fork = {"src/util.ts": text(UTIL[:-1] + ["export const typed: number = 1;\n"]),      # converted to TS
            "src/config.ts": 'export default {"a": 1, "b": 2, "c": 3, "d": 4};\n',     # same stem, < 50 %
            "src/modules/legacy-person-import/index.ts": barrel,                       # retired modules: the
            "src/modules/archived-search-company/index.ts": barrel,                    # paths tell them apart
            "src/other.js": text(lines("other"))}                                      # unrelated
    r = build(tmp_path, base, base, fork)
    report = compute(r.workspace)
    assert report["renamed"] == {"src/modules/archived-search-company/index.ts": "src/modules/search-company/index.ts",
                                 "src/modules/legacy-person-import/index.ts": "src/modules/person-import/index.ts",
                                 "src/util.ts": "src/util.js"}
    assert classes(report)["src/util.ts"] == "fork-changed"
    assert classes(report)["src/other.js"] == "fork-added" and classes(report)["src/gone.js"] == "fork-deleted"


def test_a_file_the_fork_renamed_and_upstream_deleted_is_deleted_at_the_forks_name(tmp_path: Path) -> None:
    base = {"src/util.js": text(UTIL), "src/format.js": text(FORMAT), "src/both.js": "both\n",
            "src/main.js": "main\n"}
    upstream = {"src/main.js": "main v2\n"}
    fork = {"src/helpers.js": text(UTIL), "lib/fmt.js": text(["// acme formatting\n"] + FORMAT[1:]),
            "src/main.js": "main\n"}
    r = build(tmp_path, base, upstream, fork)

    assert run_doit(r.workspace, "wave_a").returncode != 0              # fmt.js: a conflict

    report = drift_report(r)
    assert classes(report) == {"src/helpers.js": "upstream-deleted", "lib/fmt.js": "both-changed",
                               "src/main.js": "upstream-changed"}      # src/both.js: gone on both sides
    assert report["renamed"] == {"lib/fmt.js": "src/format.js", "src/helpers.js": "src/util.js"}
    out = outcome(r, "slice-1")
    assert out["adopted"] == ["src/helpers.js", "src/main.js"]
    assert [(c["path"], c["reason"]) for c in out["conflicts"]] == \
        [("lib/fmt.js", "deleted upstream, changed in the fork")]
    assert "take=fork" in out["conflicts"][0]["next"]
    synced = tree(r.fork, "sync/upstream")
    assert "src/helpers.js" not in synced and "src/util.js" not in synced
    assert synced["lib/fmt.js"] == ("100644", fork["lib/fmt.js"].encode())


# --- merges --------------------------------------------------------------------------------------

APP = lines("app")


def merged(tmp_path: Path, fork_app: list[str], up_app: list[str], **files: Any) -> Any:
    base = {"src/app.js": text(APP), "src/other.js": "other v1\n", **files.get("base", {})}
    upstream = {**base, "src/app.js": text(up_app), "src/other.js": "other v2\n", **files.get("upstream", {})}
    fork = {**base, "src/app.js": text(fork_app), **files.get("fork", {})}
    return build(tmp_path, base, upstream, fork)


def test_a_clean_three_way_merge_is_adopted(tmp_path: Path) -> None:
    fork_app = ["// acme: patched\n"] + APP[1:]
    up_app = APP[:11] + ["export const upstreamTail = 1;\n"]
    r = merged(tmp_path, fork_app, up_app)

    doit_ok(r.workspace, "wave_a")

    assert drift_report(r)["entries"]["src/app.js"]["class"] == "both-changed"
    out = outcome(r, "slice-1")
    assert out["status"] == "adopted" and out["adopted"] == ["src/app.js", "src/other.js"]
    assert out["conflicts"] == []
    assert tree(r.fork, "sync/upstream")["src/app.js"] == ("100644", text(fork_app[:11] + up_app[11:]).encode())
    assert not (r.reports / "slices" / "slice-1" / "conflicts").exists()


def test_a_conflicting_merge_is_deferred_with_its_conflict_file_and_kept_off_the_branch(tmp_path: Path) -> None:
    fork_app = APP[:5] + ["export const five = 'acme';\n"] + APP[6:]
    up_app = APP[:5] + ["export const five = 'upstream';\n"] + APP[6:]
    r = merged(tmp_path, fork_app, up_app)

    result = run_doit(r.workspace, "wave_a")

    assert result.returncode != 0
    out = outcome(r, "slice-1")
    assert out["status"] == "conflicted" and out["adopted"] == ["src/other.js"]      # the rest still lands
    assert [{k: c[k] for k in ("path", "reason", "file")} for c in out["conflicts"]] == [
        {"path": "src/app.js", "reason": "3-way merge conflict", "file": "conflicts/src/app.js"}]
    assert "doit resolve:slice-1" in out["conflicts"][0]["next"]
    conflict = (r.reports / "slices" / "slice-1" / "conflicts" / "src" / "app.js").read_text()
    assert ("<<<<<<< fork\nexport const five = 'acme';\n||||||| base\n" + APP[5] +
            "=======\nexport const five = 'upstream';\n>>>>>>> upstream\n") in conflict
    synced = tree(r.fork, "sync/upstream")
    assert synced["src/app.js"] == ("100644", text(fork_app).encode())          # the fork's version
    assert synced["src/other.js"] == ("100644", b"other v2\n")
    report = (r.reports / "slices" / "slice-1" / "report.md").read_text()
    assert "resolve from [conflicts/src/app.js](conflicts/src/app.js)" in report
    assert state.read(config_of(r.workspace), "refs/heads/sync/upstream") is None   # the wave did not land


def test_a_binary_file_changed_on_both_sides_is_a_conflict_not_a_merge(tmp_path: Path) -> None:
    logo = {"base": {"assets/logo.png": b"\x89PNG\0\0v1"}, "upstream": {"assets/logo.png": b"\x89PNG\0\0up"},
            "fork": {"assets/logo.png": b"\x89PNG\0\0fork"}}
    r = merged(tmp_path, APP, APP, **logo)

    assert run_doit(r.workspace, "wave_a").returncode != 0

    out = outcome(r, slice_of(r, "assets/logo.png"))
    assert {c["path"]: c["reason"] for c in out["conflicts"]} == {
        "assets/logo.png": "binary file changed on both sides"}
    assert "file" not in out["conflicts"][0]
    assert not (r.reports / "slices" / out["slice"] / "conflicts").exists()
    assert tree(r.fork, "sync/upstream")["assets/logo.png"] == ("100644", b"\x89PNG\0\0fork")


# --- deletions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["apply", "report"])
def test_upstream_deletions_by_policy_and_deleted_upstream_changed_in_the_fork(tmp_path: Path,
                                                                                policy: str) -> None:
    base = {"src/gone.js": "gone\n", "src/edited.js": text(APP), "src/kept.js": "kept\n"}
    upstream = {"src/kept.js": "kept v2\n"}
    fork = {**base, "src/edited.js": text(["// acme\n"] + APP[1:])}
    r = build(tmp_path, base, upstream, fork, **({} if policy == "apply" else {"deletions": "report"}))

    assert run_doit(r.workspace, "wave_a").returncode != 0              # the conflict fails the wave

    assert classes(drift_report(r)) == {"src/edited.js": "both-changed", "src/gone.js": "upstream-deleted",
                                        "src/kept.js": "upstream-changed"}
    out = outcome(r, "slice-1")
    assert out["status"] == "conflicted"
    assert [(c["path"], c["reason"]) for c in out["conflicts"]] == \
        [("src/edited.js", "deleted upstream, changed in the fork")]
    synced = tree(r.fork, "sync/upstream")
    assert synced["src/edited.js"] == ("100644", fork["src/edited.js"].encode())
    assert synced["src/kept.js"] == ("100644", b"kept v2\n")
    report = (r.reports / "slices" / "slice-1" / "report.md").read_text()
    if policy == "apply":
        assert "src/gone.js" not in synced and out["reported"] == []
        assert out["adopted"] == ["src/gone.js", "src/kept.js"]
        assert "Left alone by policy" not in report
    else:
        assert synced["src/gone.js"] == ("100644", b"gone\n") and out["adopted"] == ["src/kept.js"]
        assert out["reported"] == [{"path": "src/gone.js", "reason": "deleted upstream; kept (deletions: report)"}]
        assert "## Left alone by policy\n\n- `src/gone.js`: deleted upstream; kept (deletions: report)" in report


# --- per-group state recorded in the fork ---------------------------------------------------------

GROUPS = {"a": {"paths": ["a/**"]}, "c": {"paths": ["c/**"]}}


def group_files(a: str, c: str) -> dict[str, str]:
    return {"a/x.js": text(lines("ax")[:11] + [f"export const A = '{a}';\n"]),
            "c/y.md": f"# Y\n\n{c}\n", "README.md": "# shared\n"}


def test_waves_landed_at_different_revisions_are_read_back_per_group_by_a_fresh_clone(tmp_path: Path) -> None:
    h = build_history(tmp_path, [Snapshot("v1", group_files("a0", "c0"), tag="v1"),
                                 Snapshot("rev1", group_files("a1", "c1"))],
                      group_files("a0", "c0"), waves=GROUPS)
    rev1 = h.shas["rev1"]

    doit_ok(h.workspace, "wave_a")                                       # at rev1, against base v1
    assert state.groups(state.read(config_of(h.workspace, waves=GROUPS), "refs/heads/sync/upstream")) == {"a": rev1}
    land(h.fork)

    # both groups change, in commits of their own (one commit touching both would couple them into wave a)
    advance(h.upstream, group_files("a2", "c1"), "rev2a", tick=450)
    rev2 = advance(h.upstream, group_files("a2", "c2"), "rev2")
    write_config(h.workspace, config_for(base=..., waves=GROUPS))        # from now on: the recorded state
    doit_ok(h.workspace, "wave_c")
    report = drift_report(h)
    assert report["base"]["source"] == "state" and report["base"]["groups"] == {"a": rev1}
    assert report["entries"]["a/x.js"]["class"] == "upstream-changed"   # rev1 -> rev2, not run by wave_c
    land(h.fork)

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(h.fork), str(clone)], check=True)
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    cfg = config_of(ws2, fork={"path": "../clone", "branch": "main"}, base=..., waves=GROUPS)
    assert state.groups(state.read(cfg)) == {"a": rev1, "c": rev2}
    assert tree(clone, "main")["a/x.js"] == tree(h.upstream, rev1)["a/x.js"]
    assert tree(clone, "main")["c/y.md"] == tree(h.upstream, rev2)["c/y.md"]

    rev3 = advance(h.upstream, group_files("a3", "c3"), "rev3", tick=600)
    doit_ok(ws2, "drift")
    after = json.loads((ws2 / "reports" / "drift.json").read_text())
    assert after["upstream"]["sha"] == rev3
    assert after["base"]["source"] == "state" and after["base"]["groups"] == {"a": rev1, "c": rev2}
    assert after["entries"]["a/x.js"]["base"] == blob_entry(h.upstream, rev1, "a/x.js")
    assert after["entries"]["c/y.md"]["base"] == blob_entry(h.upstream, rev2, "c/y.md")
    assert classes(after)["a/x.js"] == classes(after)["c/y.md"] == "upstream-changed"


# --- which base drift uses -------------------------------------------------------------------------

def base_of(workspace: Path, *args: str) -> dict[str, Any]:
    doit_ok(workspace, "drift", *args)
    return json.loads((workspace / "reports" / "drift.json").read_text())["base"]


def test_drift_base_order_config_then_recorded_state_then_detected(tmp_path: Path) -> None:
    files = {"src/app.js": text(APP), "src/other.js": "other v1\n"}
    r = build(tmp_path, files, {**files, "src/other.js": "other v2\n"}, files)
    write_config(r.workspace, config_for(base=...))

    detected = base_of(r.workspace)                                      # nothing recorded, no config base
    assert detected["source"] == "detected" and detected["sha"] == r.v1 and detected["groups"] == {}
    assert json.loads((r.reports / "base.json").read_text())["best"]["sha"] == r.v1

    write_config(r.workspace, config_for(base="v1"))
    assert base_of(r.workspace) == {"source": "config", "rev": "v1", "sha": r.v1, "groups": {}}
    doit_ok(r.workspace, "wave_a")
    land(r.fork)                                                         # the fork now records a: main

    assert base_of(r.workspace)["source"] == "config"                    # config base wins over the state
    write_config(r.workspace, config_for(base=...))
    recorded = base_of(r.workspace)
    assert recorded["source"] == "state" and recorded["groups"] == {"a": r.main}
    # up to date at the recorded revision; forkwave's own state file is not the fork's drift
    assert drift_report(r)["entries"] == {} and drift_report(r)["totals"] == {"identical": 2}
    assert ".forkwave/sync-state.json" in tree(r.fork, "main")
    full = base_of(r.workspace, "full=1")                                # ignore what the fork recorded
    assert full["source"] == "detected" and full["groups"] == {}


# --- baseline gating ------------------------------------------------------------------------------

LEGACY = {"name": "no-legacy", "run": "test ! -e legacy.txt"}


@pytest.mark.parametrize("gating", ["baseline", "strict"])
def test_a_check_failing_on_the_fork_already_is_pre_existing_unless_strict(tmp_path: Path, gating: str) -> None:
    base = {"legacy.txt": "still here\n", "src/app.js": "app v1\n"}
    r = build(tmp_path, base, {**base, "src/app.js": "app v2\n"}, checks=[LEGACY], batch=False,
              **({"gating": "strict"} if gating == "strict" else {}))

    result = run_doit(r.workspace, "wave_a")

    out = outcome(r, "slice-1")
    wave_report = (r.reports / "wave-a" / "report.md").read_text()
    assert "## Baseline" in wave_report and "| `no-legacy` | failed |" in wave_report
    check = next(res for res in out["attempts"][0]["results"] if res["name"] == "no-legacy")
    if gating == "baseline":
        assert result.returncode == 0, result.stdout + result.stderr
        assert out["status"] == "adopted" and out["adopted"] == ["src/app.js"]
        assert check["status"] == "pre-existing" and "fails on the baseline too" in check["message"]
        assert tree(r.fork, "sync/upstream")["src/app.js"] == ("100644", b"app v2\n")
    else:
        assert result.returncode != 0
        assert out["status"] == "reverted" and out["adopted"] == []
        assert check["status"] == "failed"
        assert rev(r.fork, "sync/upstream") == r.fork_head


# --- traceability ---------------------------------------------------------------------------------

def traced(tmp_path: Path, **config: Any) -> Any:
    start = {"src/a.js": "a0\n", "src/b.js": "b0\n", "docs/x.md": "x0\n"}
    return build_history(tmp_path, [
        Snapshot("start", start, "Old <old@example.com>"),
        Snapshot("tweak a before the base", {**start, "src/a.js": "a1\n"}, "Old <old@example.com>", tag="v1"),
        Snapshot("fix a", {**start, "src/a.js": "a2\n"}, "Alice <alice@example.com>"),
        Snapshot("since here", {**start, "src/a.js": "a2\n", "docs/x.md": "x1\n"}, "Carol <carol@example.com>"),
        Snapshot("touch b", {**start, "src/a.js": "a2\n", "docs/x.md": "x1\n", "src/b.js": "b1\n"},
                 "Bob <bob@example.com>"),
    ], {**start, "src/a.js": "a1\n"}, slices={"max_files": 1}, **config)


def test_slice_and_wave_reports_list_the_upstream_commits_since_the_base(tmp_path: Path) -> None:
    h = traced(tmp_path)

    doit_ok(h.workspace, "wave_a")

    sha = h.shas
    a_slice, b_slice = slice_of(h.repos, "src/a.js"), slice_of(h.repos, "src/b.js")
    a_report = (h.reports / "slices" / a_slice / "report.md").read_text()
    a_commits = section(a_report, "Upstream commits behind these changes")
    assert f"| `{sha['fix a'][:12]}` | fix a | Alice |" in a_commits
    for other in ("start", "tweak a before the base", "since here", "touch b"):
        assert sha[other][:12] not in a_commits, other                   # before the base, or other files
    b_report = (h.reports / "slices" / b_slice / "report.md").read_text()
    b_commits = section(b_report, "Upstream commits behind these changes")
    assert f"| `{sha['touch b'][:12]}` | touch b | Bob |" in b_commits and sha["fix a"][:12] not in b_commits
    manifest = json.loads((h.reports / "slices" / a_slice / "import.json").read_text())
    assert manifest["since"] == sha["tweak a before the base"]
    assert manifest["commits"] == [{"sha": sha["fix a"], "author": "Alice", "subject": "fix a"}]

    wave = (h.reports / "wave-a" / "report.md").read_text()
    assert "## Upstream commits, by slice" in wave
    assert f"<details><summary>{a_slice}: 1 commit(s)</summary>" in wave
    assert f"| `{sha['fix a'][:12]}` | fix a | Alice |" in wave
    assert f"| `{sha['touch b'][:12]}` | touch b | Bob |" in wave


def test_since_narrows_drift_to_what_upstream_changed_after_it(tmp_path: Path) -> None:
    h = traced(tmp_path)

    doit_ok(h.workspace, "plan", f"since={h.shas['since here']}")

    assert classes(drift_report(h)) == {"src/a.js": "before-since", "docs/x.md": "before-since",
                                        "src/b.js": "upstream-changed"}
    assert [f["path"] for s in plan(h.repos)["slices"] for f in s["files"]] == ["src/b.js"]

    doit_ok(h.workspace, "plan", f"since={h.shas['start']}")             # the window moved: drift again
    assert classes(drift_report(h)) == {"src/a.js": "upstream-changed", "docs/x.md": "upstream-changed",
                                        "src/b.js": "upstream-changed"}

    doit_ok(h.workspace, "plan", "since=2099-01-01")                    # a date: nothing changed after it
    assert set(classes(drift_report(h)).values()) == {"before-since"} and plan(h.repos)["slices"] == []


def test_a_wave_landed_after_a_since_narrowed_drift_is_not_recorded_as_synced(tmp_path: Path) -> None:
    """Paths upstream changed before `since` were never looked at: the fork is not synced to that revision."""
    h = traced(tmp_path)

    narrowed = doit_ok(h.workspace, "wave_a", f"since={h.shas['since here']}")

    assert "not recorded in .forkwave/sync-state.json: since= narrowed the drift" in narrowed.stdout
    shown = subprocess.run(["git", "-C", str(h.repos.fork), "show", "sync/upstream:.forkwave/sync-state.json"],
                           capture_output=True, text=True)
    assert shown.returncode != 0                                          # no state file on the sync branch

    full = doit_ok(h.workspace, "wave_a")                                 # the whole drift: now it is synced
    assert "landed; recorded upstream" in full.stdout
