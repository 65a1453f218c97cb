"""WhatsApp through Meta's Cloud API, on the app's own aiohttp session and server: client.py
(the Graph API calls), inbound.py (webhook signature and payloads as `Inbound`), render.py
(replies within WhatsApp's limits), store.py (handled ids, the 24-hour window, sent messages),
channel.py (the webhook's work), sender.py (for the outbox worker), install.py (what
bot/app.py calls). Reference: docs/channels/whatsapp.md."""
