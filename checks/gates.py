"""Built-in gates: deny-listed paths, credentials the slice introduces, files that stop parsing.

Each gate names the files it blames (``Result.files``), so a slice defers exactly those
without bisecting, and each compares with the parent commit (the sync tip): what was
already there is reported as pre-existing and does not block.
"""
from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import json5
import yaml

from checks.model import FAILED, PASSED, PREEXISTING, Result
from tasks.config import SecretsPolicy
from tasks.repo import git
from tasks.globs import denied, globs
from tasks.redact import redact_text

if TYPE_CHECKING:  # detect-secrets (and requests) load when a secrets gate runs, not for `doit list`
    from checks.secrets import Finding, Scanner


def deny_gate(files: Sequence[str], deny: Sequence[str], root: Path) -> Result:
    """No deny-listed path among ``files``; case-insensitive (``.ENV`` is ``.env`` on macOS and Windows)."""
    matches = denied(deny)
    hits = [f for f in files if matches(f)]
    if hits:
        return Result("deny", FAILED, 0.0, f"{len(hits)} deny-listed path(s) in the slice: {', '.join(hits[:5])}",
                      kind="gate", files=tuple(hits))
    return Result("deny", PASSED, 0.0, kind="gate")


@dataclass(frozen=True)
class GateInput:
    """What a gate looks at: the part's written files in the candidate's worktree, and the parent
    (the sync tip the candidate builds on) in the fork, so that only what the part introduces counts."""

    files: Sequence[str]
    root: Path
    deny: Sequence[str] = ()
    repo: Path | None = None
    parent: str | None = None
    secrets: SecretsPolicy = SecretsPolicy()
    deny_except: Sequence[str] = ()

    def parent_blobs(self, paths: Sequence[str]) -> dict[str, bytes | None]:
        """Each path's content at the parent (None: not a file there); {} without a parent."""
        if self.repo is None or self.parent is None or not paths:
            return {}
        return git.read_paths(self.repo, self.parent, paths)


def _files_in_root(gate: GateInput) -> Iterator[tuple[str, Path]]:
    """Regular files only: a symlink's target is checked by path safety, not read through."""
    for f in gate.files:
        path = gate.root / f
        if not path.is_symlink() and path.is_file():
            yield f, path


def find_secrets(text: str, path: str = "snippet.txt", allow: Sequence[str] = ()) -> list[tuple[int, str]]:
    """(line number, kind) for each credential in ``text`` — never the value itself."""
    from checks.secrets import Scanner

    scanner = Scanner(allow)
    with scanner.active():
        return [(f.line, f.kind) for f in scanner.scan_bytes(path, text.encode("utf-8", "surrogateescape"))]


def secrets_gate(gate: GateInput) -> Result:
    """Credentials the part introduces: findings whose value the parent's version of the file lacks.

    A file that cannot be read fails the gate (nothing unscanned is adopted) unless
    ``secrets.paths`` names it.
    """
    from checks.secrets import Scanner

    skip = globs(tuple(gate.secrets.paths))
    scanner = Scanner(gate.secrets.allow)
    found: dict[str, list[Finding]] = {}
    unreadable: list[str] = []
    with scanner.active():
        for f, path in _files_in_root(gate):
            if skip(f):
                continue
            try:
                hits = scanner.scan_file(f, path)
            except OSError as exc:
                unreadable.append(f"{f}: could not scan ({exc.strerror or exc}); list it in secrets.paths to skip it")
                continue
            if hits:
                found[f] = hits
        before = _parent_digests(scanner, gate, sorted(found))
    new = {f: [h for h in hits if h.digest not in before.get(f, set())] for f, hits in found.items()}
    old = [h for f, hits in found.items() for h in hits if h.digest in before.get(f, set())]
    blamed = sorted({f for f, hits in new.items() if hits} | {u.split(": ", 1)[0] for u in unreadable})
    lines = [str(h) for f in sorted(new) for h in new[f]] + unreadable
    lines += [f"{h} (pre-existing: already on the sync branch, not blocking)" for h in sorted(old)]
    if blamed:
        count = len(lines) - len(old)
        return Result("secrets", FAILED, 0.0, f"{count} possible credential(s): {lines[0]}", stdout="\n".join(lines),
                      kind="gate", files=tuple(blamed))
    if old:
        return Result("secrets", PREEXISTING, 0.0, f"pre-existing: {len(old)} possible credential(s) already on "
                      f"the sync branch, not blocking: {old[0]}", stdout="\n".join(lines), kind="gate")
    return Result("secrets", PASSED, 0.0, kind="gate")


