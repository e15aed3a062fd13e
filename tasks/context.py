"""What every task creator needs, loaded once per doit invocation: config, workspace, flags."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tasks.config import Config, find_config, is_demo, load_config
from tasks.errors import ForkwaveError
from tasks.workspace import Workspace


@dataclass(frozen=True)
class Context:
    cfg: Config
    ws: Workspace
    demo: bool
    offline: bool
    full: bool = False         # full=1: ignore the state recorded in the fork
    since: str | None = None   # since=<date|sha>: only upstream changes after that point
    dry: bool = False          # dry=1: up to the plan, then simulate (tasks.engine.dryrun); nothing a person sees moves

    def for_source(self, name: str) -> Context:
        """The context as one source's steps see it: its config view, its mirror and reports."""
        from dataclasses import replace

        return replace(self, cfg=self.cfg.for_source(name), ws=self.ws.scoped(name if self.cfg.several else None))

    @property
    def sources(self) -> list[str]:
        return [s.name for s in self.cfg.sources]


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load(config: str | None, offline: str | None, root: Path, full: str | None = None,
         since: str | None = None, dry: str | None = None) -> Context:
    path = find_config(config, root)
    demo = is_demo(path)  # the demo's repositories live in the workspace (task `demo` builds them there)
    checked = Workspace(root).state / "config.checked"  # the digest of the config that passed every check
    return Context(load_config(path, relative_to=root if demo else None, checked=checked), Workspace(root), demo,
                   _flag(offline),
                   _flag(full), since or None, _flag(dry))


@lru_cache(maxsize=1)
def context() -> Context:
    """The context for this doit run; a bad config ends the run with one line and exit 1."""
    from doit import get_var

    try:
        return load(get_var("config"), get_var("offline"), Path.cwd(), get_var("full"), get_var("since"),
                    get_var("dry"))
    except ForkwaveError as exc:
        print(f"forkwave: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
