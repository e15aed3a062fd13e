"""Config keys as data: a table of fields (name, type, default, one-line description, check).

In the spirit of pre-commit's cfgv (``Optional('fail_fast', check_bool, False)``) and doit's
``valid_attr``: a key is declared once, as a ``Field`` inside an ``Obj`` (a mapping of known
keys), ``Items`` (a list) or ``Keys`` (a mapping of names the user chooses). Everything else is
made from that table: the JSON schema the loader validates against (``schema``), the checks a
schema cannot express, run on every value a key holds (``problems``), the defaults the
dataclasses take (``default``) and the reference page (``reference``).

A check returns ``None`` (fine), a problem with the value itself, or ``(sub, problem)`` for one
of its keys (a mapping's check that compares two of them).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Found = str | tuple[str, str] | None
Check = Callable[[Any], Found]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()   # a field's default when the config must give it


@dataclass(frozen=True)
class Derived:
    """A default the loader works out from other keys (``contrib/<fork name>``); ``text`` says how."""

    text: str


class Type:
    """What a key holds: its JSON schema, its name on the reference page, and what the schema cannot say."""

    label: str
    check: Check | None

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def parts(self, value: Any, key: str) -> Iterator[tuple[str, Any, Type, Field | None]]:
        """(key, value, type, field) of what ``value`` holds, for the checks to walk."""
        return iter(())

    def nested(self, path: str) -> Iterator[tuple[str, Obj]]:
        """(reference path, mapping type) of every mapping of known keys inside this type."""
        return iter(())


@dataclass(frozen=True, eq=False)
class Scalar(Type):
    """A string, number, boolean or choice: ``spec`` is its JSON schema."""

    spec: Mapping[str, Any]
    label: str
    check: Check | None = None

    def schema(self) -> dict[str, Any]:
        return dict(self.spec)


@dataclass(frozen=True, eq=False)
class Items(Type):
    """A list of ``item``s."""

    item: Type
    min_items: int = 0
    check: Check | None = None   # on the whole list (names used twice)
    label: str = ""              # the reference's words for it; else "list of" the item's

    def schema(self) -> dict[str, Any]:
        return {"type": "array", **({"minItems": self.min_items} if self.min_items else {}),
                "items": self.item.schema()}

    def parts(self, value: Any, key: str) -> Iterator[tuple[str, Any, Type, Field | None]]:
        for i, item in enumerate(value):
            yield f"{key}.{i}", item, self.item, None

    def nested(self, path: str) -> Iterator[tuple[str, Obj]]:
        return self.item.nested(f"{path}[]")


@dataclass(frozen=True, eq=False)
class Keys(Type):
    """A mapping whose keys the user names (waves, a check's ``env``): each value a ``value``."""

    value: Type
    names: Mapping[str, Any] | None = None   # the JSON schema every key must meet
    min_items: int = 0
    label: str = ""
    placeholder: str = "<name>"
    check: Check | None = None

    def schema(self) -> dict[str, Any]:
        return {"type": "object", **({"minProperties": self.min_items} if self.min_items else {}),
                **({"propertyNames": dict(self.names)} if self.names else {}),
                "additionalProperties": self.value.schema()}

    def parts(self, value: Any, key: str) -> Iterator[tuple[str, Any, Type, Field | None]]:
        for name, item in value.items():
            yield f"{key}.{name}", item, self.value, None

    def nested(self, path: str) -> Iterator[tuple[str, Obj]]:
        return self.value.nested(f"{path}.{self.placeholder}")


@dataclass(frozen=True, eq=False)
class Obj(Type):
    """A mapping of known keys, each a ``Field``; ``check`` judges keys that only make sense together."""

    fields: tuple[Field, ...]
    check: Check | None = None
    label: str = "mapping"
    title: str = ""   # the reference section's heading, when the mapping is reached from several keys

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def schema(self) -> dict[str, Any]:
        required = [f.name for f in self.fields if f.default is REQUIRED]
        return {"type": "object", "additionalProperties": False, **({"required": required} if required else {}),
                "properties": {f.name: f.schema() for f in self.fields}}

    def parts(self, value: Any, key: str) -> Iterator[tuple[str, Any, Type, Field | None]]:
        for f in self.fields:
            if f.name in value:
                yield f"{key}.{f.name}" if key else f.name, value[f.name], f.type, f

    def nested(self, path: str) -> Iterator[tuple[str, Obj]]:
        yield path, self
        for f in self.fields:
            yield from f.type.nested(f"{path}.{f.name}" if path else f.name)


@dataclass(frozen=True, eq=False)
class Either(Type):
    """One of several types, told apart by the YAML value's kind (a name, or a mapping)."""

    options: tuple[Type, ...]
    label: str
    check: Check | None = None

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [o.schema() for o in self.options]}

    def parts(self, value: Any, key: str) -> Iterator[tuple[str, Any, Type, Field | None]]:
        for option in self.options:
            if isinstance(option, Obj) == isinstance(value, dict):
                yield key, value, option, None
                return

    def nested(self, path: str) -> Iterator[tuple[str, Obj]]:
        for option in self.options:
            yield from option.nested(path)


