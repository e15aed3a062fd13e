"""What every task creator needs, loaded once per doit invocation: config, workspace, flags, selection.

``VARIABLES`` is the one table of doit's command-line variables (``key=value``) forkwave reads:
``tasks.cli`` refuses any other name, and ``doit help`` describes them from it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tasks.config import MAX_FILES, Config, find_config, is_demo, load_config
from tasks.errors import ForkwaveError
from tasks.workspace import Workspace

LAST_SUCCESS = "last-success"   # since=last-success: from where the ledger's last successful sync ended
EVERY = "*"                     # a variable every task reads


@dataclass(frozen=True)
class Variable:
    """One command-line variable: its name, how it is written, the tasks that read it, what it does."""

    name: str
    shape: str                  # how a person writes it: ``since=DATE|SHA|last-success``
    tasks: tuple[str, ...]      # task basenames (``resolve`` for ``resolve:slice-3``), or EVERY
    about: str

    def read_by(self, task: str) -> bool:
        """Does ``task`` (``drift``, ``resolve:slice-3``) read this variable itself (not as every task does)?"""
        return task.split(":", 1)[0] in self.tasks


VARIABLES: tuple[Variable, ...] = (
    Variable("config", "config=PATH", (EVERY,),
             "the config file (default: forkwave.yaml in the workspace, else the demo)"),
    Variable("sources", "sources=NAME,GLOB", (EVERY,), "only these sources (names or globs, comma-separated)"),
    Variable("direction", "direction=pull|push|both", (EVERY,), "only the sources that go that way"),
    Variable("dry", "dry=1", (EVERY,), "up to the plan, then each slice simulated (reports/dry-run.md); "
                                       "nothing a person sees moves"),
    Variable("offline", "offline=1", ("fetch",), "use the cached upstream mirror as it is, no network"),
    Variable("full", "full=1", ("drift",), "ignore the ledger and the sync state recorded in the fork"),
    Variable("since", "since=DATE|SHA|last-success", ("drift",),
             "only upstream changes after that point are planned (last-success: after the ledger's last "
             "successful sync)"),
    Variable("batch_size", "batch_size=N", ("plan",), "at most N files (or commits) a slice for this run"),
    Variable("fail_on_diff", "fail_on_diff=1|0", ("drift",),
             "1: drift stops the run with exit 2 while a pulled source has upstream work the fork lacks (a CI job "
             "that only watches); 0: a source's own fail_on_diff: true is ignored"),
    Variable("path", "path=P", ("resolve",), "the one conflicted file to resolve (with take=)"),
    Variable("take", "take=fork|upstream", ("resolve",), "take that side's version of path= as the resolution"),
    Variable("format", "format=markdown|plain|json", ("history",),
             "how the runs are printed (default markdown; json for machines)"),
    Variable("limit", "limit=N", ("history",), "how many recent runs (default 20)"),
    Variable("all", "all=1", ("clean",), "`doit clean` with no task removes the ledger and the verdict memo too"),
    Variable("matrix", "matrix=sources", ("ci",),
             "`doit ci` writes a CI matrix: each source's batch judged on a runner of its own, then one job lands "
             "and publishes"),
    Variable("fanout", "fanout=1", ("batch",),
             "a CI matrix job: `doit batch sources=NAME fanout=1` judges that source's batch, lands nothing and "
             "leaves reports/fanout/NAME.json for the final job"),
)


@dataclass(frozen=True)
class Context:
    cfg: Config
    ws: Workspace
    demo: bool
    offline: bool
    full: bool = False         # full=1: ignore the ledger and the state recorded in the fork
    since: str | None = None   # since=<date|sha|last-success>: only upstream changes after that point
    batch_size: int | None = None              # batch_size=N: max_files (and max_commits) for this run
    selected: tuple[str, ...] | None = None    # sources=/direction=: the sources this run pulls (None: all)
    direction: str | None = None               # direction=: pull, push or both (None: each source's own)
    dry: bool = False          # dry=1: up to the plan, then simulate (tasks.engine.dryrun); nothing a person sees moves
    fail_on_diff: bool | None = None   # fail_on_diff=1|0: upstream work stops the run (None: each source's own)

    def for_source(self, name: str) -> Context:
        """The context as one source's steps see it: its config view, its mirror and reports."""
        from dataclasses import replace

        return replace(self, cfg=self.cfg.for_source(name), ws=self.ws.scoped(name if self.cfg.several else None))

    @property
    def sources(self) -> list[str]:
        """The sources this run runs, in config order (``sources=``/``direction=`` narrow them): each is
        fetched and its drift computed; ``direction_of`` says whether it is pulled, exported or both."""
        return [s.name for s in self.cfg.sources if self.selected is None or s.name in self.selected]

    def direction_of(self, name: str) -> str:
        """The way source ``name`` goes in this run: its own ``direction``, narrowed by ``direction=``."""
        own = next(s.direction for s in self.cfg.sources if s.name == name)
        if self.direction in (None, "both", "all") or own == self.direction:
            return own
        return self.direction  # own is both, one way asked for (select() dropped sources that go the other way)

    @property
    def fetched(self) -> list[str]:
        """The sources of this run that are fetched and compared: all but a command source that only pushes (it
        has nothing to fetch; what it sends is read from the fork when it is published)."""
        only_push = {s.name for s in self.cfg.sources if s.command is not None and not s.command.run}
        return [n for n in self.sources if n not in only_push]

    def watches(self, name: str) -> bool:
        """Does upstream work of source ``name`` stop this run (``fail_on_diff``)? Only for a source it pulls."""
        own = next(s.fail_on_diff for s in self.cfg.sources if s.name == name)
        return (own if self.fail_on_diff is None else self.fail_on_diff) and name in self.pulled

    @property
    def pulled(self) -> list[str]:
        return [n for n in self.sources if self.direction_of(n) in ("pull", "both")]

    def pulled_views(self) -> list[tuple[str, Config, Workspace]]:
        """(name, config, workspace) of each source this run pulls, as that source sees them."""
        return [(n, c.cfg, c.ws) for n, c in ((n, self.for_source(n)) for n in self.pulled)]

    @property
    def pushed(self) -> list[str]:
        return [n for n in self.sources if self.direction_of(n) in ("push", "both")]

    @property
    def max_files(self) -> int:
        return self.batch_size or self.cfg.max_files

    @property
    def max_commits(self) -> int:
        return self.batch_size or self.cfg.max_commits

    @property
    def since_last_success(self) -> bool:
        return self.since == LAST_SUCCESS and not self.full


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def batch_size(value: str | None) -> int | None:
    """``batch_size=N``: a whole number of files (or commits) per slice, 1 to 100,000.

    >>> batch_size("5"), batch_size(None)
    (5, None)
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_FILES:
        raise ForkwaveError(f"batch_size={value}: give a whole number from 1 to {MAX_FILES:,} (files, or commits, "
                            "per slice for this run)")
    return int(text)


def select(cfg: Config, pattern: str | None, direction: str | None) -> tuple[tuple[str, ...] | None, str | None]:
    """``sources=``/``direction=`` as the sources this run runs (None: all of them) and the direction asked for.

    A source runs when the pattern names it and it goes the way asked (``direction=push`` leaves
    out a pull-only source); ``direction_of`` then says which way it goes in this run."""
    if not (pattern or "").strip() and not (direction or "").strip():
        return None, None  # the usual case: nothing to narrow, nothing imported
    from tasks.core.runsummary import select as targets

    chosen = targets([(s.name, s.direction) for s in cfg.sources], pattern, direction)
    return tuple(dict.fromkeys(t.source for t in chosen)), (direction or "").strip() or None


def check_schedules(cfg: Config) -> None:
    """Each ``schedule`` is a cron GitHub Actions and GitLab both take; the error names the file and key."""
    if not any(s.schedule is not None for s in cfg.sources):
        return
    from tasks.core.schedules import validate_cron

    one = "sources" not in cfg.raw
    for i, s in enumerate(cfg.sources):
        if s.schedule is not None:
            try:
                validate_cron(s.schedule, "schedule" if one else f"sources.{i}.schedule")
            except ForkwaveError as exc:
                raise ForkwaveError(f"{cfg.file}: {exc}") from None


def fail_on_diff(value: str | None) -> bool | None:
    """``fail_on_diff=1`` (or ``0``); None when not given: each source's own ``fail_on_diff``.

    >>> fail_on_diff("1"), fail_on_diff("0"), fail_on_diff(None)
    (True, False, None)
    """
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise ForkwaveError(f"fail_on_diff={value}: give 1 (upstream work stops the run, exit 2) or 0")
    return _flag(text)


def load(config: str | None, offline: str | None, root: Path, full: str | None = None,
         since: str | None = None, batch: str | None = None, sources: str | None = None,
         direction: str | None = None, dry: str | None = None, watch: str | None = None) -> Context:
    path = find_config(config, root)
    demo = is_demo(path)  # the demo's repositories live in the workspace (task `demo` builds them there)
    checked = Workspace(root).state / "config.checked"  # the digest of the config that passed every check
    cfg = load_config(path, relative_to=root if demo else None, checked=checked)
    check_schedules(cfg)
    selected, wanted = select(cfg, sources, direction)
    return Context(cfg, Workspace(root, dry=_flag(dry)), demo, _flag(offline), _flag(full),
                   (since or "").strip() or None, batch_size(batch), selected, wanted, _flag(dry), fail_on_diff(watch))


@lru_cache(maxsize=1)
def context() -> Context:
    """The context for this doit run; a bad config or option ends the run with one line and exit 1."""
    from doit import get_var

    from tasks.progress import interval

    try:
        interval()  # FORKWAVE_HEARTBEAT: a bad value stops the run here, not in the middle of a check
        return load(get_var("config"), get_var("offline"), Path.cwd(), get_var("full"), get_var("since"),
                    get_var("batch_size"), get_var("sources"), get_var("direction"), get_var("dry"),
                    get_var("fail_on_diff"))
    except ForkwaveError as exc:
        print(f"forkwave: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
