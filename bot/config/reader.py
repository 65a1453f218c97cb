"""The config reader: a small typed reader from TOML tables to frozen dataclasses.

It exists so that every mistake in config.toml becomes one line naming the key, whatever the
section: unknown keys, wrong types, missing secrets, bad durations and URLs.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

from payments.gateways.spec import DURATION, SECRET, URL, meta

T = TypeVar("T")


class ConfigError(Exception):
    """One readable line naming the key: `config.toml: shop.currency: ...`."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# Field kinds beyond the plain Python types, set with `meta(...)` on a dataclass field. They
# live with the gateways' settings (payments/gateways/spec.py), which must not import bot/.

_DURATION_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_SECONDS: Final = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_ENV_RE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def expand_env(value: str, key: str, environ: Mapping[str, str]) -> str:
    """Replace `${NAME}` with the environment's value; a missing one names the key."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found:
            return found
        if default is not None:
            return default
        raise ConfigError(key, f"environment variable {name} is not set")

    return _ENV_RE.sub(one, value)


def parse_duration(value: object, key: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(key, f"expected a duration like '30s' or '24h', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if match is None:
            raise ConfigError(key, f"expected a duration like '30s' or '24h', got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ConfigError(key, "a duration cannot be negative")
    return round(seconds)


def check_url(value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(key, f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def build(cls: type[T], table: Mapping[str, Any], path: str, env: Mapping[str, str]) -> T:
    """Make a `cls` from a TOML table, checking every key and type.

    A field the table leaves out gets its default read exactly as if it were written there:
    a default `"${ENV}"` is taken from the environment, a section left out is built from its
    defaults, and an enabled section's secrets are required whether written or not."""
    if not isinstance(table, Mapping):
        raise ConfigError(path, f"expected a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    enabled = _is_enabled(fields, table)
    if enabled is False:
        env = _DISABLED  # a switched-off section may name secrets that are not set
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(_join(path, key), f"unknown key (known here: {known})")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        key = _join(path, name)
        kind = fld.metadata.get("kind")
        if name in table:
            values[name] = _convert(hints[name], table[name], key, kind, env)
        elif dataclasses.is_dataclass(hints[name]):
            values[name] = build(hints[name], {}, key, env)
        elif isinstance(fld.default, str) and kind in (SECRET, URL):
            values[name] = _convert(hints[name], fld.default, key, kind, env)
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise ConfigError(key, "missing")
        if name in values:
            _check_bounds(values[name], key, fld.metadata)
    if enabled:
        _require_secrets(fields, values, table, path)
    return cls(**values)


def _is_enabled(
    fields: Mapping[str, dataclasses.Field[Any]], table: Mapping[str, Any]
) -> bool | None:
    """None for a section without an `enabled` switch."""
    if "enabled" not in fields:
        return None
    return table.get("enabled", fields["enabled"].default) is True


def _require_secrets(
    fields: Mapping[str, dataclasses.Field[Any]],
    values: Mapping[str, Any],
    table: Mapping[str, Any],
    path: str,
) -> None:
    """Every secret an enabled section declares (a SECRET field not marked optional)."""
    for name, fld in fields.items():
        if fld.metadata.get("kind") != SECRET or fld.metadata.get("optional"):
            continue
        value = values.get(name, fld.default)
        if not isinstance(value, str) or not value.strip():
            written = table.get(name, fld.default)
            source = _ENV_RE.search(written) if isinstance(written, str) else None
            hint = f" (environment variable {source.group(1)} is empty)" if source else ""
            raise ConfigError(_join(path, name), f"required when {path} is enabled{hint}")


def _check_bounds(value: Any, key: str, metadata: Mapping[str, Any]) -> None:
    low, high, choices = metadata.get("low"), metadata.get("high"), metadata.get("choices")
    unit = "s" if metadata.get("kind") == DURATION else ""
    if low is not None and value < low:
        raise ConfigError(key, f"must be at least {low:g}{unit}")
    if high is not None and value > high:
        raise ConfigError(key, f"must be at most {high:g}{unit}")
    if choices and value not in choices:
        raise ConfigError(key, "expected one of " + ", ".join(repr(c) for c in choices))


class _Unset(dict[str, str]):
    def get(self, key: str, default: object = None) -> str:  # type: ignore[override]
        return "unset"


_DISABLED: Final = _Unset()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(hint: Any, value: Any, key: str, kind: str | None, env: Mapping[str, str]) -> Any:
    if kind == DURATION:
        return parse_duration(value, key)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        return _convert(options[0], value, key, kind, env)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(key, f"expected a list, got {_describe(value)}")
        item = get_args(hint)[0]
        return tuple(_convert(item, v, f"{key}[{i}]", kind, env) for i, v in enumerate(value))
    if origin is dict or hint is dict:
        return _mapping(hint, value, key, env)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key, env)  # type: ignore[arg-type]
    return _scalar(hint, value, key, kind, env)


def _mapping(hint: Any, value: Any, key: str, env: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected a table, got {_describe(value)}")
    args = get_args(hint)
    item = args[1] if args else Any
    if item is Any:
        return dict(value)
    return {k: _convert(item, v, f"{key}.{k}", None, env) for k, v in value.items()}


_SCALARS: Final[dict[type, Callable[[Any], bool]]] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def _scalar(hint: Any, value: Any, key: str, kind: str | None, env: Mapping[str, str]) -> Any:
    check = _SCALARS.get(hint)
    if check is None:
        raise TypeError(f"unsupported config type {hint!r} for {key}")
    if not check(value):
        shown = "another type" if kind == SECRET else _describe(value)
        raise ConfigError(key, f"expected {hint.__name__}, got {shown}")
    if hint is float:
        return float(value)
    if hint is str:
        if kind == SECRET:
            value = expand_env(value, key, env)
        if kind == URL:
            value = check_url(expand_env(value, key, env), key)
    return value


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


__all__ = ["DURATION", "SECRET", "URL", "ConfigError", "build", "meta"]
