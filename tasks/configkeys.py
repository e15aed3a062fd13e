"""Every ``forkwave.yaml`` key, declared once: type, default, one-line description and check.

``tasks.config`` validates against ``SCHEMA`` (made from ``CONFIG``), runs ``fields.problems``
over it for what a schema cannot say, and takes its dataclass defaults from ``default``. The
reference page is made from the same table::

    python -m tasks.configkeys > docs/reference/config.md
"""
from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from dataclasses import dataclass

from tasks.fields import (REQUIRED, Derived, Either, Field, Found, Items, Keys, Obj, Scalar, boolean, choice,
                          duration, integer, number, reference, text)
from tasks.fields import default as _default
from tasks.fields import find as _find

# --- vocabularies the keys take -----------------------------------------------------------------

@dataclass(frozen=True)
class ModeTraits:
    """What the config must know of a sync mode before any mode is loaded (``tasks/modes/`` holds the rest;
    ``tasks.modes.registry`` checks the two agree)."""

    own_branch: bool = False   # lands on a branch of its own (``sync/<source>``): owns no path of the shared one
    exports: bool = False      # its sources may send the fork's work back (``direction: push`` or ``both``)


MODE_TRAITS = {"snapshot": ModeTraits(exports=True), "merge": ModeTraits(), "cherry-pick": ModeTraits(own_branch=True)}
MODES = tuple(MODE_TRAITS)   # how a source's changes become slices (tasks/modes/)
AVAILABLE_MODES = MODES      # the modes this version has a module for
DIRECTIONS = ("pull", "push", "both")
LAYOUTS = ("source", "fork")   # where a check or verify runs on an export: the source's tree, or the fork's
GATES = ("deny", "secrets", "syntax")
BUILTIN_CHECKS = ("clean",)   # `pre: [clean]`: refuse a fork checkout with uncommitted changes
ON_FAILURE = ("stop", "revert")   # merge mode: a failing commit waits for a person, or is merged and reverted
PULL_REQUESTS = ("merge", "commits")   # cherry-pick: a merged pull request is picked whole (-m 1) or commit by commit
TAKES = ("upstream", "fork", "regenerate")   # policy: what a conflicting hunk of a matching path takes
FORGES = ("auto", "github", "gitlab", "none")
# the terms a risk score can weigh (tasks/publish/risk.py computes them), and the seed's formula
# (files + 3 x failed checks + 5 x new failing tests + 2 if migrations) as the default weights
RISK_TERMS = ("files", "failed_checks", "new_failing_tests", "migrations", "lockfiles", "workflows", "both_changed",
              "conflicts")
DEFAULT_RISK_WEIGHTS = {"files": 1, "failed_checks": 3, "new_failing_tests": 5, "migrations": 2}
TITLE_FIELDS = ("source", "short_sha", "sha", "ref", "branch", "base")
DEFAULT_TITLE = "chore: sync with {source} {short_sha}"
DRIFT_GATE_KEYS = ("max_both_changed", "max_conflicts", "max_upstream_paths", "max_behind_commits")

MAX_FILES = 100_000     # slices.max_files: more files than any slice can hold is a typo
MAX_COMMITS = 10_000    # slices.max_commits: commits per range (merge) or per slice (cherry-pick)
MAX_TIMEOUT = 604_800   # a check's timeout, seconds: a week
MAX_CPUS = 4096
MAX_SLOTS = 256         # checks one engine (or the host) runs at once
ENGINE_SCHEMES = ("unix", "tcp", "ssh")   # DOCKER_HOST's forms
FILES = ("mount", "copy")   # how a container gets the worktree: bind-mounted, or copied in
DEFAULT_TIMEOUT = 1800

DEFAULT_IGNORE = ("**/node_modules/**", ".yarn/cache/**")
DEFAULT_DENY = (".env", ".env.*", "**/secrets/**")
# Templates that document a .env without holding one; they match ``.env.*`` but are not
# denied. A separate list, since our globs have no gitignore-style ``!`` negation.
DEFAULT_DENY_EXCEPT = (".env.example", ".env.sample", ".env.template")
DEFAULT_WAVES = {
    "a": {"paths": ["**/migrations/**", "**/auth/**", "**/security/**", "Dockerfile*", ".github/workflows/**"]},
    "b": {"buckets": ["*"]},
    "c": {"paths": ["**/*.md", "docs/**", "**/__tests__/**"]},
}
GLOB_CHARS = "*?["


def short(value: Any) -> str:
    """``repr`` cut to one short line (a pasted file or a 5,000-digit number must not flood the message)."""
    out = repr(value)
    return out if len(out) <= 80 else out[:77] + "..."


# --- checks beyond the schema (each gets a value that passed it) ---------------------------------

def _glob(pattern: str) -> Found:
    from tasks.globs import check_pattern  # pathspec loads only where globs are checked

    return check_pattern(pattern)


