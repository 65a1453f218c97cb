"""The chat channels: the names customers and merchants are reached on, and which have code.

Every other module names a channel through `Channel` (customers.channel and outbox.channel
hold these values), defined once in payments/ports.py, where the core and storage read it.
Importing this package loads no channel: each lives in bot/channels/<name>/, whose
`install.py` has `install(app, runtime)`, called by bot/app.py for every name in CHANNELS.
Adding a channel is its folder and its line below.
"""

from __future__ import annotations

from typing import Final

from payments.ports import Channel

__all__ = ["CHANNELS", "WEBHOOK_PATHS", "Channel", "ChannelStartFailed"]


# The channels with code, one line each: bot/channels/<name>/install.py.
CHANNELS: Final[tuple[Channel, ...]] = (
    Channel.TELEGRAM,
    Channel.WHATSAPP,
    Channel.CONSOLE,
    Channel.EMAIL,
)

# Where each channel's platform delivers updates, for the start-up block (bot/startup.py).
WEBHOOK_PATHS: Final[dict[Channel, str]] = {
    Channel.TELEGRAM: "/telegram/webhook",
    Channel.WHATSAPP: "/whatsapp/webhook",
}


class ChannelStartFailed(RuntimeError):
    """A channel could not start (a refused token, its API unreachable): `checkout-bot run`
    prints this one line and exits 1. Its text never holds a secret."""
