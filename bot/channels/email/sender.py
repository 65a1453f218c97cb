"""One outbox row as one email, with aiosmtplib: the rendered notice as the text part and the
same lines as a small HTML part, so that any mail client shows it well.

A new SMTP connection per message: receipts come one per paid order, far below the rate where
keeping a connection open would pay, and a fresh one never finds a server-side timeout.
SMTP's own answer decides what the outbox does: a 5xx about the recipient never succeeds
(Undeliverable), a 4xx or a network error is tried again later.
"""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Final

import aiosmtplib

from bot.config import Email
from bot.conversation.replies import Reply
from bot.notify.pace import Pace
from bot.notify.sender import Undeliverable
from payments.ports import Channel

PACE: Final = Pace(per_second=5.0, per_chat_interval=0.0)
OUR_LOGIN: Final = frozenset({530, 534, 535})  # our credentials, not the message: try again
_BOLD: Final = re.compile(r"\*([^*\n]+)\*")


class EmailSender:
    def __init__(self, settings: Email, shop_name: str) -> None:
        self._settings = settings
        self._shop = shop_name

    @property
    def channel(self) -> str:
        return Channel.EMAIL

    @property
    def pace(self) -> Pace:
        return PACE

    def __repr__(self) -> str:  # the default would show the password in a traceback
        return f"EmailSender(host={self._settings.host!r}, port={self._settings.port})"

    async def send(self, address: str, reply: Reply, *, kind: str) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                self.message(address, reply),
                hostname=s.host,
                port=s.port,
                username=s.user or None,
                password=s.password or None,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise Undeliverable(f"email: the server refuses {_masked(address)}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600 and exc.code not in OUR_LOGIN:
                raise Undeliverable(f"email: SMTP {exc.code} {exc.message[:100]}") from exc
            raise

    def message(self, address: str, reply: Reply) -> EmailMessage:
        """The first line of the notice is the subject; the whole notice is the body."""
        text = _BOLD.sub(r"\1", reply.text)
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = address
        message["Subject"] = f"{self._shop}: {text.splitlines()[0]}"[:200]
        domain = parseaddr(self._settings.sender)[1].rpartition("@")[2]
        message["Message-ID"] = make_msgid(domain=domain or None)
        message.set_content(text)
        message.add_alternative(_html(reply.text), subtype="html")
        return message


def _html(text: str) -> str:
    lines = [_BOLD.sub(r"<strong>\1</strong>", html.escape(line)) for line in text.splitlines()]
    body = "<br>\n".join(lines)
    return f'<!doctype html><html><body style="font-family:sans-serif">{body}</body></html>'


def _masked(address: str) -> str:
    """An address in a log names the customer: keep the domain, hide the rest."""
    user, _, domain = address.partition("@")
    return f"{user[:1]}***@{domain}"
