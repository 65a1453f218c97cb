"""The merchant's side of the chat: commands from the configured merchant chats.

    /orders [status]          the newest orders, all or of one status
    /order CODE               one order: items, customer, delivery, payments
    /ship CODE [tracking]     mark a paid order shipped; the customer is told
    /cancel CODE [reason]     cancel an order, release its stock; the customer is told
    /refund CODE [amount]     give back a paid order's money, all or a part (bot/merchant/
                              refunding.py); the customer is told
    /stats [date]             a day's orders and money (today by default)
    /export [from] [to]       orders as a CSV document (the last 30 days by default)
    /callbacks [gateway]      the latest callbacks and status answers, with replay buttons
    /stuck                    payments whose last gateway answer and local status disagree

Buttons under an order do the same. Channel-neutral: the dispatcher (bot/dispatch/answer.py)
routes a merchant chat's inbound events here, and the channel renders the replies as it
renders the customer's. Customers who type a merchant-only command get `refusal`; /orders and
/cancel mean the customer's own orders and checkout to them, so those stay with the
conversation.

The merchant reads the shop's first language; a refused customer reads their own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from bot import texts
from bot.api.views import order_detail, orders_page
from bot.conversation.buttons import Verb, tap
from bot.conversation.common import MENU, ORDER_STATUS
from bot.conversation.replies import Choice, Inbound, Reply
from bot.merchant import callback_log, refunding
from bot.merchant.report import (
    EXPORT_DEFAULT_DAYS,
    day_range,
    day_stats,
    export_orders,
    parse_day,
)
from payments.base import PaymentStatus
from payments.orders import OrderError, OrderStatus, cancel_order, ship_order
from storage.db import transaction

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
MERCHANT_ONLY: Final = frozenset(
    {"order", "ship", "stats", "export", "refund", "callbacks", "stuck"}
)
LIST_SIZE: Final = 10
MAX_CODE: Final = 16  # order codes are 6; a longer "code" is not one
STATUS_WORDS: Final = {
    **{str(s): str(s) for s in OrderStatus},
    "pending": "pending_payment", "unpaid": "pending_payment", "all": "",
}  # fmt: skip
S = PaymentStatus


def refusal(inbound: Inbound, language: str) -> Reply | None:
    """For a customer: a merchant-only command gets a polite no and the menu."""
    if inbound.kind != "command" or inbound.command.lower() not in MERCHANT_ONLY:
        return None
    t = texts.translator(language)
    menu = tuple(Choice(cid, t(label)) for cid, label in MENU)
    return Reply(t("Sorry, that command is only for the shop's staff."), menu)


@dataclass(frozen=True)
class Desk:
    """One merchant request: the runtime, the shop's language and its ways of writing."""

    runtime: Runtime

    @property
    def language(self) -> str:
        return self.runtime.config.shop.languages[0]

    def t(self, message: str) -> str:
        return texts.translator(self.language)(message)

    def money(self, amount: int, currency: str | None = None) -> str:
        shop = self.runtime.config.shop
        return texts.format_money(amount, currency or shop.currency, self.language, shop.country)

    def when(self, iso: str | None) -> str:
        if not iso:
            return "-"
        shop = self.runtime.config.shop
        moment = datetime.fromisoformat(iso)
        return texts.format_when(moment, shop.timezone, self.language, shop.country)

    def status(self, status: str) -> str:
        return self.t(ORDER_STATUS.get(status, status))

    def today(self) -> date:
        return self.runtime.clock().astimezone(ZoneInfo(self.runtime.config.shop.timezone)).date()


Action = Callable[[Desk, str], Awaitable[list[Reply]]]


async def answer(runtime: Runtime, inbound: Inbound) -> list[Reply]:
    """What a merchant chat's command, tap or text gets."""
    desk = Desk(runtime)
    name, args = _request(inbound)
    action = COMMANDS.get(name) if inbound.kind != "tap" else TAPS.get(name)
    if action is None:
        return await show_help(desk, "")
    try:
        return await action(desk, args.strip())
    except OrderError as exc:
        return [Reply(exc.message)]


