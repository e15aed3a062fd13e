"""fetch failures: git's real cause, retries only when another attempt can succeed, credentials never in argv.

The http tests serve a real repository over git's "dumb" HTTP protocol from a local server
that asks for Basic authentication, so git really fetches, really authenticates and really
fails: nothing of git is mocked.
"""
from __future__ import annotations

import base64
import functools
import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from conftest import Scenario, commit_tree, make_repo, scenario_config, upstream_v2, write_config
from tasks.repo import fetch, git
from tasks.config import Config, load_config
from tasks.errors import ForkwaveError, ForkwaveFailure
from tasks.workspace import Workspace

TOKEN = "ghp_s3cr3tT0ken"


# --- git's stderr, classified (pure) -------------------------------------------------------

@pytest.mark.parametrize("stderr,kind,retry,cause", [
    ("fatal: unable to access 'https://h/x.git/': Could not resolve host: h", "network", True,
     "unable to access 'https://h/x.git/': Could not resolve host: h"),
    ("fatal: unable to access 'https://127.0.0.1:9/x.git/': Failed to connect to 127.0.0.1 port 9 after 0 ms: "
     "Couldn't connect to server", "network", True,
     "unable to access 'https://127.0.0.1:9/x.git/': Failed to connect to 127.0.0.1 port 9 after 0 ms: "
     "Couldn't connect to server"),
    ("fatal: unable to access 'https://h/x/': The requested URL returned error: 503", "network", True,
     "unable to access 'https://h/x/': The requested URL returned error: 503"),
    ("error: RPC failed; curl 18 transfer closed with outstanding read data remaining\nfatal: early EOF\n"
     "fatal: index-pack failed", "network", True,
     "RPC failed; curl 18 transfer closed with outstanding read data remaining / early EOF"),
    ("fatal: unable to access 'https://h/x/': Operation timed out after 300000 milliseconds", "network", True,
     "unable to access 'https://h/x/': Operation timed out after 300000 milliseconds"),
    ("remote: Invalid username or password.\nfatal: Authentication failed for 'https://h/x.git/'",
     "authentication failed", False,
     "remote: Invalid username or password. / Authentication failed for 'https://h/x.git/'"),
    ("fatal: could not read Username for 'https://h': terminal prompts disabled", "authentication failed", False,
     "could not read Username for 'https://h': terminal prompts disabled"),
    ("fatal: unable to access 'https://h/x/': The requested URL returned error: 403", "authentication failed",
     False, "unable to access 'https://h/x/': The requested URL returned error: 403"),
    ("remote: Repository not found.\nfatal: repository 'https://github.com/a/b.git/' not found", "not found",
     False, "remote: Repository not found. / repository 'https://github.com/a/b.git/' not found"),
    ("fatal: '/srv/x' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\n"
     "Please make sure you have the correct access rights\nand the repository exists.", "not found", False,
     "'/srv/x' does not appear to be a git repository"),
    # a damaged repository: the lines before git's last words are the cause, and it is no network trouble
    ("error: inflate: data stream error (incorrect header check)\nerror: unable to unpack 2e95 header\n"
     "fatal: loose object 2e95 (stored in ./objects/2e/95) is corrupt\nfatal: the remote end hung up unexpectedly",
     "corruption", False, "inflate: data stream error (incorrect header check) / unable to unpack 2e95 header / "
     "loose object 2e95 (stored in ./objects/2e/95) is corrupt"),
    # a blob missing on the remote, over a local path (git 2.39's words)
    ("error: git upload-pack: git-pack-objects died with error.\nfatal: git upload-pack: aborting due to possible "
     "repository corruption on the remote side.\nremote: fatal: unable to read 0cfbf08886fca9a91cb753ec8734c84fcbe52c9f"
     "\nremote: aborting due to possible repository corruption on the remote side.\nfatal: protocol error: bad pack "
     "header", "corruption", False, "remote: fatal: unable to read 0cfbf08886fca9a91cb753ec8734c84fcbe52c9f / remote: "
     "aborting due to possible repository corruption on the remote side. / git upload-pack: aborting due to "
     "possible repository corruption on the remote side."),
    # the same over https, where the server hangs up: still not retried
    ("remote: fatal: bad tree object 5659689b2214e9ed03d6ad3a44a6bdeb8492369d\nremote: aborting due to possible "
     "repository corruption on the remote side.\nfatal: early EOF\nfatal: the remote end hung up unexpectedly",
     "corruption", False, "remote: fatal: bad tree object 5659689b2214e9ed03d6ad3a44a6bdeb8492369d / remote: aborting "
     "due to possible repository corruption on the remote side."),
    # a commit missing on a dumb-http remote
    ("error: Unable to find 6aaaa3e20f28a545b64cc18b86f81cb4539ed503 under http://h/up.git\nCannot obtain needed "
     "commit 6aaaa3e20f28a545b64cc18b86f81cb4539ed503\n"
     "while processing commit f83d4006865abf6da79b21f60d495f09f1408d6c.\nerror: fetch failed.", "corruption", False,
     "Unable to find 6aaaa3e20f28a545b64cc18b86f81cb4539ed503 under "
     "http://h/up.git / Cannot obtain needed commit 6aaaa3e20f28a545b64cc18b86f81cb4539ed503"),
    # the mirror announced objects it does not have
    ("fatal: remote did not send all necessary objects", "corruption", False,
     "remote did not send all necessary objects"),
    ("fatal: bad object 6aaaa3e20f28a545b64cc18b86f81cb4539ed503\nerror: https://h/up.git did not send all "
     "necessary objects", "corruption", False, "bad object 6aaaa3e20f28a545b64cc18b86f81cb4539ed503 / "
     "https://h/up.git did not send all necessary objects"),
    ("error: missing blob 0cfbf08886fca9a91cb753ec8734c84fcbe52c9f\nfatal: early EOF", "corruption", False,
     "missing blob 0cfbf08886fca9a91cb753ec8734c84fcbe52c9f"),
    ("fatal: unresolved deltas left after unpacking\nfatal: unpack-objects failed", "corruption", False,
     "unresolved deltas left after unpacking"),
    ("remote: fatal: pack exceeds maximum allowed size\nfatal: invalid index-pack output", "broken pack", False,
     "remote: fatal: pack exceeds maximum allowed size / invalid index-pack output"),
    ("fatal: unable to access 'https://h/': SSL certificate problem: unable to get local issuer certificate",
     "certificate", False, "unable to access 'https://h/': SSL certificate problem: unable to get local issuer "
     "certificate"),
    ("fatal: something nobody has seen before", "unknown", False, "something nobody has seen before"),
    ("", "unknown", False, "git gave no reason"),
])
def test_diagnose_names_the_kind_whether_to_retry_and_the_cause(stderr: str, kind: str, retry: bool,
                                                                cause: str) -> None:
    assert fetch.diagnose(stderr) == (kind, retry, cause)


