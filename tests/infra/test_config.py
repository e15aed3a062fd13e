"""Config loading: defaults, path resolution, and one exact one-line message per mistake."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, run_doit, write_config
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
    ("missing-fork", "upstream: {url: u}\n", "1:1: missing key 'fork'; it is required"),
    ("missing-url", "upstream: {ref: main}\nfork: {path: f}\n", "1:11: missing key 'upstream.url'; it is required"),
    ("unknown-top", MINIMAL + "bogus: 1\n", f"3:1: unknown key 'bogus'; expected one of: {ALLOWED_TOP}"),
    ("unknown-nested", "upstream: {url: u, branch: main}\nfork: {path: f}\n",
     "1:20: unknown key 'upstream.branch'; expected one of: ref, url"),
    ("unknown-in-wave", MINIMAL + "waves: {a: {bukets: [x]}}\n",
     "3:13: unknown key 'waves.a.bukets' (did you mean 'buckets'?); expected one of: buckets, paths"),
    ("map-not-list", MINIMAL + "map: {from: a, to: b}\n",
     "3:6: key 'map': expected a list, got dict {'from': 'a', 'to': 'b'}"),
    ("map-rule-no-to", MINIMAL + "map: [{from: a}]\n", "3:7: missing key 'map.0.to'; it is required"),
    ("url-not-string", "upstream: {url: 3}\nfork: {path: f}\n",
     "1:17: key 'upstream.url': expected a string, got int 3"),
    ("base-wrong-type", MINIMAL + "base: [v1]\n", "3:7: key 'base': expected a string or null, got list ['v1']"),
    ("ignore-empty-pattern", MINIMAL + "ignore: ['']\n", "3:10: key 'ignore.0': expected a non-empty string"),
    ("deny-not-list", MINIMAL + "deny: .env\n", "3:7: key 'deny': expected a list, got str '.env'"),
    ("bucket-no-paths", MINIMAL + "buckets: [{name: s}]\n", "3:11: missing key 'buckets.0.paths'; it is required"),
    ("waves-empty", MINIMAL + "waves: {}\n", "3:8: key 'waves': expected at least one entry"),
    ("waves-list", MINIMAL + "waves: [a, b]\n", "3:8: key 'waves': expected a mapping, got list ['a', 'b']"),
    ("wave-name", MINIMAL + "waves: {A: {paths: [x]}}\n",
     "3:9: key 'waves': name 'A' must be lowercase letters, digits, '-' or '_'"),
    ("max-files-zero", MINIMAL + "slices: {max_files: 0}\n",
     "3:21: key 'slices.max_files': expected a number >= 1, got 0"),
    ("max-files-bool", MINIMAL + "slices: {max_files: true}\n",
     "3:21: key 'slices.max_files': expected an integer, got bool True"),
    ("negated-ignore", MINIMAL + "ignore: ['!keep.txt']\n",
     "3:10: key 'ignore.0': negated pattern '!keep.txt' is not supported here"),
    ("negated-wave-path", MINIMAL + "waves: {a: {paths: ['docs/**', '!docs/x']}}\n",
     "3:32: key 'waves.a.paths.1': negated pattern '!docs/x' is not supported here"),
    ("negated-bucket-path", MINIMAL + "buckets: [{name: s, paths: ['!x/**']}]\n",
     "3:29: key 'buckets.0.paths.0': negated pattern '!x/**' is not supported here"),
    ("map-out-of-repo", MINIMAL + "map: [{from: a/, to: ../b/}]\n",
     "3:22: key 'map.0.to': '../b/' must stay inside the repository (no leading '/', no '..', no '.git', no '\\')"),
    ("bad-glob", MINIMAL + "deny: ['secrets\\']\n", "3:8: key 'deny.0': Invalid git pattern: 'secrets\\\\'"),
    ("top-level-list", "- upstream\n- fork\n",
     "1:1: expected a mapping of keys (upstream, fork, ...) at the top level"),
    ("empty-file", "", "expected a mapping of keys (upstream, fork, ...) at the top level"),
    ("bad-yaml", "upstream: [unclosed\nfork: {path: f}\n",
     "2:5: unreadable YAML (expected ',' or ']', but got ':'); fix the syntax"),
    ("deletions-enum", MINIMAL + "deletions: remove\n",
     "3:12: key 'deletions': expected one of apply, report, got 'remove'"),
    ("gating-enum", MINIMAL + "gating: loose\n", "3:9: key 'gating': expected one of baseline, strict, got 'loose'"),
    ("gate-unknown", MINIMAL + "gates: [deny, lint]\n",
     "3:15: key 'gates.1': expected one of deny, secrets, syntax, got 'lint'"),
    ("rewrite-bad-regex", MINIMAL + "rewrite: [{from: 'twenty(', to: acme, regex: true}]\n",
     "3:18: key 'rewrite.0.from': not a valid regex (missing ), unterminated subpattern at position 6)"),
    ("rewrite-no-to", MINIMAL + "rewrite: [{from: twenty}]\n", "3:11: missing key 'rewrite.0.to'; it is required"),
    ("secrets-bad-regex", MINIMAL + "secrets: {allow: ['ok', 'ghp_(']}\n",
     "3:25: key 'secrets.allow.1': not a valid regex (missing ), unterminated subpattern at position 4)"),
    ("secrets-unknown-key", MINIMAL + "secrets: {ignore: [x]}\n",
     "3:11: unknown key 'secrets.ignore'; expected one of: allow, paths"),
    ("secrets-bad-glob", MINIMAL + "secrets: {paths: ['!fixtures/**']}\n",
     "3:19: key 'secrets.paths.0': negated pattern '!fixtures/**' is not supported here"),
    ("deny-except-type", MINIMAL + "deny_except: .env.example\n",
     "3:14: key 'deny_except': expected a list, got str '.env.example'"),
    ("check-no-run", MINIMAL + "checks: [{name: unit}]\n",
     "3:10: key 'checks.0': missing key 'run' (the command to run)"),
    ("compose-no-service", MINIMAL + "checks: [{name: e2e, compose: dc.yaml}]\n",
     "3:10: key 'checks.0': a compose check needs 'service' (the test service whose exit code is the verdict)"),
    ("image-and-compose", MINIMAL + "checks: [{name: e2e, compose: dc.yaml, service: t, image: x}]\n",
     "3:10: key 'checks.0': give either 'image' or 'compose', not both"),
    ("check-memory", MINIMAL + "checks: [{name: t, run: x, image: i, memory: lots}]\n",
     "3:46: key 'checks.0.memory': expected a size such as 512m or 4g, got 'lots'"),
    ("check-dupe", MINIMAL + "checks: [{name: t, run: x}, {name: t, run: y}]\n",
     "3:9: key 'checks': check name 't' is used twice; names must be unique"),
    ("engine-scheme", MINIMAL + "containers: {engines: [{url: 'http://box:2375'}]}\n",
     "3:30: key 'containers.engines.0.url': 'http://box:2375' is no Docker endpoint; give "
     "unix:///path/docker.sock, tcp://host:2376 or ssh://user@host (as DOCKER_HOST takes them), or a Docker "
     "context's name in `context`"),
    ("engine-both", MINIMAL + "containers: {engines: [{url: 'ssh://ci@box', context: box}]}\n",
     "3:24: key 'containers.engines.0': give either 'url' (unix://, tcp://, ssh://) or 'context' (a Docker "
     "context's name)"),
    ("engine-neither", MINIMAL + "containers: {engines: [{slots: 2}]}\n",
     "3:24: key 'containers.engines.0': give either 'url' (unix://, tcp://, ssh://) or 'context' (a Docker "
     "context's name)"),
    ("engine-tls-ssh", MINIMAL + "containers: {engines: [{url: 'ssh://ci@box', cert_path: certs}]}\n",
     "3:57: key 'containers.engines.0.cert_path': TLS certificates apply to tcp:// engines (a context keeps "
     "its own)"),
    ("engine-tcp-user", MINIMAL + "containers: {engines: [{url: 'tcp://me:pw@box:2376'}]}\n",
     "3:30: key 'containers.engines.0.url': tcp:// takes no credentials; give TLS client certificates in "
     "`cert_path`"),
    ("engine-slots", MINIMAL + "containers: {engines: [{url: 'unix:///d.sock', slots: 0}]}\n",
     "3:55: key 'containers.engines.0.slots': expected a number >= 1, got 0"),
    ("engine-files", MINIMAL + "containers: {engines: [{url: 'unix:///d.sock', files: rsync}]}\n",
     "3:55: key 'containers.engines.0.files': expected one of mount, copy, got 'rsync'"),
    ("engine-dupe", MINIMAL + "containers: {engines: [{name: b, url: 'unix:///a'}, {name: b, url: 'unix:///b'}]}\n",
     "3:23: key 'containers.engines': engine name 'b' is used twice; names must be unique"),
    ("engines-empty", MINIMAL + "containers: {engines: []}\n",
     "3:23: key 'containers.engines': expected a non-empty list"),
    ("host-slots", MINIMAL + "host: {slots: -1}\n", "3:15: key 'host.slots': expected a number >= 1, got -1"),
    ("containers-unknown", MINIMAL + "containers: {ca: /x}\n",
     "3:14: unknown key 'containers.ca'; expected one of: ca_bundle, engines, network, pass_env"),
    ("tab-yaml", "upstream:\n\turl: u\n",
     "2:1: unreadable YAML (found character '\\t' that cannot start any token); fix the syntax"),
    # forkwave must never commit onto the fork's own branch
    ("sync-is-branch", "upstream: {url: u}\nfork: {path: f, branch: main, sync_branch: main}\n",
     "2:44: key 'fork.sync_branch': 'main' is fork.branch itself; forkwave must never commit onto the fork's "
     "own branch; name another branch (the default is sync/upstream)"),
    ("sync-is-branch-by-case", "upstream: {url: u}\nfork: {path: f, branch: Main, sync_branch: main}\n",
     "2:44: key 'fork.sync_branch': 'main' is fork.branch itself; forkwave must never commit onto the fork's "
     "own branch; name another branch (the default is sync/upstream)"),
    ("branch-is-default-sync", "upstream: {url: u}\nfork: {path: f, branch: sync/upstream}\n",
     "2:7: key 'fork.sync_branch': 'sync/upstream' is fork.branch itself; forkwave must never commit onto the fork's "
     "own branch; name another branch (the default is sync/upstream)"),
    ("sync-inside-branch", "upstream: {url: u}\nfork: {path: f, branch: main, sync_branch: main/sync}\n",
     "2:44: key 'fork.sync_branch': 'main/sync' and fork.branch 'main' cannot both exist in git (one would be a folder "
     "of the other); name another branch"),
    # item 3: branch names by git's own rules
    ("sync-full-ref", "upstream: {url: u}\nfork: {path: f, sync_branch: refs/heads/main}\n",
     "2:30: key 'fork.sync_branch': 'refs/heads/main' is a full ref name; give the branch name alone "
     "('main' for 'refs/heads/main')"),
    ("sync-lock", "upstream: {url: u}\nfork: {path: f, sync_branch: bad..name.lock}\n",
     "2:30: key 'fork.sync_branch': 'bad..name.lock' is not a valid git branch name (git check-ref-format --branch)"),
    ("branch-space", "upstream: {url: u}\nfork: {path: f, branch: 'my branch'}\n",
     "2:25: key 'fork.branch': 'my branch' is not a valid git branch name (git check-ref-format --branch)"),
    ("branch-dash", "upstream: {url: u}\nfork: {path: f, branch: -f}\n",
     "2:25: key 'fork.branch': '-f' is not a valid git branch name (git check-ref-format --branch)"),
    ("branch-previous", "upstream: {url: u}\nfork: {path: f, sync_branch: '@{-1}'}\n",
     "2:30: key 'fork.sync_branch': '@{-1}' is not a valid git branch name (git check-ref-format --branch)"),
    ("branch-head", "upstream: {url: u}\nfork: {path: f, sync_branch: HEAD}\n",
     "2:30: key 'fork.sync_branch': 'HEAD' is not a valid git branch name (git check-ref-format --branch)"),
    ("ref-bad", "upstream: {url: u, ref: 'v1..v2'}\nfork: {path: f}\n",
     "1:25: key 'upstream.ref': 'v1..v2' is not a valid branch, tag or commit name (git check-ref-format)"),
    ("url-option", "upstream: {url: '--upload-pack=touch x://h'}\nfork: {path: f}\n",
     "1:17: key 'upstream.url': '--upload-pack=touch x://h' starts with '-' and would be read as a git option"),
    # item 17: YAML that would silently mean something else, or crash
    ("duplicate-wave", MINIMAL + "waves:\n  a: {paths: [x]}\n  b: {buckets: ['*']}\n  a: {paths: [y]}\n",
     "6:3: key 'waves.a': given twice (lines 4 and 6); YAML would silently keep only the last; "
     "remove or rename one"),
    ("duplicate-top", MINIMAL + "fork: {path: g}\n",
     "3:1: key 'fork': given twice (lines 2 and 3); YAML would silently keep only the last; remove or rename one"),
    ("duplicate-deep", MINIMAL + "checks: [{name: t, run: x, env: {A: 1, A: 2}}]\n",
     "3:40: key 'checks.0.env.A': given twice (lines 3 and 3); YAML would silently keep only the last; "
     "remove or rename one"),
    ("integer-wave", MINIMAL + "waves: {1: {paths: [x]}}\n",
     "3:9: key 'waves.1': a key must be text, and YAML reads '1' as a number; quote it ('1') or rename it"),
    ("mixed-keys", MINIMAL + "waves: {a: {paths: [x]}, 2: {paths: [y]}}\n",
     "3:26: key 'waves.2': a key must be text, and YAML reads '2' as a number; quote it ('2') or rename it"),
    ("bool-key", MINIMAL + "waves: {on: {paths: [x]}}\n",
     "3:9: key 'waves.on': a key must be text, and YAML reads 'on' as true or false; quote it ('on') or "
     "rename it"),
    ("list-key", MINIMAL + "waves: {[a]: {paths: [x]}}\n",
     "3:9: key 'waves': a key must be plain text, not a list or mapping"),
    ("deep-list", MINIMAL + "base: " + "[" * 5000 + "]" * 5000 + "\n",
     "3:39: key 'base.0.0.0.0.0... (33 levels)': nested more than 32 levels deep; a forkwave config needs 4 "
     "at most"),
    ("deep-map", MINIMAL + "slices: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
     "3:137: key 'slices.a.a.a.a.a... (33 levels)': nested more than 32 levels deep; a forkwave config needs 4 "
     "at most"),
    ("alias-bomb", MINIMAL + "".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}' if i else 'v'] * 10)}]\n"
                                     for i in range(6)),
     "7:5: key 'x4': expands to more than 100,000 values (through aliases); simplify it"),
    ("alias-loop", MINIMAL + "waves: &w {a: *w}\n", "3:8: key 'waves.a': refers to itself through an alias"),
    ("max-files-1e308", MINIMAL + "slices: {max_files: 1.0e+308}\n",
     "3:21: key 'slices.max_files': expected an integer, got float 1e+308"),
    ("max-files-float", MINIMAL + "slices: {max_files: 2.0}\n",
     "3:21: key 'slices.max_files': expected an integer, got float 2.0"),
    ("max-files-huge", MINIMAL + "slices: {max_files: 1000000000000}\n",
     "3:21: key 'slices.max_files': expected a number <= 100,000, got 1000000000000"),
    ("max-files-5000-digits", MINIMAL + "slices: {max_files: " + "9" * 5000 + "}\n",
     "3:21: unreadable YAML (cannot read '9999999999999999999999999999999999999999': Exceeds the limit "
     "(4300 digits) for integer string conversion); fix the syntax"),
    ("timeout-nan", MINIMAL + "checks: [{name: t, run: x, timeout: .nan}]\n",
     "3:37: key 'checks.0.timeout': expected a duration such as 90 (seconds), 15m, 1h30m, 3d or 1w2d, got float nan"),
    ("timeout-inf", MINIMAL + "checks: [{name: t, run: x, timeout: .inf}]\n",
     "3:37: key 'checks.0.timeout': expected a duration such as 90 (seconds), 15m, 1h30m, 3d or 1w2d, got float inf"),
    ("timeout-huge", MINIMAL + "checks: [{name: t, run: x, timeout: 1.0e+300}]\n",
     "3:37: key 'checks.0.timeout': expected a number <= 604,800, got 1e+300"),
    ("bad-date", MINIMAL + "base: 2026-02-30\n",
     "3:7: unreadable YAML (cannot read '2026-02-30': day is out of range for month); fix the syntax"),
    ("negated-rewrite-path", MINIMAL + "rewrite: [{from: a, to: b, paths: ['!x']}]\n",
     "3:36: key 'rewrite.0.paths.0': negated pattern '!x' is not supported here"),
    ("bad-range-when", MINIMAL + "checks: [{name: t, run: x, when: ['src/**', '[z-a]']}]\n",
     "3:45: key 'checks.0.when.1': bad character range z-a in '[z-a]'"),
    ("bad-range-deny", MINIMAL + "deny: ['[z-a]']\n", "3:8: key 'deny.0': bad character range z-a in '[z-a]'"),
    ("map-into-git", MINIMAL + "map: [{from: a/, to: x/.Git/}]\n",
     "3:22: key 'map.0.to': 'x/.Git/' must stay inside the repository (no leading '/', no '..', no '.git', no '\\')"),
    ("nul-in-glob", MINIMAL + 'deny: ["a\\0b"]\n', "3:8: key 'deny.0': contains a NUL character; remove it"),
    ("unknown-user-home", "upstream: {url: u}\nfork: {path: '~nosuchuser-fw/x'}\n",
     "2:14: key 'fork.path': cannot use '~nosuchuser-fw/x' as a path (Could not determine home directory.)"),
    ("two-documents", MINIMAL + "---\n" + MINIMAL,
     "3:1: unreadable YAML (but found another document); fix the syntax"),
]


@pytest.mark.parametrize("text,message", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """``line:column: `` first where the problem has a place in the file, as compilers write it."""
    path = write_config(tmp_path, text)
    with pytest.raises(ForkwaveError) as err:
        load_config(path)
    assert str(err.value) == (f"{path}:{message}" if message[0].isdigit() else f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_engines_and_host_slots(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, MINIMAL + """\
