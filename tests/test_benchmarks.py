"""The benchmarks' own models answer the way the code they measure calls them."""
from __future__ import annotations

import pytest

from benchmarks.split import predicate
from tasks.core.bisect import isolate


@pytest.mark.parametrize("culprits", [{"f03"}, {"f00", "f07"}])
def test_split_predicate_is_a_validator_isolate_can_call(culprits: set[str]) -> None:
    files = [f"f{i:02}" for i in range(8)]
    found = isolate(files, predicate(culprits))
    assert {f for group, _ in found.deferred for f in group} == culprits
    assert sorted(found.adopted) == sorted(set(files) - culprits)
