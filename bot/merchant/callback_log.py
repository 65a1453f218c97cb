"""The callback log in the merchant chat: /callbacks [gateway], its replay buttons, /stuck.

The queries and the replay are bot/merchant/events.py, shared with the HTTP API, so the chat
and `GET /api/events` show the same events. bot/merchant/desk.py routes the commands here; its
Desk is seen through the small protocol below, so this module does not import it back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final, Protocol

from bot import texts
from bot.conversation.buttons import Verb, tap
from bot.conversation.replies import Choice, Reply
from bot.merchant import events
from storage.db import transaction

if TYPE_CHECKING:
    from bot.runtime import Runtime

LOG_SIZE: Final = 10
GATEWAY: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
N_ = texts.N_
REPLAYED: Final = {
    "applied": N_("Replayed event {id}: it changed the payment; whoever must hear is told once."),
    "duplicate": N_("Replayed event {id}: nothing to change, it had taken effect already."),
    "stale": N_("Replayed event {id}: nothing to change, newer news came since."),
    "review": N_("Replayed event {id}: the payment still needs review."),
    "unmatched": N_("Replayed event {id}: there is still no payment of ours for it."),
    "deferred": N_("Event {id}: the gateway cannot be asked right now. Try again in a minute."),
}  # fmt: skip


class Desk(Protocol):
    """What bot/merchant/desk.py Desk offers."""

    @property
    def runtime(self) -> Runtime: ...

    def t(self, message: str) -> str: ...

    def when(self, iso: str | None) -> str: ...

    def money(self, amount: int, currency: str | None = None) -> str: ...


def _reader(desk: Desk) -> Any:
    sessions = desk.runtime.read_sessions or desk.runtime.sessions
    assert sessions is not None, "database not started"
    return sessions


async def show_callbacks(desk: Desk, args: str) -> list[Reply]:
    gateway = args.split()[0].lower() if args.split() else None
    if gateway is not None and not GATEWAY.fullmatch(gateway):
        return [Reply(desk.t("Which gateway? For example: /callbacks sandbox"))]
    async with transaction(_reader(desk)) as session:
        found, _ = await events.events_page(session, gateway=gateway, limit=LOG_SIZE)
    if not found:
        return [Reply(desk.t("No callbacks yet."))]
    title = desk.t("Latest callbacks and gateway answers")
    lines = [f"*{title}*", *(_event_line(desk, e) for e in found)]
    label = desk.t("Replay {id}")
    choices = tuple(
        Choice(tap(Verb.MERCHANT_REPLAY, e["id"]), label.format(id=e["id"]))
        for e in found
        if e["verified"]
    )
    return [Reply("\n".join(lines), choices)]


def _event_line(desk: Desk, event: dict[str, Any]) -> str:
    status = event["status"] or "-"
    line = (
        f"#{event['id']} {desk.when(event['created_at'])} {event['gateway']} {event['source']}"
        f" `{event['reference'] or '-'}` {status} → {event['outcome']}"
    )
    if event["verified"]:
        return line
    return line + " ✗ " + desk.t("not verified")


async def replay_event(desk: Desk, args: str) -> list[Reply]:
    text = args.strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 10):
        return await show_callbacks(desk, "")
    event_id = int(text)
    try:
        replayed = await events.replay(desk.runtime, event_id)
    except LookupError:
        return [Reply(desk.t("There is no event {id}.").format(id=event_id))]
    except events.Unverified:
        refused = desk.t("Event {id} was never verified: it is kept, never applied.")
        return [Reply(refused.format(id=event_id))]
    said = desk.t(REPLAYED[replayed.outcome]).format(id=event_id)
    return [Reply(said)]


async def show_stuck(desk: Desk, _args: str) -> list[Reply]:
    runtime = desk.runtime
    async with transaction(_reader(desk)) as session:
        stuck = await events.stuck_payments(session, runtime.clock(), LOG_SIZE)
    if not stuck:
        return [Reply(desk.t("No stuck payments: every gateway agrees with the shop."))]
    title = desk.t("Payments the gateway and the shop disagree about")
    here = desk.t("here: {status}, at the gateway: {gateway_status}")
    lines = [f"*{title}*"]
    for s in stuck:
        amount = desk.money(s["amount"], s["currency"])
        where = here.format(status=s["status"], gateway_status=s["gateway_status"])
        review = " ⚠ " + desk.t("needs review") if s["needs_review"] else ""
        lines.append(f"`{s['order_code']}` {s['reference']} {amount} · {where}{review}")
    codes = dict.fromkeys(s["order_code"] for s in stuck)  # an order may have two attempts
    choices = tuple(Choice(tap(Verb.MERCHANT_ORDER, code), code) for code in codes)
    return [Reply("\n".join(lines), choices)]
