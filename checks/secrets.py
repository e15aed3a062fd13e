"""The secrets scanner behind the secrets gate: detect-secrets on text, token shapes streamed through the rest.

Text files up to ``MAX_TEXT`` bytes get detect-secrets' line plugins and heuristic filters
(plus ``checks.secret_rules``). Larger files and binary files (a NUL in the first 8 KB) are
streamed in chunks through the provider token shapes, which need no context, so a token at
the end of a 3 MB file or after a NUL byte is found with bounded memory. A finding carries
a digest of its value, never the value, so it can be compared with the parent's version of
the file and printed safely.
"""
from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from checks import secret_rules

MAX_TEXT = 8_000_000   # bytes; a larger text file is streamed through the token shapes only
SNIFF = 8192           # a NUL byte in the first 8 KB marks a binary file (git's own rule)
CHUNK = 1 << 20
OVERLAP = 4096         # longer than any token shape, so a token across two chunks is seen whole

# detect-secrets plugins used. Left out: the entropy plugins (every hash, integrity string and
# minified bundle is high-entropy; a gate that blocks adoption cannot afford them),
# IPPublicDetector (an address is not a credential), and the GitHub and GitLab detectors,
# which report the token's prefix ("ghp") as its value (so values could not be compared
# with the parent's, nor matched by ``secrets.allow``); ForkwaveTokenDetector covers both.
PLUGINS = ("ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
           "CloudantDetector", "DiscordBotTokenDetector", "IbmCloudIamDetector", "IbmCosHmacDetector",
           "JwtTokenDetector", "KeywordDetector",
           "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector",
           "SendGridDetector", "SlackDetector", "SoftlayerDetector", "SquareOAuthDetector", "StripeDetector",
           "TelegramBotTokenDetector", "TwilioKeyDetector")
# detect-secrets' own heuristics (templated values, ``$VAR``, indirect references, UUIDs,
# sequences, ``# pragma: allowlist secret``), then forkwave's.
FILTERS = ("detect_secrets.filters.allowlist.is_line_allowlisted",
           "detect_secrets.filters.heuristic.is_sequential_string",
           "detect_secrets.filters.heuristic.is_potential_uuid",
           "detect_secrets.filters.heuristic.is_likely_id_string",
           "detect_secrets.filters.heuristic.is_templated_secret",
           "detect_secrets.filters.heuristic.is_prefixed_with_dollar_sign",
           "detect_secrets.filters.heuristic.is_indirect_reference",
           "detect_secrets.filters.heuristic.is_not_alphanumeric_string",
           *(f"checks.secret_rules.{name}" for name in secret_rules.FILTERS))
# In a binary file a token often follows a length byte that is a letter: no leading \b there.
_BYTE_PATTERNS = tuple((name, re.compile(rx.pattern.removeprefix(r"\b").encode(), rx.flags & ~re.UNICODE))
                       for name, rx in secret_rules.PLUGIN_PATTERNS)
_KEY_BODY = re.compile(rb"[A-Za-z0-9+/=]{40,}")


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    kind: str
    digest: str = field(compare=False, repr=False)  # sha1 of the value: compared, never shown

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def digest(value: str | bytes) -> str:
    """detect-secrets' own hash of a value (sha1), so streamed and detected findings compare."""
    return hashlib.sha1(value.encode("utf-8") if isinstance(value, str) else value).hexdigest()


def _settings(allow: Sequence[str]) -> dict[str, object]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    get_mapping_from_secret_type_to_class.cache_clear()
    plugins = [{"name": p} for p in PLUGINS]
    rules = f"file://{Path(secret_rules.__file__).resolve()}"
    plugins += [{"name": "ForkwaveTokenDetector", "path": rules}, {"name": "MarkupKeywordDetector", "path": rules}]
    filters: list[dict[str, object]] = [{"path": f} for f in FILTERS]
    if allow:
        filters += [{"path": "detect_secrets.filters.regex.should_exclude_secret", "pattern": list(allow)},
                    {"path": "detect_secrets.filters.regex.should_exclude_line", "pattern": list(allow)}]
    return {"plugins_used": plugins, "filters_used": filters}