def _request(inbound: Inbound) -> tuple[str, str]:
    if inbound.kind == "tap":
        verb, _, arg = inbound.choice_id.partition(":")
        return verb, arg
    if inbound.kind == "command":
        return inbound.command.lower(), inbound.text
    text = inbound.text.strip()
    if text.startswith("/"):
        name, _, args = text[1:].partition(" ")
        return name.split("@")[0].lower(), args
    return "", text


async def show_help(desk: Desk, _args: str) -> list[Reply]:
    t = desk.t
    lines = [
        "*" + t("Shop commands") + "*",
        "/orders [paid|pending|shipped|cancelled|expired] " + t("newest orders"),
        "/order CODE " + t("one order"),
        "/ship CODE [tracking] " + t("mark shipped, the customer is told"),
        "/cancel CODE [reason] " + t("cancel, stock goes back, the customer is told"),
        "/refund CODE [amount] " + t("give money back, all or a part; the customer is told"),
        "/stats [YYYY-MM-DD] " + t("a day's orders and money"),
        "/export [from] [to] " + t("orders as a CSV file"),
        "/callbacks [gateway] " + t("the latest callbacks, with a replay button"),
        "/stuck " + t("payments the gateway and the shop disagree about"),
    ]
    return [Reply("\n".join(lines), (Choice(tap(Verb.MERCHANT_LIST, "paid"), t("Paid orders")),))]


async def list_orders(desk: Desk, args: str) -> list[Reply]:
    word = args.split()[0].lower() if args.split() else "all"
    status = STATUS_WORDS.get(word)
    if status is None:
        known = ", ".join(k for k in STATUS_WORDS if k != "pending_payment")
        return [Reply(desk.t("Unknown status {status}. Use one of: {known}").format(
            status=word, known=known))]  # fmt: skip
    async with transaction(_reader(desk)) as session:
        orders, _ = await orders_page(session, status=status or None, limit=LIST_SIZE, before=None)
    if not orders:
        return [Reply(desk.t("No orders yet.") if not status else desk.t("No such orders."))]
    lines = [_order_line(desk, o) for o in orders]
    choices = tuple(
        Choice(
            tap(Verb.MERCHANT_ORDER, o["code"]), f"{o['code']} · {desk.status(o['status'])}"[:40]
        )
        for o in orders
    )
    return [Reply("\n".join(lines), choices)]


def _order_line(desk: Desk, order: dict[str, Any]) -> str:
    who = order["customer"]["name"] or order["customer"]["phone"] or "-"
    total = desk.money(order["total"], order["currency"])
    return f"`{order['code']}` {desk.status(order['status'])} · {total} · {who}"


def _looks_like_code(code: str) -> bool:
    """What may be looked up: a typo gets "no such order", anything else the usage line.

    Looser than conversation/model.py is_order_code on purpose: a merchant who mistypes a code
    (a letter Crockford leaves out, one character short) is told which code was not found."""
    return 0 < len(code) <= MAX_CODE and code.isascii() and code.isalnum()


async def show_order(desk: Desk, args: str) -> list[Reply]:
    code = args.split()[0] if args.split() else ""
    if not _looks_like_code(code):
        return [Reply(desk.t("Which order? For example: /order A7K2Q9"))]
    async with transaction(_reader(desk)) as session:
        order = await order_detail(session, code)
    if order is None:
        return [Reply(desk.t("There is no order {code}.").format(code=code.upper()))]
    return [Reply("\n".join(_order_text(desk, order)), _order_choices(desk, order))]


