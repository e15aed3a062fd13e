"""Source schedules (pure): cron expressions checked, sources grouped by schedule, CI files as text.

``schedule:`` takes the cron both GitHub Actions and GitLab understand: five fields —
minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of week (0-6
or SUN-SAT, Sunday is 0) — each ``*`` or a comma list of values and ranges (``1-5``), a
range or ``*`` optionally stepped (``*/15``, ``8-18/2``). Times are UTC. Anything else is an
error that says what to write instead: macros (``@daily``), a sixth field (seconds, years),
Quartz and Jenkins extensions (``?``, ``L``, ``W``, ``#``, ``H``), ``7`` for Sunday, a
stepped single value (``5/15``: write ``5-59/15``).

Validated by hand rather than with croniter: croniter accepts exactly those extensions
(and six fields), which GitHub refuses, and its errors do not name the field.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from tasks.errors import ForkwaveError

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
NAMES = {3: ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
         4: ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")}
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_ITEM = re.compile(r"(?P<range>\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
DIRECTIONS = ("all", "pull", "push", "both")


@dataclass(frozen=True)
class Schedule:
    """One distinct cron and the sources it runs, in config order."""

    cron: str
    sources: tuple[str, ...]


def validate_cron(expr: object, key: str = "schedule") -> str:
    """The canonical form of a cron expression (one space apart, numbers plain, names upper-case).

    >>> validate_cron("0  02 * * mon-fri")
    '0 2 * * MON-FRI'
    >>> validate_cron("@daily", "sources.2.schedule")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    tasks.errors.ForkwaveError: key 'sources.2.schedule': '@daily' is a macro GitHub Actions does not take; write ...
    """
    if not isinstance(expr, str) or not expr.strip():
        raise ForkwaveError(f"key '{key}': must be a cron expression such as '0 2 * * *' "
                            "(minute hour day month weekday)")
    text = expr.strip()
    if text.lower() in MACROS:
        raise ForkwaveError(f"key '{key}': {text!r} is a macro GitHub Actions does not take; "
                            f"write {MACROS[text.lower()]!r}")
    parts = text.split()
    if len(parts) != 5:
        raise ForkwaveError(f"key '{key}': {text!r} has {len(parts)} fields; give 5: minute hour day-of-month month "
                            "day-of-week (no seconds or years: GitHub Actions and GitLab take 5)")
    return " ".join(_field(part, i, f"key '{key}': {text!r}") for i, part in enumerate(parts))


def _field(text: str, index: int, where: str) -> str:
    name, low, high = FIELDS[index]
    if _extension(text):
        raise ForkwaveError(f"{where}: {name} {text!r} uses a Quartz/Jenkins extension (? L W # H) that GitHub "
                            f"Actions does not take; use *, numbers {low}-{high}, ranges, lists and */steps")
    return ",".join(_item(item, index, f"{where}: {name}") for item in text.split(","))


def _extension(text: str) -> bool:
    """Quartz/Jenkins syntax: ``?``, ``#``, or a word ``L``, ``W``, ``LW``, ``H`` (``WED``, ``JUL`` are names)."""
    return "?" in text or "#" in text or any(w.upper() in ("L", "W", "LW", "H") for w in re.findall(r"[A-Za-z]+", text))


def _item(text: str, index: int, where: str) -> str:
    m = _ITEM.fullmatch(text)
    if not m:
        raise ForkwaveError(f"{where} {text!r} is not a value, a range (1-5), * or a step (*/15)")
    bounds = [] if m["range"] == "*" else [_value(v, index, where) for v in m["range"].split("-")]
    if m["step"] is not None:
        _check_step(int(m["step"]), bounds, text, where, FIELDS[index][2])
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        raise ForkwaveError(f"{where} {text!r} runs backwards; write the lower end first")
    canon = "*" if not bounds else "-".join(_spell(v, index, text) for v in bounds)
    return canon + ("" if m["step"] is None else f"/{int(m['step'])}")


def _check_step(step: int, bounds: list[int], text: str, where: str, high: int) -> None:
    if step == 0:
        raise ForkwaveError(f"{where} {text!r} has step 0; a step is 1 or more")
    if len(bounds) == 1:
        raise ForkwaveError(f"{where} {text!r} steps from a single value, which not every cron reads alike; "
                            f"write a range, e.g. {bounds[0]}-{high}/{step}")


