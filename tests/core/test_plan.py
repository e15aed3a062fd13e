"""plan: wave assignment and slice cutting (tables), then plan_waves on drift data."""
from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tasks.config import DEFAULT_WAVES, Wave
from tasks.core.plan import PlanFile, assign_wave, cut, plan_waves
from tasks.workspace import dump_json

WAVES = (
    Wave("a", ("server",), ("**/migrations/**", "**/auth/**", "Dockerfile*", ".github/workflows/**")),
    Wave("b", ("*",)),
    Wave("c", (), ("**/*.md", "docs/**", "**/__tests__/**")),
)


@pytest.mark.parametrize("path,bucket,waves,expected", [
    ("packages/acme-server/src/x.ts", "server", WAVES, "a"),                  # bucket named by wave a
    ("packages/acme-ui/src/x.ts", "ui", WAVES, "b"),                          # only the wildcard matches
    ("docs/guide.md", "docs", WAVES, "c"),                                    # explicit c beats b's "*"
    ("packages/acme-ui/README.md", "ui", WAVES, "c"),
    ("packages/acme-ui/src/__tests__/x.spec.ts", "ui", WAVES, "c"),
    ("packages/acme-server/README.md", "server", WAVES, "a"),                 # two explicit: first wave wins
    ("packages/acme-ui/db/migrations/001.sql", "ui", WAVES, "a"),             # a path glob of wave a
    ("Dockerfile.dev", "(root)", WAVES, "a"),
    ("deploy/Dockerfile", "deploy", WAVES, "a"),                              # no slash: any depth
    ("x/.github/workflows/ci.yml", "x", WAVES, "b"),                          # with a slash: anchored
    ("packages/acme-ui/x.ts", "packages/acme-ui", (Wave("p", ("packages/acme-*",)),), "p"),  # bucket glob
    ("packages/acme-ui/x.ts", "packages/acme-ui", (Wave("p", ("packages/other-*",)),), None),
    ("src/x.ts", "src", (Wave("a", (), ("docs/**",)),), None),                # nothing matches
    ("src/x.ts", "src", (), None),
])
def test_assign_wave(path: str, bucket: str, waves: tuple[Wave, ...], expected: str | None) -> None:
    assert assign_wave(path, bucket, waves) == expected


def test_default_waves_send_docs_to_c_even_though_b_takes_every_bucket() -> None:
    waves = [Wave(n, tuple(w.get("buckets", ())), tuple(w.get("paths", ()))) for n, w in DEFAULT_WAVES.items()]
    assert assign_wave("docs/intro.md", "docs", waves) == "c"
    assert assign_wave("src/db/migrations/1.sql", "src", waves) == "a"
    assert assign_wave("src/app.ts", "src", waves) == "b"


@pytest.mark.parametrize("paths,max_files,expected", [
    ([], 3, []),
    (["a"], 1, [["a"]]),
    (["a/1", "a/2", "b/1", "c/1", "c/2"], 3, [["a/1", "a/2", "b/1"], ["c/1", "c/2"]]),
    (["c/2", "a/1", "c/1", "b/1", "a/2"], 3, [["a/1", "a/2", "b/1"], ["c/1", "c/2"]]),        # input order irrelevant
    ([f"d/{i}" for i in range(5)], 2, [["d/0", "d/1"], ["d/2", "d/3"], ["d/4"]]),
    ([f"d/{i}" for i in range(7)], 3, [["d/0", "d/1", "d/2"], ["d/3", "d/4"], ["d/5", "d/6"]]),  # near-equal runs
    (["a/x/1", "a/x/2", "a/y/1", "a/y/2", "b"], 2,                                              # recursive split
     [["b"], ["a/x/1", "a/x/2"], ["a/y/1", "a/y/2"]]),
    (["big/1", "big/2", "big/3", "big/sub/1", "small/1"], 3,
     [["big/1", "big/2", "big/3"], ["big/sub/1", "small/1"]]),
    (["a", "b", "c"], 25, [["a", "b", "c"]]),
    (["x/a/1", "x/b/1", "x/c/1", "x/d/1"], 2, [["x/a/1", "x/b/1"], ["x/c/1", "x/d/1"]]),
])
def test_cut(paths: list[str], max_files: int, expected: list[list[str]]) -> None:
    assert cut(paths, max_files) == expected


@pytest.mark.parametrize("seed", range(5))
def test_cut_invariants(seed: int) -> None:
    rng = random.Random(seed)
    paths = sorted({"/".join(rng.choice("abc") for _ in range(rng.randint(1, 4))) + f"/f{rng.randint(0, 9)}"
                    for _ in range(200)})
    max_files = rng.randint(1, 30)
    groups = cut(paths, max_files)
    flat = [p for g in groups for p in g]
    assert sorted(flat) == paths and len(flat) == len(set(flat))      # every path once
    assert all(0 < len(g) <= max_files for g in groups)
    assert cut(list(reversed(paths)), max_files) == groups           # deterministic


