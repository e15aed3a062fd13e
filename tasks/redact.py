"""Keep credentials out of every output: URL userinfo, secret-named env values, token shapes, private keys.

One ``Redactor`` serves every writer (subprocess errors, check logs, results): it replaces
the values of secret-looking environment variables, every credential shape the secrets
gate knows (``TOKEN_PATTERNS``), private key bodies and URL userinfo with ``***``. Logs
are redacted line by line as they are written (``LineRedactor``), so the raw value never
reaches the disk.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")

# Credential shapes with a provider prefix or a fixed frame: precise enough to redact from
# any text and to fail the secrets gate anywhere (checks.secret_rules turns them into a
# detect-secrets plugin). Where a pattern has a group ``v``, only that part is the secret.
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx)) for name, rx in (
    ("Private Key", r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"),
    ("AWS Access Key", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    ("AWS Secret Access Key", r"(?i)aws_?secret_?(?:access_?)?key\b['\"]?\s*[=:]\s*['\"]?"
                              r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"),
    ("GitHub Token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b"),
    ("GitHub Fine-Grained Token", r"\bgithub_pat_[A-Za-z0-9_]{60,255}\b"),
    ("GitLab Token",
     r"\bgl(?:pat|dt|ptt|rt|cbt|oas|ft|imt|soat|agent)-[A-Za-z0-9_-]{20,}|\bGR1348941[A-Za-z0-9_-]{20,}"),
    ("Slack Token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    ("Slack Webhook", r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}"),
    ("Google API Key", r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    ("Stripe Access Key", r"\b[sr]k_live_[0-9A-Za-z]{20,}"),
    ("NPM Token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("PyPI Token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    ("OpenAI Token", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
    ("Anthropic API Key", r"\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}"),
    ("Hugging Face Token", r"\bhf_[A-Za-z]{34}\b"),
    ("SendGrid API Key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    ("Shopify Token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("DigitalOcean Token", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    ("JSON Web Token", r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
))
# The BEGIN line itself says what follows and stays readable; the body is masked instead.
_REDACT_PATTERNS = tuple(rx for name, rx in TOKEN_PATTERNS if name != "Private Key")
# Every pattern above holds one of these: most log lines need only this one search.
_TRIGGER = re.compile(r"gh[pousr]_|github_pat_|gl[a-z]{1,5}-|GR1348941|xox|hooks\.slack|AIza|k_live_|npm_|pypi-|"
                      r"sk-|hf_|SG\.|shp|_v1_|eyJ|A3T|AKIA|ASIA|ABIA|ACCA|(?i:aws)")
# A private key's body: on the BEGIN line itself (escaped newlines, as in a JSON service
# account) or on the lines after it (base64 and PEM headers), up to the END line.
_KEY_INLINE = re.compile(r"(-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----)((?:\\[rn]|[A-Za-z0-9+/=]|[ \t])+)")
_KEY_BODY = re.compile(r"^\s*(?:[A-Za-z0-9+/=]+|[A-Za-z-]+: .*)\s*$")
_KEY_END = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")

# Environment variable names whose values are credentials. Strong words count anywhere in
# the name (NPM_AUTHTOKEN, PGPASSWORD); weak ones only as a whole ``_`` segment, so that
# KEYBOARD, MONKEY, AUTHOR and PASSAGE stay out. Names for where a secret lives (a path, a
# socket, a URL without userinfo, a user name) are not secrets themselves.
_STRONG = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|APIKEY|PRIVATEKEY|ACCESSKEY")
_WEAK = frozenset({"KEY", "KEYS", "PASS", "PWD", "PW", "AUTH", "CREDS", "DSN", "COOKIE", "SALT", "SIGNATURE"})
_NOT_SECRET_SUFFIX = frozenset({"PATH", "FILE", "DIR", "SOCK", "SOCKET", "HOST", "PORT", "USER", "USERNAME", "NAME",
                                "URL", "URI", "ENDPOINT", "TYPE", "ALGORITHM", "LENGTH", "SIZE", "ENABLED", "REGION",
                                "ID", "IDS", "EXPIRY", "TTL", "MODE", "PROVIDER", "HEADER"})
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD", "GIT_ASKPASS", "SSH_ASKPASS", "SUDO_ASKPASS"})
MIN_SECRET = 6            # shorter values are too common to mask without garbling every log line
_PLAIN_VALUES = frozenset({"true", "false", "null", "none", "disabled", "enabled"})


def looks_secret(name: str) -> bool:
    """Does an environment variable of this name hold a credential?

    >>> [n for n in ("GITHUB_TOKEN", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "STRIPE_KEY", "PWD", "KEYBOARD",
    ...              "GIT_AUTHOR_NAME", "SSH_AUTH_SOCK", "TOKEN_URL") if looks_secret(n)]
    ['GITHUB_TOKEN', 'PGPASSWORD', 'AWS_SECRET_ACCESS_KEY', 'STRIPE_KEY']
    """
    upper = name.upper()
    if upper in _NOT_SECRET_NAMES:
        return False
    segments = [s for s in re.split(r"[^A-Z0-9]+", upper) if s]
    if segments and segments[-1] in _NOT_SECRET_SUFFIX:
        return False
    return bool(_STRONG.search(upper.replace("_", "")) or _WEAK.intersection(segments))


def env_secrets(*envs: Mapping[str, str]) -> tuple[str, ...]:
    """The values (and each line of multi-line values) of secret-named variables, longest first."""
    found: set[str] = set()
    for env in envs:
        for name, value in env.items():
            if not looks_secret(name):
                continue
            for part in (value, *value.splitlines()):
                part = part.strip()
                if len(part) >= MIN_SECRET and part.lower() not in _PLAIN_VALUES:
                    found.update({part, quote(part, safe="")})
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


class Redactor:
    """Masks literal ``secrets`` (plus token shapes and URL userinfo) in text, line by line."""

    def __init__(self, secrets: Iterable[str] = ()):
        values = sorted({s for s in secrets if s}, key=lambda s: (-len(s), s))
        self._literal = re.compile("|".join(map(re.escape, values))) if values else None

    @classmethod
    def for_env(cls, *envs: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        """Secrets of forkwave's own environment and of ``envs`` (what a check receives)."""
        return cls((*env_secrets(os.environ, *envs), *extra))

    def line(self, line: str) -> str:
        """One line (no newline inside): every mask but a multi-line private key body."""
        if "-----BEGIN" in line:
            line = _KEY_INLINE.sub(lambda m: m[1] + MASK, line)
        if self._literal is not None:
            line = self._literal.sub(MASK, line)
        if _TRIGGER.search(line):
            for rx in _REDACT_PATTERNS:
                line = rx.sub(_mask_match, line)
        return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", line)

    def text(self, text: str) -> str:
        """Free text: every line, and the body lines of a private key block."""
        lines = LineRedactor(self)
        return "".join(lines.feed(part) for part in text.splitlines(keepends=True)) + lines.close()

    def file(self, path: Path) -> None:
        """Rewrite a log file in place, redacted (streaming; the result replaces it atomically)."""
        tmp = path.with_name(path.name + ".redacting")
        lines = LineRedactor(self)
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 16), b""):
                dst.write(lines.feed_bytes(chunk))
            dst.write(lines.close_bytes())
        os.replace(tmp, path)


