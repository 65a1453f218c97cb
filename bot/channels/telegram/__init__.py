"""Telegram through python-telegram-bot: channel.py (the PTB application and its handler),
inbound.py, render.py, transport.py (PTB over aiohttp), sender.py (for the outbox worker),
install.py (what bot/app.py calls)."""
