"""checks.toolchain: node and package-manager pins, by tables; the reader on a real folder."""
from __future__ import annotations

import json
import re
import os
from pathlib import Path

import pytest

from checks.toolchain import (Manager, NodePin, best_version, detect, node_pin, node_spec, package_manager,
                              parse_package_manager, read_pin_files, version_tag)
from tasks.errors import ForkwaveError


def pkg(**fields: object) -> str:
    return json.dumps({"name": "x", **fields})


@pytest.mark.parametrize("raw, spec", [
    ("24.5.0", "24.5.0"),
    ("v24.5.0", "24.5.0"),
    ("  v22\n", "22"),
    ("^24.5.0", "^24.5.0"),
    (">=20 <25", ">=20 <25"),
    (">=v20.1", ">=20.1"),
    ("20.x", "20.x"),
    ("^22.12.0 || >=24", "^22.12.0 || >=24"),
    ("lts/iron", "20"),
    ("lts/Jod", "22"),
    ("lts/*", "24"),
    ("node", "*"),
    ("stable", "*"),
    ("system", None),
])
def test_node_specs(raw: str, spec: str | None) -> None:
    assert node_spec(raw, ".nvmrc") == spec


@pytest.mark.parametrize("raw, why", [
    ("garbage", "is not a node version or range"),
    ("24.5.0; rm -rf /", "is not a node version or range"),
    ("$(id)", "is not a node version or range"),
    ("lts/unknown", "unknown LTS alias"),
    ("", "is not a node version or range"),
])
def test_bad_node_specs_are_errors_naming_the_file(raw: str, why: str) -> None:
    with pytest.raises(ForkwaveError, match=rf"^\.nvmrc: .*{why}"):
        node_spec(raw, ".nvmrc")


@pytest.mark.parametrize("files, pin", [
    ({}, None),
    ({".nvmrc": "24.5.0\n"}, NodePin("24.5.0", ".nvmrc")),
    ({".nvmrc": "# pinned for vite\n\nv24.5.0 # the CI node\n"}, NodePin("24.5.0", ".nvmrc")),
    ({".node-version": "22.12.0"}, NodePin("22.12.0", ".node-version")),
    ({".tool-versions": "python 3.12.1\nnodejs 20.11.1 18.19.0\n"}, NodePin("20.11.1", ".tool-versions")),
    ({"package.json": pkg(volta={"node": "22.3.0"})}, NodePin("22.3.0", "package.json volta.node")),
    ({"package.json": pkg(engines={"node": "^24.5.0"})}, NodePin("^24.5.0", "package.json engines.node")),
    ({"package.json": pkg(devEngines={"runtime": {"name": "node", "version": ">=22"}})},
     NodePin(">=22", "package.json devEngines.runtime")),
    ({"package.json": pkg(devEngines={"runtime": [{"name": "bun"}, {"name": "node", "version": "22"}]})},
     NodePin("22", "package.json devEngines.runtime")),
    # the most specific pin wins: .nvmrc over .node-version over volta over engines
    ({".nvmrc": "24.5.0", ".node-version": "22.1.0", "package.json": pkg(engines={"node": ">=20"})},
     NodePin("24.5.0", ".nvmrc")),
    ({".node-version": "22.1.0", "package.json": pkg(volta={"node": "20.1.0"}, engines={"node": ">=20"})},
     NodePin("22.1.0", ".node-version")),
    ({"package.json": pkg(volta={"node": "20.1.0"}, engines={"node": ">=18"})},
     NodePin("20.1.0", "package.json volta.node")),
    ({".nvmrc": "system"}, None),
    ({".nvmrc": "\n# nothing\n", "package.json": pkg(engines={"node": "22"})},
     NodePin("22", "package.json engines.node")),
    ({"package.json": "{not json"}, None),
    ({"package.json": pkg(engines={"node": 24})}, None),   # not a string: no pin
])
def test_node_pins_from_files(files: dict[str, str], pin: NodePin | None) -> None:
    assert node_pin(files)[0] == pin


def test_the_checks_node_key_overrides_every_file() -> None:
    pin, notes = node_pin({".nvmrc": "24.5.0", "package.json": pkg(engines={"node": "^24"})}, "22.12.0")
    assert pin == NodePin("22.12.0", "the check's node")
    assert notes == ["node 22.12.0 from the check's node differs from .nvmrc '24.5.0'",
                     "node 22.12.0 from the check's node does not satisfy package.json engines.node '^24'"]


