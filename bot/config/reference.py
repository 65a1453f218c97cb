"""docs/configuration.md, made from the config dataclasses themselves, so it cannot drift:
tests/unit/test_config_reference.py fails when the file and this module's output differ.

    python -m bot.config.reference > docs/configuration.md

Each key's meaning is the comment beside it (or on the lines above it) in its dataclass, a
gateway's in its own payments/gateways/<name>/settings.py; a section's is its docstring.
Defaults, kinds, bounds and choices come from the fields and their `meta(...)`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
from collections.abc import Iterator
from typing import Any, get_args, get_origin, get_type_hints

from bot.config.load import Config
from bot.config.reader import DURATION, SECRET, URL
from payments.gateways import GATEWAYS

INTRO = """# Configuration reference

Every key `config.toml` may hold, with its default and meaning. A key left out has its
default; an unknown key is an error naming it. Generated from the config dataclasses
(`bot/config/sections.py`, each gateway's `payments/gateways/<name>/settings.py`) by
`python -m bot.config.reference > docs/configuration.md`; a test fails when this file and the
code differ.

- Any secret, URL and `database.url` may be written `"${NAME}"` (read from the environment)
  or `"${NAME:-fallback}"`. A default written that way is read the same way.
- A secret of a section that is `enabled = true` is required: empty or unset, it is one line
  naming the key, and `checkout-bot check-config` / `run` exit 2.
- A duration is a number of seconds or a string such as `"90s"`, `"10m"`, `"24h"`, `"7d"`.
"""


def render() -> str:
    parts = [INTRO]
    for name, cls in sections():
        parts.append(_section(name, cls))
    return "\n".join(parts)


def sections() -> Iterator[tuple[str, type[Any]]]:
    hints = get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if f.name == "path":
            continue
        if f.name == "payments":
            for gateway, spec in GATEWAYS.items():
                yield f"payments.{gateway}", spec.settings
            continue
        yield f.name, hints[f.name]


# What the keys every [payments.<name>] section has mean, unless its settings say otherwise.
GATEWAY_KEYS = {
    "enabled": "offer this gateway's methods to customers",
    "methods": "the methods offered, as `<kind>[:<channel>]` (docs/gateways/<name>.md)",
    "expiry": "how long a payment stays payable at the gateway",
    "base_url": "the provider's API; its test environment unless said otherwise",
}


def _section(name: str, cls: type[Any]) -> str:
    notes = field_notes(cls)
    if name.startswith("payments."):
        notes = {**GATEWAY_KEYS, **notes}
    doc = inspect.getdoc(cls) or ""
    generated = doc.startswith(cls.__name__ + "(")  # dataclass's own signature, not ours
    about = "" if generated else " ".join(doc.split("\n\n")[0].split())
    lines = [f"## [{name}]", ""]
    if about:
        lines += [about, ""]
    lines += ["| key | default | meaning |", "|---|---|---|"]
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meaning = _meaning(f, hints[f.name], notes.get(f.name, ""))
        lines.append(f"| `{f.name}` | {_cell(_default(f))} | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


def _meaning(f: dataclasses.Field[Any], hint: Any, note: str) -> str:
    meta = f.metadata
    kind = meta.get("kind")
    words = [_kind(kind, hint)]
    if kind == SECRET:
        words.append("optional" if meta.get("optional") else "required when enabled")
    low, high = meta.get("low"), meta.get("high")
    unit = "s" if kind == DURATION else ""
    if low is not None and high is not None:
        words.append(f"{low:g}{unit} to {high:g}{unit}")
    elif low is not None:
        words.append(f"at least {low:g}{unit}")
    elif high is not None:
        words.append(f"at most {high:g}{unit}")
    if meta.get("choices"):
        words.append("one of " + ", ".join(f"`{c}`" for c in meta["choices"]))
    described = f"*{'; '.join(words)}*"
    if note:
        described += f". {note[0].upper()}{note[1:]}"
    return described


def _kind(kind: str | None, hint: Any) -> str:
    if kind == DURATION:
        return "duration"
    if kind == URL:
        return "URL"
    if kind == SECRET:
        return "secret"
    origin = get_origin(hint)
    if origin is tuple:
        item = get_args(hint)[0]
        return "list of tables" if get_origin(item) is dict else f"list of {_kind(None, item)}s"
    if origin is dict or hint is dict:
        return "table"
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return names.get(hint, str(hint))


def _default(f: dataclasses.Field[Any]) -> str:
    factory = f.default_factory
    value: Any = factory() if factory is not dataclasses.MISSING else f.default
    if f.metadata.get("kind") == DURATION:
        return f'`"{_duration(int(value))}"`'
    return f"`{_toml(value)}`"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0 and (unit != "d" or seconds >= 2 * size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def field_notes(cls: type[Any]) -> dict[str, str]:
    """Each field's comment: the comment lines right above it, then the one beside it."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    notes = {}
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line in comments and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        beside = [
            comments[n] for n in range(node.lineno, (node.end_lineno or 0) + 1) if n in comments
        ]
        text = " ".join([*above, *beside]).strip()
        if text:
            notes[node.target.id] = text
    return notes


if __name__ == "__main__":
    print(render(), end="")
