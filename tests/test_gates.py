"""Built-in gates: credentials (never echoed), syntax, deny-listed paths; and the secrets gate end to end."""
from __future__ import annotations

from pathlib import Path

import pytest

from checks.gates import deny_gate, find_secrets, run_gate, secrets_gate, syntax_gate
from conftest import run_doit
from slicekit import all_text, build, outcome, slice_names, tree
from tasks.config import DEFAULT_DENY

AWS_KEY = "AKIA" + "ZX4Q7W2ERT5YUI8P"   # an access key id: AKIA + 16 characters
PASSWORD = "hunter2222"


@pytest.mark.parametrize("line,kind", [
    (f'AWS_KEY = "{AWS_KEY}"', "AWS access key id"),
    (f"password = {PASSWORD}", "password assignment"),
    (f"DB_PASSWORD='{PASSWORD}'", "password assignment"),                # a prefixed name, env style
    (f"      POSTGRES_PASSWORD: {PASSWORD}", "password assignment"),     # docker compose
    ("STRIPE_API_KEY=abcdef123456", "password assignment"),
    ("SECRET_KEY = 'django-insecure-abcdef'", "password assignment"),
    ("PASSWORD_HASHERS = ['argon2']", None),                             # a longer name, not a password
    ("password_reset: enabled", None),
    (f"db.password: '{PASSWORD}'", "password assignment"),
    ("api_key=abcdef123456", "password assignment"),
    ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
    ("token ghp_" + "a" * 36, "GitHub token"),
    ("url = https://bob:s3cretpw@example.com/x.git", "credentials in URL"),
    ("password = ${PASSWORD}", None),                                    # a reference, not a value
    ("password: changeme", None),
    ("password = <your password here>", None),
    ("password = ***", None),
    ("pass = short", None),
    ("AKIA1234", None),                                                  # too short for a key id
    ("def check_password(value):", None),
])
def test_find_secrets(line: str, kind: str | None) -> None:
    assert find_secrets(f"first line\n{line}\n") == ([(2, kind)] if kind else [])


def test_secrets_gate_names_file_and_line_but_never_the_value(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "aws.py").write_text(f'REGION = "eu"\nKEY = "{AWS_KEY}"\n')
    (tmp_path / "conf" / "db.ini").write_text(f"[db]\nuser = app\npassword = {PASSWORD}\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1" + AWS_KEY.encode())        # binary: not scanned
    (tmp_path / "link").symlink_to("conf/aws.py")                          # symlink: not followed

    result = run_gate("secrets", ["conf/aws.py", "conf/db.ini", "clean.txt", "blob.bin", "link", "gone.txt"],
                      DEFAULT_DENY, tmp_path)

    assert result.status == "failed" and result.kind == "gate"
    assert result.stdout.splitlines() == ["conf/aws.py:2: AWS access key id", "conf/db.ini:3: password assignment"]
    assert result.message == "2 possible credential(s): conf/aws.py:2: AWS access key id"
    everything = result.message + result.stdout + result.stderr
    assert AWS_KEY not in everything and PASSWORD not in everything
    assert secrets_gate(["clean.txt"], DEFAULT_DENY, tmp_path).status == "passed"


@pytest.mark.parametrize("name,content,ok", [
    ("a.json", '{"a": [1, 2]}\n', True),
    ("a.json", '{"a": [1, 2}\n', False),
    ("a.yaml", "a:\n  - 1\n---\nb: 2\n", True),                           # several documents
    ("a.yml", "a: [1, 2\n", False),
    ("a.yaml", "a: 1\n b: 2\n", False),
    ("a.py", "def f():\n    return 1\n", True),
    ("a.py", "def f(:\n", False),
    ("a.txt", "{not json", True),                                        # not a checked type
    ("a.json", b"\xff\xfe{}", False),                                    # not UTF-8
])
def test_syntax_gate(tmp_path: Path, name: str, content: str | bytes, ok: bool) -> None:
    path = tmp_path / "sub" / name
    path.parent.mkdir()
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = syntax_gate([f"sub/{name}"], (), tmp_path)
    assert result.status == ("passed" if ok else "failed")
    if not ok:
        assert result.message.startswith(f"1 file(s) do not parse: sub/{name}: ")
        assert result.stdout.startswith(f"sub/{name}: ")


def test_syntax_gate_lists_every_broken_file(tmp_path: Path) -> None:
    for name, text in (("a.json", "{"), ("b.yaml", "a: [\n"), ("c.py", "(\n"), ("d.json", "{}")):
        (tmp_path / name).write_text(text)
    result = syntax_gate(["a.json", "b.yaml", "c.py", "d.json", "missing.json"], (), tmp_path)
    assert result.status == "failed" and result.message.startswith("3 file(s) do not parse: a.json: ")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["a.json", "b.yaml", "c.py"]


@pytest.mark.parametrize("files,hits", [
    (["src/app.py", "docs/x.md"], []),
    ([".env"], [".env"]),
    (["app/.env.production", "src/a.py"], ["app/.env.production"]),
    (["config/secrets/key.pem", "x/secrets/y/z"], ["config/secrets/key.pem", "x/secrets/y/z"]),
    (["env.example", ".envrc"], []),
])
def test_deny_gate(tmp_path: Path, files: list[str], hits: list[str]) -> None:
    result = deny_gate(files, DEFAULT_DENY, tmp_path)
    if hits:
        assert result.status == "failed"
        assert result.message == f"{len(hits)} deny-listed path(s) in the slice: {', '.join(hits)}"
    else:
        assert result.status == "passed"


def test_secrets_in_upstream_content_are_deferred_and_never_reported(tmp_path: Path) -> None:
    base = {"keep.txt": "keep\n"}
    added = {"conf/aws.py": f'KEY = "{AWS_KEY}"\n', "conf/db.ini": f"[db]\npassword = {PASSWORD}\n",
             "conf/app.yaml": "name: app\n", "src/ok.py": "OK = 1\n"}
    r = build(tmp_path, base, {**base, **added}, checks=[{"name": "echo-files", "run": 'echo "$FORKWAVE_FILES"'}])

    result = run_doit(r.workspace)

    assert result.returncode != 0
    out = outcome(r, slice_names(r)[0])
    assert out["status"] == "split" and out["adopted"] == ["conf/app.yaml", "src/ok.py"]
    reasons = {f: d["reason"] for d in out["deferred"] for f in d["files"]}
    assert reasons == {"conf/aws.py": "secrets: 1 possible credential(s): conf/aws.py:1: AWS access key id",
                       "conf/db.ini": "secrets: 1 possible credential(s): conf/db.ini:2: password assignment"}
    assert all(d["checks"] == ["secrets"] for d in out["deferred"])
    synced = tree(r.fork, "sync/upstream")
    assert "conf/aws.py" not in synced and "conf/db.ini" not in synced and "src/ok.py" in synced
    reports = all_text(r.reports)
    assert "conf/aws.py:1: AWS access key id" in reports
    assert AWS_KEY not in reports and PASSWORD not in reports
    assert AWS_KEY not in result.stdout + result.stderr and PASSWORD not in result.stdout + result.stderr
