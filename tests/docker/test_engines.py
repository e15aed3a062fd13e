"""Checks over two real Docker engines on one machine: the first one (``.ci/docker.sh``'s) and a second
``dockerd`` in its own network namespace (``tests/dockerd.py``). Slots, images copied from one engine
to the other, caches per engine, a worktree copied into an engine that cannot see it, compose on the
second engine, and an engine stopped while a check runs on it: the check runs again on the other, the
run succeeds and the reports say so. The second daemon must never touch the first's ``docker0``."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest

from checks.engines import Engine
from checks.model import PASSED, Request
from checks.runners import Dispatch
from conftest import commit_tree, make_repo, run_doit, write_config
from dockerkit import PYTHON, docker_request, read_json
from tasks.config import Engine as EngineConfig

BASE = "forkwave/base:bookworm"


def engines(*pairs: tuple[str, str], **kw: Any) -> list[EngineConfig]:
    """(name, url) pairs as ``containers.engines`` entries (``files``/``slots`` in ``kw`` apply to all)."""
    return [EngineConfig(name, url, **kw) for name, url in pairs]


def local_url(client: Any) -> str:
    """The first engine's URL (the tests' ``docker_client`` is made from the environment too)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def bridge_index() -> str:
    return subprocess.run(["ip", "-o", "link", "show", "docker0"], capture_output=True, text=True,
                          check=True).stdout.split(":")[0]


# --- the second engine leaves the first alone -----------------------------------------------------

def test_the_first_engine_still_runs_a_bridged_container_after_a_second_one_stopped(docker_client: Any) -> None:
    from dockerd import Dockerd

    before = bridge_index()
    with Dockerd.started(images=[BASE]) as second:
        ran = second.docker("run", "--rm", BASE, "sh", "-c", "grep -c eth0: /proc/net/dev")
        assert ran.stdout.strip() == b"1"          # the second engine has a bridge of its own, in its namespace
    assert not Path(second.root).exists()         # its folders went with it
    assert bridge_index() == before               # the same docker0: never deleted and made again
    out = docker_client.containers.run(BASE, ["sh", "-c", "grep eth0: /proc/net/dev && echo bridged"],
                                       network_mode="bridge", remove=True)
    assert out.decode().strip().endswith("bridged")


# --- slots ----------------------------------------------------------------------------------------

def at_once(dispatch: Dispatch, requests: list[Request]) -> list[Any]:
    """Each request handed to ``dispatch`` from a thread of its own, as a bench does."""
    results: list[Any] = [None] * len(requests)
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, dispatch.run(requests[i])))
               for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_engines_run_two_checks_at_once_one_each(docker_client: Any, second_engine: Any, tmp_path: Path,
                                                     label: str) -> None:
    dispatch = Dispatch(engines=engines(("first", local_url(docker_client)), ("second", second_engine.url)))
    requests = [docker_request(f"nap{i}", "sleep 3", tmp_path, tmp_path / "logs", label, image=BASE)
                for i in range(2)]
    started = time.monotonic()
    results = at_once(dispatch, requests)
    elapsed = time.monotonic() - started
    assert [r.status for r in results] == [PASSED, PASSED]
    assert sorted(r.engine for r in results) == ["first", "second"]
    assert elapsed < 5.5, f"one after the other ({elapsed:.1f} s), not side by side"


def test_one_engine_with_one_slot_runs_them_one_after_the_other(docker_client: Any, tmp_path: Path,
                                                                label: str) -> None:
    dispatch = Dispatch(engines=engines(("first", local_url(docker_client))))
    requests = [docker_request(f"nap{i}", "sleep 2", tmp_path, tmp_path / "logs", label, image=BASE)
                for i in range(2)]
    started = time.monotonic()
    assert [r.status for r in at_once(dispatch, requests)] == [PASSED, PASSED]
    assert time.monotonic() - started >= 4.0


# --- images and caches ------------------------------------------------------------------------------

def test_an_image_missing_on_an_engine_is_copied_there_once(docker_client: Any, second_engine: Any,
                                                            tmp_path: Path, label: str) -> None:
    tag = f"forkwave-test/tiny:{uuid.uuid4().hex[:8]}"
    docker_client.images.get(BASE).tag(tag)
    second = docker.DockerClient(base_url=second_engine.url)
    try:
        # the second engine first in order: it takes the check, and lacks the image
        dispatch = Dispatch(engines=engines(("second", second_engine.url), ("first", local_url(docker_client))))
        one = dispatch.run(docker_request("one", "echo hi", tmp_path, tmp_path / "logs", label, image=tag))
        assert (one.status, one.engine) == (PASSED, "second"), one.message
        assert second.images.get(tag).id == docker_client.images.get(tag).id   # the same image, not a rebuild
        two = dispatch.run(docker_request("two", "echo again", tmp_path, tmp_path / "logs", label, image=tag))
        assert (two.status, two.engine) == (PASSED, "second")
        assert tag in dispatch.engines[0].images
    finally:
        for client in (second, docker_client):
            client.images.remove(tag, force=True)


