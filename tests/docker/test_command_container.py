"""A command source's entrypoints in a container (``image:``), on the real engine: ``run`` writes into
``$FORKWAVE_OUT`` and reads ``$FORKWAVE_CONFIG`` as the container sees them, the config's folder is read-only at
``/workspace``, ``push_run`` reads its standard input and ``$FORKWAVE_IN``; no container is left behind."""
from __future__ import annotations

from pathlib import Path

from conftest import make_repo, run_doit, write_config
from dockerkit import PYTHON
from slicekit import ledger_runs, tree

GEN = """\
import json, os, pathlib
config = json.loads(pathlib.Path(os.environ["FORKWAVE_CONFIG"]).read_text())
print(f"version: catalogue {os.environ['FORKWAVE_CONFIG_EDITION']}", flush=True)
out = pathlib.Path(os.environ["FORKWAVE_OUT"]) / "docs" / "skills"
out.mkdir(parents=True)
for name in config["skills"]:
    (out / f"{name}.md").write_text(f"# {name}\\n")
try:
    pathlib.Path("written-in-workspace").write_text("x")
except OSError as exc:
    print(f"workspace is read-only: {type(exc).__name__}")
"""

SEND = """\
import os, pathlib, sys
listed = sys.stdin.read().split()
root = pathlib.Path(os.environ["FORKWAVE_IN"])
print("took " + ", ".join(f"{p}={(root / p).read_text().strip()}" for p in listed))
"""


def test_entrypoints_run_in_a_container(tmp_path: Path) -> None:
    fork = make_repo(tmp_path / "fork", {"README.md": "# fork\n", "docs/out/page.md": "page one\n"})
    ws = tmp_path / "ws"
    (ws / "scripts").mkdir(parents=True)
    (ws / "scripts" / "gen.py").write_text(GEN)
    (ws / "scripts" / "send.py").write_text(SEND)
    write_config(ws, {"sources": [
        {"name": "skills", "run": "python3 scripts/gen.py", "image": PYTHON, "outputs": ["docs/skills/**"],
         "config": {"skills": ["odoo-orm", "owl"], "edition": 3}, "network": "none"},
        {"name": "pages", "direction": "push", "push_run": "python3 scripts/send.py", "image": PYTHON,
         "inputs": ["docs/out/**"], "network": "none"}],
        "fork": {"path": "../fork"}, "waves": {"a": {"buckets": ["*"]}},
        "publish": {"remote": str(make_repo(tmp_path / "remote.git", bare=True)), "forge": "none"}})

    result = run_doit(ws, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    landed = tree(fork, "refs/heads/sync/upstream")
    assert landed["docs/skills/odoo-orm.md"][1] == b"# odoo-orm\n" and landed["docs/skills/owl.md"][1] == b"# owl\n"
    assert not (ws / "written-in-workspace").exists()
    log = (ws / "reports" / "sources" / "skills" / "run-logs" / "run.stdout.log").read_text()
    assert "workspace is read-only: " in log and "version: catalogue 3" in log
    assert "version catalogue 3" in result.stdout

    published = run_doit(ws, "publish", timeout=600)
    assert published.returncode == 0, published.stdout + published.stderr
    assert "publish: pages: push_run took 1 file: took docs/out/page.md=page one" in published.stdout
    [push] = [x for r in ledger_runs(ws / "reports") for x in r.syncs if x.sync_type == "push"]
    assert (push.status, push.counts.exported, push.note) == ("success", 1, "took docs/out/page.md=page one")


def test_an_entrypoints_mounts_and_stdin_travel_to_an_engine_that_copies(second_engine: object, tmp_path: Path,
                                                                          label: str) -> None:
    """An engine that cannot see this machine's folders gets the scratch folder and stdin in the archive, and what
    the entrypoint wrote under ``$FORKWAVE_OUT`` comes back."""
    from checks.model import PASSED, Request
    from checks.runners import Dispatch
    from tasks.config import Engine as EngineConfig

    cwd, io = tmp_path / "cfg", tmp_path / "io"
    cwd.mkdir()
    (io / "in" / "docs").mkdir(parents=True)
    (io / "out").mkdir()
    (io / "in" / "docs" / "a.md").write_text("page a\n")
    stdin = tmp_path / "stdin"
    stdin.write_text("docs/a.md\n")
    command = ('read path && mkdir -p "$FORKWAVE_OUT/docs" && '
               'cp "$FORKWAVE_IN/$path" "$FORKWAVE_OUT/docs/back.md" && echo "took $path"')
    env = {"FORKWAVE_IN": "/forkwave/io/in", "FORKWAVE_OUT": "/forkwave/io/out"}
    request = Request("run", command, cwd, env, 120, tmp_path / "logs", kind="docker", image=PYTHON, label=label,
                      stdin=stdin, mounts=((str(io), "/forkwave/io"),), cwd_writable=False, quiet=True)
    result = Dispatch(engines=[EngineConfig("second", second_engine.url, files="copy")]).run(request)  # type: ignore[attr-defined]
    assert result.status == PASSED, result.message + result.stderr
    assert "took docs/a.md" in result.stdout
    assert (io / "out" / "docs" / "back.md").read_text() == "page a\n"
