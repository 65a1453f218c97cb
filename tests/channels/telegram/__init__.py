"""The Telegram channel: its fake Bot API (fake.py), the helpers that drive it (kit.py), and
the tests of bot/channels/telegram/."""
