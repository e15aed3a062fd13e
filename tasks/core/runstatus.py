"""The status words of a run and of its syncs (pure): one model, every surface renders from it.

A run — and each sync it works on (a source's wave, its verification, an export), each target of
``run-summary.json``, ``summary.json`` and the run's last line — is exactly one of:

- ``running``: it has not ended (a live run, or a dead one the next run has not closed yet);
- ``success``: nothing is left and nothing failed — every selected source synced and verified;
- ``partial``: something landed, and something is left for a person or failed;
- ``failed``: nothing landed and something is left or failed, or the run died (whatever phase it
  died in, the next run closes it ``failed``, naming the phase).

"Landed" is always *this* run's work (files or commits it put on the sync branch, paths it
exported), never what earlier runs left there. ``docs/reference/statuses.md`` has the table, with the slice
statuses beside these.
"""
from __future__ import annotations

RUNNING, SUCCESS, PARTIAL, FAILED = "running", "success", "partial", "failed"
STATUSES = (RUNNING, SUCCESS, PARTIAL, FAILED)
CLOSED = (SUCCESS, PARTIAL, FAILED)

VERIFY = "verify"   # the sync type of a source's verification in the ledger (beside ``wave-a``, ``push``)


def judge(*, landed: bool, left: bool = False, failed: bool = False) -> str:
    """The status of something that ended: success when nothing is left and nothing failed, else partial
    when this run landed something, else failed.

    >>> judge(landed=True), judge(landed=False), judge(landed=True, left=True), judge(landed=False, left=True)
    ('success', 'success', 'partial', 'failed')
    >>> judge(landed=True, failed=True), judge(landed=False, failed=True)
    ('partial', 'failed')
    """
    if not left and not failed:
        return SUCCESS
    return PARTIAL if landed else FAILED


def interrupted(phase: str | None) -> str:
    """The note of a run that died before it recorded its end.

    >>> interrupted("wave b"), interrupted(None)
    ('interrupted during wave b (no end recorded)', 'interrupted (no end recorded)')
    """
    return f"interrupted during {phase} (no end recorded)" if phase else "interrupted (no end recorded)"
