"""End to end: a check that prints secrets leaves none in any artifact or log forkwave writes."""
from __future__ import annotations

from pathlib import Path

from conftest import run_doit
from slicekit import build, outcome, slice_names

PROCESS_TOKEN = "ghs_" + "ProcessEnvToken0123456789abcdefghijKLM"     # in forkwave's own environment
CHECK_TOKEN = "check-env-api-token-5f2a9c"                           # from the check's env:
URL_PASSWORD = "url-pass-7Hq2"                                        # userinfo in a URL the check prints
LITERAL = "glpat-" + "LiteralTokenInOutput12"                         # a token shape, from no variable
SECRETS = (PROCESS_TOKEN, CHECK_TOKEN, URL_PASSWORD, LITERAL)


def files_written(root: Path) -> list[Path]:
    """Every file forkwave left under ``root``, but git's object store (compressed, and not forkwave's text)."""
    return [p for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and "objects" not in p.relative_to(root).parts]


def test_a_check_that_prints_secrets_leaks_none_into_reports_logs_or_state(tmp_path: Path) -> None:
    base = {"src/a.py": "A = 1\n"}
    upstream = {"src/a.py": "A = 2\n", "src/b.py": "B = 1\n", "fail.txt": "the check fails while this is here\n"}
    check = {"name": "leaky",
             "run": (f'echo "process $GITHUB_TOKEN check $MY_API_TOKEN url https://bob:{URL_PASSWORD}@git.acme.io/x '
                     f'literal {LITERAL}"; echo "stderr $MY_API_TOKEN" >&2; test ! -e fail.txt'),
             "env": {"MY_API_TOKEN": CHECK_TOKEN}}
    r = build(tmp_path, base, upstream, checks=[check])

    result = run_doit(r.workspace, env={"GITHUB_TOKEN": PROCESS_TOKEN})

    out = outcome(r, slice_names(r)[0])
    assert out["status"] == "split" and out["adopted"] == ["src/a.py", "src/b.py"]   # the check ran, and failed
    assert [d["files"] for d in out["deferred"]] == [["fail.txt"]]
    assert "process *** check *** url https://***@git.acme.io/x literal ***" in out["deferred"][0]["output"]
    written = files_written(r.reports) + files_written(r.workspace / ".forkwave")
    names = {p.name for p in written}
    assert {"junit.xml", "outcome.json", "report.md", "leaky.stdout.log", "leaky.stderr.log", "baseline.json"} <= names
    assert any("baseline-logs" in p.parts for p in written) and any(p.parent.name.startswith("attempt-")
                                                                    for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} leaked into {path}"
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
