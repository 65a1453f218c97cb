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

__all__ = ["CHANNELS", "Channel"]


# The channels with code, one line each: bot/channels/<name>/install.py.
CHANNELS: Final[tuple[Channel, ...]] = (
    Channel.TELEGRAM,
    Channel.WHATSAPP,
    Channel.CONSOLE,
)
