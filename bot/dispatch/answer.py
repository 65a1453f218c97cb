"""What every channel calls with one inbound event: route it, answer it, never leave it silent.

Channel-neutral, so that Telegram, the terminal and any later channel behave alike: a
merchant chat's events go to the merchant desk (bot/merchant/desk.py); a customer typing a
merchant-only command gets a polite no; everyone else gets the conversation
(bot/dispatch/dispatcher.py). When that fails (the chat kept changing under us, or a bug),
the answer is a "sorry" in the customer's language rather than nothing. Each event is counted
in `checkout_chat_updates` by channel, here where every channel's events pass.
"""

from __future__ import annotations

import logging

from bot.conversation.replies import Inbound, Reply
from bot.dispatch.dispatcher import ConversationBusy, handle
from bot.merchant import desk
from bot.runtime import Runtime
from bot.texts import supported, translator
from payments.ports import Recipient

log = logging.getLogger(__name__)


async def answer(runtime: Runtime, inbound: Inbound) -> list[Reply]:
    """The replies to one inbound event, in the order the channel sends them."""
    runtime.metrics.chat_updates.labels(inbound.channel).inc()
    try:
        if is_merchant(runtime, inbound):
            return await desk.answer(runtime, inbound)
        refused = desk.refusal(inbound, language(runtime, inbound))
        if refused is not None:
            return [refused]
        return await handle(runtime, inbound)
    except ConversationBusy:
        log.warning("%s: event %s not applied, its chat was busy", inbound.channel, _id(inbound))
    except Exception:
        log.exception("%s: event %s failed", inbound.channel, _id(inbound))
    return [sorry(runtime, inbound)]


def is_merchant(runtime: Runtime, inbound: Inbound) -> bool:
    """The configured merchant chats (bot/runtime.py shop_rules), on whichever channel."""
    return Recipient(inbound.channel, inbound.chat_id) in runtime.shop.merchants


def language(runtime: Runtime, inbound: Inbound) -> str:
    """The chat client's language where the shop speaks it, else the shop's first."""
    shop = runtime.config.shop
    return supported(inbound.language_hint, shop.languages) or shop.languages[0]


def sorry(runtime: Runtime, inbound: Inbound) -> Reply:
    t = translator(language(runtime, inbound))
    return Reply(t("Sorry, something went wrong. Please try again."))


def _id(inbound: Inbound) -> str:
    return inbound.event_id or inbound.chat_id
