"""The config's one table of keys: the reference page, the JSON schema and the dataclass defaults all come from it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import ROOT, write_config
from tasks import configkeys, fields
from tasks.config import Config, load_config

PAGE = ROOT / "docs" / "reference" / "config.md"
REGENERATE = "python -m tasks.configkeys > docs/reference/config.md"


def test_the_committed_reference_page_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == configkeys.reference_page(), (
        f"docs/reference/config.md is stale: the config's keys changed; regenerate it with `{REGENERATE}`")


def test_the_regenerate_command_prints_the_page() -> None:
    out = subprocess.run([sys.executable, "-m", "tasks.configkeys"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out == configkeys.reference_page() and REGENERATE in out


def test_every_key_of_the_schema_has_a_row() -> None:
    page = PAGE.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([^`]+)` \|", page, re.M))
    assert set(configkeys.SCHEMA["properties"]) <= rows
    for path in ("fork.sync_branch", "sources[].min_age", "checks[].timeout", "waves.<name>.buckets",
                 "publish.risk.weights", "map[].to", "verify[].expected_min", "policy[].take"):
        assert path in rows, path
        fields.find(configkeys.CONFIG, path)   # and the table knows it by that name


def test_every_link_of_the_page_lands_on_a_heading() -> None:
    page = PAGE.read_text(encoding="utf-8")
    anchors = {fields.anchor(h.replace("`", "")) for h in re.findall(r"^#+ (.+)$", page, re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", page))
    assert links and links <= anchors, sorted(links - anchors)
    assert (ROOT / "docs" / "guides" / "configuration.md").exists() and "(../guides/configuration.md)" in page


def test_the_schema_is_a_valid_json_schema_with_a_description_for_every_key() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(configkeys.SCHEMA)
    assert all(prop.get("description") for prop in configkeys.SCHEMA["properties"].values())


# (the key's reference path, how the built Config shows it): a builder that restated a default differently fails
BUILT: list[tuple[str, Callable[[Config], Any]]] = [
    ("upstream.ref", lambda c: c.upstream.ref),
    ("fork.branch", lambda c: c.fork.branch),
    ("fork.sync_branch", lambda c: c.fork.sync_branch),
    ("sources[].mode", lambda c: c.current.mode),
    ("sources[].paths", lambda c: c.current.paths),
    ("sources[].direction", lambda c: c.current.direction),
    ("sources[].on_failure", lambda c: c.current.options.on_failure),
    ("sources[].types", lambda c: c.current.options.types),
    ("sources[].review_breaking", lambda c: c.current.options.review_breaking),
    ("sources[].min_age", lambda c: c.current.options.min_age),
    ("ignore", lambda c: c.ignore),
    ("deny", lambda c: c.deny),
    ("deny_except", lambda c: c.deny_except),
    ("slices.max_files", lambda c: c.max_files),
    ("slices.max_commits", lambda c: c.max_commits),
    ("deletions", lambda c: c.deletions),
    ("gating", lambda c: c.gating),
    ("gates", lambda c: c.gates),
    ("checks[].timeout", lambda c: c.checks[0].timeout),
    ("checks[].direction", lambda c: c.checks[0].direction),
    ("verify[].timeout", lambda c: c.current.verify[0].timeout),
    ("verify[].expected_exit_code", lambda c: c.current.verify[0].expected_exit_code),
    ("publish.remote", lambda c: c.publish.remote),
    ("publish.forge", lambda c: c.publish.forge),
    ("publish.title", lambda c: c.publish.title),
    ("publish.labels", lambda c: c.publish.labels),
    ("publish.draft", lambda c: c.publish.draft),
    ("publish.automerge_max", lambda c: c.publish.automerge_max),
    ("publish.merge_method", lambda c: c.publish.merge_method),
    ("publish.risk.low", lambda c: c.publish.low),
]


@pytest.mark.parametrize("path,built", BUILT, ids=[p for p, _ in BUILT])
def test_a_key_left_out_takes_the_tables_default(tmp_path: Path, path: str, built: Callable[[Config], Any]) -> None:
    cfg = load_config(write_config(tmp_path, "upstream: {url: up}\nfork: {path: fk}\n"
                                             "checks: [{name: unit, run: pytest}]\nverify: [{name: n, run: 'true'}]\n"))
    assert built(cfg) == configkeys.default(path)


def test_the_default_waves_are_the_tables(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "upstream: {url: up}\nfork: {path: fk}\n"))
    table = configkeys.default("waves")
    assert [(w.name, list(w.buckets), list(w.paths)) for w in cfg.waves] == [
        (name, wave.get("buckets", []), wave.get("paths", [])) for name, wave in table.items()]


def test_the_pages_example_error_is_what_doit_says(tmp_path: Path) -> None:
    from conftest import run_doit

    write_config(tmp_path, configkeys.EXAMPLE_CONFIG)
    result = run_doit(tmp_path, "list")
    assert result.returncode == 1
    assert result.stderr.strip() == configkeys.EXAMPLE_ERROR.replace("/srv/sync", str(tmp_path))