@pytest.mark.parametrize("url,bare,user,password", [
    ("https://bot:tok@example.com/a.git", "https://example.com/a.git", "bot", "tok"),
    ("https://x-access-token:p%40ss%3Aw@example.com:8443/a.git", "https://example.com:8443/a.git",
     "x-access-token", "p@ss:w"),
    ("http://ghp_only@example.com/a.git", "http://example.com/a.git", "ghp_only", ""),
])
def test_remote_takes_the_userinfo_out_of_http_urls(url: str, bare: str, user: str, password: str) -> None:
    got, env = git.remote(url)
    assert got == bare
    assert (env["FORKWAVE_GIT_USERNAME"], env["FORKWAVE_GIT_PASSWORD"]) == (user, password)
    assert env["GIT_CONFIG_KEY_1"] == "credential.helper" and TOKEN not in env["GIT_CONFIG_VALUE_1"]


@pytest.mark.parametrize("url", ["/srv/up.git", "../up.git", "file:///srv/up.git", "ssh://git@host/a.git",
                                 "git@github.com:a/b.git", "https://example.com/a.git"])
def test_remote_leaves_other_urls_alone(url: str) -> None:
    assert git.remote(url) == (url, {})


# --- a real http upstream ---------------------------------------------------------------------

class Server(NamedTuple):
    url: str               # http://127.0.0.1:<port>/up.git
    root: Path
    log: list[tuple[str, str | None]]   # (path, Authorization header)
    settings: dict[str, Any]

    def attempts(self) -> int:
        """git's fetch attempts: each starts with one request that carries no credentials."""
        return sum(1 for path, auth in self.log if "info/refs" in path and auth is None)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        server: Any = self.server
        auth = self.headers.get("Authorization")
        server.log.append((self.path, auth))
        time.sleep(server.settings.get("delay", 0))
        if server.settings.get("status"):
            self.send_error(server.settings["status"])
            return
        user, password = server.settings["credentials"]
        if auth != "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """``up.git`` (main = the scenario's upstream content) behind Basic auth ``bot:TOKEN``."""
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    root = tmp_path / "srv"
    up = make_repo(root / "up.git", {"README.md": "# up\n", "src/a.js": "a\n"}, bare=True)
    git.git(up, "update-server-info")  # what a dumb-HTTP client reads
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.log, httpd.settings = [], {"credentials": ("bot", TOKEN)}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}/up.git", root, httpd.log,  # type: ignore
                     httpd.settings)  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