def _value(text: str, index: int, where: str) -> int:
    name, low, high = FIELDS[index]
    if text.isdigit():
        value = int(text)
        if index == 4 and value == 7:
            raise ForkwaveError(f"{where} 7 is not a weekday GitHub Actions takes; Sunday is 0 (or SUN)")
        if not low <= value <= high:
            raise ForkwaveError(f"{where} {value} is out of range; use {low}-{high}")
        return value
    names = NAMES.get(index, ())
    if text.upper() not in names:
        hint = f"{low}-{high} or {names[0]}-{names[-1]}" if names else f"{low}-{high}"
        raise ForkwaveError(f"{where} {text!r} is not a {name}; use {hint}")
    return names.index(text.upper()) + low


def _spell(value: int, index: int, text: str) -> str:
    """A value as the user wrote it: a name stays a name (upper-case), a number a plain number."""
    names = NAMES.get(index)
    return names[value - FIELDS[index][1]] if names and re.search(r"[A-Za-z]", text) else str(value)


def group(sources: Sequence[tuple[str, str | None]]) -> tuple[Schedule, ...]:
    """Sources (name, schedule) in config order -> one Schedule per distinct cron, first seen first.

    A source without a schedule runs only by hand. Errors name ``sources.<i>.schedule``.

    >>> group([("oca_web", "0 2 * * *"), ("apps", "0 */6 * * *"), ("oca_base", "0 2 * * *"), ("docs", None)])
    (Schedule(cron='0 2 * * *', sources=('oca_web', 'oca_base')), Schedule(cron='0 */6 * * *', sources=('apps',)))
    """
    by_cron: dict[str, list[str]] = {}
    seen: set[str] = set()
    for i, (name, schedule) in enumerate(sources):
        _check_name(name, i, seen)
        if schedule is not None:
            by_cron.setdefault(validate_cron(schedule, f"sources.{i}.schedule"), []).append(name)
    return tuple(Schedule(cron, tuple(names)) for cron, names in by_cron.items())


def _check_name(name: str, index: int, seen: set[str]) -> None:
    if not isinstance(name, str) or not _SOURCE_NAME.fullmatch(name):
        raise ForkwaveError(f"key 'sources.{index}.name': {name!r} must be letters, digits, '.', '_' or '-' "
                            "(it goes into sources=<list> on a CI command line)")
    if name in seen:
        raise ForkwaveError(f"key 'sources.{index}.name': {name!r} is used twice; give each source its own name")
    seen.add(name)


# --- CI files -------------------------------------------------------------------------

@dataclass(frozen=True)
class CiOptions:
    """What the generated CI files need from the project beyond the schedules."""

    name: str = "forkwave"
    python: str = "3.11"
    install: str = "pip install -e ."
    fork_path: str = "fork"
    fork_repository: str = "${{ vars.FORK_REPOSITORY }}"       # GitHub: owner/name of the fork
    fork_project: str = "$FORK_PROJECT"                          # GitLab: group/project of the fork
    sync_refspec: str = "+refs/heads/sync/*:refs/heads/sync/*"   # every sync branch (sync/upstream, sync/<source>)
    runs_on: str = "ubuntu-latest"
    timeout_minutes: int = 120
    publish: bool = True
    extra_paths: tuple[str, ...] = field(default=())             # more artifact paths to upload


# The doit arguments from FORKWAVE_SOURCES / _DIRECTION / _DRY, built in the shell: the values come
# from a person's form and reach doit as single quoted words, never spliced into the script.
ARGS = """set --
if [ -n "${FORKWAVE_SOURCES:-}" ]; then set -- "$@" "sources=$FORKWAVE_SOURCES"; fi
case "${FORKWAVE_DIRECTION:-all}" in all|'') ;; *) set -- "$@" "direction=$FORKWAVE_DIRECTION" ;; esac
case "${FORKWAVE_DRY:-}" in true|1) set -- "$@" dry=1 ;; esac
"""
RUN = ARGS + "doit \"$@\" || test $? -eq 2   # exit 2: work left for a person; 1 and 3 stop the job\n"
PUBLISH = ARGS + ("doit publish \"$@\" || test $? -eq 2   # exit 2: a source held for a person, named above; "
                  "what this job synced went\n")
