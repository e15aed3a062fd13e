"""``reports/index.html``: the dashboard's sections as one self-contained page.

Everything is inline — styles, a few lines of script, the charts (``tasks.report.chart``) — and a
Content-Security-Policy forbids the page any request, so it opens the same from a CI artifact, a
file, or a phone with no network. The layout is one column that reflows: below 40em a slice table
becomes a list of cards and long paths wrap, so nothing scrolls sideways on a 375 px screen. The
script only filters the slices (``Only what is left``) and copies a command; the page says all it
has to say without it.
"""
from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from tasks.report import chart
from tasks.report.blocks import (Bar, Block, Code, Inline, Line, Link, Para, Row, Rows, Section, Series, Strong, Todo,
                                 Todos, Trend)

POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--bg:#fff;--card:#f6f8fa;--line:#d1d9e0;--link:#0969da;
--adopted:#1a7f37;--deferred:#bc4c00;--conflicted:#cf222e;--waiting:#bf8700;--skipped:#6e7781;
--not-run:#d1d9e0;--other:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;
--line:#3d444d;--link:#4493f8;--adopted:#3fb950;--deferred:#db6d28;--conflicted:#f85149;--waiting:#d29922;
--skipped:#9198a1;--not-run:#3d444d;--other:#4493f8}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin:2rem 0 .75rem;padding-bottom:.25rem;\
border-bottom:1px solid var(--line)}
h3{font-size:1.1rem;margin:1.5rem 0 .5rem}
p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}
a{color:var(--link)}
code{font:.88em/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--card);border-radius:4px;
padding:.1em .3em;overflow-wrap:anywhere;word-break:break-word}
ol.todos{list-style:none;padding:0;margin:0}
.todo{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--line);border-radius:6px;
padding:.6rem .8rem;margin:.6rem 0;overflow-wrap:anywhere}
.todo.conflict,.todo.error{border-left-color:var(--conflicted)}\
.todo.deferred,.todo.publish{border-left-color:var(--deferred)}
.todo.waiting,.todo.unverified{border-left-color:var(--waiting)}.todo.verification{border-left-color:var(--conflicted)}
.todo .title{font-weight:600}.todo .why{margin:.25rem 0}.todo .step{font-size:.92rem}
.command{display:flex;gap:.5rem;align-items:flex-start;margin-top:.4rem}
.command code{flex:0 1 auto;min-width:0;display:block;padding:.35rem .5rem;background:var(--bg);\
border:1px solid var(--line)}
.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.35rem;vertical-align:-.05rem;
background:var(--not-run)}
.d-adopted{background:var(--adopted)}.d-deferred{background:var(--deferred)}.d-conflicted{background:var(--conflicted)}
.d-waiting{background:var(--waiting)}.d-other{background:var(--other)}
button.copy{font:inherit;font-size:.8rem;padding:.3rem .6rem;border:1px solid var(--line);border-radius:6px;
background:var(--bg);color:var(--fg);cursor:pointer}
.empty{color:var(--muted)}
.bar{display:flex;height:.9rem;border-radius:.45rem;overflow:hidden;background:var(--not-run);margin:.4rem 0}
.bar span{display:block;min-width:3px}
.s-adopted{background:var(--adopted)}.s-deferred{background:var(--deferred)}.s-conflicted{background:var(--conflicted)}
.s-waiting{background:var(--waiting)}.s-skipped{background:var(--skipped)}.s-not-run{background:var(--not-run)}
.s-other{background:var(--other)}.s-rolled-back{background:var(--other)}
.s-error{background:repeating-linear-gradient(45deg,var(--conflicted) 0 4px,var(--bg) 4px 6px)}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.88rem;color:var(--muted);margin:0;padding:0;\
list-style:none}
.legend i{display:inline-block;width:.7rem;height:.7rem;border-radius:2px;margin-right:.3rem;vertical-align:-.05rem}
table.rows{width:100%;border-collapse:collapse;margin:.5rem 0;font-size:.94rem}
table.rows th,table.rows td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid var(--line);
overflow-wrap:anywhere}
table.rows th{font-size:.85rem;color:var(--muted);font-weight:600}
td.status{white-space:nowrap}.size{color:var(--muted);font-size:.85rem;display:block}
body.only-left tr.settled{display:none}
.filter{font-size:.92rem;margin:.5rem 0}
svg.chart{width:100%;height:auto;max-width:32rem;display:block}
svg.chart .adopted{fill:var(--adopted)}svg.chart polyline.left{stroke:var(--conflicted);stroke-width:2}
svg.chart circle.left{fill:var(--conflicted)}svg.chart .axis{stroke:var(--muted)}svg.chart .grid{stroke:var(--line);\
stroke-dasharray:3 3}
svg.chart .tick{fill:var(--muted);font-size:13px;font-family:system-ui,sans-serif}
.key{font-size:.88rem;color:var(--muted)}.key .line{display:inline-block;width:1rem;height:2px;\
background:var(--conflicted);vertical-align:middle;margin-right:.3rem}
.key .box{display:inline-block;width:.7rem;height:.7rem;background:var(--adopted);margin-right:.3rem;\
vertical-align:-.05rem}
footer{max-width:60rem;margin:2rem auto;padding:0 1rem;color:var(--muted);font-size:.85rem}
@media (max-width:40em){
main{padding:.75rem}
table.rows thead{display:none}
table.rows,table.rows tbody,table.rows tr,table.rows td{display:block;width:100%}
table.rows tr{border:1px solid var(--line);border-radius:6px;margin:.5rem 0;padding:.25rem .5rem;background:var(--card)}
table.rows td{border:0;padding:.15rem 0}
table.rows td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.85rem}
table.rows td[data-label=slice]{font-weight:600}table.rows td[data-label=slice]::before{content:none}
td.status{white-space:normal}.size{display:inline;margin-left:.4rem}
}
"""

SCRIPT = """
(function () {
  var box = document.getElementById("only-left");
  if (box) {
    box.addEventListener("change", function () { document.body.classList.toggle("only-left", box.checked); });
  }
  var buttons = document.querySelectorAll("button.copy");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (event) {
      var button = event.currentTarget;
      var said = function (word) {
        button.textContent = word;
        setTimeout(function () { button.textContent = "copy"; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(button.getAttribute("data-command"))
          .then(function () { said("copied"); }, function () { said("select it"); });
      } else {
        said("select it");
      }
    });
  }
})();
"""


def html(sections: Sequence[Section]) -> str:
    """The whole page."""
    title = sections[0].title if sections else "Sync dashboard"
    body = "\n".join(_section(s) for s in sections)
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
            f"<title>{escape(title)} · "
            f"forkwave</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n"
            "<footer>Written by forkwave from <code>reports/</code>: every slice's report is linked beside it. "
            "This page loads nothing from the network.</footer>\n"
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")


def _section(s: Section) -> str:
    parts = [f'<section id="{escape(s.anchor)}">', f"<h{s.level}>{escape(s.title)}</h{s.level}>"]
    if s.anchor == "slices" and not s.blocks:
        parts.append('<p class="filter"><label><input type="checkbox" id="only-left"> Only what is left '
                     "(hide settled slices)</label></p>")
    parts += [_block(b) for b in s.blocks]
    return "\n".join(parts + ["</section>"])


def _block(b: Block) -> str:
    if isinstance(b, Para):
        return ('<p class="muted">' if b.muted else "<p>") + f"{_line(b.line)}</p>"
    if isinstance(b, Todos):
        if not b.items:
            return f'<p class="empty">{escape(b.empty)}</p>'
        return '<ol class="todos">\n' + "\n".join(_todo(t) for t in b.items) + "\n</ol>"
    if isinstance(b, Bar):
        return _bar(b)
    if isinstance(b, Rows):
        return _rows(b.rows)
    if isinstance(b, Trend):
        return "\n".join(_trend(s) for s in b.series)
    raise TypeError(f"no HTML for {type(b).__name__}")


def _inline(p: Inline) -> str:
    if isinstance(p, Code):
        return f"<code>{escape(p.text)}</code>"
    if isinstance(p, Link):
        return f'<a href="{escape(quote(p.href, safe="/"))}">{escape(p.text)}</a>'
    if isinstance(p, Strong):
        return f"<strong>{escape(p.text)}</strong>"
    return escape(p)


def _line(parts: Line) -> str:
    return "".join(_inline(p) for p in parts)


def _command(command: str) -> str:
    return (f'<div class="command"><code>{escape(command)}</code>'
            f'<button class="copy" type="button" data-command="{escape(command)}">copy</button></div>')


# a coloured dot per status and per kind of item (emoji need a font the machine may lack; a dot needs none)
DOTS = {"adopted": "adopted", "empty": "adopted", "rolled-back": "other", "split": "deferred", "reverted": "deferred",
        "failed": "deferred", "conflicted": "conflicted", "error": "conflicted", "waiting": "waiting",
        "conflict": "conflicted", "deferred": "deferred", "verification": "conflicted", "unverified": "waiting",
        "publish": "deferred"}


def _dot(key: str) -> str:
    return f'<span class="dot d-{DOTS.get(key, "not-run")}" aria-hidden="true"></span>'


def _todo(t: Todo) -> str:
    link = f" · {_inline(t.link)}" if t.link else ""
    return (f'<li class="todo {escape(t.kind)}"><div class="title">{_dot(t.kind)}{_line(t.title)}</div>'
            f'<div class="why">{_line(t.why)}</div><div class="step">Next: {_line(t.step)}{link}</div>'
            + (_command(t.command) if t.command else "") + "</li>")


def _bar(b: Bar) -> str:
    words = ", ".join(f"{s.n} {s.label}" for s in b.segments)
    spans = "".join(f'<span class="s-{s.key}" style="width:{100 * s.n / b.total:.2f}%" title="{s.n} {escape(s.label)}">'
                    "</span>" for s in b.segments if b.total)
    legend = "".join(f'<li><i class="s-{s.key}"></i>{s.n} {escape(s.label)}</li>' for s in b.segments)
    slices = ", ".join(f"{n} {escape(status)}" for status, n in b.slices)
    count = sum(n for _, n in b.slices)
    unit = b.unit[:-1] if b.total == 1 else b.unit
    return (f'<div class="bar" role="img" aria-label="{b.total} {unit}: {escape(words)}">{spans}</div>'
            f'<ul class="legend"><li><strong>{b.total} {unit}</strong></li>{legend}</ul>'
            f'<p class="muted">{count} slice{"" if count == 1 else "s"}: {slices}</p>')


def _rows(rows: Sequence[Row]) -> str:
    out = ['<table class="rows">', "<thead><tr><th>slice</th><th>status</th><th>why</th><th>next</th></tr></thead>",
           "<tbody>"]
    for r in rows:
        command = _command(r.command) if r.command else "—"
        out.append(f'<tr class="{"settled" if r.settled else "left"}" id="row-{escape(r.slice.text)}">'
                   f'<td data-label="slice">{_inline(r.slice)}</td>'
                   f'<td class="status" data-label="status">{_dot(r.status)}{escape(r.status)}'
                   f'<span class="size">{escape(r.size)}</span></td>'
                   f'<td data-label="why">{escape(r.reason)}</td><td data-label="next">{command}</td></tr>')
    return "\n".join(out + ["</tbody></table>"])


def _trend(s: Series) -> str:
    last = s.points[-1]
    return (f"<h3>{escape(s.source)} <span class=\"muted\">({escape(s.unit)})</span></h3>\n"
            f'<p class="key"><span class="box"></span>adopted by the run · <span class="line"></span>left when it '
            f"ended · the last run ({escape(last.when)}, {escape(last.status)}) adopted {last.adopted}, left "
            f"{last.left}</p>\n" + chart.svg(s))