@pytest.mark.parametrize("files, notes", [
    ({".nvmrc": "24.5.0", "package.json": pkg(engines={"node": "^24.5.0"})}, []),
    ({".nvmrc": "22.1.0", "package.json": pkg(engines={"node": "^24.5.0"})},
     ["node 22.1.0 from .nvmrc does not satisfy package.json engines.node '^24.5.0'"]),
    ({".nvmrc": "24.5.0", ".node-version": "nonsense"},
     [".node-version 'nonsense' is not a node version or range (ignored)"]),
    ({".nvmrc": "24", "package.json": pkg(engines={"node": "^26"})}, []),   # a range pin is not second-guessed
])
def test_disagreeing_pins_are_noted(files: dict[str, str], notes: list[str]) -> None:
    assert node_pin(files)[1] == notes


@pytest.mark.parametrize("spec, versions, best", [
    ("24.5.0", ["24.5.0", "24.6.0"], "24.5.0"),
    ("24", ["22.12.0", "24.5.0", "24.6.1", "26.0.0"], "24.6.1"),
    ("^24.5.0", ["24.4.0", "24.5.0"], "24.5.0"),
    ("^24.5.0", ["24.4.0", "26.1.0"], None),
    (">=22", ["18.20.4", "22.1.0", "24.5.0"], "24.5.0"),
    ("*", ["24.5.0", "26.0.0-rc.1"], "24.5.0"),        # prereleases only when asked for
    ("24", ["bookworm", "24.5.0"], "24.5.0"),           # tags that are not versions are ignored
])
def test_best_version(spec: str, versions: list[str], best: str | None) -> None:
    assert best_version(spec, versions) == best


@pytest.mark.parametrize("tag, version", [("24", "24"), ("24.5.0", "24.5.0"), ("24.5", "24.5"),
                                          ("bookworm", None), ("latest", None), ("24-slim", None)])
def test_version_tags(tag: str, version: str | None) -> None:
    assert version_tag(tag) == version


@pytest.mark.parametrize("value, parsed", [
    ("yarn@4.9.2", ("yarn", "4.9.2")),
    ("yarn@4.9.2+sha512.f0e2d2bd5ccd1cf9e3bb7b4de0f6c2f1", ("yarn", "4.9.2")),
    ("pnpm@10.12.1", ("pnpm", "10.12.1")),
    ("npm@10.9.2", ("npm", "10.9.2")),
    ("yarn", ("yarn", None)),
    ("pnpm@9.0.0-rc.1", ("pnpm", "9.0.0-rc.1")),
])
def test_package_manager_fields(value: str, parsed: tuple[str, str | None]) -> None:
    assert parse_package_manager(value, "package.json packageManager") == parsed


@pytest.mark.parametrize("value, why", [("bun@1.1.0", "not supported"), ("yarn@^4", "needs an exact version"),
                                        ("pnpm@latest", "needs an exact version")])
def test_bad_package_manager_fields_are_errors(value: str, why: str) -> None:
    with pytest.raises(ForkwaveError, match=f"^package.json packageManager: .*{why}"):
        parse_package_manager(value, "package.json packageManager")


BERRY_LOCK = '# This file is generated by running "yarn install"\n\n__metadata:\n  version: 8\n  cacheKey: 10c0\n'
V1_LOCK = "# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n"


@pytest.mark.parametrize("files, manager", [
    ({}, Manager("npm")),
    ({"package.json": pkg()}, Manager("npm")),
    ({"package-lock.json": "{}"}, Manager("npm", None, "package-lock.json")),
    ({"yarn.lock": V1_LOCK}, Manager("yarn", "1", "yarn.lock, v1 format")),
    ({"yarn.lock": BERRY_LOCK}, Manager("yarn", None, "yarn.lock, Berry format")),
    ({"pnpm-lock.yaml": "lockfileVersion: '9.0'\n\nsettings:\n"}, Manager("pnpm", None, "pnpm-lock.yaml v9.0")),
    ({"pnpm-lock.yaml": "lockfileVersion: 5.4\n"}, Manager("pnpm", None, "pnpm-lock.yaml v5.4")),
    ({"package.json": pkg(packageManager="pnpm@10.12.1"), "yarn.lock": V1_LOCK},
     Manager("pnpm", "10.12.1", "package.json packageManager")),
    ({"package.json": pkg(devEngines={"packageManager": {"name": "pnpm", "version": "10.12.1"}})},
     Manager("pnpm", "10.12.1", "package.json devEngines.packageManager")),
    ({"package.json": pkg(devEngines={"packageManager": {"name": "yarn", "version": "^4"}})},
     Manager("yarn", None, "package.json devEngines.packageManager")),
    ({".yarnrc.yml": "nodeLinker: node-modules\nyarnPath: .yarn/releases/yarn-4.9.2.cjs\n", "yarn.lock": BERRY_LOCK},
     Manager("yarn", "4.9.2", ".yarnrc.yml yarnPath .yarn/releases/yarn-4.9.2.cjs", ".yarn/releases/yarn-4.9.2.cjs")),
    ({".yarnrc.yml": "yarnPath: tools/yarn.js\n", "package.json": pkg(packageManager="yarn@3.6.4")},
     Manager("yarn", "3.6.4", ".yarnrc.yml yarnPath tools/yarn.js", "tools/yarn.js")),
    # a yarnPath is no use to a repository that says it uses pnpm
    ({".yarnrc.yml": "yarnPath: .yarn/releases/yarn-4.9.2.cjs\n", "package.json": pkg(packageManager="pnpm@10.0.0")},
     Manager("pnpm", "10.0.0", "package.json packageManager")),
    ({".yarnrc.yml": ": not yaml: [", "yarn.lock": V1_LOCK}, Manager("yarn", "1", "yarn.lock, v1 format")),
])
def test_package_managers(files: dict[str, str], manager: Manager) -> None:
    assert package_manager(files)[0] == manager


