"""A fetch shows signs of life: git's progress on a terminal, a heartbeat otherwise; its errors stay as they were.

The slow remote is real: git's ``ext::`` transport runs a shell that says something, waits, then
serves the repository with ``git upload-pack`` (``url.<x>.insteadOf`` in the test's own git config).
"""
from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, commit_tree, make_repo
from tasks.proc import CalledProcessError
from tasks.repo import git
from tasks.repo.fetch import REFSPECS

BEAT = re.compile(r"^fetch: slow://up: still running after \d+ s; last output: (?P<last>.*)$", re.M)


@pytest.fixture
def slow_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``slow://up``: an upstream served after a second's wait, announced on stderr; returns an empty mirror."""
    up = make_repo(tmp_path / "up.git", bare=True)
    commit_tree(up, {f"f{i}.txt": f"{i}\n" for i in range(200)})
    home = tmp_path / "home"
    home.mkdir()
    served = f"ext::sh -c echo% waiting% for% the% server>&2;sleep% 1.2;%S% {up}"
    (home / ".gitconfig").write_text(f'[protocol "ext"]\n\tallow = always\n[url "{served}"]\n\tinsteadOf = slow://up\n')
    monkeypatch.setenv("HOME", str(home))  # git_env keeps HOME (and drops GIT_*): the config is read from there
    mirror = make_repo(tmp_path / "mirror.git", bare=True)
    return mirror


def test_a_fetch_with_no_terminal_beats_with_gits_last_line(slow_remote: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORKWAVE_HEARTBEAT", "0.3")
    git.fetch(slow_remote, "slow://up", *REFSPECS, what="fetch: slow://up")
    err = capfd.readouterr().err
    assert [m["last"] for m in BEAT.finditer(err)][:2] == ["waiting for the server"] * 2, err
    assert "Counting objects" not in err and "From " not in err   # git's own lines stay out of a CI log
    assert git.git(slow_remote, "rev-parse", "refs/heads/main").strip()


def test_a_fetch_on_a_terminal_shows_gits_own_progress(slow_remote: Path) -> None:
    """stderr a terminal (a pty): git's progress, updated in place with ``\\r``, and no heartbeat."""
    leader, follower = pty.openpty()
    code = ("import sys; from tasks.repo import git; from tasks.repo.fetch import REFSPECS; "
            "git.fetch(sys.argv[1], 'slow://up', *REFSPECS, what='fetch: slow://up')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(slow_remote)], cwd=ROOT, stderr=follower,
                            env={**os.environ, "FORKWAVE_HEARTBEAT": "0.3"})
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait() == 0
    text = seen.decode("utf-8", "replace")
    assert "waiting for the server" in text and re.search(r"Counting objects: +\d+% \(\d+/\d+\)\s*\r", text), text
    assert "still running after" not in text


def test_a_failed_fetch_keeps_gits_messages_and_drops_its_progress(tmp_path: Path) -> None:
    """What diagnose() reads is what --quiet left: git's messages, not its progress or ref lines. The
    objects arrive (with progress), then the ref update fails on a lock another git holds."""
    up = make_repo(tmp_path / "up.git", bare=True)
    commit_tree(up, {f"f{i}.txt": f"{i}\n" for i in range(200)})
    mirror = make_repo(tmp_path / "mirror.git", bare=True)
    (mirror / "refs" / "heads").mkdir(parents=True, exist_ok=True)
    (mirror / "refs" / "heads" / "main.lock").write_text("")
    with pytest.raises(CalledProcessError) as err:
        git.fetch(mirror, f"file://{up}", *REFSPECS, what="fetch")
    lines = err.value.stderr.decode().splitlines()
    assert any("cannot lock ref 'refs/heads/main'" in line for line in lines), lines
    assert not [line for line in lines if "objects" in line or line.startswith(("From ", "remote:"))], lines
