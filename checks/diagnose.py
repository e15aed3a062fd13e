"""The first meaningful error line of a failed check's output: what a person reads to act.

Not the echo of the command (``> pkg@1.0 build``, ``+ npm test``) but the failing test, a
``path:line`` location with its message, or the first line that says "error".
"""
from __future__ import annotations

import re

_PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)(?: - (.*))?$")
_PY_FILE = re.compile(r'^\s*File "([^"]+)", line (\d+)')
_PY_EXC = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)|AssertionError)(?::\s*(.*))?$")
_LOCATION = re.compile(r"(?:^|\s)((?:[\w.@-]+/)*[\w.@-]+\.[A-Za-z]{1,5})(?::(\d+)(?::\d+)?|\((\d+),\d+\))")
_ERROR_WORD = re.compile(r"\b(error|failed|failure|fatal|exception|cannot|not found|undefined)\b", re.I)
_ECHO = re.compile(r"^(?:> |\+ |\$ |npm (?:ERR!|error\b|WARN\b|warn\b)|yarn (?:run|install) v|error Command failed|"
                   r"info Visit |"
                   r"\s*at |Done in |\s*\^+\s*$)")
_THROWN = re.compile(r"^\s*(?:Uncaught )?[A-Z]\w*(?:Error|Exception): \S")


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _python(lines: list[str]) -> str | None:
    """``path:line: Exception: message`` from the last traceback."""
    exc_at = next((i for i in range(len(lines) - 1, -1, -1) if _PY_EXC.match(lines[i].strip())), None)
    if exc_at is None:
        return None
    where = next((m for line in reversed(lines[:exc_at]) if (m := _PY_FILE.match(line))), None)
    head = lines[exc_at].strip()
    return f"{where.group(1)}:{where.group(2)}: {head}" if where else head


def error_line(stdout: str, stderr: str, command: str | None = None) -> str:
    """The line to quote for a failure, at most 300 characters; "" when there is no output.

    >>> error_line("", 'Traceback (most recent call last):\\n  File "m.py", line 3, in <module>\\nNameError: x')
    'm.py:3: NameError: x'
    >>> error_line("> app@1.0 build\\n> tsc\\nsrc/a.ts(4,7): error TS2322: Type 'string' is not assignable", "")
    "src/a.ts(4,7): error TS2322: Type 'string' is not assignable"
    """
    lines = [ln for ln in _lines(stdout) + _lines(stderr) if ln.strip() != (command or "").strip()]
    for line in lines:
        m = _PYTEST_FAILED.match(line.strip())
        if m:
            return line.strip()[:300]
    found = _python(lines)
    if found:
        return found[:300]
    meaningful = [ln for ln in lines if not _ECHO.match(ln)]
    for line in meaningful:  # a thrown error with its message (node, java, ...)
        if _THROWN.match(line):
            return line.strip()[:300]
    for line in meaningful:
        if _LOCATION.search(line) and _ERROR_WORD.search(line):
            return line.strip()[:300]
    for line in meaningful:
        if _ERROR_WORD.search(line):
            return line.strip()[:300]
    for stream in (stderr, stdout):  # else the last line that is not boilerplate, stderr first
        lines_ = [ln for ln in _lines(stream) if not _ECHO.match(ln) and ln.strip() != (command or "").strip()]
        if lines_:
            return lines_[-1].strip()[:300]
    last = _lines(stderr) or _lines(stdout)
    return last[-1].strip()[:300] if last else ""
