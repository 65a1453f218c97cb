"""The database side of a chat: its customer and its conversation row.

An inbound event starts from one SELECT (customer, conversation state and version, and the
catalog's stamp for bot/catalog/cache.py) on the reader, and ends with one UPDATE, both Core
statements built once: this is the chat's hot path. Conversation state is saved with a
compare-and-set on `version`, so two updates for one chat (a double tap, two instances) can
never overwrite each other: the loser reads again and re-steps. (A candidate for
storage/repo.py as ConversationRepo.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.catalog.cache import STAMP_COLUMNS, CatalogStamp
from bot.conversation.model import State
from storage.db import Sessions, one_statement, transaction
from storage.models import Conversation, Customer, utcnow


@dataclass(frozen=True, slots=True)
class Chat:
    """Who is talking, as loaded at the start of one inbound event."""

    customer_id: int
    conversation_id: int
    name: str
    phone: str
    language: str


@dataclass(frozen=True, slots=True)
class Opened:
    """What one inbound event starts from, all from one SELECT: who is talking, where the
    conversation stands (with the version to save against), and the catalog's stamp."""

    chat: Chat
    state: State
    version: int
    catalog_stamp: CatalogStamp


_customers = Customer.__table__
_conversations = cast(Table, Conversation.__table__)
_OPEN: Final = (
    select(
        _customers.c.id,
        _customers.c.name,
        _customers.c.phone,
        _customers.c.language,
        _conversations.c.id.label("conversation_id"),
        _conversations.c.state,
        _conversations.c.version,
        *STAMP_COLUMNS,
    )
    .select_from(
        _customers.join(
            _conversations,
            (_conversations.c.channel == _customers.c.channel)
            & (_conversations.c.chat_id == _customers.c.channel_user_id),
        )
    )
    .where(
        _customers.c.channel == bindparam("channel"),
        _customers.c.channel_user_id == bindparam("chat_id"),
    )
)
_STATE: Final = select(_conversations.c.state, _conversations.c.version).where(
    _conversations.c.id == bindparam("conversation_id")
)
_SAVE: Final = (
    update(_conversations)
    .where(
        _conversations.c.id == bindparam("conversation_id"),
        _conversations.c.version == bindparam("expected"),
    )
    .values(
        state=bindparam("new_state", type_=_conversations.c.state.type),
        version=bindparam("new_version"),
        updated_at=bindparam("now"),
    )
)


def _insert_or_nothing(session: AsyncSession, table: Any, keys: list[str]) -> Any:
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=keys)


async def open_chat(
    sessions: Sessions,
    channel: str,
    chat_id: str,
    *,
    language: str,
    reader: Sessions | None = None,
) -> Opened:
    """Find, or else create, the customer and the conversation row. Creating races settle on
    the unique keys; finding takes no write lock."""
    async with one_statement(reader or sessions) as connection:
        found = await _find(connection, channel, chat_id)
    if found is not None:
        return found
    async with transaction(sessions) as session:
        await session.execute(
            _insert_or_nothing(session, Customer, ["channel", "channel_user_id"]).values(
                channel=channel, channel_user_id=chat_id, language=language, created_at=utcnow()
            )
        )
        await session.execute(
            _insert_or_nothing(session, Conversation, ["channel", "chat_id"]).values(
                channel=channel,
                chat_id=chat_id,
                state=State().to_json(),  # speaks the language of the customer record
                version=0,
                updated_at=utcnow(),
            )
        )
        created = await _find(await session.connection(), channel, chat_id)
    assert created is not None
    return created


async def _find(connection: AsyncConnection, channel: str, chat_id: str) -> Opened | None:
    row = (await connection.execute(_OPEN, {"channel": channel, "chat_id": chat_id})).first()
    if row is None:
        return None
    chat = Chat(row.id, row.conversation_id, row.name or "", row.phone or "", row.language)
    stamp = (row.catalog_updated, row.catalog_size)
    return Opened(chat, State.from_json(row.state), row.version, stamp)


async def load_state(sessions: Sessions, conversation_id: int) -> tuple[State, int]:
    """Where the conversation stands now: for a step again after losing a save."""
    async with one_statement(sessions) as connection:
        row = (await connection.execute(_STATE, {"conversation_id": conversation_id})).one()
    return State.from_json(row.state), row.version


async def save_state(sessions: Sessions, conversation_id: int, version: int, state: State) -> bool:
    """False when someone else saved first: the caller reads again and re-steps."""
    values = {
        "conversation_id": conversation_id,
        "expected": version,
        "new_state": state.to_json(),
        "new_version": version + 1,
        "now": utcnow(),
    }
    async with one_statement(sessions) as connection:
        result = await connection.execute(_SAVE, values)
        return result.rowcount == 1


async def set_language(sessions: Sessions, customer_id: int, language: str) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            update(Customer).where(Customer.id == customer_id).values(language=language)
        )