@pytest.mark.parametrize("manager, berry", [(Manager("yarn", "1"), False), (Manager("yarn", "4.9.2"), True),
                                            (Manager("yarn", None, yarn_path="a.cjs"), True), (Manager("npm"), False),
                                            (Manager("yarn"), False)])
def test_berry(manager: Manager, berry: bool) -> None:
    assert manager.berry is berry


def test_notes_on_a_yarn_release_that_differs_from_package_manager_and_on_bun() -> None:
    files = {".yarnrc.yml": "yarnPath: .yarn/releases/yarn-4.9.2.cjs\n",
             "package.json": pkg(packageManager="yarn@4.5.0")}
    assert package_manager(files)[1] == ["packageManager says yarn 4.5.0, yarnPath runs 4.9.2: yarnPath wins "
                                         "(Yarn defers to it)"]
    assert package_manager({"bun.lockb": ""})[1] == ["bun lockfile found: bun is not in forkwave's images; npm is used"]


def test_detect_puts_it_together_like_the_crm_monorepo() -> None:
    files = {".nvmrc": "24.5.0\n", ".yarnrc.yml": "nodeLinker: node-modules\nyarnPath: .yarn/releases/yarn-4.9.2.cjs\n",
             "package.json": pkg(engines={"node": "^24.5.0", "npm": "please-use-yarn"}), "yarn.lock": BERRY_LOCK}
    tc = detect(files)
    assert tc.node == NodePin("24.5.0", ".nvmrc") and tc.node.exact
    assert tc.manager.describe() == "yarn 4.9.2 (.yarnrc.yml yarnPath .yarn/releases/yarn-4.9.2.cjs)"
    assert tc.manager.berry and tc.notes == ()


def test_read_pin_files_takes_regular_files_only_and_lockfile_heads(tmp_path: Path) -> None:
    (tmp_path / ".nvmrc").write_text("24.5.0\n")
    (tmp_path / "yarn.lock").write_text(V1_LOCK + "x" * 100_000)
    (tmp_path / "secret").write_text("22.0.0\n")
    os.symlink(tmp_path / "secret", tmp_path / ".node-version")       # a symlink is never followed
    (tmp_path / "package.json").mkdir()                                # nor a folder read
    files = read_pin_files(tmp_path)
    assert set(files) == {".nvmrc", "yarn.lock"}
    assert files[".nvmrc"] == "24.5.0\n" and len(files["yarn.lock"]) == 4096
    assert read_pin_files(tmp_path / "absent") == {}


# --- the check's node: key in forkwave.yaml --------------------------------------------------

def _config(tmp_path: Path, check: dict[str, object]) -> object:
    from conftest import write_config
    from tasks.config import load_config

    return load_config(write_config(tmp_path, {"upstream": {"url": "u.git"}, "fork": {"path": "f"}, "checks": [check]}))


def test_a_node_key_makes_a_container_check_in_the_node_image(tmp_path: Path) -> None:
    check = _config(tmp_path, {"name": "build", "node": "^24.5", "run": "yarn build"}).checks[0]  # type: ignore[attr-defined]
    assert (check.kind, check.node, check.image) == ("docker", "^24.5", None)


@pytest.mark.parametrize("check, why", [
    ({"name": "b", "node": "24", "image": "forkwave/python:3.11", "run": "x"},
     "'node' applies to forkwave/node images only"),
    ({"name": "b", "node": "24", "compose": "c.yaml", "service": "s"}, "'node' applies to forkwave/node images only"),
    ({"name": "b", "node": "twenty-four", "run": "x"},
     "key 'checks.0.node': 'twenty-four' is not a node version or range"),
    ({"name": "b", "node": "", "run": "x"}, "key 'checks.0.node': expected a non-empty string"),
])
def test_bad_node_keys_are_one_line_errors(tmp_path: Path, check: dict[str, object], why: str) -> None:
    with pytest.raises(ForkwaveError, match=re.escape(why)):
        _config(tmp_path, check)