def entry(cls: str, bucket: str) -> dict[str, Any]:
    return {"class": cls, "bucket": bucket, "upstream": None, "fork": None, "base": None}


DRIFT: dict[str, Any] = {
    "upstream": {"ref": "main", "sha": "f" * 40},
    "base": {"rev": "v1", "sha": "e" * 40},
    "entries": {
        "packages/acme-server/src/a.ts": entry("upstream-changed", "server"),
        "packages/acme-server/src/b.ts": entry("both-changed", "server"),
        "packages/acme-server/src/c.ts": entry("upstream-added", "server"),
        "packages/acme-ui/src/db/migrations/1.sql": entry("upstream-added", "ui"),
        "packages/acme-ui/src/x.ts": entry("upstream-deleted", "ui"),
        "packages/acme-ui/src/y.ts": entry("fork-changed", "ui"),        # not upstream work
        "packages/acme-ui/.env": entry("blocked", "ui"),                 # never planned
        "packages/acme-ui/node_modules/x.js": entry("ignored", "ui"),
        "docs/intro.md": entry("upstream-changed", "docs"),
        "tools/gen.py": entry("upstream-added", "tools"),
    },
}


def test_plan_waves_numbers_slices_across_waves() -> None:
    plan = plan_waves(DRIFT, WAVES, max_files=2)
    assert [(s.name, s.wave, [f.path for f in s.files]) for s in plan.slices] == [
        ("slice-1", "a", ["packages/acme-server/src/a.ts", "packages/acme-server/src/b.ts"]),
        ("slice-2", "a", ["packages/acme-server/src/c.ts", "packages/acme-ui/src/db/migrations/1.sql"]),
        ("slice-3", "b", ["packages/acme-ui/src/x.ts", "tools/gen.py"]),
        ("slice-4", "c", ["docs/intro.md"]),
    ]
    assert plan.waves == (("a", ("slice-1", "slice-2")), ("b", ("slice-3",)), ("c", ("slice-4",)))
    assert plan.slices[0].files[1] == PlanFile("packages/acme-server/src/b.ts", "both-changed", "server")
    assert plan.upstream == "f" * 40 and plan.base == "e" * 40 and plan.unassigned == ()


def test_paths_no_wave_names_are_unassigned_and_empty_waves_stay_listed() -> None:
    waves = (Wave("a", ("server",)), Wave("z", ("nothing",)))
    plan = plan_waves(DRIFT | {"base": None}, waves, max_files=25)
    assert plan.waves == (("a", ("slice-1",)), ("z", ()))
    assert [f.path for f in plan.unassigned] == ["docs/intro.md", "packages/acme-ui/src/db/migrations/1.sql",
                                                 "packages/acme-ui/src/x.ts", "tools/gen.py"]
    assert plan.base is None
    body = plan.to_json()
    assert body["unassigned"][0] == {"path": "docs/intro.md", "class": "upstream-changed", "bucket": "docs"}
    assert body["waves"] == [{"name": "a", "slices": ["slice-1"]}, {"name": "z", "slices": []}]


def test_two_way_classes_are_planned() -> None:
    entries = {"a": entry("missing", "(root)"), "b": entry("differs", "(root)"), "c": entry("extra", "(root)")}
    drift = {"upstream": {"sha": "f" * 40}, "base": None, "entries": entries}
    plan = plan_waves(drift, (Wave("b", ("*",)),), 25)
    assert [(f.path, f.cls) for f in plan.slices[0].files] == [("a", "missing"), ("b", "differs")]


def test_plan_json_is_byte_identical_whatever_the_entry_order() -> None:
    items = list(DRIFT["entries"].items())
    random.Random(7).shuffle(items)
    shuffled = DRIFT | {"entries": dict(items)}
    one = dump_json(plan_waves(DRIFT, WAVES, 2).to_json())
    assert dump_json(plan_waves(shuffled, WAVES, 2).to_json()) == one
    assert json.loads(one)["max_files"] == 2


def test_max_files_bounds_every_slice() -> None:
    entries = {f"packages/p{i % 7}/src/{j}/f{i}.ts": entry("upstream-changed", f"p{i % 7}")
               for i in range(300) for j in ("x", "y")}
    plan = plan_waves({"upstream": {"sha": "f" * 40}, "entries": entries}, WAVES, max_files=25)
    assert all(len(s.files) <= 25 for s in plan.slices)
    assert sum(len(s.files) for s in plan.slices) == len(entries)
    assert [s.name for s in plan.slices] == [f"slice-{i}" for i in range(1, len(plan.slices) + 1)]
