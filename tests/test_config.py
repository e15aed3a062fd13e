"""Config loading: defaults, path resolution, and one exact one-line message per mistake."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_doit, write_config
from tasks.config import (DEFAULT_DENY, DEFAULT_IGNORE, DEMO_CONFIG, SCHEMA, Bucket, MapRule, Wave, find_config,
                          is_demo, load_config)
from tasks.errors import ForkwaveError

MINIMAL = "upstream: {url: up}\nfork: {path: fk}\n"
ALLOWED_TOP = ", ".join(sorted(SCHEMA["properties"]))  # base, buckets, deny, fork, ignore, map, ...


def load_text(tmp_path: Path, text: str) -> object:
    return load_config(write_config(tmp_path, text))


def test_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, MINIMAL)
    assert cfg.upstream.ref == "main"
    assert (cfg.fork.branch, cfg.fork.sync_branch) == ("main", "sync/upstream")
    assert cfg.base is None and cfg.map == () and cfg.buckets == ()
    assert cfg.ignore == DEFAULT_IGNORE == ("**/node_modules/**", ".yarn/cache/**")
    assert cfg.deny == DEFAULT_DENY == (".env", ".env.*", "**/secrets/**")
    assert [w.name for w in cfg.waves] == ["a", "b", "c"]
    assert cfg.waves[1] == Wave("b", ("*",), ())
    assert cfg.waves[0].buckets == () and "**/migrations/**" in cfg.waves[0].paths
    assert cfg.max_files == 25


def test_relative_paths_are_relative_to_the_config_file_not_the_cwd(tmp_path: Path, monkeypatch) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write_config(conf_dir, "upstream: {url: ../up.git}\nfork: {path: ../my fork}\n"))
    assert cfg.upstream.url == str(tmp_path / "up.git")
    assert cfg.fork.path == tmp_path / "my fork"
    # section() keeps them as written, so a workspace moved elsewhere is still up to date
    assert cfg.section("upstream", "fork") == {"upstream": {"url": "../up.git"}, "fork": {"path": "../my fork"}}


@pytest.mark.parametrize("url", [
    "https://github.com/twentyhq/twenty.git",
    "https://user:tok@example.com/a.git",
    "ssh://git@example.com/a.git",
    "git@github.com:owner/repo.git",
    "file:///srv/git/up.git",
])
def test_urls_are_kept_as_written(tmp_path: Path, url: str) -> None:
    cfg = load_text(tmp_path, f"upstream: {{url: '{url}'}}\nfork: {{path: fk}}\n")
    assert cfg.upstream.url == url


def test_full_config_round_trips_into_dataclasses(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, """
upstream: {url: up, ref: v2}
fork: {path: fk, branch: trunk, sync_branch: sync/x}
base: v1
map: [{from: packages/twenty-, to: packages/acme-}, {from: docs/, to: documentation/}]
ignore: ["*.log"]
deny: []
buckets: [{name: server, paths: ["packages/acme-server/**", "server/**"]}]
waves: {p0: {buckets: [server]}, rest: {buckets: ["*"], paths: ["**/*.md"]}}
slices: {max_files: 3}
""")
    assert cfg.upstream.ref == "v2" and cfg.fork.branch == "trunk" and cfg.fork.sync_branch == "sync/x"
    assert cfg.base == "v1"
    assert cfg.map == (MapRule("packages/twenty-", "packages/acme-"), MapRule("docs/", "documentation/"))
    assert cfg.ignore == ("*.log",) and cfg.deny == ()
    assert cfg.buckets == (Bucket("server", ("packages/acme-server/**", "server/**")),)
    assert cfg.waves == (Wave("p0", ("server",), ()), Wave("rest", ("*",), ("**/*.md",)))
    assert cfg.max_files == 3


BAD_CONFIGS = [
    ("missing-fork", "upstream: {url: u}\n", "missing key 'fork'; it is required"),
    ("missing-url", "upstream: {ref: main}\nfork: {path: f}\n", "missing key 'upstream.url'; it is required"),
    ("unknown-top", MINIMAL + "bogus: 1\n", f"unknown key 'bogus'; expected one of: {ALLOWED_TOP}"),
    ("unknown-nested", "upstream: {url: u, branch: main}\nfork: {path: f}\n",
     "unknown key 'upstream.branch'; expected one of: ref, url"),
    ("unknown-in-wave", MINIMAL + "waves: {a: {bukets: [x]}}\n",
     "unknown key 'waves.a.bukets'; expected one of: buckets, paths"),
    ("map-not-list", MINIMAL + "map: {from: a, to: b}\n",
     "key 'map': expected a list, got dict {'from': 'a', 'to': 'b'}"),
    ("map-rule-no-to", MINIMAL + "map: [{from: a}]\n", "missing key 'map.0.to'; it is required"),
    ("map-empty-from", MINIMAL + "map: [{from: '', to: b}]\n", "key 'map.0.from': expected a non-empty string"),
    ("url-not-string", "upstream: {url: 3}\nfork: {path: f}\n", "key 'upstream.url': expected a string, got int 3"),
    ("base-wrong-type", MINIMAL + "base: [v1]\n", "key 'base': expected a string or null, got list ['v1']"),
    ("ignore-empty-pattern", MINIMAL + "ignore: ['']\n", "key 'ignore.0': expected a non-empty string"),
    ("deny-not-list", MINIMAL + "deny: .env\n", "key 'deny': expected a list, got str '.env'"),
    ("bucket-no-paths", MINIMAL + "buckets: [{name: s}]\n", "missing key 'buckets.0.paths'; it is required"),
    ("waves-empty", MINIMAL + "waves: {}\n", "key 'waves': expected at least one entry"),
    ("waves-list", MINIMAL + "waves: [a, b]\n", "key 'waves': expected a mapping, got list ['a', 'b']"),
    ("wave-name", MINIMAL + "waves: {A: {paths: [x]}}\n",
     "key 'waves': name 'A' must be lowercase letters, digits, '-' or '_'"),
    ("max-files-zero", MINIMAL + "slices: {max_files: 0}\n", "key 'slices.max_files': expected a number >= 1, got 0"),
    ("max-files-bool", MINIMAL + "slices: {max_files: true}\n",
     "key 'slices.max_files': expected an integer, got bool True"),
    ("negated-ignore", MINIMAL + "ignore: ['!keep.txt']\n",
     "key 'ignore.0': negated pattern '!keep.txt' is not supported here"),
    ("negated-wave-path", MINIMAL + "waves: {a: {paths: ['docs/**', '!docs/x']}}\n",
     "key 'waves.a.paths.1': negated pattern '!docs/x' is not supported here"),
    ("negated-bucket-path", MINIMAL + "buckets: [{name: s, paths: ['!x/**']}]\n",
     "key 'buckets.0.paths.0': negated pattern '!x/**' is not supported here"),
    ("map-out-of-repo", MINIMAL + "map: [{from: a/, to: ../b/}]\n",
     "key 'map.0.to': '../b/' must stay inside the repository (no leading '/', no '..', no '.git')"),
    ("bad-glob", MINIMAL + "deny: ['secrets\\']\n", "key 'deny.0': Invalid git pattern: 'secrets\\\\'"),
    ("top-level-list", "- upstream\n- fork\n", "expected a mapping of keys (upstream, fork, ...) at the top level"),
    ("empty-file", "", "expected a mapping of keys (upstream, fork, ...) at the top level"),
    ("bad-yaml", "upstream: [unclosed\nfork: {path: f}\n",
     "line 2, column 5: unreadable YAML (expected ',' or ']', but got ':'); fix the syntax"),
    ("deletions-enum", MINIMAL + "deletions: remove\n",
     "key 'deletions': expected one of apply, report, got 'remove'"),
    ("gating-enum", MINIMAL + "gating: loose\n", "key 'gating': expected one of baseline, strict, got 'loose'"),
    ("gate-unknown", MINIMAL + "gates: [deny, lint]\n", "key 'gates.1': expected one of deny, secrets, syntax, got 'lint'"),
    ("rewrite-bad-regex", MINIMAL + "rewrite: [{from: 'twenty(', to: acme, regex: true}]\n",
     "key 'rewrite.0.from': not a valid regex (missing ), unterminated subpattern at position 6)"),
    ("rewrite-no-to", MINIMAL + "rewrite: [{from: twenty}]\n", "missing key 'rewrite.0.to'; it is required"),
    ("secrets-bad-regex", MINIMAL + "secrets: {allow: ['ok', 'ghp_(']}\n",
     "key 'secrets.allow.1': not a valid regex (missing ), unterminated subpattern at position 4)"),
    ("secrets-unknown-key", MINIMAL + "secrets: {ignore: [x]}\n", "unknown key 'secrets.ignore'; expected one of: allow, paths"),
    ("secrets-bad-glob", MINIMAL + "secrets: {paths: ['!fixtures/**']}\n",
     "key 'secrets.paths.0': negated pattern '!fixtures/**' is not supported here"),
    ("deny-except-type", MINIMAL + "deny_except: .env.example\n",
     "key 'deny_except': expected a list, got str '.env.example'"),
    ("check-no-run", MINIMAL + "checks: [{name: unit}]\n", "key 'checks.0': missing key 'run' (the command to run)"),
    ("compose-no-service", MINIMAL + "checks: [{name: e2e, compose: dc.yaml}]\n",
     "key 'checks.0': a compose check needs 'service' (the test service whose exit code is the verdict)"),
    ("image-and-compose", MINIMAL + "checks: [{name: e2e, compose: dc.yaml, service: t, image: x}]\n",
     "key 'checks.0': give either 'image' or 'compose', not both"),
    ("check-memory", MINIMAL + "checks: [{name: t, run: x, image: i, memory: lots}]\n",
     "key 'checks.0.memory': expected a size such as 512m or 4g, got 'lots'"),
    ("check-dupe", MINIMAL + "checks: [{name: t, run: x}, {name: t, run: y}]\n",
     "key 'checks': check name 't' is used twice; names must be unique"),
    ("containers-unknown", MINIMAL + "containers: {ca: /x}\n",
     "unknown key 'containers.ca'; expected one of: ca_bundle, network, pass_env"),
    ("tab-yaml", "upstream:\n\turl: u\n",
     "line 2, column 1: unreadable YAML (found character '\\t' that cannot start any token); fix the syntax"),
]


@pytest.mark.parametrize("text,message", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ForkwaveError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: {message}"
    assert "\n" not in str(err.value)


def test_unreadable_config(tmp_path: Path) -> None:
    with pytest.raises(ForkwaveError, match=r": cannot read config \(Is a directory\); check the path"):
        load_config(tmp_path)
    with pytest.raises(ForkwaveError, match=r"cannot read config \(No such file or directory\)"):
        load_config(tmp_path / "absent.yaml")


def test_find_config_order(tmp_path: Path) -> None:
    assert find_config(None, tmp_path) == DEMO_CONFIG and is_demo(DEMO_CONFIG)
    local = write_config(tmp_path, MINIMAL)
    assert find_config(None, tmp_path) == local and not is_demo(local)
    other = write_config(tmp_path, MINIMAL, name="other.yaml")
    assert find_config("other.yaml", tmp_path) == other
    assert find_config(str(other), Path("/")) == other
    with pytest.raises(ForkwaveError) as err:
        find_config("nope.yaml", tmp_path)
    assert str(err.value) == "nope.yaml: config file not found; check the path given as config="


def test_the_bundled_demo_config_is_valid() -> None:
    cfg = load_config(DEMO_CONFIG)
    assert cfg.base == "v1" and cfg.map == (MapRule("packages/twenty-", "packages/acme-"),)
    assert [w.name for w in cfg.waves] == ["a", "b", "c"] and cfg.max_files == 12


@pytest.mark.parametrize("args", [(), ("list",), ("drift",)])
def test_doit_reports_a_config_error_in_one_line_and_exits_1(tmp_path: Path, args: tuple[str, ...]) -> None:
    path = write_config(tmp_path, MINIMAL + "slices: {max_files: -1}\n")
    result = run_doit(tmp_path, *args)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"forkwave: error: {path}: "
                                     "key 'slices.max_files': expected a number >= 1, got -1")
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / ".forkwave").exists()


def test_doit_config_variable_names_a_missing_file(tmp_path: Path) -> None:
    result = run_doit(tmp_path, "config=missing.yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == ("forkwave: error: missing.yaml: config file not found; "
                                     "check the path given as config=")


def test_secrets_and_deny_except_keys(tmp_path: Path) -> None:
    from checks.model import SecretsPolicy
    from tasks.config import DEFAULT_DENY_EXCEPT
    path = tmp_path / "forkwave.yaml"
    path.write_text(MINIMAL)
    cfg = load_config(path)
    assert cfg.secrets == SecretsPolicy() and cfg.deny_except == DEFAULT_DENY_EXCEPT
    assert not cfg.is_denied(".env.example") and cfg.is_denied(".env.production")
    path.write_text(MINIMAL + "secrets: {allow: ['^AKIA.*TEST$'], paths: ['fixtures/**']}\ndeny_except: []\n")
    cfg = load_config(path)
    assert cfg.secrets == SecretsPolicy(allow=("^AKIA.*TEST$",), paths=("fixtures/**",))
    assert cfg.is_denied(".env.example")   # an empty list turns the exceptions off
