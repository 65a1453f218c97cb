"""The database side of a chat: its customer, its conversation row, the catalog snapshot.

Conversation state is saved with a compare-and-set on `version`, so two updates for one chat
(a double tap, two instances) can never overwrite each other: the loser reads again and
re-steps. (A candidate for storage/repo.py as ConversationRepo.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.flow_ctx import Item, Section
from bot.flow_types import State
from storage.db import Sessions, transaction
from storage.models import Category, Conversation, Customer, Product, utcnow


@dataclass(frozen=True, slots=True)
class Chat:
    """Who is talking, as loaded at the start of one inbound event."""

    customer_id: int
    conversation_id: int
    name: str
    phone: str
    language: str


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
) -> Chat:
    """Find, or else create, the customer and the conversation row. Creating races settle on
    the unique keys; finding takes no write lock."""
    async with transaction(reader or sessions) as session:
        found = await _find(session, channel, chat_id)
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
        created = await _find(session, channel, chat_id)
    assert created is not None
    return created


async def _find(session: AsyncSession, channel: str, chat_id: str) -> Chat | None:
    row = (
        await session.execute(
            select(Customer, Conversation.id)
            .join(
                Conversation,
                (Conversation.channel == Customer.channel)
                & (Conversation.chat_id == Customer.channel_user_id),
            )
            .where(Customer.channel == channel, Customer.channel_user_id == chat_id)
        )
    ).one_or_none()
    if row is None:
        return None
    customer, conversation_id = row
    name, phone = customer.name or "", customer.phone or ""
    return Chat(customer.id, conversation_id, name, phone, customer.language)


async def load_state(sessions: Sessions, conversation_id: int) -> tuple[State, int]:
    async with transaction(sessions) as session:
        row = (
            await session.execute(
                select(Conversation.state, Conversation.version).where(
                    Conversation.id == conversation_id
                )
            )
        ).one()
    return State.from_json(row.state), row.version


async def save_state(sessions: Sessions, conversation_id: int, version: int, state: State) -> bool:
    """False when someone else saved first: the caller reads again and re-steps."""
    async with transaction(sessions) as session:
        result = await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.version == version)
            .values(state=state.to_json(), version=version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


async def load_catalog(
    sessions: Sessions, currency: str
) -> tuple[tuple[Item, ...], tuple[Section, ...]]:
    """What the chat may sell now: active products in the shop's currency, not sold out."""
    async with transaction(sessions) as session:
        products = await session.scalars(
            select(Product)
            .where(Product.active.is_(True), Product.currency == currency)
            .order_by(Product.id)
        )
        categories = await session.scalars(select(Category).order_by(Category.position))
        items = tuple(_item(p) for p in products if p.stock is None or p.stock > 0)
        sections = tuple(Section(c.key, dict(c.names)) for c in categories)
    known = {s.key for s in sections}
    unlisted = dict.fromkeys(i.category for i in items if i.category not in known)
    extra = tuple(Section(key, {"en": key.replace("-", " ").title()}) for key in unlisted)
    return items, sections + extra


def _item(product: Product) -> Item:
    return Item(
        sku=product.sku,
        category=product.category,
        names=dict(product.names),
        price=product.price,
        descriptions=dict(product.descriptions or {}),
        stock=product.stock,
        photo=product.photo,
    )


async def set_language(sessions: Sessions, customer_id: int, language: str) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            update(Customer).where(Customer.id == customer_id).values(language=language)
        )
