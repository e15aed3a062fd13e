"""CI definitions get slices of their own (coupled to nothing else); other plans are as they were; the
``publish:`` config keys, each error one line naming the key."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from conftest import write_config
from test_coupling import DEFAULT, commit, drift_of, files_of, random_case
from tasks.core import plan as planmod
from tasks.config import DEFAULT_RISK_WEIGHTS, RISK_TERMS, Publish, Wave, load_config
from tasks.core.coupling import Link
from tasks.errors import ForkwaveError
from tasks.core.plan import CI_DEFINITIONS, apart, plan_waves
from tasks.report.render import wave_manifest
from tasks.workspace import dump_json


@pytest.mark.parametrize("path,ci", [
    (".github/workflows/ci.yml", True), (".github/workflows/sub/x.yaml", True), (".gitlab-ci.yml", True),
    ("ci/.gitlab-ci.yml", True), (".gitlab/ci/build.yml", True), (".circleci/config.yml", True),
    ("Jenkinsfile", True), ("services/api/Jenkinsfile", True), ("azure-pipelines.yml", True),
    (".buildkite/pipeline.yml", True), (".travis.yml", True), ("bitbucket-pipelines.yml", True),
    (".drone.yml", True), (".woodpecker/build.yml", True), (".gitea/workflows/ci.yml", True),
    (".forgejo/workflows/ci.yml", True), ("appveyor.yml", True),
    (".github/CODEOWNERS", False), (".github/dependabot.yml", False), ("src/workflows/ci.yml", False),
    ("docs/.github/workflows/x.yml", False), ("Jenkinsfile.md", False),
])
def test_what_counts_as_a_ci_definition(path: str, ci: bool) -> None:
    from tasks.globs import globs

    assert globs(CI_DEFINITIONS)(path) is ci


def test_apart_cuts_every_link_between_ci_and_other_files() -> None:
    ci = frozenset({".github/workflows/a.yml", ".github/workflows/b.yml"})
    links = [Link("commit", "commit 1", (".github/workflows/a.yml", ".github/workflows/b.yml", "src/x.py", "src/y.py")),
             Link("commit", "commit 2", (".github/workflows/a.yml", "src/z.py")),
             Link("test", "test of src/x.py", ("src/x.py", "tests/test_x.py"))]
    assert [(lk.why, lk.files) for lk in apart(links, ci)] == [
        ("commit 1", ("src/x.py", "src/y.py")), ("commit 1", (".github/workflows/a.yml", ".github/workflows/b.yml")),
        ("test of src/x.py", ("src/x.py", "tests/test_x.py"))]


def test_ci_files_of_one_upstream_commit_with_code_land_in_a_slice_of_their_own() -> None:
    drift = drift_of(".github/workflows/ci.yml", ".github/workflows/release.yml", "src/app.py", "src/lib.py",
                     "Dockerfile")
    commits = [commit("c1", ".github/workflows/ci.yml", "src/app.py", "Dockerfile", "src/lib.py"),
               commit("c2", ".github/workflows/release.yml", ".github/workflows/ci.yml")]
    p = plan_waves(drift, DEFAULT, 25, commits=commits)
    assert files_of(p) == [("slice-1", "a", ["Dockerfile", "src/app.py", "src/lib.py"]),
                           ("slice-2", "a", [".github/workflows/ci.yml", ".github/workflows/release.yml"])]
    assert [s.ci for s in p.slices] == [False, True]
    body = p.to_json()["slices"]
    assert "ci" not in body[0] and body[1]["ci"] is True
    assert [g.why for g in p.slices[1].groups] == [("commit c2",)]   # their own link stays (c1 holds one here)
    assert all(g.split is None for s in p.slices for g in s.groups)               # a cut for CI is no split
    text = wave_manifest(p, "a")
    assert text.count("CI definitions, in a slice of their own") == 1 and "`workflow` scope" in text


def test_ci_slices_come_after_the_waves_other_slices_and_respect_max_files() -> None:
    paths = [f".github/workflows/w{i}.yml" for i in range(5)] + [f"src/f{i}.py" for i in range(3)]
    waves = (Wave("a", ("*",)),)
    p = plan_waves(drift_of(*paths), waves, 2)
    assert [(s.ci, len(s.files)) for s in p.slices] == [(False, 2), (False, 1), (True, 2), (True, 2), (True, 1)]


def test_a_ci_file_goes_to_its_own_wave_not_its_partners() -> None:
    drift = drift_of(".gitlab-ci.yml", "db/migrations/1.sql")
    p = plan_waves(drift, DEFAULT, 25, commits=[commit("c1", ".gitlab-ci.yml", "db/migrations/1.sql")])
    assert files_of(p) == [("slice-1", "a", ["db/migrations/1.sql"]), ("slice-2", "b", [".gitlab-ci.yml"])]


@pytest.mark.parametrize("seed", range(40))
def test_a_plan_without_ci_definitions_is_what_it_was(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI definitions planned like any file (the planner before CI slices), every plan without
    them comes out byte for byte the same."""
    drift, commits, rules, max_files = random_case(seed)
    waves = (Wave("a", (), ("a/**",)), Wave("b", ("*",)), Wave("c", (), ("**/*.md",)))
    now = dump_json(plan_waves(drift, waves, max_files, rules, commits).to_json())
    monkeypatch.setattr(planmod, "CI_DEFINITIONS", ())
    assert dump_json(plan_waves(drift, waves, max_files, rules, commits).to_json()) == now