def _order_text(desk: Desk, order: dict[str, Any]) -> list[str]:
    t, currency = desk.t, order["currency"]
    customer, delivery = order["customer"], order["delivery"]
    order_word, customer_word, placed_word = t("Order"), t("Customer"), t("Placed")
    lines = [f"*{order_word} {order['code']}*: {desk.status(order['status'])}"]
    for item in order["items"]:
        name = texts.pick(item["names"], desk.language) or item["sku"]
        lines.append(f"{item['quantity']}× {name}  {desk.money(item['total'], currency)}")
    lines.append(t("Shipping: {amount}").format(amount=desk.money(order["shipping"], currency)))
    lines.append(t("Total: {amount}").format(amount=desk.money(order["total"], currency)))
    lines.append(f"{customer_word}: {customer['name'] or '-'}, {customer['phone'] or '-'}")
    if delivery["method"] == "delivery":
        lines.append(t("Deliver to: {address}").format(address=delivery["address"] or "-"))
    else:
        lines.append(t("Pick up at the shop"))
    if delivery.get("note"):
        lines.append(t("Note: {note}").format(note=delivery["note"]))
    lines.append(f"{placed_word}: {desk.when(order['created_at'])}")
    if order["tracking"]:
        lines.append(t("Tracking: {tracking}").format(tracking=order["tracking"]))
    for p in order["payments"]:
        review = " ⚠ " + t("needs review") if p["needs_review"] else ""
        amount = desk.money(p["amount"], p["currency"])
        lines.append(f"{p['method']} `{p['reference']}` {amount}: {p['status']}{review}")
    return lines


def _order_choices(desk: Desk, order: dict[str, Any]) -> tuple[Choice, ...]:
    code, status = order["code"], order["status"]
    choices = []
    if status == OrderStatus.PAID:
        choices.append(Choice(tap(Verb.MERCHANT_SHIP, code), desk.t("Mark shipped")))
    if status in (OrderStatus.PAID, OrderStatus.PENDING_PAYMENT):
        choices.append(Choice(tap(Verb.MERCHANT_CANCEL, code), desk.t("Cancel order")))
    if any(p["status"] == S.PAID for p in order["payments"]):
        choices.append(Choice(tap(Verb.MERCHANT_REFUND, code), desk.t("Refund")))
    return tuple(choices)


async def ship(desk: Desk, args: str) -> list[Reply]:
    code, _, tracking = args.partition(" ")
    if not _looks_like_code(code):
        return [Reply(desk.t("Which order? For example: /ship A7K2Q9 JNE123456"))]
    runtime = desk.runtime
    async with runtime.uow() as store:
        order = await ship_order(
            store, code, now=runtime.clock(), tracking=tracking.strip()[:100] or None
        )
    log.info("order=%s shipped by the merchant", order.code)
    text = desk.t("Order {code} is marked shipped. The customer is told.")
    return [Reply(text.format(code=order.code))]


async def ask_cancel(desk: Desk, code: str) -> list[Reply]:
    question = desk.t("Cancel order {code}? Its stock goes back on sale.").format(code=code)
    yes, no = desk.t("Yes, cancel it"), desk.t("No")
    return [
        Reply(
            question,
            (
                Choice(tap(Verb.MERCHANT_CANCEL_YES, code), yes),
                Choice(tap(Verb.MERCHANT_ORDER, code), no),
            ),
        )
    ]


async def cancel(desk: Desk, args: str) -> list[Reply]:
    code, _, reason = args.partition(" ")
    if not _looks_like_code(code):
        return [Reply(desk.t("Which order? For example: /cancel A7K2Q9 out of stock"))]
    runtime = desk.runtime
    async with runtime.uow() as store:
        before = await store.orders.lock_by_code(code)
        was_paid = before is not None and before.status == OrderStatus.PAID
        reason = reason.strip()[:200]
        cancelled = await cancel_order(store, code, now=runtime.clock(), reason=reason)
        order = cancelled.order
        total, currency = order.total, order.currency
    await runtime.cancel_at_gateways(cancelled.attempts)
    log.info("order=%s cancelled by the merchant", order.code)
    text = desk.t("Order {code} is cancelled and its stock is back. The customer is told.")
    lines = [text.format(code=order.code)]
    if was_paid:
        refund = desk.t("It was paid: refund {amount} to the customer.")
        lines.append(refund.format(amount=desk.money(total, currency)))
    return [Reply("\n".join(lines))]


