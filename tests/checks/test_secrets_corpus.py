"""The secrets gate on a corpus of real-world false positives and true positives (tests/corpus/secrets/)."""
from __future__ import annotations

from pathlib import Path

import pytest

from checks.gates import run_gate

CORPUS = Path(__file__).parent.parent / "corpus" / "secrets"
CASES = [(label, str(p.relative_to(CORPUS / label))) for label in ("true", "false")
         for p in sorted((CORPUS / label).rglob("*")) if p.is_file()]


def blocked(label: str, rel: str) -> bool:
    return not run_gate("secrets", [rel], (), CORPUS / label).ok


@pytest.mark.parametrize("label,rel", CASES, ids=[f"{label}:{rel}" for label, rel in CASES])
def test_each_corpus_file_gets_its_verdict(label: str, rel: str) -> None:
    result = run_gate("secrets", [rel], (), CORPUS / label)
    if label == "true":
        assert result.status == "failed" and result.files == (rel,), f"missed: {rel}"
    else:
        assert result.ok, f"false positive: {result.stdout}"


def test_precision_and_recall_on_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = [(label == "true", blocked(label, rel)) for label, rel in CASES]
    tp = sum(1 for want, got in verdicts if want and got)
    fp = sum(1 for want, got in verdicts if not want and got)
    fn = sum(1 for want, got in verdicts if want and not got)
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    with capsys.disabled():
        print(f"\nsecrets gate on {len(CASES)} corpus files: precision {precision:.1%}, recall {recall:.1%} "
              f"(tp {tp}, fp {fp}, fn {fn})")
    assert tp >= 20 and len(CASES) - tp >= 30  # the corpus itself: enough of both kinds
    assert recall == 1.0
    assert precision >= 0.95