def _branch(name: str) -> Found:
    from tasks import refnames  # a git process each: only when a config is checked, never when recalled

    if name.startswith("refs/"):
        short_name = name.removeprefix("refs/heads/")
        return f"{name!r} is a full ref name; give the branch name alone ({short_name!r} for {name!r})"
    if not refnames.is_branch_name(name):
        return f"{name!r} is not a valid git branch name (git check-ref-format --branch)"
    return None


def _ref(ref: str) -> Found:
    from tasks import refnames

    glob = ref.startswith("tags/") and any(ch in ref for ch in GLOB_CHARS)  # follow the newest matching tag
    if not refnames.is_ref_name(re.sub(r"[*?]|\[[^]]*\]", "x", ref) if glob else ref):
        return f"{ref!r} is not a valid branch, tag or commit name (git check-ref-format)"
    return None


def _no_option(value: str) -> Found:
    return f"{value!r} starts with '-' and would be read as a git option" if value.startswith("-") else None


def _path(value: str) -> Found:
    try:
        Path(value).expanduser()
    except (RuntimeError, ValueError, OSError) as exc:  # ~nosuchuser, a path the OS cannot take
        return f"cannot use {short(value)} as a path ({exc})"
    return None


def _regex(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"not a valid regex ({exc})"
    return None


def _author(pattern: str) -> str | None:
    """``/regex/`` patterns compile (``tasks.core.conventional``); the others are globs over names."""
    return _regex(pattern[1:-1]) if len(pattern) > 1 and pattern[0] == pattern[-1] == "/" else None


def _inside_repository(to: str) -> Found:
    parts = to.split("/")
    if to.startswith("/") or ".." in parts or "\\" in to or any(p.lower().rstrip(". ") == ".git" for p in parts):
        return f"{to!r} must stay inside the repository (no leading '/', no '..', no '.git', no '\\')"
    return None


def _map_rule(rule: dict[str, Any]) -> Found:
    """A prefix maps onto a prefix of the same kind: ``doit`` onto ``acme_doit/`` would put ``doit/x``
    at ``acme_doit//x``, an empty name git refuses, and ``doit/`` onto ``acme_doit`` at ``acme_doitx``."""
    src, dst = rule["from"], rule["to"]
    if src == "" and dst and not dst.endswith("/"):
        return ("to", f"{dst!r} needs a trailing '/' when from is '' (the whole tree lands in a folder): "
                      f"write to: {dst}/")
    if src and dst and src.endswith("/") != dst.endswith("/"):
        folder, prefix = (src.rstrip("/") + "/", dst.rstrip("/") + "/"), (src.rstrip("/"), dst.rstrip("/"))
        return (f"from {src!r} and to {dst!r} disagree on the trailing '/'; write {{from: {folder[0]}, to: "
                f"{folder[1]}}} to map a folder, or {{from: {prefix[0]}, to: {prefix[1]}}} to map a name prefix")
    return None


def _junit(path: str) -> Found:
    if path.startswith("/") or ".." in path.split("/"):
        return f"{path!r} must be a path inside the worktree (no leading '/', no '..')"
    return None


def _http_url(url: str) -> Found:
    if not re.match(r"^https?://[^/\s]+", url):
        return f"expected an http(s) URL such as https://github.example.com, got {short(url)}"
    if "@" in url.split("/")[2]:
        return "credentials do not belong in the config; give them in the environment (FORKWAVE_TOKEN)"
    return None


def _repository(repo: str) -> Found:
    if not re.match(r"^[\w.-]+(/[\w.-]+)+$", repo) or ".." in repo.split("/"):
        return f"expected owner/name (GitLab: group/subgroup/project), got {short(repo)}"
    return None


_PERSON = re.compile(r"^@?[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?(?:/[A-Za-z0-9_.-]+)?$")


def _person_or_team(name: str) -> Found:
    return None if _PERSON.match(name) else f"{short(name)} is not a user name or org/team"


def _user(name: str) -> Found:
    return None if _PERSON.match(name) and "/" not in name else f"{short(name)} is not a user name"


def _label(label: str) -> Found:
    if "," in label or label != label.strip():
        return (f"{short(label)}: a label cannot hold ',' (GitLab reads a comma as a separator) or start or end "
                "with a space")
    return None


def _title(title: str) -> Found:
    fields = ", ".join("{" + f + "}" for f in TITLE_FIELDS)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(title) if name is not None]
    except ValueError as exc:
        return f"{exc} (write {{{{ and }}}} for literal braces)"
    unknown = [name for name in names if name not in TITLE_FIELDS]
    return f"unknown placeholder {{{unknown[0]}}}; use {fields}" if unknown else None


def _risk(risk: dict[str, Any]) -> Found:
    low, medium = risk.get("low", RISK_LOW), risk.get("medium", max(RISK_MEDIUM, risk.get("low", RISK_LOW)))
    if medium < low:
        return ("medium", f"{short(medium)} is below publish.risk.low ({short(low)}); medium starts above low")
    return None


