"""Long text cut into messages a chat API takes: shared by the Telegram and WhatsApp renderers
(bot/channels/telegram/render.py, bot/channels/whatsapp/render.py), whose limits differ."""

from __future__ import annotations

from typing import Final

EMPTY: Final = "…"  # what an empty text becomes: no chat API sends an empty message


def split_text(text: str, limit: int) -> list[str]:
    """Pieces within `limit`, cut at line breaks where possible (marks never span lines)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        joined = f"{current}\n{line}" if current else line
        if len(joined) > limit:
            pieces.append(current)
            joined = line
        current = joined
    pieces.append(current)
    return [p for p in pieces if p.strip()] or [EMPTY]
