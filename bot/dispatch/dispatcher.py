"""Channel-neutral handling of one thing a customer did: load, step, save, run effects, repeat.

Every channel (Telegram, WhatsApp, the terminal demo) calls `handle` and renders the replies.
The state is saved before its effects run, with a compare-and-set on the conversation's
version: when two events of one chat race (a double tap on Pay, two instances), the loser
re-steps on the winner's state, so an effect such as placing the order runs once.
"""

from __future__ import annotations

import logging
from typing import Final

from bot import methods
from bot.catalog.cache import CatalogStamp
from bot.conversation.ctx import Ctx, Profile, ShopInfo
from bot.conversation.flow import step
from bot.conversation.model import Command, Event, Phone, State, Step, Tap, Text
from bot.conversation.replies import Inbound, Reply
from bot.dispatch import chats
from bot.dispatch.chats import Chat
from bot.dispatch.effects import run_effect
from bot.runtime import Runtime
from bot.texts import supported

log = logging.getLogger(__name__)
MAX_RETRIES: Final = 10
MAX_CHAIN: Final = 8  # effects feeding effects; the flow needs at most three
Known = tuple[State, int]  # a conversation state and the version it was read or saved at


async def check_status(runtime: Runtime, payment_id: int) -> None:
    """Ask the gateway now (the reconciler's check, rate-limited per payment). The effect reads
    the stored payment afterwards, so whatever this applied is what the customer sees."""
    if runtime.check_status is not None:
        await runtime.check_status(payment_id)


class ConversationBusy(Exception):
    """The chat's state kept changing under us; the event was not applied."""


async def handle(runtime: Runtime, inbound: Inbound) -> list[Reply]:
    """Answer one inbound event; effects run before this returns."""
    sessions = runtime.sessions
    assert sessions is not None, "database not started"
    shop = runtime.config.shop
    language = supported(inbound.language_hint, shop.languages) or shop.languages[0]
    opened = await chats.open_chat(
        sessions,
        inbound.channel,
        inbound.chat_id,
        language=language,
        reader=runtime.read_sessions,
    )
    phone_given = inbound.extra.get("phone_given") == "yes"
    ctx = await build_ctx(runtime, opened.chat, opened.catalog_stamp, inbound.name, phone_given)
    event = to_event(inbound)
    known = (opened.state, opened.version)
    return await _run(runtime, opened.chat, ctx, event, inbound.event_id, 0, known)


async def _run(
    runtime: Runtime, chat: Chat, ctx: Ctx, event: Event, event_id: str, depth: int, known: Known
) -> list[Reply]:
    done, known = await _step_and_save(runtime, chat, ctx, event, event_id, known)
    replies = list(done.replies)
    for effect in done.effects:
        outcome = await run_effect(runtime, chat, effect, check_status)
        if outcome is None:
            continue
        if depth >= MAX_CHAIN:
            log.error("chat=%s effect chain too long at %r", chat.conversation_id, outcome)
            break
        replies += await _run(runtime, chat, ctx, outcome, "", depth + 1, known)
    return replies


async def _customer_back(runtime: Runtime, chat: Chat) -> None:
    """While a payment is open, any word or tap from its customer has the poller ask soon."""
    if runtime.customer_back is not None:
        await runtime.customer_back(chat.customer_id)


async def _step_and_save(
    runtime: Runtime, chat: Chat, ctx: Ctx, event: Event, event_id: str, known: Known
) -> tuple[Step, Known]:
    """Step from `known` (the state and version last read or saved) and save it, stepping
    again from a fresh read for as long as the save loses; returns what it stands on now."""
    sessions = runtime.sessions
    assert sessions is not None
    reader = runtime.read_sessions or sessions
    for attempt in range(MAX_RETRIES):
        if attempt:
            known = await chats.load_state(reader, chat.conversation_id)
        state, version = known
        if state.seen(event_id):
            return Step(state), known  # a redelivery of an event we handled
        done = step(state, event, ctx)
        if state.payment_id and event_id:  # the customer (not an effect) acted while paying
            await _customer_back(runtime, chat)
        new = done.state.remember(event_id)
        if new == state:
            return done, known
        if await chats.save_state(sessions, chat.conversation_id, version, new):
            return done, (new, version + 1)
        log.debug("chat=%s version %s taken, stepping again", chat.conversation_id, version)
    raise ConversationBusy(f"conversation {chat.conversation_id}: too many concurrent updates")


async def build_ctx(
    runtime: Runtime,
    chat: Chat,
    catalog_stamp: CatalogStamp,
    channel_name: str = "",
    phone_given: bool = False,
) -> Ctx:
    sessions = runtime.read_sessions or runtime.sessions
    assert sessions is not None
    shop = runtime.config.shop
    items, sections = await runtime.catalog.get(sessions, shop.currency, catalog_stamp)
    info = ShopInfo(
        name=shop.name,
        currency=shop.currency,
        languages=shop.languages,
        timezone=shop.timezone,
        country=shop.country,
        shipping_fee=shop.shipping_fee,
        pickup=shop.pickup,
    )
    offered = methods.offered(runtime.config.payments.method_ids(), shop.currency)
    profile = Profile(
        chat.name, chat.phone, channel_name.strip()[:100], chat.language, phone_given
    )
    return Ctx(info, items, sections, offered, runtime.clock(), profile)


def to_event(inbound: Inbound) -> Event:
    if inbound.kind == "tap":
        return Tap.parse(inbound.choice_id)
    if inbound.kind == "phone":
        return Phone(inbound.phone)
    if inbound.kind == "command":
        return _command(inbound.command, inbound.text)
    text = inbound.text
    if text.startswith("/") and len(text) > 1:
        name, _, args = text[1:].partition(" ")
        return _command(name, args)
    return Text(text)


def _command(name: str, args: str) -> Command:
    """`/start@ShopBot` reads as `start`."""
    return Command(name.lstrip("/").split("@")[0].strip().lower(), args.strip())