@dataclass(frozen=True, eq=False)
class Field:
    """One key: its name, what it holds, what it means, its default (``REQUIRED``, a value, or
    ``Derived``), and a check beyond its type's. ``shown``: the default as the reference writes it,
    when the value would not read well there; ``mode``: the one sync mode that reads the key."""

    name: str
    type: Type
    doc: str
    default: Any = None
    check: Check | None = None
    shown: str | None = None
    mode: str | None = None

    def schema(self) -> dict[str, Any]:
        out = {**self.type.schema(), "description": self.doc}
        if self.default is not None and self.default is not REQUIRED and not isinstance(self.default, Derived):
            out["default"] = _plain(self.default)   # for editors that read the schema; None: not set, no value
        return out


# --- scalar types ---------------------------------------------------------------------------

def text(*, label: str = "string", empty: bool = False, null: bool = False, pattern: str | None = None,
         hint: str | None = None, rule: str | None = None, check: Check | None = None) -> Scalar:
    """A string (non-empty unless ``empty``). A ``pattern`` comes with the words a mismatch is told in:
    ``hint``, what is expected (``a size such as 512m``), or ``rule``, what a name must be made of."""
    spec: dict[str, Any] = {"type": ["string", "null"] if null else "string"}
    if not empty:
        spec["minLength"] = 1
    if pattern:
        spec["pattern"] = pattern
        spec.update({"x-hint": hint} if hint else {"x-rule": rule})
    return Scalar(spec, label, check)


def integer(low: int, high: int | None = None, *, null: bool = False) -> Scalar:
    spec: dict[str, Any] = {"type": ["integer", "null"] if null else "integer", "minimum": low}
    if high is not None:
        spec["maximum"] = high
    label = f"integer {low:,}–{high:,}" if high is not None else f"integer ≥ {low:,}"
    return Scalar(spec, label + (" or `null`" if null else ""))


def number(low: float | None = None, high: float | None = None, *, above: float | None = None,
           null: bool = False) -> Scalar:
    """A finite number (``.nan`` and ``.inf`` are refused by the loader's type checker)."""
    spec: dict[str, Any] = {"type": ["number", "null"] if null else "number"}
    spec.update({k: v for k, v in (("minimum", low), ("exclusiveMinimum", above), ("maximum", high)) if v is not None})
    bounds = [f"> {above:,}" if above is not None else f"≥ {low:,}" if low is not None else "",
              f"≤ {high:,}" if high is not None else ""]
    label = " ".join(["number", ", ".join(b for b in bounds if b)]).strip()
    return Scalar(spec, label + (" or `null`" if null else ""))


def boolean() -> Scalar:
    return Scalar({"type": "boolean"}, "`true` or `false`")


def choice(*values: Any) -> Scalar:
    words = ", ".join(f"`{yaml_text(v)}`" for v in values)
    return Scalar({"enum": list(values)}, words if len(values) == 1 else f"one of {words}")


# --- durations: every time key takes the same forms -------------------------------------------

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
DURATION_PATTERN = r"^[0-9]{1,15}$|^([0-9]{1,15}[smhdw]){1,5}$"
DURATION_HINT = "a duration such as 90 (seconds), 15m, 1h30m, 3d or 1w2d"
_GROUP = re.compile(r"([0-9]+)([smhdw])")


def seconds(value: int | float | str) -> int | float:
    """A duration in seconds: a number as it is, ``"90"``, ``"15m"``, ``"1h30m"``, ``"3d"``, ``"1w2d"``.

    >>> seconds(90), seconds(1.5), seconds("90"), seconds("15m"), seconds("1h30m"), seconds("1w2d")
    (90, 1.5, 90, 900, 5400, 777600)
    """
    if not isinstance(value, str):
        return value
    if value.isdigit():
        return int(value)
    return sum(int(n) * UNITS[u] for n, u in _GROUP.findall(value))


def _duration_bounds(low: int, high: int | None) -> Check:
    def check(value: Any) -> Found:
        secs = seconds(value)
        if secs < low:
            return f"expected a duration >= {low:,} s, got {value!r}"
        if high is not None and secs > high:
            return f"expected a duration <= {high:,} s ({_spelled(high)}), got {value!r} ({secs:,} s)"
        return None
    return check


def _spelled(secs: int) -> str:
    """``604800`` → ``1w``: the largest unit that divides it."""
    unit = next(u for u in "wdhms" if secs % UNITS[u] == 0)
    return f"{secs // UNITS[unit]}{unit}"


def duration(low: int = 0, high: int | None = None) -> Scalar:
    """Seconds as a number, or a string of digits and units (s, m, h, d, w)."""
    spec: dict[str, Any] = {"type": ["number", "string"], "pattern": DURATION_PATTERN, "x-hint": DURATION_HINT,
                            "x-duration": True, "minimum": low}
    if high is not None:
        spec["maximum"] = high
    return Scalar(spec, "[duration](#durations)", _duration_bounds(low, high))