async def stats(desk: Desk, args: str) -> list[Reply]:
    day = parse_day(args.split()[0] if args.split() else "", desk.today())
    if day is None:
        return [Reply(desk.t("Which day? For example: /stats 2026-11-22"))]
    start, end = day_range(day, day, desk.runtime.config.shop.timezone)
    async with transaction(_reader(desk)) as session:
        found = await day_stats(session, start, end)
    t = desk.t
    placed = sum(found.placed.values())
    title = t("Stats for {day}").format(day=day.isoformat())
    lines = [f"*{title}*"]
    lines.append(t("Orders placed: {count}").format(count=placed))
    lines += [f"  {desk.status(s)}: {n}" for s, n in sorted(found.placed.items())]
    paid = t("Paid: {count} orders, {amount}")
    lines.append(paid.format(count=found.paid_count, amount=desk.money(found.paid_total)))
    lines += [f"  {m}: {n} · {desk.money(a)}" for m, n, a in found.by_method]
    lines.append(t("Shipped: {count}").format(count=found.shipped))
    if found.to_review:
        lines.append("⚠ " + t("Payments to review: {count}").format(count=found.to_review))
    return [Reply("\n".join(lines))]


async def export(desk: Desk, args: str) -> list[Reply]:
    today = desk.today()
    words = args.split()
    first = parse_day(words[0], today) if words else today - timedelta(EXPORT_DEFAULT_DAYS - 1)
    last = parse_day(words[1], today) if len(words) > 1 else today
    if first is None or last is None or first > last:
        return [Reply(desk.t("Which days? For example: /export 2026-11-01 2026-11-30"))]
    shop = desk.runtime.config.shop
    start, end = day_range(first, last, shop.timezone)
    async with transaction(_reader(desk)) as session:
        found = await export_orders(session, start, end, tz=shop.timezone, language=desk.language)
    text = desk.t("Orders from {first} to {last}: {count}").format(
        first=first.isoformat(), last=last.isoformat(), count=found.rows
    )
    if found.truncated:
        text += "\n" + desk.t("Only the first {count} are in the file.").format(count=found.rows)
    name = f"orders-{first.isoformat()}-{last.isoformat()}.csv"
    return [Reply(text, document=(name, found.content))]


def _reader(desk: Desk) -> Any:
    runtime = desk.runtime
    sessions = runtime.read_sessions or runtime.sessions
    assert sessions is not None, "database not started"
    return sessions


async def _tap_cancel(desk: Desk, code: str) -> list[Reply]:
    if not _looks_like_code(code.strip()):
        return await show_help(desk, "")
    return await ask_cancel(desk, code.strip())


COMMANDS: Final[dict[str, Action]] = {
    "callbacks": callback_log.show_callbacks,
    "stuck": callback_log.show_stuck,
    "orders": list_orders,
    "order": show_order,
    "ship": ship,
    "cancel": cancel,
    "stats": stats,
    "export": export,
    "refund": refunding.ask,
    "start": show_help,
    "help": show_help,
}
TAPS: Final[dict[str, Action]] = {
    Verb.MERCHANT_LIST: list_orders,
    Verb.MERCHANT_ORDER: show_order,
    Verb.ORDER: show_order,  # "Order details" under a notice
    Verb.MERCHANT_SHIP: ship,
    Verb.MERCHANT_CANCEL: _tap_cancel,
    Verb.MERCHANT_CANCEL_YES: cancel,
    Verb.MERCHANT_REFUND: refunding.ask,
    Verb.MERCHANT_REFUND_YES: refunding.confirm,
    Verb.MERCHANT_REPLAY: callback_log.replay_event,
}
