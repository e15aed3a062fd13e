"""Dispatch without Docker: host slots (several host checks at once, never more), how many candidates the
slots allow, and a check whose verdict is no longer wanted stopped at once. Real processes, no mocks."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from checks.model import PASSED, Cancelled, Request
from checks.runners import Dispatch
from tasks.config import Engine


def host(name: str, command: str, tmp_path: Path, cancel: threading.Event | None = None) -> Request:
    return Request(name, command, tmp_path, {}, 60, tmp_path / "logs", cancel=cancel)


def at_once(dispatch: Dispatch, requests: list[Request]) -> tuple[list[object], float]:
    results: list[object] = [None] * len(requests)
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, dispatch.run(requests[i])))
               for i in range(len(requests))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - started


def overlap(tmp_path: Path, n: int) -> str:
    """A command that records when it starts and ends, to see how many ran at the same time."""
    return (f"echo start $(date +%s.%N) >> {tmp_path}/times-{n}; sleep 1; "
            f"echo end $(date +%s.%N) >> {tmp_path}/times-{n}")


def most_at_once(tmp_path: Path) -> int:
    events = []
    for f in tmp_path.glob("times-*"):
        for line in f.read_text().split("\n"):
            if line:
                kind, at = line.split()
                events.append((float(at), 1 if kind == "start" else -1))
    running = peak = 0
    for _, delta in sorted(events):
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_host_checks_run_at_most_slots_at_once(tmp_path: Path, slots: int) -> None:
    requests = [host(f"c{i}", overlap(tmp_path, i), tmp_path) for i in range(4)]
    results, _ = at_once(Dispatch(host_slots=slots), requests)
    assert all(r.status == PASSED for r in results)  # type: ignore[attr-defined]
    assert most_at_once(tmp_path) == slots


def test_how_many_candidates_the_slots_allow() -> None:
    engines = (Engine("a", "unix:///a.sock", slots=2), Engine("b", "ssh://ci@b", slots=3, files="copy"))
    dispatch = Dispatch(engines=engines, host_slots=4)
    assert dispatch.width(["host"]) == 4
    assert dispatch.width(["docker"]) == 5                # every engine's slots
    assert dispatch.width(["compose"]) == 2               # only engines that see this machine's files
    assert dispatch.width(["host", "docker"]) == 4        # a candidate needs a slot of each kind it runs
    assert dispatch.width([]) == 1                        # gates only: nothing to spread
    dispatch.engines[0].mark_down("gone")
    assert dispatch.width(["docker"]) == 3 and dispatch.width(["compose"]) == 1


def test_a_cancelled_host_check_is_stopped_at_once_with_its_process_group(tmp_path: Path) -> None:
    cancel = threading.Event()
    pidfile = tmp_path / "pid"
    request = host("long", f"sleep 60 & echo $! > {pidfile}; wait", tmp_path, cancel)
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        Dispatch().run(request)
    assert time.monotonic() - started < 5
    child = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):   # the check's own children went with it
        for _ in range(50):
            os.kill(child, 0)
            time.sleep(0.1)


def test_a_check_cancelled_while_it_waits_for_a_slot_never_starts(tmp_path: Path) -> None:
    dispatch = Dispatch(host_slots=1)
    busy = threading.Thread(target=dispatch.run, args=(host("busy", "sleep 2", tmp_path),))
    busy.start()
    time.sleep(0.3)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled):
        dispatch.run(host("queued", f"touch {tmp_path}/ran", tmp_path, cancel))
    busy.join()
    assert not (tmp_path / "ran").exists()
