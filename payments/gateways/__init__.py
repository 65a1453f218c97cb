"""GATEWAYS: every gateway this program can talk to, one line each.

Each line names a folder, payments/gateways/<name>/, whose `SPEC` (payments/gateways/spec.py)
gathers its adapter, settings, methods, currencies and rate limit. The shared helpers next to
this file (parsing.py, http.py) are what adapters would otherwise each copy.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Final

from payments.gateways.spec import GatewaySpec


def _registry(*modules: str) -> Mapping[str, GatewaySpec[Any]]:
    specs = [importlib.import_module(module).SPEC for module in modules]
    return {spec.name: spec for spec in specs}


GATEWAYS: Final[Mapping[str, GatewaySpec[Any]]] = _registry(
    "payments.gateways.sandbox",
    "payments.gateways.midtrans",
    "payments.gateways.ipaymu",
    "payments.gateways.xendit",
    "payments.gateways.stripe",
    "payments.gateways.clickpesa",
    "payments.gateways.mpesa",
)