class Scanner:
    """Finds credentials in files and blobs; ``allow`` regexes drop a finding whose value or line they match."""

    def __init__(self, allow: Sequence[str] = ()):
        self.allow = tuple(allow)
        self._allow = tuple(re.compile(a) for a in allow)

    @contextmanager
    def active(self) -> Iterator[Scanner]:
        """detect-secrets keeps its settings globally: hold them for a batch of scans, restore after."""
        from detect_secrets.settings import transient_settings

        with transient_settings(_settings(self.allow)):
            yield self

    def scan_bytes(self, path: str, data: bytes) -> list[Finding]:
        """Content held in memory (the parent's blob, a small file)."""
        if len(data) <= MAX_TEXT and b"\0" not in data[:SNIFF]:
            return self._detect(path, data.decode("utf-8", "replace"))
        import io
        return self._stream(path, io.BytesIO(data))

    def scan_file(self, path: str, file: Path) -> list[Finding]:
        """A file on disk; large or binary files are streamed. Raises OSError when it cannot be read."""
        with open(file, "rb") as f:
            head = f.read(SNIFF)
            size = file.stat().st_size
            if size <= MAX_TEXT and b"\0" not in head:
                return self._detect(path, (head + f.read()).decode("utf-8", "replace"))
            f.seek(0)
            return self._stream(path, f)

    def locate(self, path: str, data: bytes) -> list[tuple[Finding, bytes]]:
        """Each finding with the value it found, for replacing it (a command source's outputs are sanitised,
        not deferred). The value stays in memory: callers replace it and keep it only to mask it elsewhere."""
        if len(data) <= MAX_TEXT and b"\0" not in data[:SNIFF]:
            return sorted((f, v.encode("utf-8", "surrogateescape"))
                          for f, v in self._detect_values(path, data.decode("utf-8", "replace")))
        import io
        return sorted(self._stream_values(path, io.BytesIO(data)))

    def _detect(self, path: str, text: str) -> list[Finding]:
        return _dedupe(f for f, _ in self._detect_values(path, text))

    def _detect_values(self, path: str, text: str) -> set[tuple[Finding, str]]:
        """detect-secrets' line scan (plugins, then filters with 5 lines of context), run only on lines
        where some plugin's own regex matches: the same findings, without ~25 plugins per line."""
        from detect_secrets.core.scan import _is_filtered_out, _scan_line
        from detect_secrets.settings import get_plugins
        from detect_secrets.util.code_snippet import get_code_snippet

        text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        plugins = get_plugins()
        found: set[tuple[Finding, str]] = set()
        for number in _candidate_lines(text, plugins):
            line = lines[number - 1].rstrip()
            context = get_code_snippet(lines, number)
            if _is_filtered_out(required_filter_parameters=["line"], filename=path, line=line, context=context):
                continue
            for plugin in plugins:
                for secret in _scan_line(plugin=plugin, filename=path, line=line, line_number=number,
                                         context=context):
                    if not _is_filtered_out(required_filter_parameters=["context"], filename=path,
                                            secret=secret.secret_value, plugin=plugin, line=line, context=context):
                        found.add((Finding(path, number, secret.type, _value_digest(secret, lines, number)),
                                   secret.secret_value or ""))
        return found

    def _stream(self, path: str, f: IO[bytes]) -> list[Finding]:
        return _dedupe(f for f, _ in self._stream_values(path, f))

    def _stream_values(self, path: str, f: IO[bytes]) -> set[tuple[Finding, bytes]]:
        found: set[tuple[Finding, bytes]] = set()
        newlines, carry = 0, b""     # newlines before ``data``; the tail of the previous chunk
        for chunk in iter(lambda: f.read(CHUNK), b""):
            data = carry + chunk
            for name, rx in _BYTE_PATTERNS:
                for m in rx.finditer(data):
                    value = m["v"] if "v" in rx.groupindex else m[0]
                    if self._keep(name, value, data, m):
                        key = data[m.start():m.start() + 400] if name == "Private Key" else value
                        found.add((Finding(path, newlines + data.count(b"\n", 0, m.start()) + 1, name, digest(key)),
                                   value))
            newlines += data[:-OVERLAP].count(b"\n")
            carry = data[-OVERLAP:]
        return found

    def _keep(self, name: str, value: bytes, data: bytes, m: re.Match[bytes]) -> bool:
        text = value.decode("latin-1")
        if secret_rules.is_placeholder(text, secret_rules.ForkwaveTokenDetector):
            return False
        start = max(data.rfind(b"\n", max(0, m.start() - 4096), m.start()) + 1, 0)
        end = data.find(b"\n", m.end(), m.end() + 4096)
        line = data[start:end if end >= 0 else m.end() + 4096].decode("latin-1")
        if any(rx.search(text) or rx.search(line) for rx in self._allow):
            return False
        if name == "Private Key":
            return _KEY_BODY.search(data, m.end(), m.end() + 400) is not None
        return True