# the job summary: the dashboard (what waits for a person, every slice, the runs over time); the run history
# when no run got as far as writing one
SUMMARY = ("if [ -f reports/dashboard.md ]; then cat reports/dashboard.md >> \"$GITHUB_STEP_SUMMARY\"; "
           "else doit history >> \"$GITHUB_STEP_SUMMARY\" 2>/dev/null || true; fi\n")
DASHBOARD = "reports/index.html"      # the dashboard page: an artifact of its own on GitLab (expose_as)
CACHE = {"path": "reports/", "key": "forkwave-reports-${{ github.ref_name }}-${{ github.run_id }}-"
                                    "${{ github.run_attempt }}"}
# A matrix job (``doit ci matrix=sources``): one source's batch judged on the sync tip, nothing landed; exit 2
# (a change deferred) is what judging is for. What it leaves for the final job: the verdicts (content-addressed
# by check and tree, so the memos of every job are unioned by copying), the logs they link, and its record.
JUDGE = ('doit batch "sources=$FORKWAVE_SOURCE" fanout=1 || test $? -eq 2   # exit 2: something deferred; '
         "the final job lands\n")
JUDGED = ("reports/memo/", "reports/batch/logs/", "reports/fanout/")
FANOUT = """The fan-out (`doit ci matrix=sources`): each source of a schedule is judged on a runner of its own
(`doit batch sources=<it> fanout=1`: that source's batch on the sync tip, nothing landed), and one job
then gathers their verdict memos, logs and records into reports/ and runs the schedule as a single job
would: each source's search is asked again and answered by the memo, and what they adopted is judged
together once before anything lands."""
EXPOSE_AS = "forkwave dashboard"


def github_workflow(schedules: Sequence[Schedule], options: CiOptions = CiOptions(),
                    matrix: Mapping[str, Sequence[str]] | None = None) -> str:
    """The GitHub Actions workflow: one cron per schedule, a job per schedule running only its sources.

    Each scheduled job runs when ``github.event.schedule`` is its cron; ``workflow_dispatch``
    runs the ``manual`` job with a source pattern, a direction and a dry-run switch. ``matrix`` (cron ->
    the sources of that schedule judged apart, ``doit ci matrix=sources``): a schedule with two or more
    gets a ``judge-<i>`` job whose ``strategy.matrix`` judges each source's batch on a runner of its own,
    and its ``sync-<i>`` job gathers their artifacts, then lands and publishes (see ``FANOUT``).
    """
    doc = {"name": options.name, "on": _github_triggers(schedules),
           "permissions": {"contents": "write", "pull-requests": "write", "checks": "write"},
           "concurrency": {"group": "forkwave-${{ github.ref }}", "cancel-in-progress": False},
           "jobs": _github_jobs(schedules, options, _fanned(schedules, matrix))}
    return _header(schedules, "GitHub Actions (.github/workflows/)", fanned=_fanned(schedules, matrix)) + _dump(doc)


