"""The terminal as a chat channel, for `checkout-bot demo` (bot/demo.py): inbound.py reads
typed lines, render.py prints replies, sender.py takes the outbox rows meant for the terminal
from the outbox worker, install.py is what bot/app.py calls."""