host: {slots: 3}
containers:
  engines:
    - {url: "unix:///var/run/docker.sock", slots: 2}
    - {url: "unix:///run/user/1000/docker.sock"}
    - {url: "ssh://ci@build-2.example.com", slots: 4}
    - {context: build-box}
    - {name: gpu, url: "tcp://10.0.0.5:2376", cert_path: certs, tls_verify: false, files: mount}
""")
    assert cfg.host.slots == 3
    got = [(e.name, e.url or e.context, e.slots, e.files) for e in cfg.containers.engines]
    assert got == [("local", "unix:///var/run/docker.sock", 2, "mount"),
                   ("local-2", "unix:///run/user/1000/docker.sock", 1, "mount"),   # names are unique
                   ("build-2.example.com", "ssh://ci@build-2.example.com", 4, "copy"),
                   ("build-box", "build-box", 1, None),                           # read from the context later
                   ("gpu", "tcp://10.0.0.5:2376", 1, "mount")]
    gpu = cfg.containers.engines[-1]
    assert gpu.cert_path == tmp_path / "certs" and gpu.tls_verify is False


def test_without_engines_there_is_the_local_one_and_one_host_slot(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, MINIMAL)
    [engine] = cfg.containers.engines
    assert (engine.name, engine.url, engine.context, engine.slots) == ("local", None, None, 1)
    assert cfg.host.slots == 1


def test_merge_keys_may_override_what_they_merge(tmp_path: Path) -> None:
    """``<<: *anchor`` is not a duplicate: overriding merged keys is what it is for."""
    cfg = load_text(tmp_path, MINIMAL + "checks:\n  - &unit {name: unit, run: pytest, timeout: 60}\n"
                              "  - {<<: *unit, name: unit-slow, timeout: 600}\n")
    assert [(c.name, c.run, c.timeout) for c in cfg.checks] == [("unit", "pytest", 60), ("unit-slow", "pytest", 600)]


def test_quoted_keys_and_containers_network_null_load(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, MINIMAL + "waves: {'1': {paths: [x]}, 'on': {buckets: ['*']}}\n"
                              "containers: {network: null}\n")
    assert [w.name for w in cfg.waves] == ["1", "on"] and cfg.containers.network is None


def test_a_config_not_in_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "forkwave.yaml"
    path.write_bytes(MINIMAL.encode() + b"deny: ['caf\xe9']\n")
    with pytest.raises(ForkwaveError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: not UTF-8 text (byte 48); save the config as UTF-8"


def yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)


README_BLOCKS = yaml_blocks(ROOT / "README.md")
FULL_CONFIG = yaml_blocks(ROOT / "docs" / "guides" / "configuration.md")[0]
# every ```yaml config the README and the docs show; the generated reference shows a broken one on purpose
DOC_BLOCKS = [(f"{page.relative_to(ROOT)}-{i}", block)
              for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
              if page != ROOT / "docs" / "reference" / "config.md"
              for i, block in enumerate(yaml_blocks(page))]


def test_the_readme_shows_a_config() -> None:
    assert README_BLOCKS and "upstream:" in README_BLOCKS[0]
    assert FULL_CONFIG in [block for _, block in DOC_BLOCKS]  # so the full config's own checks below run


@pytest.mark.parametrize("block", [b for _, b in DOC_BLOCKS], ids=[name for name, _ in DOC_BLOCKS])
def test_every_config_in_the_readme_and_docs_loads(tmp_path: Path, block: str) -> None:
    """What the README and the docs show is what a user copies; it must load as shown."""
    cfg = load_config(write_config(tmp_path, block))
    assert cfg.fork.path.is_absolute() and cfg.upstream.url.startswith("https://")
    if block == FULL_CONFIG:  # the full config of "Writing forkwave.yaml"
        assert cfg.upstream.url == "https://github.com/twentyhq/twenty.git"
        assert cfg.containers.network is None and [c.name for c in cfg.checks][-1] == "e2e"
    if "sources:" in block:
        assert [s.name for s in cfg.sources] == re.findall(r"^  - name: (\S+)", block, re.M)


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
    assert result.stderr.strip() == (f"forkwave: error: {path}:3:21: "
                                     "key 'slices.max_files': expected a number >= 1, got -1")
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / ".forkwave").exists()


@pytest.mark.parametrize("fork", ["{path: ../fork, branch: main, sync_branch: main}",
                                  "{path: ../fork, sync_branch: refs/heads/main}"])
def test_doit_refuses_a_sync_branch_that_is_not_forkwaves_own(tmp_path: Path, fork: str) -> None:
    """Refused at load, before anything touches the fork."""
    from conftest import commit_tree, make_repo
    repo = make_repo(tmp_path / "fork")
    head = commit_tree(repo, {"a.txt": "a\n"})
    ws = tmp_path / "ws"
    ws.mkdir()
    write_config(ws, f"upstream: {{url: ../up.git}}\nfork: {fork}\n")
    result = run_doit(ws, "wave_a")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert re.match(rf"forkwave: error: {re.escape(str(ws / 'forkwave.yaml'))}:2:\d+: key 'fork.sync_branch': ",
                    result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    from tasks.repo.git import git
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)").decode() == f"refs/heads/main {head}\n"


def test_doit_config_variable_names_a_missing_file(tmp_path: Path) -> None:
    result = run_doit(tmp_path, "config=missing.yaml")
    assert result.returncode == 1
    assert result.stderr.strip() == ("forkwave: error: missing.yaml: config file not found; "
                                     "check the path given as config=")


def test_secrets_and_deny_except_keys(tmp_path: Path) -> None:
    from tasks.config import SecretsPolicy
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


# --- verify: and drift_gates:, as the config reads them (the one parser) ---------------------------

SOURCE = "fork: {path: fk}\nsources:\n  - name: web\n    url: up\n"


def test_verify_entries_are_read_as_written(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, SOURCE + """    verify:
      - {name: modules, run: "find . -name __manifest__.py | wc -l", expected_min: 100}
      - {name: json, run: "jq -e '.apps | length > 0' apps.json", expected_exit_code: 0}
      - {name: ratio, run: "echo 0.3", expected_min: 0.1, expected_max: 0.9, timeout: 10m}
