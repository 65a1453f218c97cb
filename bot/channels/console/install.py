"""The console channel has no routes or lifetime of its own: `checkout-bot demo` (bot/demo.py)
attaches the terminal once the app runs (sender.py). Here so that every channel in the
registry (bot/channels/__init__.py) is installed the same way."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Runtime


def install(app: web.Application, runtime: Runtime) -> None:
    """Nothing to mount: see the module's docstring."""
