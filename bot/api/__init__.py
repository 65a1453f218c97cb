"""The HTTP API for merchants and integrations: routes.py mounts it (bot/app.py calls it)."""
