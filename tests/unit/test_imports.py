"""The import graph of bot/, payments/ and storage/: no cycles, the composition root
(bot/app.py) imported by nobody but the commands that start the app, and the layers of
payments/: a gateway imports only payments/base.py, the shared helpers next to the registry
and aiohttp, never bot/, storage/ or another gateway; the poller (payments/reconcile/) needs
no SQLAlchemy.

Read with `ast`, so nothing is imported to find out: imports inside functions and under
`if TYPE_CHECKING:` count like any other, since a cycle hidden there is still a cycle in the
design. Modelled on python-telegram-bot's tests/test_modules.py. The rules are the ones in
the project's style guide (section 1, the shape of the project).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from payments.gateways import GATEWAYS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "payments", "storage")
APP = "bot.app"
# The command line starts the app: `checkout-bot run` (bot/commands.py) and `checkout-bot
# demo` (bot/demo.py) call create_app. Nothing else may import the composition root. Being
# entry points, they may also use what it wires (`reconcile --once` builds the poller's
# context; the demo reads the console channel).
STARTS_THE_APP = frozenset({"bot.commands", "bot.demo"})
# What only the composition root wires in; prefixes, so that whole packages count.
# The channel registry (bot/channels/__init__.py) is only names: anyone may read it. The
# outbox worker's contract (sender.py, pace.py) is for the channels and the runtime.
WIRED_BY_APP = ("bot.api", "bot.channels.", "bot.scheduler", "bot.notify")
# Who else may import those, besides the package itself: the merchant chat and the command
# line show orders with the API's views.
ALSO_ALLOWED = {
    "bot.notify.sender": ("bot.channels", "bot.runtime"),
    "bot.notify.pace": ("bot.channels", "bot.runtime"),
    "bot.api.views": ("bot.merchant", "bot.commands"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported(name: str, path: Path) -> Iterator[str]:
    """Every module of ours that `name` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _ours(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from bot import texts` imports bot.texts
                yield from _ours(f"{base}.{alias.name}") or _ours(base)


def _ours(dotted: str) -> list[str]:
    """The longest prefix of `dotted` that is one of our modules, if any."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules():
            return [candidate]
    return []


@cache
def graph() -> dict[str, frozenset[str]]:
    return {
        name: frozenset(m for m in imported(name, path) if m != name)
        for name, path in modules().items()
    }


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _within(name: str, prefix: str) -> bool:
    if prefix.endswith("."):  # the package's modules, not the package itself
        return name.startswith(prefix)
    return name == prefix or name.startswith(prefix + ".")


def test_the_walk_finds_our_modules_and_their_imports() -> None:
    assert {"bot.app", "bot.runtime", "payments.base", "storage.db"} <= set(modules())
    assert "bot.runtime" in graph()["bot.app"]


def test_there_is_no_import_cycle_among_our_modules() -> None:
    assert cycles() == []


def test_only_the_commands_that_start_the_app_import_the_composition_root() -> None:
    importers = {name for name, deps in graph().items() if APP in deps}
    assert importers <= STARTS_THE_APP, sorted(importers - STARTS_THE_APP)


def test_what_the_composition_root_wires_in_is_imported_by_nobody_else() -> None:
    wrong = []
    for name, deps in graph().items():
        if name == APP or name in STARTS_THE_APP:
            continue
        for dep in deps:
            for wired in WIRED_BY_APP:
                if not _within(dep, wired) or _within(name, wired):
                    continue
                allowed = ALSO_ALLOWED.get(dep, ()) + ALSO_ALLOWED.get(wired, ())
                if not any(_within(name, who) for who in allowed):
                    wrong.append(f"{name} imports {dep}")
    assert wrong == []


# The layers of payments/

SHARED = ("payments.base", "payments.gateways.spec", "payments.gateways.parsing")
SHARED_HTTP = ("payments.gateways.http", "aiohttp")
# A gateway whose official SDK is its HTTP client (its module says why): that SDK and no other.
SDKS = {"stripe": ("stripe",)}
# Mobile-money numbers checked for the gateway's country: phonenumbers, as the chat does.
PHONES = ("phonenumbers",)


def top_level_imports(path: Path) -> Iterator[str]:
    """Every absolute import, ours or a library's (the layer rules name libraries too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def outside_stdlib(name: str) -> bool:
    return name.split(".")[0] not in sys.stdlib_module_names


def within_any(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in prefixes)


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
def test_a_gateway_imports_only_the_core_types_the_shared_helpers_and_aiohttp(
    gateway: str,
) -> None:
    # payments/qris.py: the QRIS format, shared with the chat (the sandbox builds its codes there)
    own = (f"payments.gateways.{gateway}", *SDKS.get(gateway, ()))
    allowed = (*SHARED, *SHARED_HTTP, *own, *PHONES, "payments.qris")
    folder = ROOT / "payments" / "gateways" / gateway
    wrong = {
        f"{path.name}: {name}"
        for path in folder.glob("*.py")
        for name in top_level_imports(path)
        if outside_stdlib(name) and not within_any(name, allowed)
    }
    assert not wrong


def test_the_shared_helpers_import_no_gateway() -> None:
    for path in (ROOT / "payments" / "gateways").glob("*.py"):
        named = {name for name in top_level_imports(path) if outside_stdlib(name)}
        assert all(within_any(name, (*SHARED, *SHARED_HTTP)) for name in named), path.name


@pytest.mark.parametrize("package", ["reconcile", "callbacks"])
def test_the_poller_and_the_callback_route_need_no_sqlalchemy_bot_or_storage(
    package: str,
) -> None:
    for path in (ROOT / "payments" / package).glob("*.py"):
        named = {name for name in top_level_imports(path) if outside_stdlib(name)}
        allowed = ("payments.",) if package == "reconcile" else ("payments.", "aiohttp")
        assert all(name.startswith(allowed) for name in named), (path.name, named)
