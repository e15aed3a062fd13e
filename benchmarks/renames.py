"""Does drift pair the files a fork renamed, and only those? Precision and recall against a known truth.

Builds (seeded, ``git fast-import``) an upstream whose tag ``v1`` (the base) holds ``--files``
(default 200) multi-line TypeScript/JavaScript files of varied, realistic content (React
components, NestJS services, hooks, utilities, GraphQL documents, one-to-three-line barrels),
then a ``main`` that changes, adds and deletes some. The fork is v1 with no shared history and:

* ``--renamed`` (default 60) files renamed: moved to another directory, given another basename,
  both, or converted from ``.js`` to ``.ts``; about 40 % of them lightly edited (at most 20 %
  of their lines), a few of them tiny (one to three lines), two deleted upstream since;
* distractors: similar-looking files the fork added (same generator, same boilerplate; tiny
  barrels beside the renamed ones; heavily edited copies of renamed files), files the fork
  deleted, files it edited in place, and upstream additions.

``tasks.repo.drift.compute`` then runs 3-way (base v1) and 2-way (no base). A pair is right when
``report["renamed"]`` maps a fork path to the path it was renamed from; precision is right
pairs over pairs reported, recall right pairs over the truth (2-way: only renamed files
upstream still has can be paired). Timed: the median of ``--runs`` ``compute`` calls.

Targets (issue): recall >= 95 %, precision 100 %.

    python -m benchmarks.renames [--files 200] [--renamed 60] [--seed 7] [--runs 5] [--keep DIR]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks._common import scratch
from tasks.repo import content, drift, fetch
from tasks.config import Config, Fork, Upstream
from tasks.config import RewriteRule
from tasks.core.rewrite import Rewriter
from tasks.repo.synth import commit_tree, init_repo
from tasks.workspace import Workspace

NOUNS = ["user", "account", "invoice", "workspace", "record", "field", "view", "filter", "company", "person",
         "opportunity", "note", "task", "attachment", "activity", "calendar", "message", "thread", "webhook",
         "apiKey", "role", "member", "pipeline", "stage", "comment", "favorite", "timeline", "event", "domain",
         "billing", "subscription", "session", "token", "export", "import", "search", "settings", "theme",
         "menu", "dropdown", "table", "cell", "column", "row", "board", "card", "chip", "tag", "avatar", "icon"]
VERBS = ["get", "create", "update", "delete", "find", "list", "build", "map", "parse", "format", "validate",
         "compute", "sync", "fetch", "render", "handle", "resolve", "merge", "sort", "group", "count", "load"]
IMPORTS = {
    "front": ["import { useState } from 'react';", "import { useEffect, useMemo } from 'react';",
              "import styled from '@emotion/styled';", "import { useRecoilValue } from 'recoil';",
              "import { isDefined } from 'twenty-shared/utils';", "import { useTheme } from '@emotion/react';",
              "import { t } from '@lingui/core/macro';", "import { IconChevronDown } from 'twenty-ui/display';"],
    "server": ["import { Injectable } from '@nestjs/common';", "import { InjectRepository } from '@nestjs/typeorm';",
               "import { Repository } from 'typeorm';", "import { isDefined } from 'twenty-shared/utils';",
               "import { Logger } from '@nestjs/common';", "import { TwentyConfigService } from 'src/config';"],
    "shared": ["import { z } from 'zod';", "import { isDefined } from './isDefined';",
               "import { capitalize } from './capitalize';"],
}
PACKAGES = {"front": "tsx", "ui": "tsx", "server": "ts", "shared": "ts", "utils": "js", "zapier": "js"}
IMPORTS["ui"], IMPORTS["utils"], IMPORTS["zapier"] = IMPORTS["front"], IMPORTS["shared"], IMPORTS["shared"]
REWRITE = (RewriteRule("twenty", "acme", ("**/*.ts", "**/*.tsx")),)


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


class Gen:
    """Realistic-looking source lines; every file gets its own identifiers, boilerplate is shared."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def name(self) -> str:
        return self.rng.choice(NOUNS) + cap(self.rng.choice(NOUNS))

    def statement(self, a: str, b: str) -> list[str]:
        r, k = self.rng, self.rng.randint(2, 999)
        verb = r.choice(VERBS)
        return r.choice([
            [f"  const {a}{cap(b)} = await this.{a}Repository.findOne({{ where: {{ id: {b}Id }} }});"],
            [f"  if (!isDefined({a})) {{", f"    throw new Error('{cap(a)} {b} not found ({k})');", "  }"],
            [f"  const {b}Ids = {a}s.map(({b}) => {b}.{a}Id);"],
            [f"  const total{cap(a)} = {b}s.reduce((sum, item) => sum + item.{a}Count, {k});"],
            [f"  this.logger.debug(`{verb} {a} ${{{b}Id}}`, {{ count: {k} }});"],
            [f"  const [{a}, set{cap(a)}] = useState<{cap(b)} | null>(null);"],
            [f"  const sorted{cap(b)}s = [...{b}s].sort((x, y) => x.{a}Position - y.{a}Position);"],
            [f"  await this.{b}Service.{verb}{cap(a)}({{ {a}Id, workspaceId, limit: {k} }});"],
            [f"  return {{ ...{a}, {b}: {b} ?? null, updatedAt: new Date() }};"],
            [f"  for (const {b} of {a}.{b}s ?? []) {{", f"    {b}.{verb}{cap(a)}Id = {a}.id;", "  }"],
            [f"  const {verb}{cap(a)}Query = gql`", f"    query {cap(verb)}{cap(a)}($id: ID!) {{",
             f"      {a}(id: $id) {{ id {b}Id position }}", "    }", "  `;"],
        ])

    def body(self, n: int) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            out += self.statement(self.rng.choice(NOUNS), self.rng.choice(NOUNS))
        return out

    def module(self, pkg: str, base: str) -> str:
        r = self.rng
        lines = r.sample(IMPORTS[pkg], k=min(len(IMPORTS[pkg]), r.randint(2, 4))) + [""]
        for _ in range(r.randint(2, 5)):
            fn = r.choice(VERBS) + cap(self.name())
            args = ", ".join(r.sample(NOUNS, 2))
            if pkg == "server":
                lines += [f"  async {fn}({args}) {{", *self.body(r.randint(3, 9)), "  }", ""]
            elif pkg in ("front", "ui"):
                lines += [f"export const {cap(fn)} = ({{ {args} }}: {cap(fn)}Props) => {{",
                          *self.body(r.randint(3, 8)), "  return (", f"    <Styled{cap(base)}>", "      {children}",
                          f"    </Styled{cap(base)}>", "  );", "};", ""]
            else:
                lines += [f"export const {fn} = ({args}) => {{", *self.body(r.randint(3, 8)), "};", ""]
        if pkg == "server":
            lines = lines[:lines.index("") + 1] + ["@Injectable()", f"export class {cap(base)}Service {{",
                                                   f"  private readonly logger = new Logger({cap(base)}Service.name);",
                                                   ""] + lines[lines.index("") + 1:] + ["}"]
        return "\n".join(lines).rstrip("\n") + "\n"

    def tiny(self, names: list[str]) -> str:
        return "".join(f"export * from './{n}';\n" for n in names)