def http_config(tmp_path: Path, url: str) -> tuple[Config, Workspace]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    return load_config(write_config(ws, {"upstream": {"url": url}, "fork": {"path": "../fork"}})), Workspace(ws)


def with_userinfo(url: str, user: str, password: str) -> str:
    return url.replace("http://", f"http://{user}:{password}@", 1)


@pytest.fixture
def git_argv_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``git`` first on PATH that logs its argv (one line per call) and runs the real git."""
    real = shutil.which("git")
    assert real
    bin_dir, log = tmp_path / "bin", tmp_path / "git-argv.log"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_the_token_never_reaches_gits_argv_while_fetching(server: Server, tmp_path: Path,
                                                          git_argv_log: Path) -> None:
    cfg, ws = http_config(tmp_path, with_userinfo(server.url, "bot", TOKEN))
    record = fetch.fetch(cfg, ws)
    assert record["sha"] == git.rev_parse(server.root / "up.git", "refs/heads/main")
    assert fetch.is_current(cfg, ws, offline=False)                        # ls-remote: same treatment
    calls = git_argv_log.read_text().splitlines()
    assert any(call.startswith(f"-C {ws.mirror} fetch") and server.url in call for call in calls)
    assert any(call.startswith("ls-remote") and server.url in call for call in calls)
    assert TOKEN not in git_argv_log.read_text() and "bot:" not in git_argv_log.read_text()
    assert any(auth for _, auth in server.log)                             # git did authenticate


def test_no_process_shows_the_token_while_fetching(server: Server, tmp_path: Path) -> None:
    """Every process's command line (git, git-remote-http, the credential helper) while git talks to
    a slow server: the token is in none of them."""
    server.settings["delay"] = 0.2
    cfg, ws = http_config(tmp_path, with_userinfo(server.url, "bot", TOKEN))
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    seen.append(cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
                except OSError:
                    pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        fetch.fetch(cfg, ws)
    finally:
        done.set()
        watcher.join()
    assert any("remote-http" in line and server.url in line for line in seen)  # the watcher saw git at work
    assert not [line for line in seen if TOKEN in line]


def test_an_authentication_failure_is_reported_once_and_not_retried(server: Server, tmp_path: Path,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    cfg, ws = http_config(tmp_path, with_userinfo(server.url, "bot", "wrong-token"))
    with pytest.raises(ForkwaveFailure) as err:
        fetch.fetch(cfg, ws)
    assert server.attempts() == 1
    shown = server.url.replace("http://", "http://***@")
    assert str(err.value) == (f"upstream.url: could not fetch {shown} (authentication failed; not retried): "
                              f"Authentication failed for '{server.url}/'; check the credentials in upstream.url "
                              "(a token that can read the repository)")
    assert err.value.exit_code == 3
    assert "retrying" not in capfd.readouterr().err


def test_a_missing_repository_is_not_retried(server: Server, tmp_path: Path) -> None:
    cfg, ws = http_config(tmp_path, with_userinfo(server.url.replace("up.git", "gone.git"), "bot", TOKEN))
    with pytest.raises(ForkwaveFailure, match=r"\(not found; not retried\): repository '.*/gone.git/' not found; "
                                              r"check upstream.url"):
        fetch.fetch(cfg, ws)
    assert server.attempts() == 1


def test_a_server_error_is_retried(server: Server, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    server.settings["status"] = 503
    cfg, ws = http_config(tmp_path, server.url)
    with pytest.raises(ForkwaveFailure, match=r"after 3 attempts: .*returned error: 503; check the network"):
        fetch.fetch(cfg, ws)
    assert len(server.log) == 3
    assert capfd.readouterr().err.count("retrying in") == 2


# --- a broken upstream on disk ------------------------------------------------------------------

def corrupt_one_object(repo: Path) -> None:
    obj = next(p for p in sorted((repo / "objects").glob("??/*")))
    obj.chmod(0o644)
    obj.write_bytes(b"not zlib at all")


def fetch_calls(log: Path) -> int:
    """The ``git fetch`` runs the argv log saw: each attempt is one."""
    return sum(1 for call in log.read_text().splitlines() if " fetch " in f" {call} ")


def remove_object(repo: Path, rev: str) -> str:
    """Delete the loose object ``rev`` names from a bare repository: what a failed disk or a bad copy leaves."""
    sha = git.rev_parse(repo, rev)
    assert sha
    (repo / "objects" / sha[:2] / sha[2:]).unlink()
    return sha


def test_a_corrupt_upstream_shows_gits_cause_and_is_not_retried(scenario: Scenario, git_argv_log: Path,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    broken = scenario.root / "broken.git"
    make_repo(broken, {"a.txt": "a\n", "b.txt": "b\n"}, bare=True)
    corrupt_one_object(broken)
    cfg = load_config(write_config(scenario.workspace, scenario_config(scenario, upstream={"url": str(broken)})))
    with pytest.raises(ForkwaveError) as err:
        fetch.fetch(cfg, Workspace(scenario.workspace))
    message = str(err.value)
    assert message.startswith(f"upstream.url: could not fetch {broken} (corruption; not retried): ")
    assert "is corrupt" in message and "hung up" not in message       # git's cause, not its last words
    assert message.endswith("; run `git fsck` in the repository upstream.url names (or ask its host to) and repair "
                            "it; if it is sound, the mirror is damaged: `doit clean fetch` removes "
                            ".forkwave/upstream.git and the next run fetches it whole")
    assert fetch_calls(git_argv_log) == 1
    assert "retrying" not in capfd.readouterr().err


def test_a_missing_object_is_corruption_named_by_its_source_and_not_retried(
        tmp_path: Path, git_argv_log: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Two sources, one whose repository lost a blob: one attempt, the source as the config names
    it, ``git fsck`` and the mirror to re-clone (its own path and clean command)."""
    make_repo(tmp_path / "web.git", {"web.js": "web\n"}, bare=True)
    broken = make_repo(tmp_path / "sale.git", {"sale.py": "SALE = 1\n", "README.md": "# sale\n"}, bare=True)
    blob = remove_object(broken, "main:sale.py")
    (tmp_path / "ws").mkdir()
    path = write_config(tmp_path / "ws", {
        "sources": [{"name": "web", "url": "../web.git", "paths": ["addons/web/**"],
                     "map": [{"from": "", "to": "addons/web/"}]},
                    {"name": "sale", "url": "../sale.git", "paths": ["addons/sale/**"],
                     "map": [{"from": "", "to": "addons/sale/"}]}],
        "fork": {"path": "../fork"}})
    cfg = load_config(path)
    fetch.fetch(cfg.for_source("web"), Workspace(tmp_path / "ws", "web"))   # the sound source fetches
    calls = fetch_calls(git_argv_log)
    start = time.monotonic()
    with pytest.raises(ForkwaveFailure) as err:
        fetch.fetch(cfg.for_source("sale"), Workspace(tmp_path / "ws", "sale"))
    message = str(err.value)
    assert message.startswith(f"sources.1.url (sale): could not fetch {broken} (corruption; not retried): "
                              f"remote: fatal: unable to read {blob}")
    assert message.endswith("; run `git fsck` in the repository sources.1.url (sale) names (or ask its host to) and "
                            "repair it; if it is sound, the mirror is damaged: `doit clean fetch:sale` removes "
                            ".forkwave/sources/sale.git and the next run fetches it whole")
    assert "\n" not in message and "network" not in message
    assert err.value.exit_code == 3
    assert fetch_calls(git_argv_log) - calls == 1                            # one attempt, no retry
    assert time.monotonic() - start < 5                                      # no backoff waited either
    assert "retrying" not in capfd.readouterr().err


