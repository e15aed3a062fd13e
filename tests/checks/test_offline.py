"""checks.offline: which package tried to download what, from real npm, Yarn 1, Yarn Berry and pnpm output."""
from __future__ import annotations

import pytest

from checks.offline import Unreachable, berry_build_logs, diagnose, summary

URL = "https://downloads.example.invalid/fetches-binary/v1.0.0/fetches-binary-linux-x64.tar.gz"
HOST = "downloads.example.invalid"

# Captured from forkwave/node:24.5.0 installing a package whose postinstall downloads a binary.
NPM = f"""\
npm error code 1
npm error path /workspace/node_modules/fetches-binary
npm error command failed
npm error command sh -c node install.js
npm error fetches-binary: downloading {URL}
npm error getaddrinfo ENOTFOUND {HOST}
npm error A complete log of this run can be found in: /tmp/h/.npm/_logs/2026-12-01T10_23_20_589Z-debug-0.log
"""
NPM9 = NPM.replace("npm error", "npm ERR!")
NPM_FILE_DEP = NPM.replace("/workspace/node_modules/fetches-binary", "/workspace/vendor/fetches-binary")
# yarn 1 prints "Arguments: " with a space at its end (\x20 here, not an invisible trailing space)
YARN1 = f"""\
[4/4] Building fresh packages...
error /workspace/node_modules/fetches-binary: Command failed.
Exit code: 1
Command: node install.js
Arguments:\x20
Directory: /workspace/node_modules/fetches-binary
Output:
fetches-binary: downloading {URL}
getaddrinfo ENOTFOUND {HOST}
info Visit https://yarnpkg.com/en/docs/cli/install for documentation about this command.
"""
BERRY = f"""\
➤ YN0000: ┌ Link step
➤ YN0007: │ \
fetches-binary@file:./vendor/fetches-binary#./vendor/fetches-binary::hash=462777&locator=off%40workspace%3A. must be \
built because it never has been before or the last one failed
➤ YN0009: │ \
fetches-binary@file:./vendor/fetches-binary#./vendor/fetches-binary::hash=462777&locator=off%40workspace%3A. couldn't \
be built successfully (exit code 1, logs can be found here: /tmp/xfs-a386b41e/build.log)
➤ YN0000: └ Completed
➤ YN0000: · Failed with errors in 0s 230ms

[forkwave] build log of fetches-binary@ (/tmp/xfs-a386b41e/build.log):
# This file contains the result of Yarn building a package (fetches-binary@file:./vendor/fetches-binary)
# Script name: postinstall

fetches-binary: downloading {URL}
getaddrinfo ENOTFOUND {HOST}
"""
PNPM = f"""\
node_modules/fetches-binary postinstall$ node install.js
│ fetches-binary: downloading {URL}
│ getaddrinfo ENOTFOUND {HOST}
└─ Failed in 43ms at /workspace/node_modules/fetches-binary
 ELIFECYCLE  Command failed with exit code 1.
"""
PUPPETEER = """\
npm error path /workspace/node_modules/puppeteer
npm error command sh -c node install.mjs
npm error ERROR: Failed to set up chrome v131.0.6778.204! Set "PUPPETEER_SKIP_DOWNLOAD" env variable to skip download.
npm error Error: getaddrinfo EAI_AGAIN storage.googleapis.com
"""
NODE_GYP = """\
npm error path /workspace/node_modules/bcrypt
npm error command sh -c node-pre-gyp install --fallback-to-build
npm error node-pre-gyp http GET https://github.com/kelektiv/node.bcrypt.js/releases/download/v5.1.1/bcrypt_lib-v5.1.1-napi-v3-linux-x64-glibc.tar.gz
npm error node-pre-gyp ERR! install request to \
https://github.com/kelektiv/node.bcrypt.js/releases/download/v5.1.1/bcrypt_lib-v5.1.1-napi-v3-linux-x64-glibc.tar.gz \
failed, reason: getaddrinfo ENOTFOUND github.com
npm error gyp http GET https://nodejs.org/download/release/v24.5.0/node-v24.5.0-headers.tar.gz
npm error gyp ERR! stack Error: connect ECONNREFUSED 104.20.22.46:443
npm error gyp ERR! stack FetchError: request to \
https://nodejs.org/download/release/v24.5.0/node-v24.5.0-headers.tar.gz failed, reason: getaddrinfo ENOTFOUND nodejs.org
"""
CURL = "sharp: downloading\ncurl: (6) Could not resolve host: cdn.example.invalid\n"


@pytest.mark.parametrize("output", [NPM, NPM9, NPM_FILE_DEP, YARN1, BERRY, PNPM],
                         ids=["npm", "npm9", "npm-file-dependency", "yarn1", "berry", "pnpm"])
def test_each_package_manager_names_the_package_and_the_download(output: str) -> None:
    assert diagnose(output) == [Unreachable("fetches-binary", HOST, URL, f"ENOTFOUND {HOST}")]


@pytest.mark.parametrize("output, found", [
    (PUPPETEER.replace("/puppeteer", "/@puppeteer/browsers"), [("@puppeteer/browsers", "storage.googleapis.com",
                                                                 "storage.googleapis.com",
                                                                 "EAI_AGAIN storage.googleapis.com")]),
    (PUPPETEER,
     [("puppeteer", "storage.googleapis.com", "storage.googleapis.com", "EAI_AGAIN storage.googleapis.com")]),
    (NODE_GYP, [("bcrypt", "github.com",
                 "https://github.com/kelektiv/node.bcrypt.js/releases/download/v5.1.1/"
                 "bcrypt_lib-v5.1.1-napi-v3-linux-x64-glibc.tar.gz", "ENOTFOUND github.com"),
                ("bcrypt", "104.20.22.46:443", "104.20.22.46:443", "ECONNREFUSED 104.20.22.46:443"),
                ("bcrypt", "nodejs.org", "https://nodejs.org/download/release/v24.5.0/node-v24.5.0-headers.tar.gz",
                 "ENOTFOUND nodejs.org")]),
    (CURL, [(None, "cdn.example.invalid", "cdn.example.invalid", "Could not resolve host cdn.example.invalid")]),
    ("everything is fine\nadded 3 packages\n", []),
    ("ENOTFOUND alone names nothing\n", []),
])
def test_other_downloads(output: str, found: list[tuple[object, ...]]) -> None:
    assert [(u.package, u.host, u.what, u.error) for u in diagnose(output)] == found


def test_the_summary_says_who_what_and_the_remedies_in_one_line() -> None:
    line = summary(NPM)
    assert "\n" not in line
    assert line.startswith(f"unreachable host: fetches-binary tried to download {URL} (ENOTFOUND {HOST}); remedies: ")
    for remedy in ("YARN_ENABLE_SCRIPTS=false", "npm_config_ignore_scripts=true", "PUPPETEER_SKIP_DOWNLOAD=1"):
        assert remedy in line
    assert summary("npm error code ERESOLVE\n") == ""


def test_berry_build_logs_are_found_with_their_package() -> None:
    assert berry_build_logs(BERRY) == [("fetches-binary", "/tmp/xfs-a386b41e/build.log")]
    assert berry_build_logs(NPM) == []
