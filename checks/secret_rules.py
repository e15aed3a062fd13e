"""forkwave's additions to detect-secrets: a plugin for the token shapes redaction knows, and filters.

detect-secrets loads filters by import path (``checks.secret_rules.<name>``) and calls
them with the arguments they name (``secret``, ``line``, ``filename``, ``plugin``,
``context``); one returning True drops the finding. Every filter here takes ``secret``:
detect-secrets only calls a filter on a finding when it asks for the finding's value. Each filter here targets a kind of
false positive seen on real forks (see tests/corpus/secrets/): example and placeholder
values, local or placeholder URL credentials, names of secrets instead of secrets, prose,
throwaway passwords in CI, compose and test files, PEM headers without a key, and markup
flags (Odoo's ``password="True"``, ``autocomplete="new-password"``, bound expressions).

``MarkupKeywordDetector`` adds what detect-secrets' keyword plugin cannot see in markup: a
credential as element text or as the value of a named entry (``<password>…</password>``,
Odoo's ``<field name="smtp_pass">…</field>``, ``<add key="SmtpPassword" value="…"/>``), and
every attribute of a line rather than its first.
"""
from __future__ import annotations

import re
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.plugins.base import BasePlugin

from tasks.redact import TOKEN_PATTERNS

# Findings of these plugins are a guess from a variable name or a URL shape; provider
# tokens and private keys are findings by their form alone, and are never relaxed by path.
GENERIC = frozenset({"Secret Keyword", "Markup Keyword", "Basic Auth Credentials", "JSON Web Token"})


# A JWT is as often a test fixture or a public client key as a credential: detect-secrets'
# own JwtTokenDetector reports it as a generic finding instead.
PLUGIN_PATTERNS = tuple((name, rx) for name, rx in TOKEN_PATTERNS if name != "JSON Web Token")


class ForkwaveTokenDetector(BasePlugin):
    """The provider token shapes of ``tasks.redact.TOKEN_PATTERNS``, each reported under its own name."""

    secret_type = "Token"

    def analyze_string(self, string: str) -> Any:
        for _, rx in PLUGIN_PATTERNS:
            for m in rx.finditer(string):
                yield m["v"] if "v" in rx.groupindex else m[0]

    def analyze_line(self, filename: str, line: str, line_number: int = 0, context: Any = None,
                     **kwargs: Any) -> set[PotentialSecret]:
        found = set()
        for name, rx in PLUGIN_PATTERNS:
            for m in rx.finditer(line):
                value = m["v"] if "v" in rx.groupindex else m[0]
                found.add(PotentialSecret(type=name, filename=filename, secret=value, line_number=line_number))
        return found


# Markup: templates and views, where attributes are flags and element text can be a value.
MARKUP = re.compile(r"\.(?:xml|html?|xhtml|jsx|tsx|vue|svelte|xaml|config|jsp|aspx|cshtml|razor|hbs|handlebars|"
                    r"mustache|j2|jinja2?|twig|erb|ejs|njk|liquid|xslt?)$", re.I)
# A key that names a credential (at its end: ``smtp_pass``, ``SmtpPassword``, ``client_secret``),
# not one that names something about it (``password_policy``, ``token_url``, ``bypass``).
_CREDENTIAL_KEY = (r"[\w.:-]*?(?:password|passwd|passphrase|(?<![a-z])pass|(?<![a-z])pwd|secret|(?<![a-z])token|"
                   r"api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)")
_VALUE = r"[^\s<>\"'{}]{1,200}"
_TAG = r"[^<>]{0,2000}"   # the rest of one tag, bounded: a line of unclosed tags costs linear time, not quadratic
_MARKUP_VALUES = tuple(re.compile(rx, re.I) for rx in (
    # <password>s3cr3t</password>, <db:secret>…</db:secret>
    rf"<({_CREDENTIAL_KEY})(?:\s{_TAG})?>\s*(?P<v>{_VALUE})\s*</\1>",
    # Odoo's <field name="smtp_pass">…</field>, <entry key="token">…</entry>
    rf"<([\w:-]+)\s{_TAG}?\b(?:name|key)\s*=\s*[\"']{_CREDENTIAL_KEY}[\"']{_TAG}>\s*(?P<v>{_VALUE})\s*</\1>",
    # <add key="SmtpPassword" value="…"/>, <property name="password" value="…"/>
    rf"\b(?:name|key)\s*=\s*[\"']{_CREDENTIAL_KEY}[\"']{_TAG}?\bvalue\s*=\s*([\"'])(?P<v>{_VALUE})\1",
    # every attribute named like a credential: password="…" (detect-secrets reads only a line's first)
    rf"(?<![\w:.\[-]){_CREDENTIAL_KEY}\s*=\s*([\"'])(?P<v>{_VALUE})\1",
))


