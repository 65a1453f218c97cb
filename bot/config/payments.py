"""[payments]: one section per registered gateway, made from the registry, and their checks.

Payments is a frozen dataclass with one field per entry of payments/gateways/__init__.py's
GATEWAYS (`config.payments.<name>`), so a new gateway needs no line here; each section's type is
that gateway's own settings dataclass.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from bot.config.reader import ConfigError
from payments.base import MethodId
from payments.gateways import GATEWAYS
from payments.gateways.spec import GatewaySettings, SettingsError


def _enabled(self: Any) -> dict[str, GatewaySettings]:
    """Each enabled gateway's section by name, in registry order."""
    sections = {name: getattr(self, name) for name in GATEWAYS}
    return {name: s for name, s in sections.items() if s.enabled}


def _method_ids(self: Any) -> list[MethodId]:
    return [MethodId.parse(f"{n}:{m}") for n, s in _enabled(self).items() for m in s.methods]


if TYPE_CHECKING:

    class Payments:
        def __init__(self, **sections: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...
        def enabled(self) -> dict[str, GatewaySettings]: ...
        def method_ids(self) -> list[MethodId]: ...

else:
    Payments = dataclasses.make_dataclass(
        "Payments",
        [
            (name, spec.settings, dataclasses.field(default_factory=spec.settings))
            for name, spec in GATEWAYS.items()
        ],
        frozen=True,
        namespace={"enabled": _enabled, "method_ids": _method_ids, "__module__": __name__},
    )


def only(payments: Payments, name: str, **changes: Any) -> Payments:
    """`name`'s section with `changes`, every other gateway turned off (the demo's sandbox)."""
    sections = {
        other: dataclasses.replace(getattr(payments, other), enabled=False)
        for other in GATEWAYS
        if other != name
    }
    sections[name] = dataclasses.replace(getattr(payments, name), **changes)
    result: Payments = dataclasses.replace(payments, **sections)  # type: ignore[type-var]
    return result


def check_payments(payments: Payments, currency: str) -> None:
    """Each enabled gateway's own checks, then its methods against what its adapter can do,
    then the shop's currency: a gateway none of whose methods takes it would be on for
    nothing (ClickPesa in a rupiah shop), which is a mistake to name, not to hide."""
    enabled = payments.enabled()
    for name, section in enabled.items():
        others = [other for other in enabled if other != name]
        try:
            GATEWAYS[name].check(section, others)
        except SettingsError as exc:
            raise ConfigError(f"payments.{name}.{exc.key}", exc.problem) from None
    for name, section in enabled.items():
        known_methods = GATEWAYS[name].methods
        for i, method in enumerate(section.methods):
            key = f"payments.{name}.methods[{i}]"
            try:
                parsed = MethodId.parse(f"{name}:{method}")
            except ValueError as exc:
                raise ConfigError(key, str(exc)) from None
            if parsed.local not in known_methods:
                known = ", ".join(sorted(known_methods))
                raise ConfigError(key, f"{name} has no method {method!r} (it has: {known})")
    for name, section in enabled.items():
        kinds = {m.partition(":")[0] for m in section.methods}
        if kinds and not any(GATEWAYS[name].takes(kind, currency) for kind in kinds):
            takes = sorted(set().union(*(GATEWAYS[name].currencies.get(k, ()) for k in kinds)))
            raise ConfigError(
                f"payments.{name}.enabled",
                f"{name} takes {', '.join(takes)}, and the shop sells in {currency}",
            )