@pytest.mark.parametrize("seed", range(8))
def test_random_plans_with_ci_files_never_mix_them(seed: int) -> None:
    drift, commits, rules, max_files = random_case(seed)
    rng = random.Random(seed)
    ci = [f".github/workflows/w{i}.yml" for i in range(rng.randint(1, 5))] + [".gitlab-ci.yml"]
    drift = drift | {"entries": drift["entries"] | drift_of(*ci)["entries"]}
    commits = [*commits, commit("ci1", ci[0], *rng.sample(sorted(drift["entries"]), 4))]
    p = plan_waves(drift, (Wave("a", (), ("a/**",)), Wave("b", ("*",))), max_files, rules, commits)
    for s in p.slices:
        kinds = {f.path in ci for f in s.files}
        assert len(kinds) == 1 and s.ci == (True in kinds)
    assert sorted(f.path for s in p.slices for f in s.files if s.ci) == sorted(ci)


# --- publish: in forkwave.yaml ---------------------------------------------------------------------

def load(tmp_path: Path, publish: Any) -> Publish:
    return load_config(write_config(tmp_path, {"upstream": {"url": "/srv/up"}, "fork": {"path": "/srv/fork"},
                                               "publish": publish})).publish


def test_publish_defaults() -> None:
    p = Publish()
    assert (p.remote, p.forge, p.title, p.labels, p.draft, p.automerge_max, p.merge_method) == (
        "origin", "auto", "chore: sync with {source} {short_sha}", ("upstream-sync",), "auto", 5, "merge")
    assert dict(p.weights) == {t: DEFAULT_RISK_WEIGHTS.get(t, 0) for t in RISK_TERMS}
    assert dict(p.weights) | {} == {"files": 1, "failed_checks": 3, "new_failing_tests": 5, "migrations": 2,
                                    "lockfiles": 0, "workflows": 0, "both_changed": 0, "conflicts": 0}


def test_publish_keys_are_read(tmp_path: Path) -> None:
    p = load(tmp_path, {"remote": "fork-remote", "forge": "gitlab", "url": "https://git.acme.com",
                        "repository": "g/sub/p", "title": "sync {source} {short_sha}", "labels": ["sync"],
                        "reviewers": ["@alice", "acme/core"], "assignees": ["bob"], "conflict_reviewers": ["carol"],
                        "draft": False, "automerge_max": None, "merge_method": "squash",
                        "risk": {"weights": {"conflicts": 4, "files": 0.5}, "low": 3, "medium": 9}})
    assert (p.remote, p.forge, p.url, p.repository, p.labels, p.reviewers, p.draft, p.automerge_max) == (
        "fork-remote", "gitlab", "https://git.acme.com", "g/sub/p", ("sync",), ("@alice", "acme/core"), False, None)
    assert dict(p.weights)["conflicts"] == 4 and dict(p.weights)["files"] == 0.5
    assert dict(p.weights)["failed_checks"] == 3                   # a term not named keeps the seed's weight
    assert (p.low, p.medium, p.merge_method) == (3, 9, "squash")
    assert load(tmp_path, {"risk": {"low": 20}}).medium == 20      # medium follows a low above its default