def _parent_digests(scanner: Scanner, gate: GateInput, paths: Sequence[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path, data in gate.parent_blobs(paths).items():
        if data is not None:
            out[path] = {h.digest for h in scanner.scan_bytes(path, data)}
    return out


# JSON with comments and trailing commas, as TypeScript, VS Code and dev containers read it.
_JSONC = globs(("tsconfig*.json", "jsconfig*.json", "**/.vscode/*.json", "**/.devcontainer/*.json", "devcontainer.json",
                "*.jsonc", "*.json5", ".eslintrc.json", ".babelrc", ".swcrc", "api-extractor.json"))
_SUFFIXES = (".json", ".jsonc", ".json5", ".yaml", ".yml", ".toml", ".py")


def _parser(path: str) -> Callable[[bytes], object] | None:
    if _JSONC(path):
        return lambda data: json5.loads(data.decode("utf-8"))
    suffix = PurePosixPath(path).suffix
    if suffix == ".json":
        return lambda data: json.loads(data.decode("utf-8"))
    if suffix in (".yaml", ".yml"):
        return lambda data: list(yaml.safe_load_all(data.decode("utf-8")))
    if suffix == ".toml":
        return lambda data: tomllib.loads(data.decode("utf-8"))
    if suffix == ".py":
        return lambda data: compile(data, path, "exec", dont_inherit=True)
    return None


def parse_error(path: str, data: bytes) -> str | None:
    """Why ``data`` does not parse as what ``path`` says it is (first line), or None."""
    parser = _parser(path)
    if parser is None:
        return None
    try:
        parser(data)
    except (ValueError, yaml.YAMLError, SyntaxError, UnicodeDecodeError, RecursionError, MemoryError) as exc:
        text = str(exc)
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def syntax_gate(gate: GateInput) -> Result:
    """Touched JSON (JSONC where tools allow comments), YAML, TOML and Python files parse; a file
    that already failed to parse on the parent is pre-existing (the fork's own breakage), not blocking."""
    errors: dict[str, str] = {}
    for f, path in _files_in_root(gate):
        if _parser(f) is None:
            continue
        try:
            problem = parse_error(f, path.read_bytes())
        except OSError as exc:
            problem = f"could not read ({exc.strerror or exc})"
        if problem:
            errors[f] = redact_text(problem)  # a parser may quote the text it choked on
    parents = gate.parent_blobs(sorted(errors))
    old = sorted(f for f in errors if parents.get(f) is not None and parse_error(f, parents[f]))  # type: ignore[arg-type]
    new = sorted(set(errors) - set(old))
    lines = [f"{f}: {errors[f]}" for f in new] + [f"{f}: {errors[f]} (pre-existing: does not parse on the sync "
                                                  "branch either, not blocking)" for f in old]
    if new:
        return Result("syntax", FAILED, 0.0, f"{len(new)} file(s) do not parse: {lines[0]}", stdout="\n".join(lines),
                      kind="gate", files=tuple(new))
    if old:
        return Result("syntax", PREEXISTING, 0.0, f"pre-existing: {len(old)} file(s) already fail to parse on the "
                      f"sync branch, not blocking: {lines[0]}", stdout="\n".join(lines), kind="gate")
    return Result("syntax", PASSED, 0.0, kind="gate")


def _deny(gate: GateInput) -> Result:
    """deny_gate on the files the default exceptions (``.env.example`` and kin) do not cover."""
    excepted = denied(gate.deny_except)  # as case-blind as the deny list it carves out of
    return deny_gate([f for f in gate.files if not excepted(f)], gate.deny, gate.root)


GATES: dict[str, Callable[[GateInput], Result]] = {"deny": _deny, "secrets": secrets_gate, "syntax": syntax_gate}


def run_gate(name: str, files: Sequence[str] | GateInput, deny: Sequence[str] = (), root: Path | None = None,
             **context: object) -> Result:
    """Run one gate, timed. Either a ``GateInput``, or its fields (``files, deny, root``, then by keyword
    ``repo``, ``parent``, ``secrets``, ``deny_except``)."""
    gate = files if isinstance(files, GateInput) else GateInput(files, root or Path("."), deny, **context)  # type: ignore[arg-type]
    start = time.monotonic()
    result = GATES[name](gate)
    return replace(result, duration=time.monotonic() - start, kind="gate")


NOUNS = {"secrets": "possible credential(s)", "syntax": "file(s) do not parse", "deny": "deny-listed path(s)"}


def narrow(result: Result, files: Sequence[str]) -> Result:
    """A gate's failure told for some of the files it blames only (each deferred file gets its own reason)."""
    if result.kind != "gate" or not result.files or set(result.files) <= set(files):
        return result
    mine = [f for f in result.files if f in set(files)]
    if not mine:
        return result
    lines = [ln for ln in result.stdout.splitlines() if any(ln.startswith(f"{f}:") for f in mine)] or mine
    return replace(result, files=tuple(mine), stdout="\n".join(lines),
                   message=f"{len(lines)} {NOUNS.get(result.name, 'finding(s)')}: {lines[0]}")
