"""``reports/index.html`` of a real run (the demo: conflicts, a deferral, adopted slices), opened from disk in a
real headless Chromium at a phone's width: no console error, no request but the page itself, no sideways
scroll, every slice and what to do about it on the page, and its script (the filter, the copy buttons) working
without an error.

Chromium is Debian's package (``.ci/run`` installs it): without it the test is skipped on a developer's
machine and fails under ``CI=true``, where it must run.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from browserkit import Chromium, chromium, page_url
from conftest import run_doit
from tasks.report import dashboard
from tasks.report.blocks import Rows, Todos
from tasks.workspace import Workspace

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> str:
    binary = chromium()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and the browser test must run, but there is no chromium on PATH "
                        "(.ci/run installs Debian's package)", pytrace=False)
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    return binary


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("demo")
    result = run_doit(ws, timeout=600)
    # the demo exits 0; its work for a person is on the page
    assert result.returncode == 0, result.stdout + result.stderr
    return ws


VISIBLE = "[...document.querySelectorAll('{}')].filter(e => e.offsetParent !== null).length"


def test_the_dashboard_of_a_real_run_loads_on_a_phone_and_says_what_to_do(browser: str, demo: Path) -> None:
    index = demo / "reports" / dashboard.PAGE
    assert index.exists() and (demo / "reports" / dashboard.MARKDOWN).exists()
    secs = dashboard.sections(dashboard.load(Workspace(demo)))
    rows = [r for s in secs for b in s.blocks if isinstance(b, Rows) for r in b.rows]
    todos = [t for s in secs for b in s.blocks if isinstance(b, Todos) for t in b.items]
    assert len(rows) == 7 and {r.status for r in rows} == {"adopted", "conflicted"} and len(todos) == 6

    with Chromium(browser) as chrome:
        loaded = chrome.open(page_url(index), {
            "text": "document.body.innerText",
            "width": "document.documentElement.scrollWidth", "viewport": "window.innerWidth",
            "todos": VISIBLE.format("li.todo"), "rows": VISIBLE.format("table.rows tbody tr"),
            "filtered": "document.getElementById('only-left').click(); " + VISIBLE.format("tr.settled"),
            "left": VISIBLE.format("tr.left"),
            "copied": "document.querySelector('button.copy').click(); "
                      "new Promise(done => setTimeout(() => done(document.querySelector('button.copy').textContent), "
                      "200))",
        })
    assert loaded.errors() == []
    assert loaded.requests == [page_url(index)]                     # nothing fetched but the page itself
    v = loaded.values
    assert v["viewport"] == 375 and v["width"] <= 375                 # no sideways scroll on a phone
    assert v["todos"] == len(todos) and v["rows"] == len(rows)
    text = v["text"]
    assert "What waits for you" in text and "Drift and adoption over time" in text
    for r in rows:
        assert r.slice.text in text
        if r.command:
            assert r.command in text
    for t in todos:
        assert t.command and t.command in text
    assert v["filtered"] == 0 and v["left"] == sum(not r.settled for r in rows) == 5   # the filter hides the settled
    assert v["copied"] in ("copied", "select it")                   # the copy button answered, no error


def test_the_page_looks_right_at_a_desks_width_too(browser: str, demo: Path) -> None:
    index = demo / "reports" / dashboard.PAGE
    with Chromium(browser) as chrome:
        loaded = chrome.open(page_url(index), {"width": "document.documentElement.scrollWidth",
                                               "viewport": "window.innerWidth",
                                               "header": "getComputedStyle(document.querySelector('table.rows thead'))"
                                                         ".display"},
                             size={"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    assert loaded.errors() == [] and loaded.values["width"] <= loaded.values["viewport"]
    assert loaded.values["header"] == "table-header-group"            # a table here, cards on a phone
