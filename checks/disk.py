"""How much disk validation takes in a workspace: the worktree, its node_modules, each cache, the node images.

A real monorepo's wave can reach gigabytes (4 GB of node_modules, a 3 GB Yarn cache), so each
wave report says where they went and ``doit clean images`` frees the caches and images
(``checks.images.clean``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from checks import images


def _sizes(root: Path) -> tuple[int, int]:
    """(bytes outside node_modules, bytes inside node_modules folders) under ``root``; .git is left out."""
    seen: set[tuple[int, int]] = set()

    def size(path: str) -> int:
        try:
            st = os.lstat(path)
        except OSError:
            return 0
        if (st.st_dev, st.st_ino) in seen:
            return 0
        seen.add((st.st_dev, st.st_ino))
        return st.st_blocks * 512

    plain = modules = 0
    for top, dirs, files in os.walk(root):
        if "node_modules" in dirs:
            modules += images.folder_size(Path(top) / "node_modules")
        dirs[:] = [d for d in dirs if d not in ("node_modules", ".git")]
        plain += sum(size(os.path.join(top, f)) for f in files)
    return plain, modules


def usage(state: Path, client: Any | None = None) -> dict[str, Any]:
    """Bytes used under ``state`` (``.forkwave``) by the worktree, node_modules, each cache, and the images it used."""
    worktree = modules = 0
    slots = sorted(p for p in state.glob("worktree-*") if p.name.split("-", 1)[1].isdigit())
    for wt in [state / "worktree", *slots]:  # and those of candidates judged beside it (tasks.engine.bench)
        if wt.is_dir():
            plain, mods = _sizes(wt)
            worktree, modules = worktree + plain, modules + mods
    cache = state / "cache"
    caches = {p.name: images.folder_size(p) for p in sorted(cache.iterdir()) if p.is_dir()} if cache.is_dir() else {}
    used = {tag: _image_size(client, tag) for tag in images.recorded(cache)} if cache.is_dir() else {}
    return {"worktree": worktree, "node_modules": modules, "caches": caches, "cache_total": sum(caches.values()),
            "images": {t: s for t, s in used.items() if s is not None},
            "total": worktree + modules + sum(caches.values())}


def _image_size(client: Any | None, tag: str) -> int | None:
    try:
        if client is None:
            import docker

            client = docker.from_env()
        return int(client.images.get(tag).attrs.get("Size", 0))
    except Exception:  # no engine, or the image was removed: nothing to count
        return None


def mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


def markdown(u: dict[str, Any]) -> list[str]:
    """The wave report's "Disk" section."""
    rows = [("worktrees (without node_modules)", u["worktree"]), ("node_modules", u["node_modules"])]
    rows += [(f"cache: {name}", size) for name, size in u["caches"].items()]
    out = ["## Disk", "", "| what | size |", "| --- | ---: |", *(f"| {w} | {mb(s)} |" for w, s in rows),
           f"| **total** (`.forkwave/worktree*` and `.forkwave/cache`) | **{mb(u['total'])}** |"]
    if u["images"]:
        out += ["", "Node images this workspace used (layers are shared between them): "
                + ", ".join(f"`{t}` {mb(s)}" for t, s in u["images"].items()) + "."]
    return out + ["", "`doit clean images` removes the caches and these images; `doit clean` also the worktree "
                  "and every report (the run ledger and the verdict memo stay).", ""]