class MarkupKeywordDetector(BasePlugin):
    """Credentials in markup files, by the name of the element, entry or attribute that holds them.

    Its findings are generic (``Secret Keyword``): every filter for names, placeholders,
    templates, flags and throwaway values applies to them.
    """

    secret_type = "Markup Keyword"

    def analyze_string(self, string: str) -> Any:
        for rx in _MARKUP_VALUES:
            for m in rx.finditer(string):
                yield m["v"]

    def analyze_line(self, filename: str, line: str, line_number: int = 0, context: Any = None,
                     **kwargs: Any) -> set[PotentialSecret]:
        if not MARKUP.search(filename):
            return set()
        return {PotentialSecret(type="Secret Keyword", filename=filename, secret=value, line_number=line_number)
                for value in self.analyze_string(line)}


def _generic(plugin: Any) -> bool:
    return getattr(plugin, "secret_type", "") in GENERIC


# --- values that are not credentials ---------------------------------------------------------

# Generic findings are matched loosely; provider tokens only by what no live token holds
# (a random token contains a given 4-letter word once in ~10^5, so "test" or "your" would cost recall).
_PLACEHOLDER = re.compile(
    r"example|sample|dummy|placeholder|changeme|change[_-]?me|change[_-]?this|replace[_-]?(?:me|this|with)|"
    r"your[_-]?|redacted|foobar|lorem|fake|insert[_-]|xxxx|\*\*\*|\.\.\.|^<|^\[|^todo|secret[_-]?here|"
    r"^(?:test|testing|none|null|nil|undefined|empty|default|string|str|text|value|secret|password|passwd|"
    r"pass|pwd|token|key|apikey|api[_-]key|admin|user|username|required|optional)$", re.I)
_TOKEN_PLACEHOLDER = re.compile(r"example|xxxx|(.)\1{7}", re.I)


def is_placeholder(secret: str, plugin: Any) -> bool:
    """``AKIAIOSFODNN7EXAMPLE``, ``ghp_xxxx…``, ``your-api-key``, ``replace_me_with_a_random_string``, ``<token>``."""
    if not _generic(plugin):
        return bool(_TOKEN_PLACEHOLDER.search(secret))
    return bool(_PLACEHOLDER.search(secret)) or len(set(secret)) <= 3


_IDENTIFIER = re.compile(r"^(?:[a-z][a-z0-9]*(?:[A-Z][a-z0-9]+)+|[a-z]+(?:_[a-z]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|"
                         r"[a-z]+(?:\.[a-z]+)+)$")


def is_identifier_or_prose(secret: str, plugin: Any) -> bool:
    """A generic finding whose value is a name (``sessionSecret``, ``PG_PASSWORD``, ``config.secret``)
    or words (``Forgot your password?``): code and UI text, not a credential."""
    return _generic(plugin) and (bool(_IDENTIFIER.match(secret)) or bool(re.search(r"\s", secret)))


# Keys that name where a secret is, or something about it, rather than holding it.
_REFERENCE_KEY = re.compile(
    r"(?:secret|password|passwd|pwd|token|key)[\w-]*?(?:name|ref|keyref|file|path|id|arn|env|var|length|field|"
    r"header|type|policy|manager|provider|store|mount|dir|url|uri|endpoint|prefix|regex|pattern|label|hint|"
    r"placeholder|title|message|policy|rotation|ttl|expiry|expires|expiration)[\"']?\s*[:=]|"
    r"(?:password|passwd|pwd|token)[\w-]*?key[\"']?\s*[:=]", re.I)


def is_reference_key(secret: str, line: str, plugin: Any) -> bool:
    """``secretName: app-tls``, ``tokenUrl: /oauth/token``, ``password_file: /run/secrets/db``,
    ``adminPasswordKey: postgres-password`` (the key *in* a Kubernetes Secret)."""
    return getattr(plugin, "secret_type", "") == "Secret Keyword" and bool(_REFERENCE_KEY.search(line))


# --- flags and bindings in markup ---------------------------------------------------------------

_FLAG = re.compile(r"^(?:true|false|yes|no|on|off|[01])$", re.I)
# What markup attributes named like credentials hold when they configure a field rather than fill
# it: input types, autocomplete tokens, visibility states.
_UI_STATE = re.compile(r"^(?:new-password|current-password|one-time-code|off|on|masked|unmasked|hidden|visible|"
                       r"show|hide|toggle|text|password)$", re.I)
# Attributes whose value is code, not a literal: QWeb ``t-att-``/``t-attf-``, Vue ``:x``/``v-bind:x``,
# Alpine ``x-bind:x``, Svelte ``bind:x``, Angular ``[x]``.
_BOUND = r"(?:\bt-attf?-|\bv-bind:|\bx-bind:|\bbind:|(?<![\w-]):|\[)[\w.-]*\]?\s*=\s*([\"'])"