""")
    modules, json_check, ratio = cfg.current.verify
    assert (modules.name, modules.expected_min, modules.expected_exit_code, modules.timeout) == (
        "modules", 100, 0, 1800)
    assert json_check.run == "jq -e '.apps | length > 0' apps.json" and json_check.expected_min is None
    assert (ratio.expected_min, ratio.expected_max, ratio.timeout) == (0.1, 0.9, 600)
    assert load_text(tmp_path, SOURCE).current.verify == ()


BAD_VERIFY = [
    ("not-a-list", "verify: {name: x}", "6:13: key 'sources.0.verify': expected a list, got dict {'name': 'x'}"),
    ("not-a-mapping", "verify: [x]", "6:14: key 'sources.0.verify.0': expected a mapping, got str 'x'"),
    ("no-name", "verify: [{run: x}]", "6:14: missing key 'sources.0.verify.0.name'; it is required"),
    ("blank-run", "verify: [{name: a, run: ' '}]",
     "6:29: key 'sources.0.verify.0.run': expected a command, not blank, got ' '"),
    ("exit-256", "verify: [{name: a, run: x, expected_exit_code: 256}]",
     "6:52: key 'sources.0.verify.0.expected_exit_code': expected a number <= 255, got 256"),
    ("exit-bool", "verify: [{name: a, run: x, expected_exit_code: true}]",
     "6:52: key 'sources.0.verify.0.expected_exit_code': expected an integer, got bool True"),
    ("exit-text", "verify: [{name: a, run: x, expected_exit_code: '0'}]",
     "6:52: key 'sources.0.verify.0.expected_exit_code': expected an integer, got str '0'"),
    ("min-text", "verify: [{name: a, run: x, expected_min: '100'}]",
     "6:46: key 'sources.0.verify.0.expected_min': expected a finite number, got str '100'"),
    ("max-nan", "verify: [{name: a, run: x, expected_max: .nan}]",
     "6:46: key 'sources.0.verify.0.expected_max': expected a finite number, got float nan"),
    ("min-above-max", "verify: [{name: a, run: x, expected_min: 3, expected_max: 1}]",
     "6:14: key 'sources.0.verify.0': expected_min 3 is above expected_max 1; swap them"),
    ("unknown-key", "verify: [{name: a, run: x, command: y}]",
     "6:32: unknown key 'sources.0.verify.0.command'; expected one of: expected_exit_code, expected_max, "
     "expected_min, layout, name, run, timeout, when"),
    ("name-twice", "verify: [{name: a, run: x}, {name: a, run: y}]",
     "6:40: key 'sources.0.verify.1.name': 'a' is used twice; give each its own name"),
    ("gates-list", "drift_gates: [1]", "6:18: key 'sources.0.drift_gates': expected a mapping, got list [1]"),
    ("gate-unknown", "drift_gates: {max_conflict: 1}",
     "6:19: unknown key 'sources.0.drift_gates.max_conflict' (did you mean 'max_conflicts'?); expected one of: "
     "max_behind_commits, max_both_changed, max_conflicts, max_upstream_paths"),
    ("gate-negative", "drift_gates: {max_conflicts: -1}",
     "6:34: key 'sources.0.drift_gates.max_conflicts': expected a number >= 0, got -1"),
    ("gate-fraction", "drift_gates: {max_conflicts: 1.5}",
     "6:34: key 'sources.0.drift_gates.max_conflicts': expected an integer or null, got float 1.5"),
    ("gate-bool", "drift_gates: {max_conflicts: true}",
     "6:34: key 'sources.0.drift_gates.max_conflicts': expected an integer or null, got bool True"),
]


@pytest.mark.parametrize("entry,message", [c[1:] for c in BAD_VERIFY], ids=[c[0] for c in BAD_VERIFY])
def test_bad_verify_or_drift_gates_names_the_key(tmp_path: Path, entry: str, message: str) -> None:
    path = write_config(tmp_path, SOURCE + "    paths: ['**']\n    " + entry + "\n")
    with pytest.raises(ForkwaveError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:{message}"


def test_a_null_drift_gate_switches_the_top_levels_off(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, "drift_gates: {max_conflicts: 3, max_behind_commits: 0}\n" + SOURCE
                    + "    drift_gates: {max_conflicts: null}\n")
    assert cfg.current.drift_gates == (("max_behind_commits", 0),)
    assert load_text(tmp_path, SOURCE).current.drift_gates == ()
