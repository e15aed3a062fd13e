"""Built-in gates: deny-listed paths, credentials in imported content, JSON/YAML/Python syntax."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from checks.model import FAILED, PASSED, Result
from tasks.globs import denied

MAX_SCAN = 2_000_000  # bytes; larger files are not scanned for secrets

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx)) for name, rx in (
    ("private key", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    ("AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("AWS secret access key", r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}"),
    ("GitHub token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{60,}"),
    ("GitLab token", r"\bglpat-[A-Za-z0-9_-]{20}\b"),
    ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("Stripe secret key", r"\b[sr]k_live_[0-9A-Za-z]{20,}"),
    ("npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("JSON web token", r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    # the name may carry a prefix (DB_PASSWORD, STRIPE_API_KEY): "_" is a word character, so no \b there
    ("password assignment", r"(?i)(?<![a-z0-9])(?:password|passwd|pwd|secret(?:[_-]?key)?|api[_-]?key|"
                            r"access[_-]?token)(?![a-z0-9])\s*[=:]\s*"
                            r"['\"]?(?!\$\{|<|\*{3}|changeme|example|xxx)[^\s'\"]{6,}"),
    ("credentials in URL", r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@"),
))


def deny_gate(files: Sequence[str], deny: Sequence[str], root: Path) -> Result:
    """No deny-listed path among ``files``; case-insensitive (``.ENV`` is ``.env`` on macOS and Windows)."""
    matches = denied(deny)
    hits = [f for f in files if matches(f)]
    if hits:
        return Result("deny", FAILED, 0.0, f"{len(hits)} deny-listed path(s) in the slice: {', '.join(hits[:5])}",
                      kind="gate")
    return Result("deny", PASSED, 0.0, kind="gate")


def find_secrets(text: str) -> list[tuple[int, str]]:
    """(line number, kind) for each credential-looking line — never the value itself."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for name, rx in SECRET_PATTERNS:
            if rx.search(line):
                found.append((number, name))
                break
    return found


def secrets_gate(files: Sequence[str], deny: Sequence[str], root: Path) -> Result:
    findings = []
    for f in files:
        path = root / f
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_SCAN:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8000]:
            continue  # binary
        findings += [f"{f}:{n}: {kind}" for n, kind in find_secrets(data.decode("utf-8", "replace"))]
    if findings:
        return Result("secrets", FAILED, 0.0, f"{len(findings)} possible credential(s): {findings[0]}",
                      stdout="\n".join(findings), kind="gate")
    return Result("secrets", PASSED, 0.0, kind="gate")


def _parse(path: Path) -> None:
    text = path.read_text("utf-8")
    if path.suffix == ".json":
        json.loads(text)
    elif path.suffix in (".yaml", ".yml"):
        list(yaml.safe_load_all(text))
    elif path.suffix == ".py":
        compile(text, str(path), "exec")


def syntax_gate(files: Sequence[str], deny: Sequence[str], root: Path) -> Result:
    errors = []
    for f in files:
        path = root / f
        if path.suffix not in (".json", ".yaml", ".yml", ".py") or path.is_symlink() or not path.is_file():
            continue
        try:
            _parse(path)
        except (ValueError, yaml.YAMLError, SyntaxError, UnicodeDecodeError) as exc:
            errors.append(f"{f}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if errors:
        return Result("syntax", FAILED, 0.0, f"{len(errors)} file(s) do not parse: {errors[0]}",
                      stdout="\n".join(errors), kind="gate")
    return Result("syntax", PASSED, 0.0, kind="gate")


GATES: dict[str, Callable[[Sequence[str], Sequence[str], Path], Result]] = {
    "deny": deny_gate, "secrets": secrets_gate, "syntax": syntax_gate}


def run_gate(name: str, files: Sequence[str], deny: Sequence[str], root: Path) -> Result:
    start = time.monotonic()
    result = GATES[name](files, deny, root)
    return Result(result.name, result.status, time.monotonic() - start, result.message, result.stdout,
                  result.stderr, kind="gate")
