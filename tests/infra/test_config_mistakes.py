"""Config mistakes people make, through the real ``doit``: one line naming the file, line, column and key,
with the next step, and exit 1 — before any task runs."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import run_doit, write_config
from tasks.config import load_config

BASE = "upstream: {url: ../up.git}\nfork: {path: ../fork}\n"
BUCKETS = "buckets:\n  - {name: server, paths: ['packages/acme-server/**']}\n  - {name: front, paths: ['front/**']}\n"

MISTAKES = [
    # a typo in a key: where it is, and the key it was meant to be
    ("key-typo", BASE + "chekcs: [{name: unit, run: pytest}]\n",
     "3:1: unknown key 'chekcs' (did you mean 'checks'?); expected one of: "),
    ("nested-key-typo", BASE + BUCKETS + "waves:\n  a: {bucket: [server]}\n",
     "7:7: unknown key 'waves.a.bucket' (did you mean 'buckets'?); expected one of: buckets, paths"),
    ("enum-typo", "upstream: {url: ../up.git}\nfork: {path: ../fork}\ndeletions: aply\n",
     "3:12: key 'deletions': expected one of apply, report, got 'aply' (did you mean 'apply'?)"),
    ("mode-typo", "fork: {path: ../fork}\nsources:\n  - {name: web, url: ../up.git, mode: cherrypick}\n",
     "3:39: key 'sources.0.mode': expected one of snapshot, merge, cherry-pick, got 'cherrypick' "
     "(did you mean 'cherry-pick'?)"),
    # a wave naming a bucket the config does not declare: its paths would never be synced
    ("wave-bucket-typo", BASE + BUCKETS + "waves:\n  a: {buckets: [sever]}\n  b: {buckets: ['*']}\n",
     "7:17: key 'waves.a.buckets.0': 'sever' names no bucket (buckets: front, server); did you mean 'server'?"),
    ("wave-bucket-undeclared", BASE + BUCKETS + "waves:\n  a: {buckets: [server]}\n  b: {buckets: [docs]}\n",
     "8:17: key 'waves.b.buckets.0': 'docs' names no bucket (buckets: front, server); declare it under buckets, "
     "or take its files with waves.b.paths (e.g. 'docs/**')"),
    ("wave-bucket-none-declared", BASE + "waves:\n  a: {buckets: [server]}\n",
     "4:17: key 'waves.a.buckets.0': 'server' names no bucket (the config declares no buckets); declare it under "
     "buckets, or take its files with waves.a.paths (e.g. 'server/**')"),
    # a map rule whose two sides disagree on the trailing '/': drift would crash in git
    ("map-folder-onto-prefix", BASE + "map: [{from: doit, to: acme_doit/}]\n",
     "3:7: key 'map.0': from 'doit' and to 'acme_doit/' disagree on the trailing '/'; write "
     "{from: doit/, to: acme_doit/} to map a folder, or {from: doit, to: acme_doit} to map a name prefix"),
    ("map-prefix-onto-folder", BASE + "map:\n  - from: doit/\n    to: acme_doit\n",
     "4:5: key 'map.0': from 'doit/' and to 'acme_doit' disagree on the trailing '/'; write "
     "{from: doit/, to: acme_doit/} to map a folder, or {from: doit, to: acme_doit} to map a name prefix"),
    ("map-whole-tree-no-slash", "fork: {path: ../fork}\nsources:\n  - name: web\n    url: ../up.git\n"
     "    map: [{from: '', to: addons/web}]\n",
     "5:26: key 'sources.0.map.0.to': 'addons/web' needs a trailing '/' when from is '' (the whole tree lands in a "
     "folder): write to: addons/web/"),
    # every time key takes the same durations; what is not one says which forms are
    ("timeout-words", BASE + "checks:\n  - {name: unit, run: pytest, timeout: 15 minutes}\n",
     "4:40: key 'checks.0.timeout': expected a duration such as 90 (seconds), 15m, 1h30m, 3d or 1w2d, "
     "got '15 minutes'"),
    ("min-age-words", "fork: {path: ../fork}\nsources:\n  - {name: web, url: ../up.git, min_age: 3 days}\n",
     "3:42: key 'sources.0.min_age': expected a duration such as 90 (seconds), 15m, 1h30m, 3d or 1w2d, "
     "got '3 days'"),
    ("timeout-too-long", BASE + "verify: [{name: n, run: 'true', timeout: 2w}]\n",
     "3:42: key 'verify.0.timeout': expected a duration <= 604,800 s (1w), got '2w' (1,209,600 s)"),
    ("timeout-zero", BASE + "pre: [clean, {name: n, run: 'true', timeout: 0m}]\n",
     "3:46: key 'pre.1.timeout': expected a duration >= 1 s, got '0m'"),
]


@pytest.mark.parametrize("text,message", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_config_mistake_is_one_line_with_its_place_and_exit_1(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path, text)
    result = run_doit(tmp_path, "list")
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"forkwave: error: {path}:{message}"), line
    assert "Traceback" not in result.stdout + result.stderr and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("written,seconds", [
    ("90", 90), ("'90'", 90), ("1.5", 1.5), ("15m", 900), ("1h30m", 5400), ("3d", 259_200), ("1w", 604_800),
])
def test_every_time_key_takes_the_same_durations(tmp_path: Path, written: str, seconds: float) -> None:
    cfg = load_config(write_config(tmp_path, f"""fork: {{path: fk}}
sources: [{{name: web, url: up, mode: merge, min_age: {written}, verify: [{{name: v, run: x, timeout: {written}}}]}}]
checks: [{{name: unit, run: pytest, timeout: {written}}}]
pre: [{{name: p, run: x, timeout: {written}}}]
post: [{{name: q, run: x, timeout: {written}}}]
"""))
    assert cfg.checks[0].timeout == cfg.pre[0].timeout == cfg.post[0].timeout == seconds
    assert cfg.current.verify[0].timeout == seconds
    assert cfg.current.options.min_age == math.ceil(seconds)   # whole seconds, as commit dates are
    longer = load_config(write_config(tmp_path, "fork: {path: fk}\nsources: [{name: web, url: up, min_age: 1w2d}]\n"))
    assert longer.current.options.min_age == 777_600            # min_age has no upper bound; timeouts stop at 1w


def test_matching_slashes_and_declared_bucket_names_load(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, BASE + BUCKETS + "map: [{from: doit/, to: acme_doit/}, "
                                   "{from: twenty-, to: acme-}, {from: old/, to: ''}]\n"
                                   "waves: {a: {buckets: [server, 'fr*'], paths: ['nothing-yet/**']}, "
                                   "b: {buckets: ['*']}}\n"))
    assert [(r.src, r.dst) for r in cfg.map] == [("doit/", "acme_doit/"), ("twenty-", "acme-"), ("old/", "")]
    assert cfg.waves[0].buckets == ("server", "fr*") and cfg.waves[0].paths == ("nothing-yet/**",)