def _value_digest(secret: object, lines: Sequence[str], number: int) -> str:
    """The value's hash; for a private key the header is the same in every key, so the body's."""
    if "PRIVATE KEY" in getattr(secret, "secret_value", "").upper() or getattr(secret, "type", "") == "Private Key":
        return digest("\n".join(lines[number - 1:number + 5]))
    return getattr(secret, "secret_hash")


# A literal each plugin's regexes cannot match without (read off detect-secrets 1.5's
# plugins), as (case-sensitive, lowercase-for-case-insensitive) alternations: one pass of
# each finds the candidate lines (a case-insensitive alternation is ten times slower than a
# search of the lowered text). A plugin not listed is searched with its own regexes, so a
# new plugin is never skipped.
_TRIGGERS: dict[str, tuple[str, str]] = {
    "KeywordDetector": ("", "key|pass|pwd|secret|contrase"),
    "MarkupKeywordDetector": ("", "key|pass|pwd|secret|token|credential"),
    "CloudantDetector": ("", "key|pass|pwd|pw|token|cloudant"),
    "IbmCloudIamDetector": ("", "key|pass|pwd|token"),
    "IbmCosHmacDetector": ("", "key"),
    "SoftlayerDetector": ("", "key|pass|pwd|token|softlayer"),
    "ArtifactoryDetector": ("AKC|AP[0-9A-F]", ""),
    "AWSKeyDetector": ("A3T|AKIA|ASIA|ABIA|ACCA", "aws"),
    "AzureStorageKeyDetector": ("AccountKey=", ""),
    "BasicAuthDetector": ("://", ""),
    "JwtTokenDetector": ("eyJ", ""),
    "MailchimpDetector": ("-us[0-9]", ""),
    "NpmDetector": ("_authToken=", ""),
    "OpenAIDetector": ("T3BlbkFJ", ""),
    "PrivateKeyDetector": ("PRIVATE KEY|PuTTY-User-Key-File-2", ""),
    "PypiTokenDetector": ("pypi-", ""),
    "SendGridDetector": (r"SG\.", ""),
    "SlackDetector": (r"xox|hooks\.slack\.com", ""),
    "SquareOAuthDetector": ("sq0csp-", ""),
    "StripeDetector": ("k_live_", ""),
    "ForkwaveTokenDetector": (r"gh[pousr]_|github_pat_|gl[a-z]{2,7}-|GR1348941|xox|hooks\.slack|AIza|k_live_|"
                              r"npm_|pypi-|T3BlbkFJ|sk-ant-|hf_|SG\.|shp[acps]|_v1_|A3T|AKIA|ASIA|ABIA|ACCA|"
                              r"PRIVATE KEY", "aws"),
}


def _candidate_lines(text: str, plugins: Sequence[object]) -> list[int]:
    """Line numbers where any plugin could find something: a superset, found by whole-text searches."""
    names = sorted({type(p).__name__ for p in plugins} & _TRIGGERS.keys())
    exact = "|".join(filter(None, (_TRIGGERS[n][0] for n in names)))
    folded = "|".join(filter(None, (_TRIGGERS[n][1] for n in names)))
    searches = [(text, re.compile(exact))] if exact else []
    searches += [(text, rx) for p in plugins if type(p).__name__ not in _TRIGGERS for rx in getattr(p, "denylist", ())]
    numbers = {n for hay, rx in searches for n in _line_numbers(hay, rx)}
    if folded:  # lower() keeps every newline, so line numbers hold even where it changes lengths
        numbers.update(_line_numbers(text.lower(), re.compile(folded)))
    return sorted(numbers)


def _line_numbers(text: str, rx: re.Pattern[str]) -> set[int]:
    starts = [m.end() for m in re.finditer("\n", text)]
    return {bisect.bisect_right(starts, m.start()) + 1 for m in rx.finditer(text)}


def _dedupe(found: Iterable[Finding]) -> list[Finding]:
    """One finding per value and line (several plugins know a GitHub token), in file order."""
    seen: dict[tuple[int, str], Finding] = {}
    for f in sorted(found):  # two plugins see a PEM header as different values: one finding per line
        seen.setdefault((f.line, "private key" if "private key" in f.kind.lower() else f.digest), f)
    return sorted(seen.values())
