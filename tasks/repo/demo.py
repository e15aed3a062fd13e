"""The bundled demo: an upstream monorepo and a rebranded fork with no shared history.

Upstream ``twenty`` has two snapshots, tag ``v1`` and ``main``; the fork was copied from
``v1`` with ``packages/twenty-*`` renamed to ``packages/acme-*``, then edited, extended
and trimmed. Every drift class occurs. Commit dates are fixed, so the commit ids are the
same on every machine and a rebuilt demo leaves ``doit`` up to date.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from tasks.repo.synth import Content, Executable, Symlink, check_out, commit_tree, init_repo

SERVER_MODULES = ["auth", "billing", "calendar", "companies", "contacts", "files", "messaging",
                  "notes", "opportunities", "people", "search", "tasks", "timeline", "webhooks", "workflows"]
FRONT_COMPONENTS = [f"{name.lower()}/{name}{kind}" for name in ("Record", "Table", "Board", "Kanban", "Command",
                                                                 "Settings", "Profile", "Workspace")
                    for kind in ("View", "Header", "Row", "Menu")]
UI_COMPONENTS = ["avatar", "badge", "button", "checkbox", "chip", "dialog", "dropdown", "icon", "input",
                 "link", "menu", "modal", "radio", "select", "spinner", "tabs", "tag", "toast", "toggle", "tooltip"]
SHARED_UTILS = ["array", "date", "email", "format", "guard", "id", "number", "object", "string", "url"]


def _pkg(name: str) -> str:
    return json.dumps({"name": f"twenty-{name}", "version": "0.30.0", "private": True,
                       "scripts": {"build": "node ../../scripts/build.js"}}, indent=2) + "\n"


def _js(name: str, body: str = "") -> str:
    return f"// twenty {name}\nexport function {name.replace('-', '_')}(input) {{\n  return input;{body}\n}}\n"


# The demo's check (examples/demo/forkwave.yaml): what scripts/build.js does, in Python, so the demo
# needs nothing but the Python forkwave runs on. Every .json under packages/ must parse and every
# .js must close what it opens (comments and strings aside): enough to catch a file that does not parse.
CHECK_BUILD = r'''"""Check that every package builds: each .json parses, each .js balances its brackets."""
import json
import pathlib
import re
import sys

NOISE = re.compile(r"//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|`(?:\\.|[^`\\])*`", re.S)
CLOSES = {")": "(", "]": "[", "}": "{"}


def js_problem(source):
    opened = []
    for number, line in enumerate(NOISE.sub(lambda m: "\n" * m[0].count("\n"), source).splitlines(), 1):
        for char in line:
            if char in "([{":
                opened.append((char, number))
            elif char in CLOSES and (not opened or opened.pop()[0] != CLOSES[char]):
                return f"line {number}: unexpected {char}"
    return f"line {opened[-1][1]}: {opened[-1][0]} is never closed" if opened else None


failed = 0
for path in sorted(pathlib.Path("packages").rglob("*")):
    if "node_modules" in path.parts or not path.is_file() or path.suffix not in (".js", ".json"):
        continue
    text = path.read_text(encoding="utf-8")
    try:
        problem = js_problem(text) if path.suffix == ".js" else json.loads(text) and None
    except ValueError as exc:
        problem = str(exc)
    if problem:
        print(f"{path}: {problem}", file=sys.stderr)
        failed += 1
print(f"built: {failed} file(s) failed" if failed else "built")
sys.exit(1 if failed else 0)
'''


def upstream_v1() -> dict[str, Content]:
    files: dict[str, Content] = {
        "README.md": "# Twenty\n\nThe #1 open-source CRM.\n",
        "package.json": json.dumps({"name": "twenty", "private": True, "workspaces": ["packages/*"],
                                    "scripts": {"build": "npm run build --workspaces --if-present"}}, indent=2) + "\n",
        "nx.json": json.dumps({"targetDefaults": {"build": {"cache": True}}}, indent=2) + "\n",
        "Dockerfile": "FROM node:20-bookworm\nWORKDIR /app\nCOPY . .\nRUN npm run build\n",
        ".github/workflows/ci.yml": "name: CI\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
                                    "    steps:\n      - uses: actions/checkout@v4\n      - run: npm run build\n",
        "scripts/build.js": "// checks every .js file of the package parses and every .json is valid\n"
                            "const fs = require('fs'), path = require('path'), vm = require('vm');\n"
                            "function walk(d) { return fs.readdirSync(d, {withFileTypes: true}).flatMap(e =>\n"
                            "  e.isDirectory() ? (e.name === 'node_modules' ? [] : walk(path.join(d, e.name))) : "
                            "[path.join(d, e.name)]); }\n"
                            "for (const f of walk('.')) {\n"
                            "  const src = fs.readFileSync(f, 'utf8');\n"
                            "  if (f.endsWith('.json')) JSON.parse(src);\n"
                            "  if (f.endsWith('.js')) new vm.Script(src.replace(/^export /gm, ''), {filename: f});\n"
                            "}\nconsole.log('built', process.cwd());\n",
        "scripts/check-build.py": CHECK_BUILD,
        "scripts/release.sh": Executable("#!/bin/sh\nset -e\nnpm run build\n"),
        ".env.example": "PG_DATABASE_URL=postgres://twenty:twenty@localhost:5432/default\n",
    }
    for i, page in enumerate(("getting-started", "self-hosting", "api", "webhooks", "workflows", "permissions",
                              "data-model", "import", "export", "upgrade-guide")):
        files[f"docs/{page}.md"] = f"# {page.replace('-', ' ').title()}\n\nTwenty documentation, part {i}.\n"
    for pkg in ("server", "front", "ui", "shared", "emails"):
        files[f"packages/twenty-{pkg}/package.json"] = _pkg(pkg)
        files[f"packages/twenty-{pkg}/README.md"] = f"# twenty-{pkg}\n"
    for m in SERVER_MODULES:
        base = f"packages/twenty-server/src/modules/{m}"
        for part in ("service", "controller", "resolver", "dto"):
            files[f"{base}/{m}.{part}.js"] = _js(f"{m}-{part}")
        files[f"{base}/__tests__/{m}.service.spec.js"] = _js(f"{m}-spec")
    for i in range(1, 7):
        files[f"packages/twenty-server/src/database/migrations/{1700000000 + i}-step{i}.js"] = _js(f"migration{i}")
    for part in ("jwt", "guard", "strategy", "token"):
        files[f"packages/twenty-server/src/engine/auth/{part}.js"] = _js(f"auth-{part}")
    files["packages/twenty-server/src/engine/security/rate-limit.js"] = _js("rate-limit")
    files["packages/twenty-server/config/default.json"] = json.dumps({"port": 3000, "brand": "twenty"}, indent=2) + "\n"
    for c in FRONT_COMPONENTS:
        files[f"packages/twenty-front/src/modules/{c}.js"] = _js(c.split("/")[1])
    for i in range(8):
        files[f"packages/twenty-front/src/pages/page{i}.js"] = _js(f"page{i}")
    for c in UI_COMPONENTS:
        files[f"packages/twenty-ui/src/{c}/index.js"] = _js(c)
        files[f"packages/twenty-ui/src/{c}/{c}.stories.js"] = _js(f"{c}-story")
    files["packages/twenty-ui/src/assets/logo.svg"] = "<svg xmlns='http://www.w3.org/2000/svg'><text>twenty</text></svg>\n"
    files["packages/twenty-ui/src/assets/icon.png"] = bytes(range(256)) * 4
    for u in SHARED_UTILS:
        files[f"packages/twenty-shared/src/utils/{u}.js"] = _js(u)
        files[f"packages/twenty-shared/src/utils/__tests__/{u}.spec.js"] = _js(f"{u}-spec")
    for i in range(12):
        files[f"packages/twenty-emails/src/templates/template{i}.js"] = _js(f"template{i}")
    files["packages/twenty-shared/src/index.js"] = Symlink("utils/string.js")
    return files


def _text(files: Mapping[str, Content], path: str) -> str:
    """A file of the demo's trees that is text (a symlink or bytes there is a mistake in this module)."""
    content = files[path]
    if not isinstance(content, str):
        raise TypeError(f"demo: {path} is not a text file")
    return content


