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
