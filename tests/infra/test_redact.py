"""Credentials out of URLs and free text: tables."""
from __future__ import annotations

import pytest

from tasks.redact import redact_text, redact_url, url_secrets


@pytest.mark.parametrize("url,expected", [
    ("https://bob:s3cret@github.com/a/b.git", "https://***@github.com/a/b.git"),
    ("https://x-access-token:ghp_abc123@github.com/a/b.git", "https://***@github.com/a/b.git"),
    ("https://token@github.com/a/b.git", "https://***@github.com/a/b.git"),
    ("https://bob:s3cret@127.0.0.1:9/x.git", "https://***@127.0.0.1:9/x.git"),
    ("ssh://git@example.com:2222/a.git", "ssh://***@example.com:2222/a.git"),
    ("https://github.com/a/b.git", "https://github.com/a/b.git"),
    ("git@github.com:a/b.git", "git@github.com:a/b.git"),              # scp-like: a user name, no secret
    ("/srv/git/up.git", "/srv/git/up.git"),
    ("../up.git", "../up.git"),
    ("file:///srv/git/up.git", "file:///srv/git/up.git"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize("text,secrets,expected", [
    ("fatal: unable to access 'https://bob:pw123@h/x.git/': refused", (),
     "fatal: unable to access 'https://***@h/x.git/': refused"),
    ("two https://a:b@h1/x and http://c:d@h2/y", (), "two https://***@h1/x and http://***@h2/y"),
    ("token ghp_abc123 echoed back", ("ghp_abc123",), "token *** echoed back"),
    ("nothing secret", ("",), "nothing secret"),
    ("see /srv/git/up.git", (), "see /srv/git/up.git"),
])
def test_redact_text(text: str, secrets: tuple[str, ...], expected: str) -> None:
    assert redact_text(text, secrets) == expected


@pytest.mark.parametrize("url,expected", [
    ("https://bob:s3cret@h/x", ("bob", "s3cret")),
    ("https://ghp_abcdef@h/x", ("ghp_abcdef",)),
    ("https://me:pw@h/x", ()),            # too short to scrub from free text without mangling it
    ("https://h/x", ()),
    ("/local/path", ()),
])
def test_url_secrets(url: str, expected: tuple[str, ...]) -> None:
    assert url_secrets(url) == expected


# --- the redactor ------------------------------------------------------------------------------

import os  # noqa: E402
from pathlib import Path  # noqa: E402

from checks.host import HostRunner  # noqa: E402
from checks.model import Request  # noqa: E402
from tasks.redact import LineRedactor, Redactor, env_secrets, looks_secret  # noqa: E402

GHP = "ghp_" + "Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8"
PEM_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7on"


@pytest.mark.parametrize("name,secret", [
    ("GITHUB_TOKEN", True), ("NPM_AUTHTOKEN", True), ("PGPASSWORD", True), ("DB_PASS", True), ("MYSQL_PWD", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("STRIPE_KEY", True), ("SENTRY_DSN", True), ("GPG_PASSPHRASE", True),
    ("GOOGLE_APPLICATION_CREDENTIALS_JSON", True), ("session_cookie", True), ("OPENAI_APIKEY", True),
    ("PWD", False), ("OLDPWD", False), ("KEYBOARD", False), ("GIT_AUTHOR_NAME", False), ("SSH_AUTH_SOCK", False),
    ("TOKEN_URL", False), ("SSH_KEY_PATH", False), ("GIT_ASKPASS", False), ("AWS_ACCESS_KEY_ID", False),
    ("HOME", False), ("PATH", False), ("MONKEY_ISLAND", False), ("PASSAGE", False),
])
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_env_secrets_skips_short_and_plain_values() -> None:
    values = env_secrets({"API_TOKEN": "tok-123456", "X_SECRET": "abc", "USE_PASSWORD": "true", "PWD": "/work/x",
                          "SSH_PRIVATE_KEY": f"-----BEGIN\n{PEM_BODY}\n-----END", "NAME": "tok-999999"})
    assert "tok-123456" in values and PEM_BODY in values
    assert not {"abc", "true", "/work/x", "tok-999999"} & set(values)


def test_redactor_masks_env_values_token_shapes_userinfo_and_private_keys() -> None:
    r = Redactor.for_env({"MY_API_TOKEN": "s3cr3t-value-42"})
    text = (f"token s3cr3t-value-42 and s3cr3t-value-42%21 and {GHP}\n"
            "clone https://bob:hunter2@git.acme.io/a.git\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
            "-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + "\nProc-Type: 4,ENCRYPTED\n\n" + PEM_BODY[:40] + "==\n"
            "-----END RSA PRIVATE KEY-----\n"
            'json {"private_key": "-----BEGIN PRIVATE KEY-----\\n' + PEM_BODY + '\\n-----END PRIVATE KEY-----\\n"}\n'
            "build ok\n")
    out = r.text(text)
    for leaked in ("s3cr3t-value-42", GHP, "hunter2", "bPxRfiCYEXAMPLEKEY", PEM_BODY, PEM_BODY[:40], "ENCRYPTED"):
        assert leaked not in out
    assert out.splitlines() == [
        "token *** and ***%21 and ***", "clone https://***@git.acme.io/a.git", "aws_secret_access_key = ***",
        "-----BEGIN RSA PRIVATE KEY-----", "***", "***", "", "***", "-----END RSA PRIVATE KEY-----",
        'json {"private_key": "-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----\\n"}', "build ok"]


def test_line_redactor_never_splits_a_secret_across_pieces() -> None:
    r = Redactor(["hunter2-hunter2"])
    data = f"a hunter2-hunter2 b {GHP} c\n".encode() * 3 + b"tail hunter2-hunter2"
    lines = LineRedactor(r)
    out = b"".join(lines.feed_bytes(data[i:i + 1]) for i in range(len(data))) + lines.close_bytes()
    assert out == b"a *** b *** c\n" * 3 + b"tail ***"


def test_line_redactor_bounds_a_line_without_newlines() -> None:
    lines = LineRedactor(Redactor(["hunter2-hunter2"]))
    piece = ("word " * 100_000 + "hunter2-hunter2 ").encode()
    out = b"".join(lines.feed_bytes(piece) for _ in range(5)) + lines.close_bytes()
    assert b"hunter2" not in out and out.count(b"***") == 5 and len(lines.pending) < LineRedactor.MAX_LINE


def test_redactor_file_rewrites_in_place(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"\xff\xfe raw " + GHP.encode() + b"\n")
    Redactor().file(log)
    assert log.read_bytes() == b"\xff\xfe raw ***\n" and not list(tmp_path.glob("*.redacting"))


def test_host_runner_writes_only_redacted_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "from-the-process-env-77")
    command = ('echo "env $DEPLOY_TOKEN check $MY_PASSWORD url https://u:pw-123@h.acme.io/x tok ' + GHP + '"; '
               'echo "$MY_PASSWORD" >&2; (sleep 20 &); exit 3')
    result = HostRunner().run(Request("leak", command, tmp_path, {"MY_PASSWORD": "from-check-env-99"}, 30,
                                      tmp_path / "logs"))
    logs = (tmp_path / "logs" / "leak.stdout.log").read_text() + (tmp_path / "logs" / "leak.stderr.log").read_text()
    everything = logs + result.message + result.stdout + result.stderr
    for leaked in ("from-the-process-env-77", "from-check-env-99", "pw-123", GHP):
        assert leaked not in everything
    assert result.status == "failed" and result.stdout == "env *** check *** url https://***@h.acme.io/x tok ***"
    assert result.stderr == "***" and result.duration < 10   # the left-behind sleep does not hold the log open
    assert GHP not in result.message and "exit code 3" in result.message
    assert os.environ["DEPLOY_TOKEN"] == "from-the-process-env-77"
