"""A real headless Chromium (Debian's package) driven over the DevTools protocol, for tests of pages we write.

The protocol runs over a pipe (``--remote-debugging-pipe``: JSON messages ending in NUL on the child's fds
3 and 4), so no port, no WebSocket library and no driver binary is needed. ``Chromium.open(url)`` loads a
page at a phone's size and returns what it showed and said: the console messages and uncaught exceptions,
the log entries (a refused request, a Content-Security-Policy violation), every request it made, the
text a person sees, any JavaScript value asked for, and a screenshot when asked for one.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# the flags that work on this project's machines (no sandbox as root; nothing reaching for Google's hosts)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--remote-debugging-pipe")
PHONE = {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True}


def chromium() -> str | None:
    """The Chromium binary, if the machine has one."""
    return next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))), None)


@dataclass
class Loaded:
    """What a page did and showed."""

    console: list[dict[str, Any]] = field(default_factory=list)      # Runtime.consoleAPICalled: type, text
    exceptions: list[str] = field(default_factory=list)              # Runtime.exceptionThrown
    log: list[dict[str, Any]] = field(default_factory=list)          # Log.entryAdded: level, source, text
    requests: list[str] = field(default_factory=list)                # every URL it asked for
    values: dict[str, Any] = field(default_factory=dict)             # what each expression evaluated to
    screenshot: bytes | None = None
    pieces: list[bytes] = field(default_factory=list)                # screenshots of bands of the page

    def errors(self) -> list[str]:
        """Everything that would be red in the DevTools console."""
        return ([f"console.{m['type']}: {m['text']}" for m in self.console if m["type"] in ("error", "assert")]
                + [f"exception: {e}" for e in self.exceptions]
                + [f"{e['source']} {e['level']}: {e['text']}" for e in self.log if e["level"] == "error"])


class Chromium:
    """``with Chromium() as c: loaded = c.open(url, {...})``; one browser, a new tab per ``open``."""

    def __init__(self, binary: str | None = None, timeout: float = 30):
        self.binary = binary or chromium()
        if self.binary is None:
            raise RuntimeError("no chromium on PATH (Debian: apt-get install chromium)")
        self.timeout = timeout
        self._id = 0
        self._buffer = b""

    def __enter__(self) -> Chromium:
        self.profile = tempfile.mkdtemp(prefix="forkwave-chromium-")
        to_child, self._to = os.pipe()
        self._from, from_child = os.pipe()
        keep = (fcntl.fcntl(to_child, fcntl.F_DUPFD, 10), fcntl.fcntl(from_child, fcntl.F_DUPFD, 10))

        def fds() -> None:  # the child reads commands on fd 3 and answers on fd 4
            os.dup2(keep[0], 3)
            os.dup2(keep[1], 4)

        self.proc = subprocess.Popen([self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=fds, pass_fds=(3, 4, *keep))
        for fd in (to_child, from_child, *keep):
            os.close(fd)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to, self._from):
            os.close(fd)
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- the protocol ------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile go to ``events``."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if events is not None and "method" in answer:
                events.append(answer)

    def _read(self, deadline: float | None = None) -> dict[str, Any]:
        deadline = deadline or time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe: " + (self.proc.stderr.read().decode()[-2000:]
                                                                   if self.proc.stderr else ""))
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def _drain(self, events: list[dict[str, Any]], until: str | None, seconds: float) -> None:
        """Collect events for ``seconds`` (or until one named ``until`` came)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                event = self._read(deadline)
            except TimeoutError:
                return
            events.append(event)
            if until and event.get("method") == until:
                return

    # --- a page ------------------------------------------------------------------------------

    def open(self, url: str, expressions: dict[str, str] | None = None, *, size: dict[str, Any] = PHONE,
             screenshot: bool = False, bands: int = 0, settle: float = 0.5) -> Loaded:
        """Load ``url`` at ``size`` (a phone by default), wait for its load event and ``settle`` seconds more,
        then evaluate ``expressions`` (name -> JavaScript) and take a full-page screenshot if asked (``bands``:
        also that many screenshots of the page, top to bottom, each one viewport high)."""
        events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            self.send(method, session=session, events=events)
        self.send("Emulation.setDeviceMetricsOverride", size, session=session, events=events)
        events.clear()  # what about:blank said before
        self.send("Page.navigate", {"url": url}, session=session, events=events)
        if not any(e.get("method") == "Page.loadEventFired" for e in events):
            self._drain(events, "Page.loadEventFired", self.timeout)
        self._drain(events, None, settle)
        values = {}
        for name, expression in (expressions or {}).items():   # in order: one may click what the next reads
            result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                    "awaitPromise": True}, session=session, events=events)
            if "exceptionDetails" in result:
                raise RuntimeError(f"{name}: {result['exceptionDetails']}")
            values[name] = result["result"].get("value")
        self._drain(events, None, settle)   # what the page said about what the expressions did
        loaded = self._loaded(events, session)
        loaded.values = values
        if screenshot:
            shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                             session=session, events=events)
            loaded.screenshot = base64.b64decode(shot["data"])
        for i in range(bands):
            clip = {"x": 0, "y": i * size["height"], "width": size["width"], "height": size["height"], "scale": 1}
            shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip},
                             session=session, events=events)
            loaded.pieces.append(base64.b64decode(shot["data"]))
        self.send("Target.closeTarget", {"targetId": target})
        return loaded

    @staticmethod
    def _loaded(events: list[dict[str, Any]], session: str) -> Loaded:
        out = Loaded()
        for e in events:
            if e.get("sessionId") not in (None, session):
                continue
            params = e.get("params", {})
            method = e.get("method")
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", ()))
                out.console.append({"type": params.get("type"), "text": text})
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                out.exceptions.append((details.get("exception") or {}).get("description") or details.get("text", ""))
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                out.log.append({"level": entry.get("level"), "source": entry.get("source"), "text": entry.get("text")})
            elif method == "Network.requestWillBeSent":
                out.requests.append(params.get("request", {}).get("url", ""))
        return out


def page_url(path: Path) -> str:
    return path.resolve().as_uri()
