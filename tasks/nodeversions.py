"""Node version pins as npm semver ranges (``.nvmrc`` aliases, ``v`` prefixes, ``lts/<name>``): pure.

Used by the config (a check's ``node:`` key) and by the container toolchain detection.
"""
from __future__ import annotations

import re

import nodesemver

from tasks.errors import ForkwaveError

# nvm's LTS aliases (``lts/iron``); ``lts/*`` is the newest one listed here.
LTS = {"argon": 4, "boron": 6, "carbon": 8, "dubnium": 10, "erbium": 12, "fermium": 14, "gallium": 16,
       "hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24}
LATEST_ALIASES = ("node", "stable", "latest", "current")
_SPEC_CHARS = re.compile(r"^[0-9A-Za-z.*^~<>=|\s-]+$")


def node_spec(raw: str, source: str) -> str | None:
    """``raw`` as an npm semver range; None for ``system`` (whatever the image has).

    >>> node_spec("v24.5.0", ".nvmrc"), node_spec("lts/iron", ".nvmrc"), node_spec("^24.5.0", "engines.node")
    ('24.5.0', '20', '^24.5.0')
    """
    text = raw.strip()
    low = text.lower()
    if low == "system":
        return None
    if low in LATEST_ALIASES:
        return "*"
    if low.startswith("lts/"):
        name = low[4:]
        if name == "*":
            return str(max(LTS.values()))
        if name in LTS:
            return str(LTS[name])
        raise ForkwaveError(f"{source}: unknown LTS alias {text!r} (known: lts/*, "
                            f"{', '.join('lts/' + n for n in LTS)}); "
                            "write a version such as 24.5.0")
    spec = re.sub(r"(^|\s|\|\||[<>=^~])v(?=\d)", r"\1", text)
    if not text or not _SPEC_CHARS.match(spec) or nodesemver.valid_range(spec, False) is None:
        raise ForkwaveError(f"{source}: {text!r} is not a node version or range; write one such as 24.5.0 or ^24.5")
    return spec
