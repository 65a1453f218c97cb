"""Email: receipts only, sent by SMTP through the outbox (sender.py, install.py). No inbound:
a customer answers in the chat, not by email."""
