"""The lean Bot API path (bot/channels/telegram/lean.py) raises what PTB raises for the same
answer, so the renderer and the outbox read its failures the same way."""

from __future__ import annotations

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from bot.channels.telegram.lean import error_for, retry_seconds


@pytest.mark.parametrize(
    ("status", "data", "kind"),
    [
        (400, {"description": "Bad Request: message is not modified"}, BadRequest),
        (403, {"description": "Forbidden: bot was blocked by the user"}, Forbidden),
        (401, {"description": "Unauthorized"}, InvalidToken),
        (404, {}, InvalidToken),
        (409, {"description": "Conflict"}, Conflict),
        (502, {}, NetworkError),
        (500, {"description": "Internal"}, NetworkError),
        (400, {"parameters": {"migrate_to_chat_id": -100123}}, ChatMigrated),
    ],
)
def test_each_answer_is_the_error_ptb_would_raise(status: int, data: dict, kind: type) -> None:
    assert type(error_for(status, data)) is kind


def test_a_429_carries_its_wait_and_the_message_loses_ptbs_prefix() -> None:
    exc = error_for(429, {"description": "Too Many Requests", "parameters": {"retry_after": 7}})
    assert isinstance(exc, RetryAfter) and retry_seconds(exc) == 7.0
    assert retry_seconds(error_for(429, {"parameters": {"retry_after": 0.5}})) == 0.5
    bad = error_for(400, {"description": "Bad Request: message is not modified"})
    assert bad.message.lower() == "message is not modified"
