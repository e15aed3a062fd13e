"""Signs of life on long work: a heartbeat line while a check, a fetch or an image build runs.

A check of 12 s, a 15-minute ``yarn install`` or a slow fetch print nothing of their own, and a
person (or a hosted CI, which kills a job silent for 10 minutes) cannot tell work from a hang.
``Heartbeat`` writes one line every ``FORKWAVE_HEARTBEAT`` seconds (30 by default) on stderr —
whether or not it is a terminal, CI logs are what need it most — with the elapsed time and the
last line the work printed (``LastLine``; its callers feed it redacted text only).
"""
from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

from tasks.errors import ForkwaveError

HEARTBEAT = "FORKWAVE_HEARTBEAT"  # seconds between heartbeat lines
DEFAULT = 30.0
SHOWN = 160                       # characters of the last output line a heartbeat shows
_PIECES = re.compile(r"[^\r\n]*[\r\n]?")


def interval() -> float:
    """Seconds between heartbeats: ``FORKWAVE_HEARTBEAT``, else 30; a bad value is a one-line error."""
    raw = os.environ.get(HEARTBEAT, "").strip()
    if not raw:
        return DEFAULT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ForkwaveError(f"{HEARTBEAT}={raw}: give the seconds between progress lines, more than 0 and at "
                            f"most 3600 (default {DEFAULT:g})")
    return value


def elapsed(seconds: float) -> str:
    """A duration as a person reads it.

    >>> elapsed(5.2), elapsed(95), elapsed(3725)
    ('5 s', '1 min 35 s', '1 h 02 min')
    """
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def pieces(text: str) -> list[str]:
    r"""Output cut where a terminal would start over: at each newline, and at each ``\r`` progress update.

    >>> pieces("a\n 12%\r 50%\rdone\n")
    ['a\n', ' 12%\r', ' 50%\r', 'done\n']
    """
    return [p for p in _PIECES.findall(text) if p]


class LastLine:
    """The last non-blank line of some output fed in pieces (progress updates count as lines)."""

    def __init__(self) -> None:
        self.value = ""
        self._partial = ""
        self._lock = threading.Lock()

    def feed(self, text: str) -> None:
        with self._lock:
            for piece in pieces(self._partial + text):
                if piece[-1] in "\r\n":
                    self._partial = ""
                    if piece.strip():
                        self.value = piece.strip()
                else:
                    self._partial = piece

    def __call__(self) -> str:
        with self._lock:
            return self.value or self._partial.strip()


class Heartbeat:
    """``with Heartbeat("check 'unit'", last):`` — a line every ``interval()`` seconds until the block ends.

    ``last`` gives the last output line (redacted) when a beat is due; it may be slow (a
    container's log tail): it runs on the heartbeat's own thread, never the work's.
    """

    def __init__(self, what: str, last: Callable[[], str] = lambda: "", every: float | None = None):
        self.what, self.last = what, last
        self.every = interval() if every is None else every
        self.stop = threading.Event()
        self.start = time.monotonic()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat {what}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.start = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                line = self.line()
            except Exception as exc:  # a log tail that failed must not stop the beat, nor the work
                line = f"{self.what}: still running after {elapsed(time.monotonic() - self.start)} ({exc})"
            if not self.stop.is_set():
                sys.stderr.write(line + "\n")
                sys.stderr.flush()

    def line(self) -> str:
        last = " ".join(self.last().split())
        if len(last) > SHOWN:
            last = last[:SHOWN - 1] + "…"
        said = f"last output: {last}" if last else "no output yet"
        return f"{self.what}: still running after {elapsed(time.monotonic() - self.start)}; {said}"