def edit(rng: random.Random, gen: Gen, src: str, share: float) -> str:
    """Replace or insert about ``share`` of the lines (at least one)."""
    lines = src.splitlines()
    for _ in range(max(1, int(len(lines) * share))):
        i = rng.randrange(len(lines))
        new = gen.statement(rng.choice(NOUNS), rng.choice(NOUNS))[0]
        if rng.random() < 0.5:
            lines[i] = new
        else:
            lines.insert(i, new)
    return "\n".join(lines) + "\n"


def fixture(n: int, n_renamed: int, seed: int) -> tuple[dict[str, str], dict[str, str], dict[str, str],
                                                         dict[str, str]]:
    """(base, upstream, fork, truth: fork path -> base path)."""
    rng = random.Random(seed)
    gen = Gen(rng)
    base: dict[str, str] = {}
    pkgs = list(PACKAGES)
    modules = [f"{rng.choice(NOUNS)}-{rng.choice(NOUNS)}" for _ in range(24)]
    tiny: list[str] = []
    while len(base) < n:
        pkg = rng.choice(pkgs)
        module = rng.choice(modules)
        if len(tiny) < n // 20:  # one file in twenty is a barrel of one to three lines
            pkg = "front" if len(tiny) < 2 else pkg
            ext = "ts" if PACKAGES[pkg].startswith("ts") else "js"
            path = f"packages/twenty-{pkg}/src/modules/{module}/index.{ext}"
            if path not in base:  # the first two alike: identical content, told apart by their paths only
                names = ["types"] if len(tiny) < 2 else [cap(gen.name()) for _ in range(rng.randint(1, 3))]
                base[path] = gen.tiny(names)
                tiny.append(path)
            continue
        name = gen.name()
        kind = rng.choice(["components", "hooks", "services", "utils", "graphql"])
        stem = f"use{cap(name)}" if kind == "hooks" else cap(name) if kind == "components" else name
        path = f"packages/twenty-{pkg}/src/modules/{module}/{kind}/{stem}.{PACKAGES[pkg]}"
        base.setdefault(path, gen.module(pkg, name))

    paths = sorted(base)
    regular = [p for p in paths if p not in tiny]
    rng.shuffle(regular)
    renamed_src = regular[:n_renamed - 4] + sorted(tiny[:2]) + tiny[2:4]
    rest = regular[n_renamed - 4:]
    fork_deleted, fork_edited, copied_from = rest[:10], rest[10:25], renamed_src[:5]

    def new_name(p: str, i: int) -> str:
        d, file = p.rsplit("/", 1)
        stem, ext = file.rsplit(".", 1)
        kind = i % 4
        if ext == "js" and i % 3 == 0:
            ext = "ts"                                                 # converted to TypeScript
        parts = d.split("/")
        if file.startswith("index."):                                 # the module is retired: barrels move
            parts[4] = ("legacy-" if i % 2 == 0 else "archived-") + parts[4]
        elif kind in (0, 1):                                          # the directory moves
            parts[4] = "legacy-" + parts[4] if i % 2 else parts[4].replace("-", "/", 1)
        d = "/".join(parts)
        if kind in (2, 3) and not file.startswith("index."):         # the basename changes
            stem = stem + rng.choice(["Card", "Legacy", "V2", "Item", "State", "Helper"])
        return f"{d}/{stem}.{ext}"

    fork = dict(base)
    truth: dict[str, str] = {}
    for i, p in enumerate(renamed_src):
        q = new_name(p, i)
        data = fork.pop(p)
        if i % 5 in (1, 3) and p not in tiny:
            data = edit(rng, gen, data, rng.uniform(0.05, 0.2))
        fork[q] = data
        truth[q] = p
    for p in fork_deleted:
        del fork[p]
    for p in fork_edited:
        fork[p] = edit(rng, gen, fork[p], 0.1)
    for i, p in enumerate(copied_from):                               # derived copies, heavily edited
        d, file = truth_key(truth, p).rsplit("/", 1)
        stem, ext = file.rsplit(".", 1)
        fork[f"{d}/{stem}Copy{i}.{ext}"] = edit(rng, gen, base[p], 0.45)
    for i in range(20):                                               # unrelated new files, same look
        pkg, name = rng.choice(pkgs), gen.name()
        fork[f"packages/twenty-{pkg}/src/modules/{rng.choice(modules)}/extras/{cap(name)}.{PACKAGES[pkg]}"] = \
            gen.module(pkg, name)
    for i in range(5):                                                # tiny barrels beside the moved ones
        d = truth_key(truth, tiny[i % 4]).rsplit("/", 1)[0]
        fork[f"{d}/extra{i}/index.ts"] = gen.tiny([cap(gen.name())])

    for q, data in fork.items():                                      # the fork is rebranded (rule: REWRITE)
        if q.endswith((".ts", ".tsx")):
            fork[q] = data.replace("twenty", "acme")

    upstream = dict(base)
    for p in rng.sample(renamed_src[:-4], 18) + rng.sample(rest[25:], 10):
        upstream[p] = edit(rng, gen, base[p], 0.1)
    for p in renamed_src[5:7] + rest[25:28]:
        del upstream[p]
    for i in range(5):
        pkg, name = rng.choice(pkgs), gen.name()
        upstream[f"packages/twenty-{pkg}/src/modules/{rng.choice(modules)}/added/{cap(name)}.{PACKAGES[pkg]}"] = \
            gen.module(pkg, name)
    return base, upstream, fork, truth


