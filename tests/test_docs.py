"""The docs tell the truth: the generated commands page is current, every relative link lands on a file and a
heading, every `doit …`/`forkwave …` command they show names real tasks and variables, and the exit-code table
says what ``tasks.exitcodes`` means."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT
from tasks import cli, commandref, exitcodes, fields
from tasks.context import VARIABLES

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
COMMANDS_PAGE = ROOT / "docs" / "reference" / "commands.md"
DOIT_COMMANDS = ("list", "help", "clean", "forget", "info", "ignore", "dumpdb", "reset-dep", "strace", "tabcompletion",
                 "auto", "run")
FENCE = re.compile(r"^(```|~~~)")


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --- the generated commands page ----------------------------------------------------------

def test_the_committed_commands_page_is_current() -> None:
    assert COMMANDS_PAGE.read_text(encoding="utf-8") == commandref.page(), (
        f"docs/reference/commands.md is stale; regenerate it with `{commandref.REGENERATE}`")


def test_the_regenerate_command_prints_the_page() -> None:
    out = subprocess.run([sys.executable, "-m", "tasks.commandref"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out == commandref.page() and commandref.REGENERATE in out


def test_the_pages_tasks_are_the_ones_doit_list_shows(tmp_path: Path) -> None:
    """The bundled demo's `doit list`: every task it shows is on the page, and the page shows no other."""
    listed = subprocess.run([str(Path(sys.executable).parent / "doit"), "-f", str(ROOT / "tasks" / "dodo.py"),
                             "-d", str(tmp_path), "list"], capture_output=True, text=True, check=True).stdout
    shown = {line.split()[0] for line in listed.splitlines() if line.strip()}
    waves = {t for t in shown if t.startswith("wave_")}
    assert waves == {"wave_a", "wave_b", "wave_c"}                         # the demo's three waves
    assert (shown - waves) | {commandref.WAVE} == set(commandref.tasks())
    for task, doc in commandref.tasks().items():                           # and says of each what doit list says
        if task != commandref.WAVE:
            assert doc.startswith(next(line.split(None, 1)[1] for line in listed.splitlines()
                                       if line.split()[0] == task).rstrip()), task


def test_every_variable_has_a_row() -> None:
    page = COMMANDS_PAGE.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+)=", page, re.M)
    assert rows == [v.name for v in VARIABLES]


# --- exit codes -----------------------------------------------------------------------------

def test_the_exit_code_table_is_the_codes_meanings() -> None:
    page = (ROOT / "docs" / "reference" / "exit-codes.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d) \| (.+) \|$", page, re.M))
    assert {int(code) for code in rows} == set(exitcodes.MEANING)
    for code, meaning in exitcodes.MEANING.items():
        assert rows[str(code)].startswith(meaning), (code, rows[str(code)])


# --- links ----------------------------------------------------------------------------------

