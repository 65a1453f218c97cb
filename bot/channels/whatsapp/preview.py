"""A reply as WhatsApp would show it, in terminal text: for `checkout-bot demo --channel
whatsapp` (bot/demo.py), so a merchant sees the buttons, lists and images their customers
get before they connect a number. It prints what render.py sends."""

from __future__ import annotations

from bot.channels.whatsapp.render import Outgoing, render
from bot.conversation.replies import Reply


def preview(reply: Reply, language: str = "en") -> str:
    """Every message the reply becomes; the numbers tap as in the console demo."""
    lines: list[str] = []
    number = 0
    for message in render(reply, language):
        head, body, options = _describe(message)
        lines.append(f"[whatsapp {head}]")
        if body:
            lines.append(body)
        for option in options:
            number += 1
            lines.append(f"  [{number}] {option}")
    return "\n".join(lines)


def _describe(message: Outgoing) -> tuple[str, str, list[str]]:
    p = message.payload
    if message.type == "text":
        return "text", str(p["body"]), []
    if message.type in ("image", "document"):
        source = "uploaded" if message.upload is not None else p.get("link", "")
        return f"{message.type}, {source}", str(p.get("caption", "")), []
    kind = p.get("type", "")
    body = str(p.get("body", {}).get("text", ""))
    action = p.get("action", {})
    if kind == "button":
        header = " with image" if "header" in p else ""
        return f"reply buttons{header}", body, [b["reply"]["title"] for b in action["buttons"]]
    if kind == "list":
        rows = [r for s in action["sections"] for r in s["rows"]]
        options = [
            f"{r['title']} ({r['description']})" if "description" in r else r["title"]
            for r in rows
        ]
        return f"list, button '{action['button']}'", body, options
    if kind == "cta_url":
        parameters = action["parameters"]
        return "link button", f"{body}\n  -> {parameters['display_text']}: {parameters['url']}", []
    if kind == "request_contact_info":
        return "share contact info", body, []
    return str(kind), body, []