def truth_key(truth: dict[str, str], src: str) -> str:
    return next(q for q, p in truth.items() if p == src)


def margin(old: dict[str, str], fork: dict[str, str], truth: dict[str, str], lost: list[str],
           new: list[str]) -> tuple[float, float]:
    """(weakest true pair, strongest wrong candidate of one extension family): how far from the threshold.

    Wrong candidates with identical content (the two barrels of the same line) are left out: no
    score can tell them apart, only their paths.
    """
    rw = Rewriter(REWRITE)
    text = {p: rw.apply(p, old[p].encode()) for p in lost}
    right = min(content.similarity(text[truth[q]], fork[q].encode()) for q in truth if truth[q] in text)
    wrong = max((content.similarity(text[p], fork[q].encode()) for p in lost for q in new
                 if truth.get(q) != p and content._kind(p) == content._kind(q) and text[p] != fork[q].encode()),
                default=0.0)
    return right, wrong


def score(report: dict[str, Any], truth: dict[str, str]) -> dict[str, Any]:
    found = report["renamed"]
    right = {q for q, p in found.items() if truth.get(q) == p}
    return {"pairs": len(found), "right": len(right), "truth": len(truth),
            "precision": len(right) / len(found) if found else 1.0, "recall": len(right) / len(truth) if truth else 1.0,
            "false": sorted((q, p) for q, p in found.items() if q not in right),
            "missed": sorted((q, p) for q, p in truth.items() if found.get(q) != p)}


