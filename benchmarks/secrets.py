"""How precise is the secrets gate? Precision and recall on a corpus of real-world shapes, beside the old gate.

``tests/corpus/secrets/true/`` holds files a gate must block (live-looking tokens of several
providers, AWS key pairs, private keys, a password in a URL to a real-looking host, strong
passwords in production config); ``false/`` holds files it must let through, each a false
positive seen on real forks (TypeScript types such as ``AUTH_GOOGLE_CLIENT_SECRET: string;``,
``secret: sessionSecret``, ``${PG_DATABASE_PASSWORD}`` inside URLs, ``$(openssl rand …)``,
throwaway CI and compose database passwords, AWS's documentation key ``AKIAIOSFODNN7EXAMPLE``,
i18n strings, placeholders, indirect references, markup flags such as Odoo's ``password="True"``
and ``autocomplete="new-password"``). Each file is one verdict: blocked or not.

The baseline is forkwave's previous hand-written pattern list (one regex per credential
kind, ``password=``-style assignments included), applied to the same files.

Targets: recall 100 % (a missed secret is a leak), precision as high as it gets. Also timed: the gate over the
whole corpus, and over one 3 MB file (the streamed path for large files).

    python -m benchmarks.secrets [--verbose]
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from benchmarks._common import ROOT, scratch
from checks.gates import run_gate

CORPUS = ROOT / "tests" / "corpus" / "secrets"

# The gate as it was before detect-secrets (checks/gates.py SECRET_PATTERNS), for comparison.
OLD_PATTERNS = [re.compile(rx) for rx in (
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}",
    r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{60,}",
    r"\bglpat-[A-Za-z0-9_-]{20}\b",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\bAIza[0-9A-Za-z_-]{35}\b",
    r"\b[sr]k_live_[0-9A-Za-z]{20,}",
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    r"(?i)(?<![a-z0-9])(?:password|passwd|pwd|secret(?:[_-]?key)?|api[_-]?key|access[_-]?token)(?![a-z0-9])\s*[=:]\s*"
    r"['\"]?(?!\$\{|<|\*{3}|changeme|example|xxx)[^\s'\"]{6,}",
    r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@",
)]


def corpus() -> list[tuple[str, Path, bool]]:
    """(path inside its tree, file, should the gate block it)."""
    out = []
    for label in ("true", "false"):
        tree = CORPUS / label
        out += [(str(p.relative_to(tree)), p, label == "true") for p in sorted(tree.rglob("*")) if p.is_file()]
    return out


def gate_blocks(rel: str, file: Path) -> bool:
    tree = file.parents[len(Path(rel).parts) - 1]
    return not run_gate("secrets", [rel], (), tree).ok


def old_blocks(rel: str, file: Path) -> bool:
    text = file.read_text("utf-8", "replace")
    return any(rx.search(line) for line in text.splitlines() for rx in OLD_PATTERNS)


def score(verdicts: list[tuple[bool, bool]]) -> tuple[float, float, int, int, int]:
    """(precision, recall, true positives, false positives, false negatives) of (expected, blocked) pairs."""
    tp = sum(1 for want, got in verdicts if want and got)
    fp = sum(1 for want, got in verdicts if not want and got)
    fn = sum(1 for want, got in verdicts if want and not got)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), tp, fp, fn


def big_file_seconds() -> float:
    with scratch(None, "fw-secrets-") as root:
        (root / "bundle.js").write_bytes(b"var a=1;function f(x){return x+1}\n" * 90_000 +
                                         b"const t='ghp_" + b"Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2" + b"';\n")
        start = time.perf_counter()
        result = run_gate("secrets", ["bundle.js"], (), root)
        assert not result.ok, "the token at the end of the 3 MB file was missed"
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list every file with both verdicts")
    args = parser.parse_args()
    files = corpus()
    start = time.perf_counter()
    now = [(want, gate_blocks(rel, f)) for rel, f, want in files]
    elapsed = time.perf_counter() - start
    before = [(want, old_blocks(rel, f)) for rel, f, want in files]
    positives = sum(want for _, _, want in files)
    print(f"corpus: {len(files)} files ({positives} to block, {len(files) - positives} to let through)")
    for name, verdicts in (("secrets gate (detect-secrets + forkwave rules)", now),
                           ("baseline (old pattern list)", before)):
        precision, recall, tp, fp, fn = score(verdicts)
        print(f"  {name:48s} precision {precision:6.1%}  recall {recall:6.1%}   (tp {tp}, fp {fp}, fn {fn})")
    for (rel, _, want), (_, got), (_, old) in zip(files, now, before):
        if args.verbose or got != want:
            mark = "ok  " if got == want else "MISS" if want else "FP  "
            print(f"  {mark} {'block' if want else 'pass '} gate={'block' if got else 'pass '} "
                  f"old={'block' if old else 'pass '}  {rel}")
    print(f"time: {elapsed:.2f} s for the corpus ({elapsed / len(files) * 1000:.0f} ms a file, one gate run each); "
          f"{big_file_seconds():.2f} s for a 3 MB bundle with a token on its last line")


if __name__ == "__main__":
    main()
