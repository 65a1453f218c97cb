"""Replies as WhatsApp messages, within the limits Meta enforces (it answers 131009 to any
message that breaks one), so that nothing we send is refused for its shape:

- text: 4,096 characters, split on line breaks;
- reply buttons: 1-3, titles <= 20 characters and unique, ids <= 256, body <= 1,024;
- list: <= 10 rows (more choices: more lists), row titles <= 24, descriptions <= 72,
  row ids <= 200, button label <= 20, body <= 1,024;
- cta_url (a payment link): display text <= 20, body <= 1,024;
- image: caption <= 1,024; a QR code (PNG bytes) is uploaded as media first (`Outgoing.upload`).

A body too long for an interactive message goes first as text of its own, and the last
piece carries the buttons. WhatsApp cannot edit a message, so `Reply.edit` sends a new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from bot import texts
from bot.channels.split import split_text
from bot.conversation.replies import Choice, Reply

MAX_TEXT: Final = 4096
MAX_BODY: Final = 1024
MAX_CAPTION: Final = 1024
MAX_BUTTONS: Final = 3
MAX_BUTTON_TITLE: Final = 20
MAX_BUTTON_ID: Final = 256
MAX_ROWS: Final = 10
MAX_ROW_TITLE: Final = 24
MAX_ROW_DESCRIPTION: Final = 72
MAX_ROW_ID: Final = 200
MAX_LIST_BUTTON: Final = 20
MAX_CTA_TEXT: Final = 20
MORE_BODY: Final = "…"  # the body of a second list or of buttons after a link: never empty
_MONO: Final = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message: its type and payload as the Graph API takes them. `upload`: (bytes, mime,
    filename) to upload first, whose media id goes into the payload's `id`."""

    type: str
    payload: dict[str, Any]
    upload: tuple[bytes, str, str] | None = None


def to_whatsapp(text: str) -> str:
    """Our *bold* is WhatsApp's too; `mono` becomes ```mono```."""
    return _MONO.sub(r"```\1```", text)


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(reply: Reply, language: str = "en") -> list[Outgoing]:
    """One reply as the messages that show it, in order."""
    text = to_whatsapp(reply.text)
    if reply.image is not None:
        return _image(reply, text, language)
    if reply.document is not None:
        return _document(reply, text, language)
    out: list[Outgoing] = []
    if reply.link is not None:
        out += _link(reply, text)
        text = MORE_BODY
    if reply.request_phone:
        *before, last = split_text(text, MAX_BODY)
        out += [_text(piece) for piece in before]
        out.append(Outgoing("interactive", _contact_request(last)))
        text = MORE_BODY
    if reply.choices:
        return out + _choices(text, reply.choices, language)
    if reply.link is None and not reply.request_phone:
        out += [_text(piece) for piece in split_text(text, MAX_TEXT)]
    return out


def _text(piece: str) -> Outgoing:
    return Outgoing("text", {"body": piece, "preview_url": False})


def _with_body(text: str) -> tuple[list[Outgoing], str]:
    """The text that does not fit a body as text messages before, and the body."""
    if len(text) <= MAX_BODY:
        return [], text if text.strip() else MORE_BODY
    *before, last = split_text(text, MAX_BODY)
    heads = split_text("\n".join(before), MAX_TEXT)
    return [_text(piece) for piece in heads], last


def _choices(text: str, choices: tuple[Choice, ...], language: str) -> list[Outgoing]:
    out, body = _with_body(text)
    if len(choices) <= MAX_BUTTONS:
        out.append(Outgoing("interactive", buttons(body, choices)))
        return out
    for start in range(0, len(choices), MAX_ROWS):
        chunk = choices[start : start + MAX_ROWS]
        out.append(Outgoing("interactive", list_message(body, chunk, language)))
        body = MORE_BODY
    return out


def buttons(
    body: str, choices: tuple[Choice, ...], header: dict[str, Any] | None = None
) -> dict[str, Any]:
    titles: list[str] = []
    for choice in choices:
        titles.append(_unique(shorten(choice.label, MAX_BUTTON_TITLE), titles, MAX_BUTTON_TITLE))
    payload: dict[str, Any] = {
        "type": "button",
        "body": {"text": body},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": c.id[:MAX_BUTTON_ID].strip(), "title": t}}
                for c, t in zip(choices, titles, strict=True)
            ]
        },
    }
    if header is not None:
        payload["header"] = header
    return payload


def list_message(body: str, choices: tuple[Choice, ...], language: str) -> dict[str, Any]:
    t = texts.translator(language)
    label = shorten(t("Choose"), MAX_LIST_BUTTON)
    return {
        "type": "list",
        "body": {"text": body},
        "action": {"button": label, "sections": [{"rows": [_row(c) for c in choices]}]},
    }


def _row(choice: Choice) -> dict[str, Any]:
    row = {"id": choice.id[:MAX_ROW_ID], "title": shorten(choice.label, MAX_ROW_TITLE)}
    if choice.description:
        row["description"] = shorten(choice.description, MAX_ROW_DESCRIPTION)
    return row


def _unique(title: str, taken: list[str], limit: int) -> str:
    """WhatsApp refuses two buttons of one message with the same title."""
    candidate, n = title, 2
    while candidate in taken:
        suffix = f" {n}"
        candidate = shorten(title, limit - len(suffix)) + suffix
        n += 1
    return candidate


def _link(reply: Reply, text: str) -> list[Outgoing]:
    assert reply.link is not None
    out, body = _with_body(text)
    action = {
        "name": "cta_url",
        "parameters": {
            "display_text": shorten(reply.link.label, MAX_CTA_TEXT),
            "url": reply.link.url,
        },
    }
    out.append(
        Outgoing("interactive", {"type": "cta_url", "body": {"text": body}, "action": action})
    )
    return out


def _contact_request(body: str) -> dict[str, Any]:
    return {
        "type": "request_contact_info",
        "body": {"text": body},
        "action": {"name": "request_contact_info"},
    }


def _image(reply: Reply, text: str, language: str) -> list[Outgoing]:
    """A QR code or photo: with up to three buttons as the buttons' header, else with the
    text as its caption; what does not fit follows."""
    image = reply.image
    assert image is not None
    media: dict[str, Any] = {"link": image.url} if image.data is None else {}
    upload = (image.data, "image/png", image.filename) if image.data is not None else None
    rest = Reply(reply.text, reply.choices, reply.link, None, reply.request_phone)
    fits = len(text) <= MAX_CAPTION
    if (
        fits
        and 0 < len(reply.choices) <= MAX_BUTTONS
        and reply.link is None
        and not reply.request_phone
    ):
        header = {"type": "image", "image": media}
        return [Outgoing("interactive", buttons(text or MORE_BODY, reply.choices, header), upload)]
    if fits and not (reply.choices or reply.link or reply.request_phone):
        return [Outgoing("image", {**media, "caption": text}, upload)]
    return [Outgoing("image", media, upload), *render(rest, language)]


def _document(reply: Reply, text: str, language: str) -> list[Outgoing]:
    assert reply.document is not None
    filename, content = reply.document
    mime = "text/csv" if filename.endswith(".csv") else "application/octet-stream"
    upload = (content, mime, filename)
    rest = Reply(reply.text, reply.choices, reply.link, None, reply.request_phone)
    if len(text) <= MAX_CAPTION and not (reply.choices or reply.link or reply.request_phone):
        return [Outgoing("document", {"filename": filename, "caption": text}, upload)]
    return [*render(rest, language), Outgoing("document", {"filename": filename}, upload)]