def _mask_match(m: re.Match[str]) -> str:
    if "v" in m.re.groupindex and m["v"] is not None:
        return m[0][:m.start("v") - m.start()] + MASK + m[0][m.end("v") - m.start():]
    return MASK


class LineRedactor:
    """Stateful: redacts text fed in pieces, keeping partial lines until they end.

    A line longer than ``MAX_LINE`` is cut at its last whitespace (credentials hold none)
    so memory stays bounded; the tail is kept for the next piece.
    """

    MAX_LINE = 1 << 20

    def __init__(self, redactor: Redactor):
        self.redactor = redactor
        self.pending = ""
        self.in_key = False
        self._bytes = b""

    def feed(self, text: str) -> str:
        self.pending += text
        out = []
        while True:
            end = self.pending.find("\n")
            if end < 0:
                break
            out.append(self._one(self.pending[:end]) + "\n")
            self.pending = self.pending[end + 1:]
        if len(self.pending) > self.MAX_LINE:
            hard = len(self.pending) - 8192
            space = self.pending.rfind(" ", 0, hard)
            cut = space + 1 if space > hard // 2 else hard
            out.append(self._one(self.pending[:cut]))
            self.pending = self.pending[cut:]
        return "".join(out)

    def close(self) -> str:
        rest, self.pending = self.pending, ""
        return self._one(rest) if rest else ""

    def feed_bytes(self, data: bytes) -> bytes:
        """Bytes in, bytes out; invalid UTF-8 passes through unchanged (surrogateescape)."""
        data, self._bytes = self._bytes + data, b""
        cut = data.rfind(b"\n") + 1 if len(data) <= self.MAX_LINE else len(data)
        head, self._bytes = data[:cut], data[cut:]
        return self.feed(head.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    def close_bytes(self) -> bytes:
        tail = self.feed(self._bytes.decode("utf-8", "surrogateescape")) + self.close()
        self._bytes = b""
        return tail.encode("utf-8", "surrogateescape")

    def _one(self, line: str) -> str:
        if self.in_key:
            if _KEY_END.search(line):
                self.in_key = False
                return self.redactor.line(line)
            if _KEY_BODY.match(line) or not line.strip():
                return MASK if line.strip() else line
            self.in_key = False
        redacted = self.redactor.line(line)
        if "PRIVATE KEY" in line and "-----BEGIN" in line and not _KEY_END.search(line):
            self.in_key = True
        return redacted


_DEFAULT = Redactor()


def redact_url(url: str) -> str:
    """``https://user:tok@host/x`` -> ``https://***@host/x``; local paths pass through.

    >>> redact_url("https://bob:s3cret@github.com/a/b.git")
    'https://***@github.com/a/b.git'
    """
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))
    return url


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove URL userinfo, token shapes, private keys and any of ``secrets`` from free text."""
    return (Redactor(secrets) if secrets else _DEFAULT).text(text)


def url_secrets(url: str) -> tuple[str, ...]:
    """The credential parts of a URL, so they can be scrubbed even when git re-quotes them."""
    parts = urlsplit(url)
    return tuple(s for s in (parts.username, parts.password) if s and len(s) >= 3)