def _fork(fork: dict[str, Any]) -> Found:
    # case-insensitive: on macOS and Windows refs/heads/Main and refs/heads/main are one file
    branch, sync = fork.get("branch", FORK_BRANCH), fork.get("sync_branch", SYNC_BRANCH)
    a, b = branch.lower(), sync.lower()
    if a == b:
        return ("sync_branch", f"{sync!r} is fork.branch itself; forkwave must never commit onto the fork's own "
                               "branch; name another branch (the default is sync/upstream)")
    if a.startswith(b + "/") or b.startswith(a + "/"):
        return ("sync_branch", f"{sync!r} and fork.branch {branch!r} cannot both exist in git (one would be a "
                               "folder of the other); name another branch")
    return None


def _check_kind(check: dict[str, Any]) -> Found:
    """A host command, a container (``image``/``node``) or a compose stack: the keys each needs."""
    if check.get("compose"):
        if not check.get("service"):
            return "a compose check needs 'service' (the test service whose exit code is the verdict)"
        if check.get("image"):
            return "give either 'image' or 'compose', not both"
    elif not check.get("run"):
        return "missing key 'run' (the command to run)"
    elif check.get("service"):
        return "'service' only applies to compose checks; add 'compose'"
    if check.get("node"):  # a node version or range, for forkwave/node images
        return _node(check)
    if "layout" in check and check.get("direction", "pull") == "pull":
        return "'layout' places a check on an export: give it direction push or both, or drop 'layout'"
    return None


def _node(check: dict[str, Any]) -> Found:
    from tasks.errors import ForkwaveError
    from tasks.nodeversions import node_spec

    if check.get("compose") or not (check.get("image") or "forkwave/node").startswith("forkwave/node"):
        return "'node' applies to forkwave/node images only; drop 'image' or 'node'"
    try:
        node_spec(check["node"], "")
    except ForkwaveError as exc:
        return ("node", str(exc).removeprefix(": "))
    return None


def _engine_url(url: str) -> Found:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ENGINE_SCHEMES or not rest.strip("/"):
        return (f"{short(url)} is no Docker endpoint; give unix:///path/docker.sock, tcp://host:2376 or "
                "ssh://user@host (as DOCKER_HOST takes them), or a Docker context's name in `context`")
    if scheme == "tcp" and "@" in rest.split("/")[0]:
        return "tcp:// takes no credentials; give TLS client certificates in `cert_path`"
    return None


def _engine(engine: dict[str, Any]) -> Found:
    """An engine is a URL or a context, not both; TLS certificates are for tcp:// only."""
    if ("url" in engine) == ("context" in engine):
        return "give either 'url' (unix://, tcp://, ssh://) or 'context' (a Docker context's name)"
    if "cert_path" in engine and not str(engine.get("url", "")).startswith("tcp://"):
        return ("cert_path", "TLS certificates apply to tcp:// engines (a context keeps its own)")
    return None


def _unique_engines(engines: list[dict[str, Any]]) -> Found:
    names = [e["name"] for e in engines if "name" in e]
    dupes = sorted({n for n in names if names.count(n) > 1})
    return f"engine name {dupes[0]!r} is used twice; names must be unique" if dupes else None


def _unique(noun: str) -> Any:
    def check(items: list[dict[str, Any]]) -> Found:
        names = [item["name"] for item in items]
        dupes = sorted({n for n in names if names.count(n) > 1})
        return f"{noun} name {dupes[0]!r} is used twice; names must be unique" if dupes else None
    return check


def _unique_commands(items: list[Any]) -> Found:
    names: list[str] = []
    for i, item in enumerate(items):
        name = item if isinstance(item, str) else item["name"]
        if name in names:
            return (f"{i}.name", f"{name!r} is used twice; give each its own name")
        names.append(name)
    return None


def _bounds(command: dict[str, Any]) -> Found:
    low, high = command.get("expected_min"), command.get("expected_max")
    if low is not None and high is not None and low > high:
        return f"expected_min {short(low)} is above expected_max {short(high)}; swap them"
    return None


def _rewrite(rule: dict[str, Any]) -> Found:
    found = _regex(rule["from"]) if rule.get("regex") else None
    return ("from", found) if found else None


# --- types --------------------------------------------------------------------------------------

NAME_RULE = "letters, digits, '.', '-' or '_'"
LOWER_RULE = "lowercase letters, digits, '-' or '_'"
LOWER_NAME = "^[a-z0-9][a-z0-9_-]*$"
GLOB = text(label="glob", check=_glob)
GLOBS = Items(GLOB, label="list of [globs](../guides/configuration.md#globs)")
STRINGS = Items(text(), label="list of strings")
BRANCH = text(label="branch name", check=_branch)
URL = text(label="URL or path", check=_no_option)
SHELL = text(label="shell command", pattern=r"\S", hint="a command, not blank")   # " " would pass doing nothing
NULLABLE_TEXT = text(null=True, empty=True, label="string or `null`")
HTTP_URL = text(null=True, label="http(s) URL", check=_http_url)


def names(check: Any, label: str) -> Items:
    return Items(text(check=check), label=label)


# --- the table ----------------------------------------------------------------------------------

FORK_BRANCH, SYNC_BRANCH = "main", "sync/upstream"
RISK_LOW, RISK_MEDIUM = 5, 15