def build(root: Path, base: dict[str, str], upstream: dict[str, str],
          fork: dict[str, str]) -> tuple[Config, Workspace, str]:
    """The repositories, a 3-way config (base v1, the rebranding rule) and the fetched upstream commit."""
    up = init_repo(root / "upstream.git", bare=True)
    commit_tree(up, base, tag="v1")
    commit_tree(up, upstream, tick=10)
    fk = init_repo(root / "fork")
    commit_tree(fk, fork, tick=5)
    ws = Workspace(root / "ws")
    cfg = Config(root / "forkwave.yaml", Upstream(str(up)), Fork(fk), base="v1", rewrite=REWRITE)
    return cfg, ws, fetch.fetch(cfg, ws)["sha"]


def describe(base: dict[str, str], upstream: dict[str, str], fork: dict[str, str], truth: dict[str, str]) -> str:
    rw = Rewriter(REWRITE)
    tiny = sum(1 for q in truth if len(fork[q].splitlines()) <= 3)
    edited = sum(1 for q, p in truth.items() if fork[q].encode() != rw.apply(q, base[p].encode()))
    converted = sum(1 for q, p in truth.items() if q.rsplit(".", 1)[1] != p.rsplit(".", 1)[1])
    gone = sum(1 for p in truth.values() if p not in upstream)
    return (f"fixture: {len(base)} base files, {len(fork)} fork files; {len(truth)} renamed ({edited} edited, "
            f"{tiny} tiny, {converted} .js -> .ts, {gone} deleted upstream)")


def measure(label: str, cfg: Config, ws: Workspace, sha: str, old: dict[str, str], fork: dict[str, str],
            truth: dict[str, str], runs: int) -> None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        report = drift.compute(cfg, ws.mirror, sha)
        times.append(time.perf_counter() - start)
    s = score(report, truth)
    print(f"{label}: precision {s['precision']:.1%} ({s['right']}/{s['pairs']}), "
          f"recall {s['recall']:.1%} ({s['right']}/{s['truth']}), "
          f"compute median {statistics.median(times) * 1000:.0f} ms over {runs} runs")
    right, wrong = margin(old, fork, truth, [p for p in old if p not in fork], [q for q in fork if q not in old])
    print(f"  similarity: weakest true pair {right:.2f}, strongest wrong candidate {wrong:.2f} "
          f"(threshold {content.MIN_SIMILARITY:.2f})")
    for q, p in s["false"][:10]:
        print(f"  false pair: {q} <- {p} (truth: {truth.get(q)})")
    for q, p in s["missed"][:10]:
        print(f"  missed: {q} <- {p} (paired with {report['renamed'].get(q)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--renamed", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()

    base, upstream, fork, truth = fixture(args.files, args.renamed, args.seed)
    print(describe(base, upstream, fork, truth) + f"; seed {args.seed}")
    with scratch(args.keep, "forkwave-renames-") as root:
        cfg, ws, sha = build(root, base, upstream, fork)
        measure("3-way (base v1)", cfg, ws, sha, base, fork, truth, args.runs)
        two_way = Config(cfg.file, cfg.upstream, cfg.fork, rewrite=REWRITE)
        measure("2-way (no base)", two_way, ws, sha, upstream, fork,    # only what upstream still has can pair
                {q: p for q, p in truth.items() if p in upstream}, args.runs)
    print("targets: recall >= 95 %, precision 100 %")


if __name__ == "__main__":
    main()