def upstream_main() -> dict[str, Content]:
    """v1 plus months of upstream work."""
    files = upstream_v1()
    files["README.md"] = _text(files, "README.md") + "\nNow with workflows.\n"
    files["Dockerfile"] = _text(files, "Dockerfile").replace("node:20", "node:22")
    files["docs/upgrade-guide.md"] = _text(files, "docs/upgrade-guide.md") + "\n## 0.31\n\nRun the new migrations.\n"
    files["docs/ai.md"] = "# AI\n\nAsk questions about your data.\n"
    del files["docs/import.md"]
    for m in SERVER_MODULES[:9]:
        files[f"packages/twenty-server/src/modules/{m}/{m}.service.js"] = _js(f"{m}-service", "\n  // v0.31: paginate")
    files["packages/twenty-server/src/modules/ai/ai.service.js"] = _js("ai-service")
    files["packages/twenty-server/src/modules/ai/ai.resolver.js"] = _js("ai-resolver")
    for i in (7, 8):
        files[f"packages/twenty-server/src/database/migrations/{1700000000 + i}-step{i}.js"] = _js(f"migration{i}")
    files["packages/twenty-server/src/engine/auth/jwt.js"] = _js("auth-jwt", "\n  // rotate keys")
    files["packages/twenty-server/src/engine/auth/sso.js"] = _js("auth-sso")
    files["packages/twenty-server/config/default.json"] = json.dumps(
        {"port": 3000, "brand": "twenty", "workers": 2}, indent=2) + "\n"
    files["packages/twenty-server/.env.test"] = "PG_DATABASE_URL=postgres://test@localhost/test\n"
    files["packages/twenty-server/secrets/dev-signing.key"] = "not-a-real-key\n"
    for c in FRONT_COMPONENTS[:6]:
        del files[f"packages/twenty-front/src/modules/{c}.js"]
    for c in FRONT_COMPONENTS[10:22]:
        files[f"packages/twenty-front/src/modules/{c}.js"] = _js(c.split("/")[1], "\n  // redesign")
    for i in range(8, 12):
        files[f"packages/twenty-front/src/pages/page{i}.js"] = _js(f"page{i}")
    # upstream shipped a file that does not parse: forkwave must isolate and defer it
    files["packages/twenty-front/src/pages/page10.js"] = "export function page10(input {\n  return input;\n}\n"
    for c in UI_COMPONENTS[:12]:
        files[f"packages/twenty-ui/src/{c}/index.js"] = _js(c, "\n  // theme tokens")
    files["packages/twenty-ui/src/assets/icon.png"] = bytes(range(255, -1, -1)) * 4
    for u in SHARED_UTILS[:4]:
        files[f"packages/twenty-shared/src/utils/{u}.js"] = _js(u, "\n  // stricter types")
    files["scripts/release.sh"] = Executable("#!/bin/sh\nset -eu\nnpm run build\nnpm pack\n")
    return files


