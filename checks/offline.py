"""Why an install failed offline: which package's script tried to download what, from a failed check's output.

Install scripts (puppeteer's browser, sharp's and bcrypt's prebuilt binaries, node-gyp's
headers) download from hosts outside the package registries, which a validation machine may
not reach. npm, Yarn 1, Yarn Berry and pnpm each name the failing package their own way; the
network error names the host. ``diagnose`` pairs them, ``summary`` says it in one line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# The network errors node, curl, wget, python and git print, with the host (or address) they name.
_NET_ERRORS = [
    re.compile(r"getaddrinfo (?P<err>ENOTFOUND|EAI_AGAIN) (?P<host>[\w.-]+)"),
    re.compile(r"connect (?P<err>ECONNREFUSED|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH) (?P<host>[\w.:\[\]-]+)"),
    re.compile(r"(?P<err>Could not resolve host): (?P<host>[\w.-]+)"),
    re.compile(r"(?P<err>Failed to connect to) (?P<host>[\w.-]+) port"),
    re.compile(r"unable to resolve host address ['‘](?P<host>[\w.-]+)['’]", re.I),
    re.compile(r"(?P<err>Temporary failure in name resolution|Name or service not "
               r"known).*?(?:host=['\"]?|//)(?P<host>[\w.-]+)"),
    re.compile(r"(?P<err>unable to access) '(?:https?|git)://(?P<host>[\w.-]+)"),
]
# Where a package manager names the package whose script is running or failed.
_PACKAGES = [
    re.compile(r"npm (?:error|ERR!) path \S*?/(?P<pkg>(?:@[\w.-]+/)?[\w.-]+)\s*$"),
    re.compile(r"^error .*/node_modules/(?P<pkg>(?:@[\w.-]+/)?[\w.-]+): Command failed"),
    re.compile(r"YN0009: .*?(?P<pkg>(?:@[\w.-]+/)?[\w.-]+)@[\w.:%/-]+.*couldn't be built"),
    re.compile(r"YN0007: .*?(?P<pkg>(?:@[\w.-]+/)?[\w.-]+)@[\w.:%/-]+.* must be built"),
    re.compile(r"node_modules/(?:\.pnpm/[^/\s]+/node_modules/)?(?P<pkg>(?:@[\w.-]+/)?[\w.-]+) (?:pre|post)?install"),
    re.compile(r"(?P<pkg>(?:@[\w.-]+/)?[\w.-]+)@\d[\w.+-]* (?:pre|post)?install: "),
    re.compile(r"^\[forkwave\] build log of (?P<pkg>(?:@[\w.-]+/)?[\w.-]+)@"),
]
_URL = re.compile(r"(?:https?|ftp|git)://[^\s'\"<>`)]+")
REMEDIES = ("YARN_ENABLE_SCRIPTS=false, npm_config_ignore_scripts=true or PUPPETEER_SKIP_DOWNLOAD=1 in the check's env "
            "(README: Containers, offline installs)")


@dataclass(frozen=True)
class Unreachable:
    """``package`` (None when no package manager named one) could not reach ``host``: ``what`` it fetched."""

    package: str | None
    host: str
    what: str
    error: str

    def describe(self) -> str:
        who = self.package or "an install step"
        return f"{who} tried to download {self.what} ({self.error})"


def _host_error(line: str) -> tuple[str, str] | None:
    for pattern in _NET_ERRORS:
        found = pattern.search(line)
        if found:
            groups = found.groupdict()
            return groups["host"].strip("[]"), groups.get("err") or "unreachable"
    return None


def _package(line: str) -> str | None:
    for pattern in _PACKAGES:
        found = pattern.search(line)
        if found:
            return found.group("pkg")
    return None


def _url_for(host: str, lines: list[str]) -> str:
    """The most specific URL on ``host`` in the output (a download beats a bare host)."""
    bare = host.split(":")[0]
    urls = [u.rstrip(".,;:") for line in lines for u in _URL.findall(line)]
    matching = [u for u in urls if re.match(rf"^[a-z]+://{re.escape(bare)}(?:[:/]|$)", u)]
    return max(matching, key=len) if matching else host


def diagnose(output: str) -> list[Unreachable]:
    """Every (package, host) pair the output shows failing, in order of first appearance.

    A package is the one the package manager named last before the network error, or, when
    it names the failing package only afterwards (npm's ``npm error path``), the next one.
    """
    lines = output.splitlines()
    packages = [(_package(line), i) for i, line in enumerate(lines)]
    named = [(p, i) for p, i in packages if p]
    found: dict[tuple[str | None, str], Unreachable] = {}
    for i, line in enumerate(lines):
        hit = _host_error(line)
        if hit is None:
            continue
        host, error = hit
        before = [p for p, j in named if j <= i]
        after = [p for p, j in named if j > i]
        package = before[-1] if before else (after[0] if after else None)
        key = (package, host)
        if key not in found:
            found[key] = Unreachable(package, host, _url_for(host, lines), f"{error} {host}")
    return list(found.values())


def summary(output: str) -> str:
    """One line for a failed check's message, or "" when no unreachable host shows in the output."""
    found = diagnose(output)
    if not found:
        return ""
    return f"unreachable host: {'; '.join(u.describe() for u in found)}; remedies: {REMEDIES}"


BERRY_BUILD_LOG = re.compile(r"YN0009: .*?(?P<pkg>(?:@[\w.-]+/)?[\w.-]+)@\S+.*logs can be found here: "
                             r"(?P<log>/\S+?build\.log)")


def berry_build_logs(output: str) -> list[tuple[str, str]]:
    """(package, path in the container) of each build log Yarn Berry left in its temporary folder."""
    return [(m.group("pkg"), m.group("log")) for m in BERRY_BUILD_LOG.finditer(output)]