def _fanned(schedules: Sequence[Schedule], matrix: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    """The schedules that fan out: two or more of their sources judged apart."""
    given = matrix or {}
    return {s.cron: tuple(given[s.cron]) for s in schedules if len(given.get(s.cron, ())) > 1}


def _github_triggers(schedules: Sequence[Schedule]) -> dict[str, object]:
    inputs = {"sources": {"description": "source names or globs, comma-separated (empty: every source)",
                          "required": False, "default": "", "type": "string"},
              "direction": {"description": "pull, push or both (all: each source's own)", "required": False,
                            "default": "all", "type": "choice", "options": list(DIRECTIONS)},
              "dry": {"description": "dry run: simulate, write reports/dry-run.md, change nothing",
                      "required": False, "default": False, "type": "boolean"}}
    triggers: dict[str, object] = {"schedule": [{"cron": s.cron} for s in schedules]} if schedules else {}
    triggers["workflow_dispatch"] = {"inputs": inputs}
    return triggers


def _github_jobs(schedules: Sequence[Schedule], options: CiOptions,
                 fanned: Mapping[str, Sequence[str]]) -> dict[str, object]:
    jobs: dict[str, object] = {}
    for i, s in enumerate(schedules, 1):
        when = f"github.event_name == 'schedule' && github.event.schedule == '{s.cron}'"
        env = {"FORKWAVE_SOURCES": ",".join(s.sources)}
        if s.cron not in fanned:
            jobs[f"sync-{i}"] = _github_job(f"sync {s.cron} ({', '.join(s.sources)})", when, env, options)
            continue
        jobs[f"judge-{i}"] = _github_judge(i, s, fanned[s.cron], when, options)
        final = _github_job(f"sync {s.cron} ({', '.join(s.sources)}): land what the matrix judged",
                            f"!cancelled() && {when}", env, options, gather=f"forkwave-judged-{i}-*")
        jobs[f"sync-{i}"] = {"needs": [f"judge-{i}"], **final}
    jobs["manual"] = _github_job("sync by hand", "github.event_name == 'workflow_dispatch'",
                                 {"FORKWAVE_SOURCES": "${{ inputs.sources }}",
                                  "FORKWAVE_DIRECTION": "${{ inputs.direction }}",
                                  "FORKWAVE_DRY": "${{ inputs.dry }}"}, options)
    return jobs


def _github_job(name: str, condition: str, env: dict[str, str], options: CiOptions,
                gather: str | None = None) -> dict[str, object]:
    return {"name": name, "if": condition, "runs-on": options.runs_on, "timeout-minutes": options.timeout_minutes,
            "env": env, "steps": _github_steps(options, gather)}


def _github_judge(i: int, s: Schedule, sources: Sequence[str], when: str, o: CiOptions) -> dict[str, object]:
    """The matrix of schedule ``i``: each source's batch judged on a runner of its own, its verdicts and logs an
    artifact; nothing lands, nothing is pushed, the cache is only read."""
    steps = _github_setup(o) + [
        {"name": "Judge this source's batch (nothing lands)", "run": JUDGE},
        {"name": "Upload what it judged", "if": "always()", "uses": "actions/upload-artifact@v4",
         "with": {"name": f"forkwave-judged-{i}-${{{{ matrix.source }}}}", "path": "\n".join(JUDGED) + "\n",
                  "if-no-files-found": "ignore", "retention-days": 1}},
    ]
    return {"name": f"judge {s.cron} (${{{{ matrix.source }}}})", "if": when, "runs-on": o.runs_on,
            "timeout-minutes": o.timeout_minutes, "strategy": {"fail-fast": False, "matrix": {"source": list(sources)}},
            "env": {"FORKWAVE_SOURCE": "${{ matrix.source }}"}, "steps": steps}


def _github_setup(o: CiOptions) -> list[dict[str, object]]:
    """Check out both repositories, install forkwave, restore ``reports/`` (doit's state, the memo, the ledger)."""
    return [
        {"uses": "actions/checkout@v4"},
        {"name": "Check out the fork", "uses": "actions/checkout@v4",
         "with": {"repository": o.fork_repository, "path": o.fork_path, "fetch-depth": 0,
                  "token": "${{ secrets.FORK_TOKEN }}"}},
        {"name": "Fetch the sync branches",
         "run": f'git -C {o.fork_path} fetch origin "{o.sync_refspec}" || echo "no sync branch yet"'},
        {"uses": "actions/setup-python@v5", "with": {"python-version": o.python}},
        {"name": "Install forkwave", "run": o.install},
        {"name": "Restore reports/ (doit state, artifacts, the ledger)", "uses": "actions/cache/restore@v4",
         "with": {**CACHE, "restore-keys": "forkwave-reports-${{ github.ref_name }}-\n"}},
    ]


def _github_steps(o: CiOptions, gather: str | None = None) -> list[dict[str, object]]:
    cache = CACHE
    steps = _github_setup(o)
    if gather:
        steps.append({"name": "Gather what the matrix judged (verdict memo, logs, records)",
                      "uses": "actions/download-artifact@v4",
                      "with": {"pattern": gather, "merge-multiple": True, "path": "reports/"}})
    return steps + _github_run(o, cache)


def _github_run(o: CiOptions, cache: dict[str, str]) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = [{"name": "Run forkwave", "run": RUN}]
    if o.publish:
        steps.append({"name": "Publish the sync branches", "env": {"FORKWAVE_TOKEN": "${{ secrets.FORK_TOKEN }}"},
                      "run": PUBLISH})
    return steps + _github_after(o, cache)


def _github_after(o: CiOptions, cache: dict[str, str]) -> list[dict[str, object]]:
    paths = ["reports/**/*.md", "reports/**/*.json", "reports/**/junit.xml", "reports/ledger.sqlite", DASHBOARD,
             *o.extra_paths]
    return [
        {"name": "Publish JUnit results", "if": "always()", "uses": "mikepenz/action-junit-report@v4",
         "with": {"report_paths": "reports/slices/*/junit.xml", "check_name": "forkwave slices"}},
        {"name": "Upload the reports", "if": "always()", "uses": "actions/upload-artifact@v4",
         "with": {"name": "forkwave-reports", "path": "\n".join(paths) + "\n"}},
        {"name": "Save reports/ even when slices were deferred", "if": "always()",
         "uses": "actions/cache/save@v4", "with": cache},
        {"name": "The dashboard as the job summary", "if": "always()", "run": SUMMARY},
    ]


def gitlab_ci(schedules: Sequence[Schedule], options: CiOptions = CiOptions(),
              matrix: Mapping[str, Sequence[str]] | None = None) -> str:
    """The GitLab CI file: a job per schedule, run by a pipeline schedule whose SCHEDULE is its cron.

    GitLab keeps pipeline schedules in the project, not in this file: the header lists the
    schedules to create (cron, UTC, and the variable ``SCHEDULE`` set to the same cron text).
    A pipeline run by hand runs ``manual`` with ``FORKWAVE_SOURCES``/``_DIRECTION``/``_DRY``.
    ``matrix`` as for ``github_workflow``: a ``judge-<i>`` job with ``parallel:matrix`` (stage ``judge``)
    before ``sync-<i>``, which ``needs`` its artifacts.
    """
    fanned = _fanned(schedules, matrix)
    doc: dict[str, object] = {"variables": _gitlab_variables()}
    if fanned:
        doc["stages"] = ["judge", "sync"]
        doc[".forkwave-judge"] = _gitlab_judge_template(options)
    doc[".forkwave"] = _gitlab_template(options) | ({"stage": "sync"} if fanned else {})
    for i, s in enumerate(schedules, 1):
        rule = {"if": f'$CI_PIPELINE_SOURCE == "schedule" && $SCHEDULE == "{s.cron}"'}
        job: dict[str, object] = {"extends": ".forkwave", "variables": {"FORKWAVE_SOURCES": ",".join(s.sources)},
                                  "rules": [rule]}
        if s.cron in fanned:
            doc[f"judge-{i}"] = {"extends": ".forkwave-judge", "parallel": {"matrix": [
                {"FORKWAVE_SOURCE": list(fanned[s.cron])}]}, "rules": [rule]}
            # when a matrix job fails, the final job still runs and judges what it left itself
            job |= {"needs": [{"job": f"judge-{i}", "artifacts": True}], "rules": [rule | {"when": "always"}]}
        doc[f"sync-{i}"] = job
    doc["manual"] = {"extends": ".forkwave", "rules": [{"if": '$CI_PIPELINE_SOURCE == "web"'}]}
    doc["dashboard"] = _gitlab_dashboard([f"sync-{i}" for i in range(1, len(schedules) + 1)] + ["manual"])
    return _header(schedules, "GitLab CI (.gitlab-ci.yml)", gitlab=True, fanned=fanned) + _dump(doc)


def _gitlab_judge_template(o: CiOptions) -> dict[str, object]:
    """A matrix job: the sync job's setup, the reports cache only read (the final job writes it), no resource
    group (it pushes nothing), and what it judged as its artifacts."""
    setup = _gitlab_template(o)
    return {"stage": "judge", "image": setup["image"], "timeout": setup["timeout"],
            "cache": [{"key": "forkwave-reports-$CI_COMMIT_REF_SLUG", "paths": ["reports/"], "policy": "pull"},
                      {"key": "forkwave-pkg-cache", "paths": [".forkwave/cache/"]}],
            "before_script": setup["before_script"], "script": [JUDGE],
            "artifacts": {"when": "always", "expire_in": "1 day", "paths": list(JUDGED)}}


def _gitlab_dashboard(jobs: Sequence[str]) -> dict[str, object]:
    """The dashboard page as an artifact of its own, ``expose_as``: GitLab links it by name on merge requests
    and opens the single HTML file in the browser. GitLab takes no glob beside ``expose_as``, so the sync
    job's artifacts (globs) cannot carry it: this job takes ``reports/index.html`` from whichever sync job
    ran (``needs`` ... ``optional``), even when that job failed."""
    return {"stage": ".post", "image": "busybox:latest",
            "needs": [{"job": j, "artifacts": True, "optional": True} for j in jobs],
            "rules": [{"if": '$CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "web"', "when": "always"}],
            "script": [f'test -f {DASHBOARD} || echo "the sync job wrote no dashboard"'],
            "artifacts": {"when": "always", "expose_as": EXPOSE_AS, "paths": [DASHBOARD]}}


def _gitlab_variables() -> dict[str, object]:
    return {"FORKWAVE_SOURCES": {"value": "",
                                 "description": "source names or globs, comma-separated (empty: every source)"},
            "FORKWAVE_DIRECTION": {"value": "all", "options": list(DIRECTIONS),
                                   "description": "pull, push or both (all: each source's own)"},
            "FORKWAVE_DRY": {"value": "0", "options": ["0", "1"],
                             "description": "1: dry run, simulate and write reports/dry-run.md, change nothing"}}


def _gitlab_template(o: CiOptions) -> dict[str, object]:
    helper = "git -c credential.helper='!f() { echo username=oauth2; echo \"password=$FORKWAVE_TOKEN\"; }; f'"
    script = RUN + (PUBLISH.removeprefix(ARGS) if o.publish else "")
    return {"image": f"python:{o.python}", "timeout": f"{o.timeout_minutes}m", "resource_group": "forkwave",
            "cache": [{"key": "forkwave-reports-$CI_COMMIT_REF_SLUG", "paths": ["reports/"], "when": "always"},
                      {"key": "forkwave-pkg-cache", "paths": [".forkwave/cache/"]}],
            "before_script": [o.install,
                              f'{helper} clone --quiet "$CI_SERVER_URL/{o.fork_project}.git" {o.fork_path}',
                              f'{helper} -C {o.fork_path} fetch origin "{o.sync_refspec}" '
                              '|| echo "no sync branch yet"'],
            "script": [script],
            "artifacts": {"when": "always",
                          "paths": ["reports/**/*.md", "reports/**/*.json", "reports/ledger.sqlite", DASHBOARD,
                                    *o.extra_paths],
                          "reports": {"junit": "reports/slices/*/junit.xml"}}}


# The first line of every file `doit ci` writes: how it tells its own files from a repository's (GitHub's
# linguist and many review tools also fold "@generated" files). Files of earlier versions carry only the
# header's "written by" line.
MARKER = "# @generated by forkwave `doit ci`"
_EARLIER = "written by `doit ci` from the sources' schedule: keys"


def written_by_forkwave(text: str) -> bool:
    """Did ``doit ci`` write this file (its marker, or an earlier version's header, in the first lines)?

    >>> written_by_forkwave(MARKER + "\\n# GitHub Actions ...\\n"), written_by_forkwave("name: CI\\non: push\\n")
    (True, False)
    """
    head = text.splitlines()[:3]
    return any(line.strip() == MARKER or _EARLIER in line for line in head)


def _header(schedules: Sequence[Schedule], what: str, gitlab: bool = False,
            fanned: Mapping[str, Sequence[str]] | None = None) -> str:
    command = "`doit ci matrix=sources`" if fanned else "`doit ci`"
    lines = [MARKER,
             f"# {what}, written by {command} from the sources' schedule: keys; change those and run",
             f"# {command} again rather than editing this file. Each schedule (UTC) runs only its sources:"]
    lines += [f"#   {s.cron:<16} {', '.join(s.sources)}" + (" (fanned out)" if s.cron in (fanned or {}) else "")
              for s in schedules] or ["#   (no source has a schedule)"]
    if fanned:
        lines += [f"# {line}" for line in FANOUT.splitlines()]
    if gitlab:
        lines += ["# GitLab keeps pipeline schedules in the project, not here: for each line above create one",
                  "# (Build > Pipeline schedules) with that cron, timezone UTC, and the variable SCHEDULE set to",
                  "# the same cron text. A pipeline run by hand (Run pipeline) runs job `manual`.",
                  f"# The dashboard ({DASHBOARD}) is job `dashboard`'s artifact, exposed as \"{EXPOSE_AS}\": the",
                  "# job's page (Browse) and the merge requests of the pipeline link it by that name."]
    lines += ["# By hand: a source pattern (FORKWAVE_SOURCES, e.g. oca_*), a direction and a dry run."]
    return "\n".join(lines) + "\n"


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors (shared step lists would become &id001), multi-line strings as ``|``."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _dump(doc: object) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