def rebrand(path: str, content: Content) -> Content:
    """What the fork did to every package file: ``twenty`` became ``acme`` (the demo's ``rewrite``)."""
    if isinstance(content, str) and path.startswith("packages/") and path.endswith((".js", "package.json")):
        return content.replace("twenty", "acme")
    return content


def fork_of(upstream: dict[str, Content]) -> dict[str, Content]:
    """The acme fork: v1 renamed and rebranded (paths and contents), edited, extended and trimmed."""
    files = {p.replace("packages/twenty-", "packages/acme-", 1): c for p, c in upstream.items()}
    files = {p: rebrand(p, c) for p, c in files.items()}
    files["README.md"] = "# Acme CRM\n\nBased on Twenty.\n"
    files["packages/acme-server/config/default.json"] = json.dumps({"port": 8080, "brand": "acme"}, indent=2) + "\n"
    # edited where upstream edits too: the same spot conflicts, a distant one merges cleanly
    billing = "packages/acme-server/src/modules/billing/billing.service.js"
    files[billing] = rebrand(billing, _js("billing-service", "\n  // acme: audit log"))
    contacts = "packages/acme-server/src/modules/contacts/contacts.service.js"
    files[contacts] = "// acme contacts-service, audited by Acme\n" + _text(files, contacts).split("\n", 1)[1]
    # renamed by the fork; upstream changes it, and the change must land at the new name
    old = "packages/acme-server/src/modules/calendar/calendar.service.js"
    files["packages/acme-server/src/modules/calendar/agenda.service.js"] = files.pop(old)
    files["packages/acme-front/src/modules/settings/SettingsView.js"] = rebrand(
        "packages/x.js", _js("SettingsView", "\n  // acme branding"))
    files["packages/acme-ui/src/button/index.js"] = rebrand("packages/x.js", _js("button", "\n  // acme colours"))
    for i in range(10):
        files[f"packages/acme-invoicing/src/invoice{i}.js"] = rebrand("packages/x.js", _js(f"invoice{i}"))
    files["packages/acme-invoicing/package.json"] = _pkg("invoicing").replace("twenty-", "acme-")
    for i in range(4):
        del files[f"packages/acme-emails/src/templates/template{i}.js"]
    del files["docs/api.md"]
    files["scripts/release.sh"] = "#!/bin/sh\nset -e\nnpm run build\n"  # fork dropped the executable bit
    files[".env"] = "ACME_LICENSE=dev\n"
    return files


def materialise(root: Path) -> tuple[Path, Path]:
    """(Re)create ``root/upstream`` (bare) and ``root/fork``; same commit ids every time."""
    shutil.rmtree(root, ignore_errors=True)
    upstream = init_repo(root / "upstream", bare=True)
    commit_tree(upstream, upstream_v1(), message="twenty v0.30", tag="v1")
    commit_tree(upstream, upstream_main(), message="twenty v0.31", tick=60 * 24 * 90)
    fork = init_repo(root / "fork")
    commit_tree(fork, fork_of(upstream_v1()), message="acme: fork of twenty v0.30", author="Acme <dev@acme.test>",
                tick=60 * 24 * 10)
    check_out(fork)  # a person looking at the demo fork sees a clean checkout
    return upstream, fork
