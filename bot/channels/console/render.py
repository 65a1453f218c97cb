"""Replies as terminal text, for `checkout-bot demo`.

Buttons are numbered (typing the number taps them: inbound.py), a QR code is drawn with
segno's terminal output, a link is printed to open.
"""

from __future__ import annotations

import io
import re
from typing import Final

import segno

from bot.conversation.replies import Choice, Reply

BOLD, PLAIN = "\033[1m", "\033[0m"
_BOLD_MARK: Final = re.compile(r"\*([^*\n]+)\*")


def render(reply: Reply, *, color: bool = False) -> str:
    """One reply as terminal text; the caller keeps `reply.choices` to read numbers against."""
    text = _BOLD_MARK.sub(rf"{BOLD}\1{PLAIN}" if color else r"\1", reply.text)
    parts = ["(updated) " + text if reply.edit else text]
    if reply.image is not None:
        parts.append(_image(reply))
    if reply.link is not None:
        parts.append(f"  -> {reply.link.label}: open {reply.link.url}")
    parts += [f"  [{n}] {_label(c)}" for n, c in enumerate(reply.choices, start=1)]
    if reply.request_phone:
        parts.append("  (type your phone number)")
    if reply.document is not None:
        parts.append(f"  [file: {reply.document[0]}, {len(reply.document[1])} bytes]")
    return "\n".join(parts)


def _label(choice: Choice) -> str:
    return f"{choice.label} ({choice.description})" if choice.description else choice.label


def _image(reply: Reply) -> str:
    image = reply.image
    assert image is not None
    if image.qr_payload:
        out = io.StringIO()
        segno.make_qr(image.qr_payload, error="m").terminal(out=out, compact=True, border=2)
        return out.getvalue().rstrip("\n")
    if image.url:
        return f"  [photo: {image.url}]"
    return f"  [image: {image.filename}]"
