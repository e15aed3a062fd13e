"""What a command source writes and prints, made safe to keep: ``sanitize:`` rules, then every credential the
secrets gate finds replaced by ``<redacted:KIND>``.

A repository source's secret is refused (the secrets gate defers its file); a command source pulls what a live
system holds — a production configuration with its passwords — and the point is to keep the file with its
secrets replaced. So its outputs are sanitised before anything is written: the blobs of the mirror, the
commit, the logs, the last line an error prints. The values found stay in memory only, to mask them wherever
else they turn up (the entrypoint's own output).

Order: the rules first (a person's knowledge of the format: ``DB_HOST=.*`` → ``DB_HOST=<db-host>``), then
the scan, repeated until it finds nothing (a replaced value may uncover another finding on its line). A
finding whose value is not on its line is replaced with the whole line; one that survives every round stops
the fetch, naming the file and line, never the value.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from tasks.config import SanitizeRule, SecretsPolicy
from tasks.errors import ForkwaveFailure
from tasks.globs import globs
from tasks.redact import MIN_SECRET

if TYPE_CHECKING:
    from checks.secrets import Finding, Scanner

ROUNDS = 5
SNIFF = 8192   # a NUL in the first 8 KB: a binary file, where the rules (text) do not apply
_KEY_BLOCK = re.compile(rb"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----.*?"
                        rb"(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S)


def placeholder(kind: str) -> str:
    """``<redacted:KIND>``, the finding's kind in lower case with dashes.

    >>> placeholder("Secret Keyword"), placeholder("GitHub Token")
    ('<redacted:secret-keyword>', '<redacted:github-token>')
    """
    return f"<redacted:{re.sub(r'[^a-z0-9]+', '-', kind.lower()).strip('-')}>"


def apply_rules(rules: Sequence[SanitizeRule], text: str) -> str:
    """Every ``sanitize:`` rule, in order, over ``text``.

    >>> from tasks.config import SanitizeRule
    >>> apply_rules([SanitizeRule(r"(?m)^(DB_HOST=).*$", r"\\1<db-host>")], "DB_HOST=db.prod.internal\\nX=1\\n")
    'DB_HOST=<db-host>\\nX=1\\n'
    """
    for rule in rules:
        text = rule.pattern.sub(rule.dst, text)
    return text


class Sanitizer:
    """Use as ``with Sanitizer(rules, cfg.secrets, source) as clean:`` — detect-secrets keeps its settings
    globally, so the scans of one fetch share them. ``clean.file(path, data)`` for each output,
    ``clean.text(text)`` for what the entrypoint printed (after the outputs: it masks their values too)."""

    def __init__(self, rules: Sequence[SanitizeRule], policy: SecretsPolicy, source: str):
        from checks import secrets  # detect-secrets loads when a command source runs, not for `doit list`

        self.rules, self.source = tuple(rules), source
        self.scanner: Scanner = secrets.Scanner(policy.allow)
        self.unscanned = globs(tuple(policy.paths))
        self.known: set[bytes] = set()      # values found: masked wherever they appear later
        self.replaced: dict[str, int] = {}  # path -> findings replaced (for the record; never the values)

    def __enter__(self) -> Sanitizer:
        self._active = self.scanner.active()
        self._active.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._active.__exit__(kind, exc, tb)

    def file(self, path: str, data: bytes) -> bytes:
        """An output file as it may be kept: the rules (text files), then every finding replaced."""
        if self.rules and b"\0" not in data[:SNIFF]:
            data = apply_rules(self.rules, data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        if self.unscanned(path):   # secrets.paths: the gate does not scan it either
            return data
        return self._scrub(path, data)

    def text(self, text: str, where: str = "output.log") -> str:
        """What the entrypoint printed: the rules, the values found so far, then its own findings."""
        data = apply_rules(self.rules, text).encode("utf-8", "surrogateescape")
        data = self._mask_known(data)
        return self._scrub(where, data, record=False).decode("utf-8", "replace")

    def _mask_known(self, data: bytes) -> bytes:
        for value in sorted(self.known, key=len, reverse=True):
            data = data.replace(value, b"<redacted>")
        return data

    def _scrub(self, path: str, data: bytes, record: bool = True) -> bytes:
        """Replace until the scan finds nothing: the whole file once, then only the lines a replacement changed
        (with the context the scanner's filters read), so a large file costs one scan, not one per round."""
        replaced = 0
        hits = self.scanner.locate(path, data)
        for _ in range(ROUNDS):
            if not hits:
                if record and replaced:
                    self.replaced[path] = replaced
                return data
            before = data
            data = self._replace(data, hits)
            replaced += len(hits)
            hits = self._rescan(path, before, data)
        left = hits[0][0] if hits else self.scanner.locate(path, data)[0][0]
        raise ForkwaveFailure(f"{self.source}: {left.path}:{left.line}: a {left.kind} the sanitiser cannot replace "
                              "(its value is not on the line it was found on); add a sanitize rule for that line "
                              "(sanitize: [{from: REGEX, to: PLACEHOLDER}]) or list the file in secrets.paths")

    def _rescan(self, path: str, before: bytes, after: bytes) -> list[tuple[Finding, bytes]]:
        """The findings left after a replacement: in the windows around the changed lines (the whole file when the
        lines moved, as a private key block's removal moves them, or in a binary file)."""
        old, new = before.split(b"\n"), after.split(b"\n")
        if len(old) != len(new) or b"\0" in after[:SNIFF]:
            return self.scanner.locate(path, after)
        touched = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
        found: list[tuple[Finding, bytes]] = []
        for start, end in _windows(touched, len(new)):
            for finding, value in self.scanner.locate(path, b"\n".join(new[start:end])):
                found.append((dataclasses.replace(finding, line=finding.line + start), value))
        return found

    def _replace(self, data: bytes, hits: Iterable[tuple[Finding, bytes]]) -> bytes:
        lines = data.split(b"\n")
        everywhere: list[tuple[bytes, bytes]] = []
        keys = False
        for finding, value in hits:
            mark = placeholder(finding.kind).encode()
            if finding.kind == "Private Key":
                keys = True
                continue
            if len(value) >= MIN_SECRET:
                self.known.add(value)
                everywhere.append((value, mark))   # a long value is masked all over the file, not only here
            i = finding.line - 1
            if 0 <= i < len(lines) and value and value in lines[i]:
                lines[i] = lines[i].replace(value, mark)
            elif 0 <= i < len(lines):   # the value is not on its line as bytes: the line goes
                lines[i] = mark + (b"\r" if lines[i].endswith(b"\r") else b"")
        data = b"\n".join(lines)
        for value, mark in sorted(everywhere, key=lambda vm: len(vm[0]), reverse=True):
            data = data.replace(value, mark)
        if keys:
            for block in _KEY_BLOCK.findall(data):
                self.known.update(line for line in block.split(b"\n") if len(line.strip()) >= 16)
            data = _KEY_BLOCK.sub(placeholder("Private Key").encode(), data)
        return data


CONTEXT = 5   # lines on each side a scanner's filter reads (detect-secrets' code snippet)


def _windows(lines: Sequence[int], total: int) -> list[tuple[int, int]]:
    """[start, end) line ranges covering each of ``lines`` with ``CONTEXT`` lines around it, merged.

    >>> _windows([3, 7, 40], 100)
    [(0, 13), (35, 46)]
    """
    out: list[tuple[int, int]] = []
    for i in sorted(lines):
        start, end = max(0, i - CONTEXT), min(total, i + CONTEXT + 1)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
