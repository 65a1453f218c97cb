"""What may import what (STYLE.md section 1), walked over the source so that it stays so.

A gateway imports only payments/base.py, the shared helpers next to the registry and aiohttp,
never bot/, storage/ or another gateway; the poller (payments/reconcile/) needs no SQLAlchemy.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from payments.gateways import GATEWAYS
from tests.conftest import ROOT

SHARED = ("payments.base", "payments.gateways.spec", "payments.gateways.parsing")
SHARED_HTTP = ("payments.gateways.http", "aiohttp")


def imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def outside_stdlib(name: str) -> bool:
    return name.split(".")[0] not in sys.stdlib_module_names


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
def test_a_gateway_imports_only_the_core_types_the_shared_helpers_and_aiohttp(
    gateway: str,
) -> None:
    # payments/qris.py: the QRIS format, shared with the chat (the sandbox builds its codes there)
    allowed = (*SHARED, *SHARED_HTTP, f"payments.gateways.{gateway}", "payments.qris")
    folder = ROOT / "payments" / "gateways" / gateway
    wrong = {
        f"{path.name}: {name}"
        for path in folder.glob("*.py")
        for name in imports(path)
        if outside_stdlib(name) and not within(name, allowed)
    }
    assert not wrong


def test_the_shared_helpers_import_no_gateway() -> None:
    for path in (ROOT / "payments" / "gateways").glob("*.py"):
        named = {name for name in imports(path) if outside_stdlib(name)}
        assert all(within(name, (*SHARED, *SHARED_HTTP)) for name in named), path.name


def test_the_poller_needs_no_sqlalchemy_bot_or_storage() -> None:
    for path in (ROOT / "payments" / "reconcile").glob("*.py"):
        named = {name for name in imports(path) if outside_stdlib(name)}
        assert all(name.startswith("payments.") for name in named), (path.name, named)