# --- walking the table ----------------------------------------------------------------------

def problems(kind: Type, value: Any, key: str = "", owner: Field | None = None) -> Iterator[tuple[str, str]]:
    """(dotted key, problem) for every check ``value`` fails, what it holds first, in table order.

    ``value`` has passed the schema: the checks may trust its types.
    """
    if value is None:
        return
    for sub_key, sub, sub_type, sub_field in kind.parts(value, key):
        yield from problems(sub_type, sub, sub_key, sub_field)
    for check in (kind.check, owner.check if owner else None):
        found = check(value) if check else None
        if isinstance(found, tuple):
            yield f"{key}.{found[0]}", found[1]
        elif found:
            yield key, found


def find(root: Obj, path: str) -> Field:
    """The field at a reference path (``fork.branch``, ``checks[].timeout``, ``waves.<name>.paths``)."""
    kind: Type = root
    found: Field | None = None
    for part in path.split("."):
        if part.startswith("<"):   # a name the user chooses: step into the mapping's values
            assert isinstance(kind, Keys), path
            kind = kind.value
            continue
        found = _obj(kind).field(part.removesuffix("[]"))
        kind = found.type
    assert found is not None, path
    return found


def _obj(kind: Type) -> Obj:
    """The mapping of known keys a list, a mapping of names or a choice holds."""
    while not isinstance(kind, Obj):
        if isinstance(kind, Items):
            kind = kind.item
        elif isinstance(kind, Keys):
            kind = kind.value
        elif isinstance(kind, Either):
            kind = next(o for o in kind.options if isinstance(o, Obj))
        else:
            raise KeyError(kind.label)
    return kind


def default(root: Obj, path: str) -> Any:
    """The default of the field at ``path``, as the dataclasses take it."""
    value = find(root, path).default
    assert value is not REQUIRED and not isinstance(value, Derived), f"{path} has no literal default"
    return value


# --- the reference page ------------------------------------------------------------------------

def reference(root: Obj, intro: str, outro: str = "") -> str:
    """Markdown for GitHub: ``intro``, then one table per mapping of known keys (key, type, default,
    description), each mapping's section once even when several keys hold it."""
    seen: dict[int, str] = {}
    sections: list[tuple[str, Obj]] = []
    for path, obj in root.nested(""):
        if id(obj) not in seen:
            seen[id(obj)] = obj.title or path or "top level"
            sections.append((path, obj))
    out = [intro.rstrip(), ""]
    for path, obj in sections:
        heading = seen[id(obj)]
        out += [f"## `{heading}`" if path else f"## {heading}", ""]
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        prefix = obj.title.split(",")[0] if obj.title else path   # a mapping several keys hold: as titled
        for f in obj.fields:
            key = f"{prefix}.{f.name}" if prefix else f.name
            out.append(f"| `{key}` | {_type_cell(f.type, seen)} | {_default_cell(f)} | {_cell(_doc(f))} |")
        out.append("")
    return "\n".join(out + ([outro.rstrip(), ""] if outro else []))


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as ``-``.

    >>> anchor("sources[].map[]"), anchor("top level")
    ('sourcesmap', 'top-level')
    """
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _type_cell(kind: Type, seen: dict[int, str]) -> str:
    """How the reference names a type; a mapping of known keys links to its own section."""
    if isinstance(kind, Obj):
        return f"mapping ([`{seen[id(kind)]}`](#{anchor(seen[id(kind)])}))"
    if isinstance(kind, Items) and not kind.label:
        inner = _type_cell(kind.item, seen)
        return f"list of {inner.replace('mapping', 'mappings', 1) if isinstance(kind.item, Obj) else inner}"
    if isinstance(kind, Keys) and not kind.label:
        return f"mapping of `{kind.placeholder}` to {_type_cell(kind.value, seen)}"
    if isinstance(kind, Either):
        return " or ".join(_type_cell(o, seen) for o in kind.options)
    return kind.label


def _default_cell(f: Field) -> str:
    if f.default is REQUIRED:
        return "**required**"
    if f.shown is not None:
        return f.shown
    if isinstance(f.default, Derived):
        return f.default.text
    if f.default is None or (f.default == {} and isinstance(f.type, (Obj, Keys))):
        return "—"
    return f"`{yaml_text(f.default)}`"


def _doc(f: Field) -> str:
    return f.doc + (f" ({f.mode} mode only)" if f.mode else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def yaml_text(value: Any) -> str:
    """A value as the reference writes it: YAML scalars as they are, collections as JSON (which YAML reads).

    >>> yaml_text(("**", "x")), yaml_text(True), yaml_text(None), yaml_text({"files": 1})
    ('["**", "x"]', 'true', 'null', '{"files": 1}')
    """
    if isinstance(value, (tuple, list, dict)):
        return json.dumps(_plain(value))
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value