def test_a_corrupt_http_upstream_is_not_retried(server: Server, tmp_path: Path) -> None:
    """Over (dumb) http the remote cannot hand over an object it lost: one attempt, no "check the network"."""
    remove_object(server.root / "up.git", "main:src/a.js")
    cfg, ws = http_config(tmp_path, with_userinfo(server.url, "bot", TOKEN))
    with pytest.raises(ForkwaveFailure, match=r"\(corruption; not retried\): .*Cannot obtain needed blob .*; run "
                                              r"`git fsck` in the repository upstream.url names"):
        fetch.fetch(cfg, ws)
    assert server.attempts() == 1


def test_a_path_that_is_no_repository_is_not_retried(scenario: Scenario, capfd: pytest.CaptureFixture[str]) -> None:
    plain = scenario.root / "plain"
    plain.mkdir()
    cfg = load_config(write_config(scenario.workspace, scenario_config(scenario, upstream={"url": str(plain)})))
    with pytest.raises(ForkwaveError, match=r"\(not found; not retried\): '.*plain' does not appear to be a git "
                                            r"repository; check upstream.url"):
        fetch.fetch(cfg, Workspace(scenario.workspace))
    assert "retrying" not in capfd.readouterr().err



def test_a_damaged_mirror_is_corruption_with_the_mirror_to_re_clone(scenario: Scenario, git_argv_log: Path) -> None:
    """The mirror lost its tip's tree: the next fetch gets the new tree as a delta against the lost
    one and cannot resolve it. Not retried; the message names the mirror and the command that
    removes it, and after that command's removal the fetch works."""
    cfg, ws = load_config(write_config(scenario.workspace, scenario_config(scenario))), Workspace(scenario.workspace)
    fetch.fetch(cfg, ws)
    remove_object(ws.mirror, f"{scenario.main}^{{tree}}")
    tip = commit_tree(scenario.upstream, upstream_v2() | {"README.md": "# Up, again\n"}, tick=90)
    calls = fetch_calls(git_argv_log)
    with pytest.raises(ForkwaveFailure) as err:
        fetch.fetch(cfg, ws)
    assert "(corruption; not retried): " in str(err.value)
    assert "`doit clean fetch` removes .forkwave/upstream.git" in str(err.value)
    assert fetch_calls(git_argv_log) - calls == 1
    shutil.rmtree(ws.mirror)                                 # what `doit clean fetch` removes
    assert fetch.fetch(cfg, ws)["sha"] == tip
