"""Which files a failure points at (pure): the files its output and failing tests name, and what they import.

A failing check rarely says "this upstream file broke me", but it names things: a test id
(``tests/test_api.py::test_call``, or JUnit's dotted ``tests.test_api``), a traceback's
``File "proj/api.py", line 3``, a compiler's ``src/app.ts(4,2)``. Those files, and the files
they import (Python ``import``/``from``, TypeScript and JavaScript ``import``/``require`` of
relative paths), are where a search should look first — a guess that costs one run when it is
right and nothing when it is wrong (``core.bisect`` then halves as before).
"""
from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping

PY = (".py",)
TS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")
_TS_IMPORT = re.compile(r"""(?:\bfrom\s+|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"](\.{1,2}/[^'"]+)['"]""")


def named(text: str, paths: Iterable[str]) -> set[str]:
    """The paths (of ``paths``) that ``text`` names, as a path or as a dotted Python module.

    >>> sorted(named("FAILED tests/test_mod1.py::test_x - assert 1 == 2; proj.mod2 raised", \
["tests/test_mod1.py", "tests/test_mod10.py", "proj/mod2.py", "proj/mod3.py"]))
    ['proj/mod2.py', 'tests/test_mod1.py']
    """
    found = set()
    for path in paths:
        if _mentions(text, path):
            found.add(path)
        elif path.endswith(".py"):
            dotted = path[:-3].replace("/", ".").removesuffix(".__init__")
            if re.search(rf"(?<![\w.]){re.escape(dotted)}(?![\w])", text):
                found.add(path)
    return found


def _mentions(text: str, path: str) -> bool:
    return re.search(rf"(?<![\w./-]){re.escape(path)}(?![\w/])", text) is not None


def python_imports(path: str, source: bytes, known: set[str]) -> set[str]:
    """The files of ``known`` that a Python file imports (absolute and relative imports).

    >>> sorted(python_imports("tests/test_api.py", b"from proj.api import call\\nimport proj.util as u\\n",
    ...                       {"proj/api.py", "proj/util.py", "proj/other.py"}))
    ['proj/api.py', 'proj/util.py']
    >>> sorted(python_imports("proj/a.py", b"from . import b\\nfrom .c import x\\n", {"proj/b.py", "proj/c.py"}))
    ['proj/b.py', 'proj/c.py']
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    package = posixpath.dirname(path)
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package
                for _ in range(node.level - 1):
                    up = posixpath.dirname(up)
                base = ".".join(filter(None, [up.replace("/", "."), base]))
            modules.add(base)
            modules |= {f"{base}.{a.name}" if base else a.name for a in node.names}
    out = set()
    for module in modules:
        stem = module.replace(".", "/")
        out |= {p for p in (f"{stem}.py", f"{stem}/__init__.py") if p in known}
    return out


def script_imports(path: str, source: bytes, known: set[str]) -> set[str]:
    """The files of ``known`` that a TypeScript or JavaScript file imports by a relative path.

    >>> sorted(script_imports("src/app.ts", b"import { f } from './lib/f';\\nconst x = require('../x.js')",
    ...                       {"src/lib/f.ts", "x.js", "src/other.ts"}))
    ['src/lib/f.ts', 'x.js']
    """
    out = set()
    for spec in _TS_IMPORT.findall(source.decode("utf-8", "replace")):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
        candidates = [target] + [target + ext for ext in TS] + [f"{target}/index{ext}" for ext in TS]
        out |= {c for c in candidates if c in known}
    return out


def imports(path: str, source: bytes, known: set[str]) -> set[str]:
    if path.endswith(PY):
        return python_imports(path, source, known)
    if path.endswith(TS):
        return script_imports(path, source, known)
    return set()


def pointed_at(text: str, files: Iterable[str], read: Callable[[list[str]], Mapping[str, bytes]]) -> set[str]:
    """The files a failure's ``text`` names, and the ones those import (one level): the suspects.

    ``read`` gives the content of some of ``files`` (as the candidate has them).
    """
    known = set(files)
    direct = named(text, known)
    sources = read(sorted(p for p in direct if p.endswith(PY + TS)))
    return direct | {i for p, data in sources.items() for i in imports(p, data, known)}
