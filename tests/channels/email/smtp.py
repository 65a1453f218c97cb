"""A real SMTP server on localhost (aiosmtpd, in its own thread) that keeps what it receives,
refuses on request the way servers do (451: try later), and checks a login when given one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port


@dataclass
class Mailbox:
    """aiosmtpd's handler: every message accepted, as parsed email."""

    received: list[EmailMessage] = field(default_factory=list)
    refuse: int = 0  # the next so many messages get 451

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 mailbox busy, try again later"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        parsed["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.received.append(parsed)
        return "250 OK"

    async def wait(self, count: int, within: float = 10.0) -> list[EmailMessage]:
        deadline = asyncio.get_running_loop().time() + within
        # filled from aiosmtpd's own thread, where an asyncio.Event of this loop cannot be set
        while len(self.received) < count and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return list(self.received)


class Login:
    def __init__(self, user: str, password: str) -> None:
        self.expected = (user.encode(), password.encode())

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self.expected
        return AuthResult(success=ok, handled=False)


def serve(login: Login | None = None) -> tuple[Controller, Mailbox]:
    mailbox = Mailbox()
    options: dict[str, Any] = {}
    if login is not None:
        options = {"authenticator": login, "auth_require_tls": False, "auth_required": True}
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()  # AUTH without TLS warns (ignored in pyproject.toml): 127.0.0.1 only
    return controller, mailbox
