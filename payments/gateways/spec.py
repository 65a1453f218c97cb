"""GatewaySpec: everything the rest of the program knows about one gateway, in one value.

Each gateway's folder (payments/gateways/<name>/) defines one SPEC; payments/gateways/__init__.py
lists them. The config package reads `[payments.<name>]` into `settings`, checks methods against
`methods`, the chat offers a method where `currencies` allows the shop's currency, the poller
starts from `rate_limit`, and bot/gateways.py calls `build`. Nothing else names a gateway, so
adding one is its folder and one registry line.

A gateway chooses its callback answer by giving its adapter an `answer_callback(outcome) ->
bytes` method (payments/callbacks/route.py); without one the route's default body is sent.
A gateway that signs nothing gives each payment its own callback URL instead, ending in a
token: its adapter has `parse_tokened_callback(token, headers, body)`, which the route calls
for POST /callbacks/<name>/<token> (payments/gateways/mpesa/).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final, Generic, Protocol, TypeVar

import aiohttp

from payments.base import Gateway

# Field kinds the config reader (bot/config/reader.py) understands beyond plain Python types,
# set with `meta(...)` on a settings field. Here so a gateway's settings need nothing from bot/.
DURATION: Final = "duration"  # "90s", "10m", "24h", "1d" or a number of seconds -> int seconds
URL: Final = "url"
SECRET: Final = "secret"  # may be "${ENV_NAME}" or "${ENV_NAME:-default}"
ANY_CURRENCY: Final = frozenset[str]()  # the method takes whatever the shop sells in


def meta(
    kind: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    optional: bool = False,
) -> dict[str, Any]:
    """A field's kind and the bounds the config reader holds it to, so that a section states
    its own rules: `low`/`high` for numbers (durations in seconds), `choices` for words.
    A SECRET is required whenever its section is enabled, unless `optional`."""
    found: dict[str, Any] = {"kind": kind, "low": low, "high": high, "choices": choices}
    found["optional"] = optional
    return found


def secret_keys(settings: type[Any]) -> list[str]:
    """The fields of a settings dataclass that hold secrets, required or not."""
    return [f.name for f in fields(settings) if f.metadata.get("kind") == SECRET]


class SettingsError(ValueError):
    """A setting a gateway refuses; `key` is the field in its section (`secret`), which the
    config package reports as `payments.<name>.secret`."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class GatewaySettings(Protocol):
    """What every `[payments.<name>]` section has, whatever else its gateway needs."""

    @property
    def enabled(self) -> bool: ...
    @property
    def methods(self) -> tuple[str, ...]: ...
    @property
    def expiry(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What a gateway may need from the shop's own config to be built."""

    public_url: str  # our server, as the provider reaches it
    shop_name: str


S = TypeVar("S")


def _no_check(settings: Any, others: Sequence[str]) -> None:
    return None


@dataclass(frozen=True)
class GatewaySpec(Generic[S]):
    name: str
    settings: type[S]  # a frozen dataclass: the `[payments.<name>]` section
    methods: frozenset[str]  # local method ids its adapter can create: `va:bca`, `qris`, ...
    currencies: Mapping[str, frozenset[str]]  # method kind -> currencies (ANY_CURRENCY: all)
    rate_limit: int  # status queries a minute unless [reconcile.rate_limits] says otherwise
    build: Callable[[S, aiohttp.ClientSession, BuildContext], Gateway]
    # Called when enabled, with the other enabled gateways' names; raises SettingsError.
    check: Callable[[S, Sequence[str]], None] = field(default=_no_check)
    # A provider we serve ourselves (the sandbox): built from the settings, it adds its routes.
    serve: Callable[[S, BuildContext], Any] | None = None

    def takes(self, kind: str, currency: str) -> bool:
        allowed = self.currencies.get(kind, ANY_CURRENCY)
        return not allowed or currency.upper() in allowed