URL_FIELD = Field("url", URL, "the repository: a URL, or a path relative to the config file", REQUIRED)
REF_FIELD = Field("ref", text(label="ref", check=_ref),
                  "the branch, tag or commit to follow; `tags/<glob>` (`tags/v*`) follows the newest matching "
                  "release tag", "main")

MAP_RULE = Obj((
    Field("from", text(empty=True, label="path prefix"), "an upstream path prefix (`\"\"`: the whole tree)",
          REQUIRED),
    Field("to", text(empty=True, label="path prefix", check=_inside_repository),
          "what it becomes in the fork; a folder maps onto a folder (both end in `/`)", REQUIRED),
), check=_map_rule, title="map[]")

REWRITE_RULE = Obj((
    Field("from", text(label="string or regex"), "the upstream text (a regex with `regex: true`)", REQUIRED),
    Field("to", text(empty=True), "what the fork writes instead", REQUIRED),
    Field("paths", GLOBS, "the fork-side files it applies to (default: every file)", ()),
    Field("regex", boolean(), "`from` is a Python regex and `to` may use its groups", False),
), check=_rewrite, title="rewrite[]")

COMMAND_FIELDS = (
    Field("name", text(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", rule=NAME_RULE, label="name"),
          "names it in reports and logs; unique in its list", REQUIRED),
    Field("run", SHELL, "run by `bash -c` in the private worktree", REQUIRED),
    Field("expected_exit_code", integer(0, 255), "the exit code that passes", 0),
    Field("expected_min", number(), "the last number it prints on stdout must be at least this", None),
    Field("expected_max", number(), "the last number it prints on stdout must be at most this", None),
    Field("timeout", duration(1, MAX_TIMEOUT), "killed (with its process group) after this long", DEFAULT_TIMEOUT),
)
COMMAND = Obj(COMMAND_FIELDS, check=_bounds, title="pre[], post[]")
VERIFY_WHEN = ("end", "each_wave")
LAYOUT = Field("layout", choice(*LAYOUTS),
               "on an export (direction push, both): `source` runs it in a git checkout of the exported tree, in the "
               "source's layout; `fork` in one of the fork's tree as the export leaves it, in the fork's layout",
               "source")
VERIFY_COMMAND = Obj((*COMMAND_FIELDS, LAYOUT, Field(
    "when", choice(*VERIFY_WHEN),
    "`end`: after the last wave the run reaches, so it judges what the run finished; `each_wave`: after every "
    "wave too (a threshold the half-synced tree must meet)", "end")), check=_bounds, title="verify[]")
COMMANDS = Items(Either((choice(*BUILTIN_CHECKS), COMMAND), label="`clean` or a command"), check=_unique_commands)

DRIFT_GATES = Obj(tuple(
    Field(key, integer(0, null=True), doc, None, shown="— (off)") for key, doc in (
        ("max_both_changed", "paths changed by both the fork and upstream"),
        ("max_conflicts", "of those, paths whose 3-way merge would conflict"),
        ("max_upstream_paths", "paths upstream changed that the plan would take"),
        ("max_behind_commits", "upstream commits since the base"))),
    title="drift_gates")

# a source's keys; with `upstream:` (one source) the shared ones are written at the top level
BASE = Field("base", NULLABLE_TEXT, "the upstream revision the fork last matched (sha, tag or branch)", None,
             shown="recorded state, else detected")
MAP = Field("map", Items(MAP_RULE), "path prefix rewrites upstream → fork; the first match wins", ())
REWRITE = Field("rewrite", Items(REWRITE_RULE),
                "content rewrites applied to upstream before comparing and importing, in order", ())
SCHEDULE = Field("schedule", NULLABLE_TEXT, "when CI runs it: a five-field cron, UTC (`doit ci` writes the workflow)",
                 None, shown="— (by hand only)")
DIRECTION = Field("direction", choice(*DIRECTIONS),
                  "`pull`: the source's changes into the fork; `push`: the fork's own work back; `both`", "pull")
PUSH_URL = Field("push_url", URL, "where a push exports to: the contributor's fork of the source (URL or path); "
                 "required for `push` and `both`", None)
CONTRIB_BRANCH = Field("contrib_branch", BRANCH, "the branch an export is pushed as",
                       Derived("`contrib/<fork folder name>`"))
VERIFY = Field("verify", Items(VERIFY_COMMAND, check=_unique_commands),
               "commands run on the sync tip after the last wave the run reaches, and on each export; one that "
               "does not pass holds the source's publishing (exit 2)", ())
SOURCE_DRIFT_GATES = Field("drift_gates", DRIFT_GATES,
                           "limits checked right after drift; over one, the run stops (exit 2)",
                           Derived("the top level's"))
# --- command sources: an entrypoint instead of a repository ----------------------------------------
# The keys only a command source reads (``run``/``push_run`` and what goes with them), and the ones only a
# repository source reads: the config refuses each on the other kind, in one line naming the key.
ENV_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"
COMMAND_ONLY = ("run", "push_run", "outputs", "inputs", "config", "sanitize", "image", "network", "cpus", "memory",
                "env", "timeout")
REPOSITORY_ONLY = ("ref", "mode", "paths", "base", "map", "rewrite", "min_age", "push_url", "contrib_branch")
OUTPUT_REF = "outputs"   # a command source's branch in its mirror: one commit per change of what it wrote

SANITIZE_RULE = Obj((
    Field("from", text(label="regex", check=_regex),
          "a Python regex, matched in the text of each file `run` writes and in what it prints", REQUIRED),
    Field("to", text(empty=True, label="placeholder"), "what each match becomes (`\\1` is its first group)",
          REQUIRED),
), title="sources[].sanitize[]")

ENTRY_TIMEOUT = Field("timeout", duration(1, MAX_TIMEOUT), "killed (process group or container) after this long",
                      DEFAULT_TIMEOUT)
ENTRY_ENV = Field("env", Keys(Scalar({"type": ["string", "number", "boolean"]}, "string, number or boolean"),
                              placeholder="<VARIABLE>"), "environment variables the entrypoints get", {})
ENTRY_IMAGE = Field("image", text(label="image"),
                    "run the entrypoints in a container of this image (the config's folder at `/workspace`, "
                    "read-only)", None, shown="— (on the host)")
ENTRY_NETWORK = Field("network", text(), "the container's network (`none`, a network name)", None,
                      shown="`containers.network`")
ENTRY_CPUS = Field("cpus", number(above=0, high=MAX_CPUS), "CPUs the container may use", None)
ENTRY_MEMORY = Field("memory", text(pattern="^[0-9]{1,15}[bkmgBKMG]?$", hint="a size such as 512m or 4g",
                                    label="size"), "memory the container may use (`512m`, `4g`)", None)
FAIL_ON_DIFF = Field("fail_on_diff", boolean(),
                     "`doit drift` (and any run) stops with exit 2 while the source has upstream work the fork "
                     "lacks: a CI job that only watches; `doit fail_on_diff=0` syncs it anyway", False)

SOURCE = Obj((
    Field("name", text(pattern=LOWER_NAME, rule=LOWER_RULE, label="name"),
          "names its tasks (`fetch:<name>`) and reports folder (`reports/sources/<name>/`)", REQUIRED),
    Field("url", URL, "the repository: a URL, or a path relative to the config file; a command source gives "
                      "`run`/`push_run` instead", None, shown="— (or `run`)"),
    Field("run", SHELL, "a command source: the entrypoint that writes the source's files into `$FORKWAVE_OUT` "
                        "(`bash -c`, in the config file's folder or in `image`); instead of `url`", None),
    Field("push_run", SHELL, "a command source that pushes: the entrypoint that takes the fork's changed `inputs` "
                             "(their paths on stdin, the files under `$FORKWAVE_IN`); run by `doit publish`", None),
    Field("outputs", Items(GLOB, min_items=1, label="list of globs"),
          "the files `run` writes that the source owns in the fork (its `paths`); required with `run`", ()),
    Field("inputs", Items(GLOB, min_items=1, label="list of globs"),
          "the fork's files `push_run` takes; required with `push_run`", ()),
    Field("config", Keys(Scalar({}, "any value"), names={"pattern": ENV_NAME, "x-rule": "letters, digits or '_'"}),
          "given to the entrypoints as a JSON file (`$FORKWAVE_CONFIG`) and each string, number or boolean as "
          "`FORKWAVE_CONFIG_<NAME>` (upper case)", {}),
    Field("sanitize", Items(SANITIZE_RULE),
          "rules applied to what `run` writes and prints, before the secrets scan replaces what it finds with "
          "`<redacted:KIND>`", ()),
    ENTRY_IMAGE, ENTRY_NETWORK, ENTRY_CPUS, ENTRY_MEMORY, ENTRY_ENV, ENTRY_TIMEOUT,
    REF_FIELD,
    Field("mode", choice(*MODES), "how its changes become slices", "snapshot"),
    Field("paths", Items(GLOB, min_items=1, label="list of globs"),
          "the fork-side paths it owns; required with several sources (except cherry-pick)", ("**",)),
    BASE, MAP,
    Field("ignore", GLOBS, "paths drift leaves out", Derived("the top-level `ignore`")),
    Field("deny", GLOBS, "paths never imported (case-insensitive), listed as blocked", Derived("the top-level `deny`")),
    REWRITE, SCHEDULE, DIRECTION, PUSH_URL, CONTRIB_BRANCH, VERIFY, SOURCE_DRIFT_GATES, FAIL_ON_DIFF,
    Field("min_age", duration(0), "cooldown: only upstream commits at least this old", 0),
    Field("on_failure", choice(*ON_FAILURE),
          "`stop`: a failing commit waits for a person; `revert`: it is merged, reverted, and the rest goes on",
          "stop", mode="merge"),
    Field("branch", text(), "the integration branch: a valid branch other than `fork.branch`",
          Derived("`sync/<name>`"), mode="cherry-pick"),
    Field("types", STRINGS, "conventional-commit types to pick (`[\"*\"]`: any)", ("feat", "fix", "perf", "refactor"),
          mode="cherry-pick"),
    Field("scopes", STRINGS, "globs; one of a commit's scopes must match (default: any)", (), mode="cherry-pick"),
    Field("exclude_authors", Items(text(check=_author), label="list of globs or `/regex/`"),
          "commits by these authors are skipped", (), mode="cherry-pick"),
    Field("review_breaking", boolean(), "a breaking change is picked and listed for review", True,
          mode="cherry-pick"),
    Field("pull_requests", choice(*PULL_REQUESTS),
          "a merge on the source's main line is a pull request: `merge` picks it as one change (its diff against "
          "its first parent, filtered by the PR title's type and scope, else its commits'); `commits` picks its "
          "commits one by one, each filtered", "merge", mode="cherry-pick"),
), check=None, title="sources[]")


SHARED = (BASE, MAP, REWRITE, SCHEDULE, DIRECTION, PUSH_URL, CONTRIB_BRANCH, VERIFY, FAIL_ON_DIFF)


def shorthand(f: Field) -> Field:
    """A source key written at the top level, for the one ``upstream:`` source."""
    return Field(f.name, f.type, f"with `upstream:`, the source's [`{f.name}`](#sources); with `sources:`, give it "
                                 "per source", f.default, f.check, f.shown)


CHECK = Obj((
    Field("name", text(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", rule=NAME_RULE, label="name"),
          "names the JUnit testcase and the reports' rows; unique", REQUIRED),
    Field("run", SHELL, "the command; required unless `compose`", None),
    Field("when", GLOBS, "run only when the slice changes a matching path (default: always)", ()),
    Field("timeout", duration(1, MAX_TIMEOUT), "killed (process group, container or stack) after this long",
          DEFAULT_TIMEOUT),
    Field("env", Keys(Scalar({"type": ["string", "number", "boolean"]}, "string, number or boolean"),
                      placeholder="<VARIABLE>"), "environment variables it gets", {}),
    Field("image", text(label="image"), "run in a container of this image (the worktree at `/workspace`)", None),
    Field("node", text(label="version or range"),
          "a node version or npm range: run in `forkwave/node:<version>`", None, shown="the repository's pins"),
    Field("network", text(), "the container's network (`none`, a network name)", None,
          shown="`containers.network`"),
    Field("cpus", number(above=0, high=MAX_CPUS), "CPUs the container may use", None),
    Field("memory", text(pattern="^[0-9]{1,15}[bkmgBKMG]?$", hint="a size such as 512m or 4g", label="size"),
          "memory the container may use (`512m`, `4g`)", None),
    Field("compose", text(label="path"), "a docker compose file: run `service` as a test stack", None),
    Field("service", text(), "the compose service whose exit code is the verdict", None),
    Field("junit", text(label="path", check=_junit),
          "a JUnit XML file the check writes (worktree-relative): test-level gating", None),
    Field("direction", choice(*DIRECTIONS),
          "`pull`: judges the sync branch's candidates; `push`: an export, in the source's tree; `both`", "pull"),
    LAYOUT,
), check=_check_kind, title="checks[]")

ENGINE = Obj((
    Field("name", text(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", rule=NAME_RULE, label="name"),
          "names it in reports and its cache folder; unique",
          Derived("the context's name, the URL's host, or `local` for a `unix://` socket (`-2`, `-3` when taken)")),
    Field("url", text(label="URL", check=_engine_url),
          "a `DOCKER_HOST`: `unix:///var/run/docker.sock`, `tcp://host:2376` (TLS: `cert_path`), `ssh://user@host`",
          None, shown="— (or `context`)"),
    Field("context", text(label="context name", check=_no_option),
          "a Docker context's name (`docker context ls`) instead of `url`", None, shown="— (or `url`)"),
    Field("slots", integer(1, MAX_SLOTS), "checks it runs at once", 1),
    Field("files", choice(*FILES),
          "`mount`: containers mount the worktree (the engine runs on this machine); `copy`: it is copied into each "
          "container (`node_modules` left out) and a `junit` file copied back",
          Derived("`mount` for `unix://` (a context: its endpoint's), else `copy`")),
    Field("cert_path", text(label="path", check=_path),
          "a folder with `ca.pem`, `cert.pem`, `key.pem` for a `tcp://` engine's TLS (as `DOCKER_CERT_PATH`)", None),
    Field("tls_verify", boolean(), "check the engine's certificate against `ca.pem` (as `DOCKER_TLS_VERIFY`)", True),
), check=_engine, title="containers.engines[]")

PUBLISH = Obj((
    Field("remote", text(label="remote or URL", check=_no_option), "a remote of the fork, or a URL", "origin"),
    Field("forge", choice(*FORGES), "`auto` reads the remote's host", "auto"),
    Field("url", HTTP_URL, "the forge's web address, for a self-hosted one", None, shown="from the remote"),
    Field("api", HTTP_URL, "the forge's REST API, when elsewhere", None, shown="the forge's usual"),
    Field("repository", text(null=True, label="`owner/name`", check=_repository),
          "`owner/name` (GitLab: `group/subgroup/project`)", None, shown="from the remote's URL"),
    Field("report_url", HTTP_URL, "where the full reports are, linked from a trimmed body", None,
          shown="the CI run"),
    Field("title", text(check=_title), "the pull request's title; placeholders " +
          ", ".join(f"`{{{f}}}`" for f in TITLE_FIELDS), DEFAULT_TITLE),
    Field("labels", names(_label, "list of labels"), "labels besides `risk:*` and `conflicts`", ("upstream-sync",)),
    Field("reviewers", names(_person_or_team, "list of users or org/team"), "asked to review, once", ()),
    Field("assignees", names(_user, "list of users"), "assigned the pull request", ()),
    Field("conflict_reviewers", names(_person_or_team, "list of users or org/team"),
          "asked only while there are conflicts", ()),
    Field("draft", choice("auto", True, False), "`auto`: a draft while anything is deferred, conflicted or failing",
          "auto"),
    Field("automerge_max", number(0, 1_000_000, null=True), "the highest risk that merges by itself; `null`: never", 5),
    Field("merge_method", choice("merge", "squash", "rebase"), "how it merges (GitHub)", "merge"),
    Field("risk", Obj((
        Field("weights", Keys(number(0, 1_000_000), names={"enum": list(RISK_TERMS)}, placeholder="<term>"),
              "a term's weight in the risk score; a term not named keeps its default", DEFAULT_RISK_WEIGHTS,
              shown="`files: 1, failed_checks: 3, new_failing_tests: 5, migrations: 2`"),
        Field("low", number(0, 1_000_000), "`risk:low` up to this score", RISK_LOW),
        Field("medium", number(0, 1_000_000), "`risk:medium` up to this score, `risk:high` above",
              Derived("`15` (or `low`, when higher)")),
    ), check=_risk, title="publish.risk"), "the risk score's weights and labels", {}),
), title="publish")

WAVE = Obj((
    Field("buckets", Items(text(), label="list of bucket names or globs"),
          "buckets it takes: a name from `buckets` (checked), or a glob over bucket names (`\"*\"`)", ()),
    Field("paths", GLOBS, "paths it takes (globs may match nothing yet)", ()),
), title="waves.<name>")

CONFIG = Obj((
    Field("upstream", Obj((URL_FIELD, REF_FIELD), title="upstream"),
          "one source, named `upstream`; or give `sources`", Derived("— (or `sources`)")),
    Field("sources", Items(SOURCE, min_items=1, check=_unique("source")),
          "several sources: where changes come from; or give `upstream`", Derived("— (or `upstream`)")),
    Field("fork", Obj((
        Field("path", text(label="path", check=_path), "the fork's checkout, relative to the config file", REQUIRED),
        Field("branch", BRANCH, "the fork's own branch: forkwave never commits on it", FORK_BRANCH),
        Field("sync_branch", BRANCH, "where adopted work lands (never `branch`)", SYNC_BRANCH),
    ), check=_fork, title="fork"), "the repository being synced", REQUIRED),
    shorthand(BASE), shorthand(MAP),
    Field("ignore", GLOBS, "paths drift leaves out; every source's default", DEFAULT_IGNORE),
    Field("deny", GLOBS, "paths never imported (case-insensitive), listed as blocked; every source's default",
          DEFAULT_DENY),
    shorthand(SCHEDULE),
    Field("deny_except", GLOBS, "paths `deny` matches that are let through (templates of `.env`)",
          DEFAULT_DENY_EXCEPT),
    Field("secrets", Obj((
        Field("allow", names(_regex, "list of regexes"), "a finding whose value or line one matches is dropped", ()),
        Field("paths", GLOBS, "files not scanned for secrets", ()),
    ), title="secrets"), "the secrets gate's exceptions", {}),
    Field("buckets", Items(Obj((
        Field("name", text(label="name"), "what reports group by, and waves name", REQUIRED),
        Field("paths", GLOBS, "its paths; the first bucket that matches a path wins", REQUIRED),
    ), title="buckets[]")), "named groups of paths (default: `packages/<name>`, else the top-level folder)", ()),
    Field("waves", Keys(WAVE, names={"pattern": LOWER_NAME, "x-rule": LOWER_RULE}, min_items=1),
          "priority tiers, in order: a path goes to the first wave that names it", DEFAULT_WAVES,
          shown="`a`: migrations, auth, security, Dockerfiles, workflows; `b`: every bucket; `c`: docs and tests"),
    Field("slices", Obj((
        Field("max_files", integer(1, MAX_FILES), "files per slice (snapshot)", 25),
        Field("max_commits", integer(1, MAX_COMMITS), "commits per range (merge) or per slice (cherry-pick)", 20),
    ), title="slices"), "how large a slice may be", {}),
    Field("checks", Items(CHECK, check=_unique("check")), "validation steps run on each slice's candidate", ()),
    shorthand(REWRITE),
    Field("deletions", choice("apply", "report"),
          "upstream-deleted files the fork never touched: `apply` removes them, `report` lists them", "apply"),
    Field("gating", choice("baseline", "strict"),
          "`baseline`: a check already failing on the sync branch does not block; `strict`: it does", "baseline"),
    Field("batch", boolean(),
          "judge everything a run lands at once before any slice, and search only when that fails; `false`: "
          "each slice judged on its own", True),
    Field("containers", Obj((
        Field("ca_bundle", text(null=True, empty=True, label="path or `null`", check=_path),
              "a CA bundle mounted and trusted inside containers", None),
        Field("pass_env", STRINGS, "host variables passed into containers", ()),
        Field("network", text(null=True), "every container's network, unless a check names its own", None),
        Field("engines", Items(ENGINE, min_items=1, check=_unique_engines),
              "the Docker engines container and compose checks are spread over (the first one resolves images)",
              Derived("the local engine (`DOCKER_HOST`, else the default socket), 1 slot")),
    ), title="containers"), "what every container check gets, and the engines they run on", {}),
    Field("host", Obj((
        Field("slots", integer(1, MAX_SLOTS), "host checks run at once (each candidate in its own worktree)", 1),
    ), title="host"), "where host checks run: this machine", {}),
    Field("gates", Items(choice(*GATES), label="list of " + ", ".join(f"`{g}`" for g in GATES)),
          "built-in gates run on every slice", GATES),
    Field("couple", Items(Items(GLOB, min_items=1), label="list of lists of globs"),
          "your own coupled groups: the paths one list matches are adopted together", ()),
    Field("publish", PUBLISH, "`doit publish`: the push, the pull request, auto-merge", {}),
    shorthand(DIRECTION), shorthand(PUSH_URL), shorthand(CONTRIB_BRANCH), shorthand(VERIFY), shorthand(FAIL_ON_DIFF),
    Field("drift_gates", DRIFT_GATES, "every source's drift limits (a source's own `drift_gates` override them)", {}),
    Field("pre", COMMANDS, "run on the fork tip before anything is compared or imported (`clean`: built in)", ()),
    Field("post", COMMANDS, "run on the sync tip after every wave", ()),
    Field("policy", Items(Obj((
        Field("paths", Items(GLOB, min_items=1, label="list of globs"), "the paths it applies to", REQUIRED),
        Field("take", choice(*TAKES), "what a conflicting hunk takes (`regenerate`: upstream's, listed for a check)",
              REQUIRED),
    ), title="policy[]")), "per-path sides for 3-way merges; the first match wins", ()),
), title="")

SCHEMA: dict[str, Any] = CONFIG.schema()
# a source's keys written at the top level: the one `upstream:` source's; ignore, deny and drift_gates are also
# every source's default beside `sources:`
SOURCE_KEYS = tuple(f.name for f in SHARED) + ("ignore", "deny", "drift_gates")
MODE_ONLY = tuple((f.name, f.mode) for f in SOURCE.fields if f.mode)


def default(path: str) -> Any:
    """The default of a key by its reference path (``fork.branch``, ``checks[].timeout``)."""
    return _default(CONFIG, path)


def field(path: str) -> Field:
    return _find(CONFIG, path)


EXAMPLE_CONFIG = """upstream: {url: https://github.com/twentyhq/twenty.git}
fork: {path: ../my-fork}
buckets:
  - {name: server, paths: ["packages/acme-server/**"]}
  - {name: front, paths: ["packages/acme-front/**"]}
waves:
  a:
    buckets: [sever]
"""
EXAMPLE_ERROR = ("forkwave: error: /srv/sync/forkwave.yaml:8:15: key 'waves.a.buckets.0': 'sever' names no bucket "
                 "(buckets: front, server); did you mean 'server'?")
INTRO = f"""# Configuration reference

<!-- Generated from tasks/configkeys.py by `python -m tasks.configkeys > docs/reference/config.md`; do not edit. -->

Every key of `forkwave.yaml`, with its type, default and meaning. Only `fork.path` and one of
`upstream` or `sources` are required; relative paths are relative to the config file. The
[guide to writing forkwave.yaml](../guides/configuration.md) shows a full config and says how each part behaves.

A config error is one line naming the file, the line and column, and the key, and exits 1.
This `forkwave.yaml`

```yaml
{EXAMPLE_CONFIG}```

stops every command with

```
{EXAMPLE_ERROR}
```

`key[]` is a list of entries, `key.<name>` a mapping whose keys you choose.
"""

OUTRO = """## Durations

Every time key (`checks[].timeout`, `verify[].timeout`, `pre[].timeout`, `post[].timeout`,
`sources[].min_age`) takes the same forms: a number of seconds (`90`, `1.5`), or digits with
units — `s`, `m`, `h`, `d`, `w` — one or more of them: `90`, `15m`, `1h30m`, `3d`, `1w2d`.
"""


def reference_page() -> str:
    return reference(CONFIG, INTRO, OUTRO)


def _main() -> None:
    import sys

    sys.stdout.write(reference_page())


if __name__ == "__main__":
    _main()