@pytest.mark.parametrize("publish,message", [
    ({"forge": "gitea"}, "key 'publish.forge': expected one of auto, github, gitlab, none, got 'gitea'"),
    ({"draft": "maybe"}, "key 'publish.draft': expected one of auto, true, false, got 'maybe'"),
    ({"title": "sync {nope}"}, "key 'publish.title': unknown placeholder {nope}; use {source}, {short_sha}, {sha}"),
    ({"title": "sync {"}, "key 'publish.title': Single '{' encountered in format string (write {{ and }}"),
    ({"url": "github.acme.com"}, "key 'publish.url': expected an http(s) URL such as https://github.example.com"),
    ({"api": "https://bot:t0k@ghe/api/v3"}, "key 'publish.api': credentials do not belong in the config; give "
                                            "them in the environment (FORKWAVE_TOKEN)"),
    ({"remote": "--upload-pack=x"}, "key 'publish.remote': '--upload-pack=x' starts with '-'"),
    ({"repository": "justone"}, "key 'publish.repository': expected owner/name (GitLab: group/subgroup/project)"),
    ({"repository": "a/../b"}, "key 'publish.repository': expected owner/name"),
    ({"reviewers": ["two words"]}, "key 'publish.reviewers.0': 'two words' is not a user name or org/team"),
    ({"assignees": ["org/team"]}, "key 'publish.assignees.0': 'org/team' is not a user name"),
    ({"labels": ["a,b"]}, "key 'publish.labels.0': 'a,b': a label cannot hold ','"),
    ({"automerge_max": -1}, "key 'publish.automerge_max': expected a number >= 0, got -1"),
    ({"automerge_max": ".nan"}, "key 'publish.automerge_max': expected a finite number or null"),
    ({"risk": {"weights": {"typos": 1}}}, "key 'publish.risk.weights': expected one of files, failed_checks"),
    ({"risk": {"weights": {"files": "many"}}}, "key 'publish.risk.weights.files': expected a finite number"),
    ({"risk": {"low": 10, "medium": 2}}, "key 'publish.risk.medium': 2 is below publish.risk.low (10)"),
    ({"merge_method": "ff"}, "key 'publish.merge_method': expected one of merge, squash, rebase, got 'ff'"),
    ({"reviewer": ["a"]}, "unknown key 'publish.reviewer' (did you mean 'reviewers'?); expected one of: api, "
                          "assignees, automerge_max"),
])
def test_publish_config_errors_name_the_key(tmp_path: Path, publish: Any, message: str) -> None:
    if publish.get("automerge_max") == ".nan":
        path = tmp_path / "forkwave.yaml"
        path.write_text("upstream: {url: /srv/up}\nfork: {path: /srv/fork}\npublish: {automerge_max: .nan}\n")
        with pytest.raises(ForkwaveError) as exc:
            load_config(path)
    else:
        with pytest.raises(ForkwaveError) as exc:
            load(tmp_path, publish)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith(str(tmp_path / "forkwave.yaml"))


def test_the_publishing_guides_publish_snippets_load(tmp_path: Path) -> None:
    import re

    from conftest import ROOT

    guide = (ROOT / "docs" / "guides" / "publishing.md").read_text(encoding="utf-8")
    snippets = re.findall(r"^```yml\n(publish:.*?)^```", guide, re.M | re.S)
    assert snippets
    for snippet in snippets:
        path = tmp_path / "forkwave.yaml"
        path.write_text("upstream: {url: /srv/up}\nfork: {path: /srv/fork}\n" + snippet, encoding="utf-8")
        pub = load_config(path).publish
        assert pub.automerge_max == 3 and dict(pub.weights)["workflows"] == 10 and (pub.low, pub.medium) == (3, 20)
