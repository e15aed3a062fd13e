"""Running a command source's entrypoint: a scratch folder, its environment, the check runners, its result.

An entrypoint runs as a check does — ``bash -c`` on the host in its own process group, or in a container of
``image`` (``checks.runners.Dispatch``), with a timeout and a heartbeat — in the config file's folder (read-only
in a container). What it is given lives in a scratch folder outside the workspace, removed afterwards:

- ``$FORKWAVE_OUT``: an empty folder; a pull writes the source's files there, under their fork-side names;
- ``$FORKWAVE_IN``: a push finds the fork's changed input files there, under their fork-side names, and their
  paths on standard input, one per line (a path listed but absent was deleted in the fork);
- ``$FORKWAVE_CONFIG``: the source's ``config:`` as a JSON file; each string, number or boolean of it also as
  ``FORKWAVE_CONFIG_<NAME>`` (the name in upper case);
- ``FORKWAVE_SOURCE`` (its name), ``FORKWAVE_DIRECTION`` (``pull`` or ``push``), and the source's ``env:``.

Its logs are written there too, and reach the reports only through the sanitiser (``tasks.engine.sanitize``):
what a production system prints must not leak its secrets into ``reports/``. Its result is its exit code and its
last line of output; a first line ``version: …`` on stdout is the entrypoint's own version of what it read.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

from checks.model import ERROR, PASSED
from tasks.config import Config, Source
from tasks.engine.validate import default_runner, request_for
from tasks.workspace import Workspace

IN_CONTAINER = "/forkwave/io"    # the scratch's io/ folder, inside a container
VERSION = re.compile(r"^version:\s*(\S.*?)\s*$")
MAX_VERSION = 200
LOGS = {"run": "run-logs", "push_run": "push-logs"}   # where each entrypoint's sanitised logs go (the source's reports)


@dataclass(frozen=True)
class Scratch:
    """The folder an entrypoint gets: ``io/out`` (``$FORKWAVE_OUT``), ``io/in`` (``$FORKWAVE_IN``),
    ``io/config.json`` (``$FORKWAVE_CONFIG``), ``stdin`` and its raw ``logs/``."""

    root: Path

    @property
    def io(self) -> Path:
        return self.root / "io"

    @property
    def out(self) -> Path:
        return self.io / "out"

    @property
    def inputs(self) -> Path:
        return self.io / "in"

    @property
    def config(self) -> Path:
        return self.io / "config.json"

    @property
    def stdin(self) -> Path:
        return self.root / "stdin"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def make(self, config: str) -> Scratch:
        for folder in (self.out, self.inputs, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config + "\n", encoding="utf-8")
        return self


@dataclass(frozen=True)
class Ran:
    """How an entrypoint ended, and what it printed (raw: sanitise before it goes anywhere)."""

    which: str            # run | push_run
    status: str           # passed, failed, error (checks.model)
    message: str          # the runner's one line (timed out, cannot run, exit code)
    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.status == PASSED

    @property
    def cannot_run(self) -> bool:
        return self.status == ERROR


def config_env(config: str) -> dict[str, str]:
    """``FORKWAVE_CONFIG_<NAME>`` for each string, number or boolean of ``config:`` (JSON text).

    >>> config_env('{"api": "http://127.0.0.1:8080", "retries": 3, "strict": true, "apps": ["a"]}')
    {'FORKWAVE_CONFIG_API': 'http://127.0.0.1:8080', 'FORKWAVE_CONFIG_RETRIES': '3', 'FORKWAVE_CONFIG_STRICT': 'true'}
    """
    out = {}
    for name, value in json.loads(config).items():
        if isinstance(value, bool):
            out[f"FORKWAVE_CONFIG_{name.upper()}"] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            out[f"FORKWAVE_CONFIG_{name.upper()}"] = str(value)
    return out


def environment(src: Source, which: str, scratch: Scratch, inside: bool) -> dict[str, str]:
    """What the entrypoint's environment says about its run (the paths as it sees them: host or container)."""
    assert src.command is not None
    io = Path(IN_CONTAINER) if inside else scratch.io
    return {"FORKWAVE_SOURCE": src.name, "FORKWAVE_DIRECTION": "pull" if which == "run" else "push",
            "FORKWAVE_OUT": str(io / "out"), "FORKWAVE_IN": str(io / "in"), "FORKWAVE_CONFIG": str(io / "config.json"),
            **config_env(src.command.config)}


def run(cfg: Config, ws: Workspace, src: Source, which: str, scratch: Scratch, stdin: bool = False) -> Ran:
    """Run ``src``'s ``which`` entrypoint (``run`` or ``push_run``) with ``scratch`` made; its raw output kept in
    memory (the runner's own log files stay in the scratch folder)."""
    entry = src.command
    assert entry is not None
    command = entry.run if which == "run" else entry.push_run
    assert command
    check = entry.check(which, command)
    env = environment(src, which, scratch, inside=check.kind != "host")
    request = dataclasses.replace(request_for(check, entry.cwd, env, scratch.logs, f"{src.name}-{which}"),
                                  stdin=scratch.stdin if stdin else None, mounts=((str(scratch.io), IN_CONTAINER),),
                                  cwd_writable=False, quiet=True)
    result = default_runner(cfg, ws).run(request)
    return Ran(which, result.status, result.message, result.exit_code, _read(scratch.logs / f"{which}.stdout.log"),
               _read(scratch.logs / f"{which}.stderr.log"))


def _read(path: Path) -> str:
    return path.read_text("utf-8", "replace") if path.exists() else ""


def version(stdout: str) -> str | None:
    """The entrypoint's own version of what it read: its first stdout line, when that is ``version: …``.

    >>> version("version: 2025-01-04T10:30:00Z (api v2)\\n{...}"), version("fetched 3 apps\\nversion: 1")
    ('2025-01-04T10:30:00Z (api v2)', None)
    """
    first = stdout.split("\n", 1)[0].strip()
    found = VERSION.match(first)
    return found.group(1)[:MAX_VERSION] if found else None


def last_line(stdout: str, stderr: str, failed: bool) -> str:
    """The result's last line: on failure the last line it wrote to stderr (else to stdout), on success stdout's.

    >>> (last_line("fetched\\n", "curl: (7) Failed to connect\\n", True),
    ...  last_line("sent 2 pages\\n\\n", "warn\\n", False))
    ('curl: (7) Failed to connect', 'sent 2 pages')
    """
    for text in ((stderr, stdout) if failed else (stdout,)):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1][:300]
    return ""


def describe(ran: Ran, last: str) -> str:
    """How an entrypoint that did not pass ended: ``exited 2: <last line>``, ``timed out after 30 s``."""
    if ran.exit_code is not None and not ran.cannot_run:
        return f"exited {ran.exit_code}" + (f": {last}" if last else " (it printed nothing)")
    return ran.message + (f"; last line: {last}" if last else "")


def write_logs(ws: Workspace, which: str, stdout: str, stderr: str) -> Path:
    """The sanitised output, in the source's reports (``run-logs/`` or ``push-logs/``)."""
    from tasks.workspace import write_if_changed

    folder = ws.source_report(LOGS[which])
    write_if_changed(folder / f"{which}.stdout.log", stdout)
    write_if_changed(folder / f"{which}.stderr.log", stderr)
    return folder