def test_each_engine_has_its_own_cache(docker_client: Any, second_engine: Any, tmp_path: Path,
                                       label: str) -> None:
    cache = tmp_path / "cache"
    dispatch = Dispatch(options={"cache_dir": cache},
                        engines=engines(("first", local_url(docker_client)), ("second", second_engine.url)))
    requests = [docker_request(f"mark{i}", "sleep 2 && touch /cache/wrote-here && ls /cache", tmp_path,
                               tmp_path / "logs", label, image=BASE) for i in range(2)]
    results = {r.engine: r for r in at_once(dispatch, requests)}
    assert sorted(results) == ["first", "second"] and all(r.status == PASSED for r in results.values())
    assert (cache / "wrote-here").is_file()                           # the first engine: .forkwave/cache
    assert (cache / "engine-second" / "wrote-here").is_file()         # the second: a folder of its own
    assert "engine-second" not in results["second"].stdout            # ... which is all it sees


def test_an_engine_that_cannot_see_the_worktree_gets_it_copied(second_engine: Any, tmp_path: Path,
                                                               label: str) -> None:
    wt = tmp_path / "wt"
    (wt / "src").mkdir(parents=True)
    (wt / "src" / "app.py").write_text("print('from the worktree')\n")
    (wt / "node_modules" / "big").mkdir(parents=True)     # installed for this machine: not copied
    files = tmp_path / "files.txt"
    files.write_text("src/app.py\n")
    command = ("python3 src/app.py && cat \"$FORKWAVE_FILES_FROM\" && test ! -e node_modules/big && "
               "mkdir -p out && echo '<testsuite name=\"s\" tests=\"1\"><testcase name=\"t\"/></testsuite>' "
               "> out/junit.xml && touch /cache/kept")
    request = Request("copied", command, wt, {"FORKWAVE_FILES_FROM": str(files)}, 120, tmp_path / "logs",
                      kind="docker", image=PYTHON, label=label, outputs=("out/junit.xml",))
    config = EngineConfig("second", second_engine.url, files="copy")
    dispatch = Dispatch(options={"cache_dir": tmp_path / "cache"}, engines=[config])
    result = dispatch.run(request)
    assert result.status == PASSED, result.message + result.stderr
    assert "from the worktree" in result.stdout and "src/app.py" in result.stdout
    assert "<testcase" in (wt / "out" / "junit.xml").read_text()   # the check's report came back
    assert not (tmp_path / "cache").exists()                        # its cache is a volume on that engine
    kind, volume = Engine(config, tmp_path / "cache").cache() or ("", "")
    second = docker.DockerClient(base_url=second_engine.url)
    assert kind == "volume" and second.volumes.get(volume)
    second.volumes.get(volume).remove(force=True)


def test_a_compose_check_runs_on_the_engine_it_is_given(docker_client: Any, second_engine: Any, tmp_path: Path,
                                                         label: str) -> None:
    wt = tmp_path / "wt"
    wt.mkdir()
    (wt / "docker-compose.yml").write_text(f"""\
version: "3.7"
services:
  test:
    image: {BASE}
    volumes: [".:/workspace"]
    command: ["sh", "-c", "cat /workspace/marker"]
""")
    (wt / "marker").write_text("on the second engine\n")
    request = Request("stack", None, wt, {}, 120, tmp_path / "logs", kind="compose", compose="docker-compose.yml",
                      service="test", label=label)
    result = Dispatch(engines=engines(("second", second_engine.url))).run(request)
    assert (result.status, result.engine) == (PASSED, "second"), result.message
    assert "on the second engine" in (tmp_path / "logs" / "stack.stdout.log").read_text()
    second = docker.DockerClient(base_url=second_engine.url)
    assert not second.containers.list(all=True, filters={"label": "com.docker.compose.project"})


def test_compose_checks_never_go_to_an_engine_that_copies(second_engine: Any, tmp_path: Path, label: str) -> None:
    request = Request("stack", None, tmp_path, {}, 60, tmp_path / "logs", kind="compose",
                      compose="docker-compose.yml", service="test", label=label)
    result = Dispatch(engines=[EngineConfig("second", second_engine.url, files="copy")]).run(request)
    assert result.status == "error" and "compose checks need an engine on this machine" in result.message


