"""Talking to payment gateways.

METHODS lists, per gateway, the local method ids (`va:bca`, `qris`, ...) its adapter can create;
config.toml is checked against it. GATEWAYS (in payments.registry) maps names to adapters.
"""

from typing import Final

_VA_ID: Final = ("bca", "bni", "bri", "mandiri", "permata", "cimb", "bsi")

METHODS: Final[dict[str, frozenset[str]]] = {
    "sandbox": frozenset({*(f"va:{b}" for b in _VA_ID), "qris", "link", "ussd"}),
    "midtrans": frozenset(
        {*(f"va:{b}" for b in ("bca", "bni", "bri", "permata", "cimb", "mandiri")), "qris", "link"}
    ),
    "ipaymu": frozenset({*(f"va:{b}" for b in _VA_ID), "qris", "link"}),
}
