"""Config fuzz: seeded mutations of the full example config (docs/guides/configuration.md) never end
in a traceback.

Every mutation is loaded with ``load_config`` (it must return a Config or raise one
``ForkwaveError`` line naming the file); a sample goes through the real ``doit`` command,
which must exit 0 or 1 without a traceback, and agree with ``load_config``.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, run_doit
from tasks.config import Config, load_config
from tasks.errors import ForkwaveError

GUIDE = ROOT / "docs" / "guides" / "configuration.md"
EXAMPLE = re.findall(r"^```yaml\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), re.M | re.S)[0]
MUTATIONS = 400
CLI_EVERY = 25  # 16 of them through doit

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2.5, 1e308, float("inf"), float("nan"), 10 ** 40, "", " ", "\t", "!x", "[z-a]",
    "[!", "\\", "**/", "..", "../..", "/abs/path", ".git", ".GIT/hooks", "a\\b", "-x", "--upload-pack=x",
    "@{-1}", "refs/heads/main", "main", "bad..name.lock", "x" * 3000, "ü/ñ", "a\nb", "%s%n", "${HOME}",
    "~nosuchuser-fw/x", "2026-02-30", "0x1F", [], {}, [1, "a", None], {"k": "v"}, {1: "a", "b": 2}, [[[[[]]]]],
]
ODD_KEYS: list[Any] = [1, 0, True, None, "", " ", "name", "run", "paths", "bogus", "a" * 300, "!x", "ü"]


def _containers(data: Any) -> list[Any]:
    """Every dict and list in ``data`` (the places a mutation can act on)."""
    out, todo = [], [data]
    while todo:
        node = todo.pop()
        if isinstance(node, (dict, list)):
            out.append(node)
            todo.extend(node.values() if isinstance(node, dict) else node)
    return out


def _pick_slot(rng: random.Random, data: Any) -> tuple[Any, Any] | None:
    """A (container, key or index) to change, or None when there is nothing to pick."""
    slots = [(c, k) for c in _containers(data) for k in (list(c) if isinstance(c, dict) else range(len(c)))]
    return rng.choice(slots) if slots else None


def _deep(rng: random.Random) -> Any:
    value: Any = "x"
    for _ in range(rng.choice([33, 60])):  # deeper goes in as text (the dumper recurses)
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def mutate_data(rng: random.Random, data: dict[str, Any]) -> None:
    slot = _pick_slot(rng, data)
    if slot is None:
        return
    where, key = slot
    op = rng.choice(["delete", "odd", "odd", "rename", "unknown", "wrap", "deep", "swap"])
    if op == "delete":
        del where[key]
    elif op == "odd":
        where[key] = rng.choice(ODD_VALUES)
    elif op == "rename" and isinstance(where, dict):
        where[rng.choice(ODD_KEYS)] = where.pop(key)
    elif op == "unknown" and isinstance(where, dict):
        where[f"extra_{rng.randint(0, 9)}"] = rng.choice(ODD_VALUES)
    elif op == "wrap":
        where[key] = rng.choice([[where[key]], {"x": where[key]}, {key if isinstance(key, str) else "k": where[key]}])
    elif op == "deep":
        where[key] = _deep(rng)
    elif op == "swap":
        other = _pick_slot(rng, data)
        if other is not None and other[0] is not where:
            where[key], other[0][other[1]] = other[0][other[1]], where[key]


def mutate_text(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    op = rng.choice(["dup-line", "dup-line", "drop-line", "truncate", "insert", "nest", "indent", "anchor"])
    if op == "dup-line":  # duplicate keys, mostly
        lines.insert(i, lines[i])
    elif op == "drop-line":
        del lines[i]
    elif op == "truncate":
        return text[:rng.randrange(len(text))]
    elif op == "insert":
        pos = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:pos] + rng.choice([":", "{", "]", "*a", "&a ", "!!python/object ", "\t", "'", "- ",
                                                "? ", "<<: ", "%", "\x00", "\ufeff"]) + lines[i][pos:]
    elif op == "nest":
        depth = rng.choice([50, 1000, 5000])
        lines[i] = lines[i].split(":")[0] + ": " + "[" * depth + "]" * depth + "\n"
    elif op == "indent":
        lines[i] = " " * rng.randint(1, 5) + lines[i]
    elif op == "anchor":  # an alias bomb in one line, or an alias to something undefined
        lines.insert(i, rng.choice(["bomb: &b [" + ", ".join(["*b0"] * 10) + "]\n", "loop: *nowhere\n"]))
    return "".join(lines)


def mutant(seed: int) -> str:
    rng = random.Random(seed)
    data = yaml.safe_load(EXAMPLE)
    data["upstream"]["url"] = "../upstream.git"  # never the network, even through doit
    for _ in range(rng.randint(1, 3)):
        mutate_data(rng, data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10 ** 6)
    return mutate_text(rng, text) if rng.random() < 0.5 else text


def outcome(path: Path) -> tuple[str, str]:
    """("ok", "") or ("error", message); anything else propagates and fails the test."""
    try:
        result = load_config(path)
    except ForkwaveError as exc:
        return "error", str(exc)
    assert isinstance(result, Config)
    return "ok", ""


def test_hundreds_of_mutated_examples_load_or_fail_in_one_line(tmp_path: Path) -> None:
    seen = {"ok": 0, "error": 0}
    crashes = []
    for seed in range(MUTATIONS):
        path = tmp_path / f"m{seed}.yaml"
        path.write_text(mutant(seed), encoding="utf-8")
        try:
            kind, message = outcome(path)
        except Exception as exc:  # the defect this test exists to find
            crashes.append(f"seed {seed}: {type(exc).__name__}: {exc}"[:300])
            continue
        seen[kind] += 1
        if kind == "error":
            assert message.startswith(f"{path}:") and "\n" not in message and len(message) < 600, (seed, message)
            if "key '" in message:  # a problem with a key says where in the file it is
                assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", message), (seed, message)
    assert not crashes, "\n".join(crashes)
    # the mutations are neither all harmless nor all fatal: both paths are exercised
    assert seen["ok"] >= MUTATIONS // 20 and seen["error"] >= MUTATIONS // 2, seen


@pytest.mark.parametrize("seed", range(0, MUTATIONS, CLI_EVERY))
def test_doit_on_a_mutated_example_exits_0_or_1_without_a_traceback(tmp_path: Path, seed: int) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "forkwave.yaml"
    path.write_text(mutant(seed), encoding="utf-8")
    expected, message = outcome(path)
    result = run_doit(ws, "list")
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-2000:]
    assert result.returncode == (0 if expected == "ok" else 1), output[-2000:]
    if expected == "error":
        assert result.stderr.strip() == f"forkwave: error: {message}"