def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: ``fields.anchor``, a repeated one with ``-1``, ``-2``..."""
    seen: Counter[str] = Counter()
    found = set()
    for line in _unfenced(page.read_text(encoding="utf-8")):
        heading = re.match(r"^#{1,6} (.+?)\s*#*$", line)
        if heading:
            text = re.sub(r"`([^`]*)`", r"\1", heading.group(1))
            base = fields.anchor(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    """The relative link targets in the page's prose (web and mail links are others' to keep)."""
    text = page.read_text(encoding="utf-8")
    spans = [re.sub(r"`[^`]*`", lambda m: " " * len(m.group(0)), line) for line in _unfenced(text)]
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", "\n".join(spans))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def _unfenced(text: str) -> list[str]:
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def test_the_link_checker_sees_links_and_anchors() -> None:
    readme = ROOT / "README.md"
    assert "docs/tutorial.md" in links(readme) and "what-forkwave-leaves-you" not in anchors(readme)
    assert "ci-quick-start" in anchors(readme) and "a-minimal-config" in anchors(readme)


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_lands_on_a_file_and_heading(page: Path) -> None:
    bad = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            bad.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
        elif ROOT not in dest.parents and dest != ROOT:
            bad.append(f"{target}: outside the repository")
    assert not bad, bad


# --- commands -------------------------------------------------------------------------------

def commands_in(text: str) -> list[str]:
    """Every `doit …`/`forkwave …` command the text shows: a code span that starts with one, and each line of a
    code block that runs one (after `$ `, environment assignments or `.venv/bin/`), cut at `#`, `;`, `&&`, `|`."""
    found = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            found += _runs(line)
        else:
            found += [span for span in re.findall(r"`([^`]+)`", line) if re.match(r"(doit|forkwave)(\s|$)", span)]
    return found


def _runs(line: str) -> list[str]:
    code = re.split(r"\s#|^#|[─│├└┌┐┘→←]", line, maxsplit=1)[0]   # a comment, or a diagram's lines after it
    out = []
    for part in re.split(r"\|\||&&|;|\s\|\s", code):
        words = part.strip().removeprefix("$ ").split()
        while words and re.match(r"[A-Z_][A-Z0-9_]*=", words[0]):          # FORKWAVE_SHOW_TASKS=1 doit
            words.pop(0)
        if words and re.fullmatch(r"(\S*/)?(doit|forkwave)", words[0]):
            out.append(" ".join(["doit", *words[1:]]))
    return out


# a word that stands for what a person fills in: TASK, ARGS, slice-N, [--all], <any>, key=value…
PLACEHOLDER = re.compile(r"[\[\]…]|^\.\.\.$|^[A-Z][A-Z_]*$|(^|[-:_])[A-Z]+$")
# what the docs show as a mistake on purpose (and what forkwave answers): each must really be one
MISTAKES = {"doit dyr=1", "doit valdate:slice-1", "doit wavea"}


def judged(command: str) -> tuple[list[str], list[str]]:
    """The command's task names and variable names, read as doit reads them (``tasks.cli``), placeholders left out."""
    command = re.sub(r"<[^>]*>", "ANY", command).replace("\\|", "|")
    try:
        argv = shlex.split(command)[1:]
    except ValueError:
        argv = command.split()[1:]
    request = cli.parse(argv)
    tasks = [t for t in request.tasks if not PLACEHOLDER.search(t)]
    if request.command == "help":
        tasks = [t for t in tasks if t not in DOIT_COMMANDS]
    return tasks, [v for v, value in cli.variables(argv).items() if not PLACEHOLDER.search(v) and "…" not in value]


def known_task(task: str) -> bool:
    group, _, sub = task.partition(":")
    names = set(commandref.tasks()) - {commandref.WAVE}
    if re.fullmatch(r"wave_[a-z0-9_-]+", group):
        return not sub
    if "*" in task:
        return True
    return group in names and (not sub or re.fullmatch(r"[a-z0-9_.-]+", sub) is not None)


def test_the_command_reader_sees_spans_and_blocks() -> None:
    text = ("Run `doit drift full=1`, or `forkwave`; `doit` alone.\n\n```sh\n"
            "FORKWAVE_SHOW_TASKS=1 .venv/bin/doit wave_a   # a comment\n$ doit ci || true\n```\n")
    assert commands_in(text) == ["doit drift full=1", "forkwave", "doit", "doit wave_a", "doit ci"]
    assert judged("doit resolve:slice-3 path=P take=fork|upstream") == (["resolve:slice-3"], ["path", "take"])
    assert judged("doit help drift") == (["drift"], []) and judged("doit clean [TASK]") == ([], [])
    assert not known_task("valdate:slice-1") and not known_task("wavex") and known_task("wave_b")
    assert judged("doit -f <its own dodo file> -d . ARGS") == ([], []) and judged("doit TASK… key=value…") == ([], [])


def test_the_mistakes_the_docs_show_are_mistakes() -> None:
    known = {v.name for v in VARIABLES}
    for command in MISTAKES:
        tasks, variables = judged(command)
        assert any(not known_task(t) for t in tasks) or any(v not in known for v in variables), command


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_command_in_the_docs_names_real_tasks_and_variables(page: Path) -> None:
    known = {v.name for v in VARIABLES}
    lies = []
    for command in commands_in(page.read_text(encoding="utf-8")):
        if command in MISTAKES:
            continue
        tasks, variables = judged(command)
        lies += [f"{command!r}: no task {t!r}" for t in tasks if not known_task(t)]
        lies += [f"{command!r}: no variable {v}=" for v in variables if v not in known]
    assert not lies, lies


def test_the_docs_show_commands() -> None:
    """The reader finds what it checks: the README's and the guides' commands (a reader that found none would
    pass every page)."""
    shown = [c for page in PAGES for c in commands_in(page.read_text(encoding="utf-8"))]
    assert len(shown) > 200 and "doit ci" in shown and any("since=" in c for c in shown)