# --- an engine stopped while a check runs on it ---------------------------------------------------------

def stop_when_running(daemon: Any, attempt_prefix: str) -> threading.Thread:
    """Stop ``daemon`` once a check container whose attempt label starts with ``attempt_prefix`` runs on it."""
    client = docker.DockerClient(base_url=daemon.url)

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                running = client.containers.list(filters={"label": "forkwave=check"})
            except Exception:
                return
            if any(c.labels.get("forkwave.attempt", "").startswith(attempt_prefix) for c in running):
                time.sleep(1)
                daemon.stop()
                return
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_check_on_an_engine_that_stops_runs_again_on_the_other(docker_client: Any, spare_engine: Any,
                                                                 tmp_path: Path, label: str) -> None:
    dispatch = Dispatch(engines=engines(("spare", spare_engine.url), ("first", local_url(docker_client))))
    watcher = stop_when_running(spare_engine, label)
    result = dispatch.run(docker_request("long", "sleep 6 && echo done", tmp_path, tmp_path / "logs", label,
                                         image=BASE, timeout=120))
    watcher.join()
    assert not spare_engine.running()
    assert (result.status, result.engine, result.stdout.strip()) == (PASSED, "first", "done"), result.message
    assert "ran on engine 'first'" in result.rerun and "engine 'spare'" in result.rerun
    assert result.rerun in result.message
    [event] = dispatch.events
    assert event.startswith(f"engine 'spare' ({spare_engine.url}) stopped answering") and "ran on first" in event


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "slice"])
def test_a_run_survives_an_engine_stopped_mid_check_and_its_reports_say_so(docker_client: Any, spare_engine: Any,
                                                                           tmp_path: Path, batch: bool) -> None:
    up = make_repo(tmp_path / "upstream.git", bare=True)
    v1 = {f"pkg/f{i}.txt": f"v1 {i}\n" for i in range(4)}
    commit_tree(up, v1, tag="v1")
    commit_tree(up, {p: t.replace("v1", "v2") for p, t in v1.items()}, tick=10)
    fork = make_repo(tmp_path / "fork", v1, tick=5)
    ws = tmp_path / "ws"
    ws.mkdir()
    image = f"forkwave-test/base:{uuid.uuid4().hex[:8]}"   # not a forkwave/ image: `doit images` stays out of it
    docker_client.images.get(BASE).tag(image)
    # the baseline is quick; a candidate takes a while (FORKWAVE_SLICE is unset on the baseline). A host check
    # with one host slot keeps it one candidate at a time: the spare engine, first in order, takes it
    write_config(ws, {
        "upstream": {"url": "../upstream.git"}, "fork": {"path": str(fork)}, "base": "v1", "gates": [],
        "batch": batch,
        "checks": [{"name": "content", "image": image, "run": 'if [ -n "$FORKWAVE_SLICE" ]; then sleep 8; fi; '
                                                              "! grep -rq BROKEN pkg"},
                   {"name": "host", "run": "true"}],
        "containers": {"engines": [{"name": "spare", "url": spare_engine.url},
                                   {"name": "first", "url": local_url(docker_client)}]}})
    watcher = stop_when_running(spare_engine, "batch-" if batch else "slice-1")
    try:
        result = run_doit(ws, timeout=300)
    finally:
        docker_client.images.remove(image)
    watcher.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not spare_engine.running(), result.stdout + result.stderr
    reports = ws / "reports"
    outcome = read_json(reports / "slices" / "slice-1" / "outcome.json")
    assert outcome["status"] == "adopted"
    if batch:   # the batch judged it: its record names the check that moved
        [note] = read_json(reports / "batch.json")["engines"]
        assert note.startswith("attempt 1, check `content`: ran on engine 'first'")
        assert note in (reports / "batch" / "report.md").read_text()
    else:       # the slice judged it: its own result says so
        [moved] = [r for a in outcome["attempts"] for r in a["results"] if r.get("rerun")]
        assert moved["name"] == "content" and moved["engine"] == "first" and moved["status"] == "passed"
        assert "engine 'spare'" in moved["rerun"] and moved["rerun"] in moved["message"]
    slice_report = (reports / "slices" / "slice-1" / "report.md").read_text()
    wave = next(p for p in sorted(reports.glob("wave-*/report.md")) if "slice-1" in p.read_text())
    for report in (slice_report, wave.read_text()):
        assert "## Engines" in report and "engine 'spare'" in report and "stopped answering" in report
    # the memo keeps the verdict, not the engine's failure
    memo = [json.loads(p.read_text()) for p in (reports / "memo").rglob("*.json")]
    assert memo and not any(m.get("rerun") for m in memo)