def is_markup_flag(filename: str, secret: str, line: str, plugin: Any) -> bool:
    """``password="True"`` (Odoo's flag that masks a field), ``secret: false``: a boolean is never a
    credential, in any file. In markup also ``autocomplete="new-password"``, ``data-secret="masked"``
    and bound expressions (``t-att-password="widget.password_mode"``, ``:password="show"``)."""
    if not _generic(plugin):
        return False
    if _FLAG.match(secret):
        return True
    if not MARKUP.search(filename):
        return False
    return bool(_UI_STATE.match(secret)) or re.search(_BOUND + re.escape(secret) + r"\1", line) is not None


# --- URL credentials --------------------------------------------------------------------------

_LOCAL_HOST = re.compile(r"^(?:localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[?::1\]?|host\.docker\.internal|"
                         r"[a-z0-9_-]+|.*\.(?:local|localhost|test|example|invalid|internal\.example)|"
                         r"(?:.*\.)?example\.(?:com|org|net))$", re.I)


def is_local_url_credential(secret: str, line: str, plugin: Any) -> bool:
    """``postgres://postgres:postgres@localhost``, ``mysql://root:root@db:3306`` (a compose service),
    ``https://user:pass@example.com``: no real host, or a placeholder password."""
    if getattr(plugin, "secret_type", "") != "Basic Auth Credentials":
        return False
    m = re.search(re.escape(secret) + r"@(\[[^\]]+\]|[^:/?#\s'\"`]+)", line)
    return m is not None and bool(_LOCAL_HOST.match(m[1]))


# --- throwaway values where throwaway values belong ------------------------------------------------

_WEAK = re.compile(r"^[a-z]+(?:[-_.][a-z]+)*[0-9]{0,4}[!]?$")


def is_weak(secret: str) -> bool:
    """Lowercase words with at most a few trailing digits: ``postgres``, ``root``, ``twenty``, ``secret123``."""
    return bool(_WEAK.match(secret))


_TEST_PATH = re.compile(r"(?:^|/)(?:tests?|__tests__|spec|specs|e2e|fixtures?|__fixtures__|testdata|test-data|"
                        r"__mocks__|mocks?|stories)/|(?:^|/)[^/]*[._-](?:test|spec|stories|mock|fixture)s?\.[^/]+$|"
                        r"(?:^|/)(?:test|tests|conftest)[^/]*\.py$", re.I)
_RELAXED_PATH = re.compile(r"(?:^|/)(?:\.github/workflows|\.gitlab|\.circleci|\.buildkite|\.devcontainer|docs?|"
                           r"examples?|samples?|seeds?|scripts|demo)/|(?:^|/)(?:\.gitlab-ci\.ya?ml|\.travis\.ya?ml|"
                           r"azure-pipelines\.ya?ml|bitbucket-pipelines\.ya?ml|Jenkinsfile|Makefile|"
                           r"(?:docker-)?compose[^/]*\.ya?ml|[^/]*\.(?:md|mdx|rst|adoc|txt))$|"
                           r"(?:^|/)[^/]*[._-](?:example|sample|template|dist|ci|dev|local|test|demo)(?:\.[^/]*)?$",
                           re.I)


def is_test_fixture(filename: str, secret: str, plugin: Any) -> bool:
    """Generic findings in tests and fixtures are test data; provider tokens still count there."""
    return _generic(plugin) and bool(_TEST_PATH.search(filename))


def is_throwaway(filename: str, secret: str, plugin: Any) -> bool:
    """A weak generic value in CI, compose, docs, example or demo-data files: ``POSTGRES_PASSWORD: postgres``,
    Odoo's ``<field name="password">demo</field>`` in ``demo/``."""
    return _generic(plugin) and is_weak(secret) and bool(_RELAXED_PATH.search(filename))


# --- private keys -------------------------------------------------------------------------------

_KEY_BODY = re.compile(r"[A-Za-z0-9+/=]{40,}")


def is_key_header_only(secret: str, context: Any) -> bool:
    """A PEM header in code (``startsWith('-----BEGIN RSA PRIVATE KEY-----')``) with no key after it."""
    if "PRIVATE KEY" not in secret.upper():
        return False
    lines = context.lines[context.target_index:context.target_index + 6]
    after = lines[0].split("PRIVATE KEY", 1)[-1].replace("\\n", "\n") if lines else ""
    return not any(_KEY_BODY.search(chunk) for chunk in (after, *lines[1:]))


FILTERS = ("is_placeholder", "is_identifier_or_prose", "is_reference_key", "is_local_url_credential",
           "is_test_fixture", "is_throwaway", "is_key_header_only", "is_markup_flag")
