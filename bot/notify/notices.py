"""Outbox notifications as messages: what the customer or merchant reads, in their language.

The outbox rows are written by the payment and order use cases and the reconciler; the outbox
worker (bot/notify/worker.py) and the terminal demo render them here. Buttons use the same
choice ids as the conversation (bot/conversation/flow.py), so a tap on a notice lands in the
chat's flow. A kind we do not know, or a payload missing a key, still renders: generically,
from the payload's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from bot import methods, texts
from bot.conversation.buttons import Verb, tap
from bot.conversation.common import LABEL_MAX, shorten, user_text
from bot.conversation.replies import Choice, Reply
from bot.texts import N_


@dataclass(frozen=True, slots=True)
class OrderLine:
    name: str
    quantity: int
    line_total: int


@dataclass(frozen=True, slots=True)
class MerchantOrder:
    """What a paid-order notice shows beyond its payload; bot/notify/notice_data.py loads it."""

    lines: tuple[OrderLine, ...]
    shipping: int
    total: int
    customer_name: str
    customer_phone: str
    customer_channel: str
    delivery: str  # delivery | pickup
    address: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class _Notice:
    payload: Mapping[str, Any]
    language: str
    tz: str
    country: str
    extra: MerchantOrder | None

    def t(self, message: str) -> str:
        return texts.translator(self.language)(message)

    def money(self, amount: Any = None, currency: Any = None) -> str:
        amount = self.payload["amount"] if amount is None else amount
        currency = self.payload.get("currency", "IDR") if currency is None else currency
        return texts.format_money(int(amount), str(currency), self.language, self.country)

    def when(self, value: Any) -> str:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return texts.format_when(moment, self.tz, self.language, self.country)

    def method(self) -> str:
        return methods.short_label(self.t, str(self.payload["method"]))

    @property
    def code(self) -> str:
        return str(self.payload["order_code"])

    def choice(self, choice_id: str, label: str) -> Choice:
        return Choice(choice_id, shorten(self.t(label), LABEL_MAX))


def render_notice(
    kind: str,
    payload: Mapping[str, Any],
    *,
    language: str,
    tz: str,
    country: str = "",
    extra: MerchantOrder | None = None,
) -> Reply:
    """One outbox row as a message. `extra` is used by `order_paid` (see MerchantOrder)."""
    notice = _Notice(payload, language, tz, country, extra)
    renderer = RENDERERS.get(kind)
    if renderer is not None:
        try:
            return _with_facts(renderer(notice), notice)
        except (KeyError, TypeError, ValueError):
            pass  # a payload of another shape: say what we can
    return _with_facts(_generic(kind, notice), notice)


def _with_facts(reply: Reply, n: _Notice) -> Reply:
    """Reply.facts, for the channels that may have to send a template instead: the order
    code, then the amount (a payment's, else the order's total) and the payment's method,
    those of them the notice has (a reminder: the code and the method)."""
    p = n.payload
    try:
        facts: tuple[str, ...] = (n.code,)
        if "amount" in p or "total" in p:
            facts += (n.money(p["amount"] if "amount" in p else p["total"]),)
        if "method" in p:
            facts += (n.method(),)
    except (KeyError, TypeError, ValueError):
        return reply
    return replace(reply, facts=facts)


def as_repeat(reply: Reply, language: str) -> Reply:
    """A resend of a message that may have been shown already (bot/notify/worker.py, in
    doubt): it says so, so that a second copy reads as a reminder, not a second payment."""
    t = texts.translator(language)
    prefix = t("In case you missed it:")
    return replace(reply, text=f"{prefix}\n{reply.text}")


def render_paid_digest(
    payloads: Sequence[Mapping[str, Any]], *, language: str, country: str = "", limit: int
) -> tuple[Reply, int]:
    """Several merchant `order_paid` notices as one message, one line per order and the sum,
    within `limit` characters: the reply and how many of `payloads` (from the first) it
    lists; the worker (bot/notify/worker.py) sends the rest in the next one."""
    t = texts.translator(language)
    lines: list[str] = []
    sums: dict[str, int] = {}
    for payload in payloads:
        n = _Notice(payload, language, "UTC", country, None)
        try:
            line = t("{code}: {amount} via {method}").format(
                code=n.code, amount=n.money(), method=n.method()
            )
            amount, currency = int(payload["amount"]), str(payload.get("currency", "IDR"))
        except (KeyError, TypeError, ValueError):
            line, amount, currency = n.code if "order_code" in payload else "?", 0, ""
        added = {**sums, currency: sums.get(currency, 0) + amount} if currency else sums
        text = _digest_text(t, n, [*lines, line], added)
        if len(text) > limit and lines:
            break
        lines.append(line)
        sums = added
    n = _Notice(payloads[0], language, "UTC", country, None)
    return Reply(_digest_text(t, n, lines, sums)[:limit]), max(len(lines), 1)


def _digest_text(
    t: Callable[[str], str], n: _Notice, lines: list[str], sums: Mapping[str, int]
) -> str:
    head = t("New paid orders: {count}").format(count=len(lines))
    total = t("Total: {amount}")
    totals = [total.format(amount=n.money(amount, currency)) for currency, amount in sums.items()]
    return "\n".join([head, *lines, *totals])


def _paid(n: _Notice) -> Reply:
    text = n.t("Payment received: order {code}, {amount} via {method}")
    thanks = n.t("Thank you! We are getting your order ready.")
    body = f"{text.format(code=n.code, amount=n.money(), method=n.method())}\n{thanks}"
    return Reply(body, (n.choice(tap(Verb.ORDER, n.code), N_("Order details")),))


def _failed(n: _Notice) -> Reply:
    text = n.t("The payment for order {code} ({amount} via {method}) did not go through.")
    body = text.format(code=n.code, amount=n.money(), method=n.method())
    if reason := str(n.payload.get("reason") or ""):  # the gateway's words, as it gave them
        body += "\n" + n.t("Reason: {reason}").format(reason=user_text(reason))
    return Reply(body, _repay_choices(n, N_("Try again")))


def _payment_expired(n: _Notice) -> Reply:
    text = n.t("The payment for order {code} expired before it was paid. You can pay again.")
    return Reply(text.format(code=n.code), _repay_choices(n, N_("Pay again")))


def _repay_choices(n: _Notice, label: str) -> tuple[Choice, ...]:
    return (
        n.choice(tap(Verb.PAY_AGAIN, n.code), label),
        n.choice(tap(Verb.CANCEL, n.code), N_("Cancel order")),
    )


def _order_expired(n: _Notice) -> Reply:
    text = n.t("Order {code} was not paid in time, so it is closed. Welcome to order again.")
    return Reply(
        text.format(code=n.code), (n.choice(tap(Verb.MENU, "catalog"), N_("Order again")),)
    )


def _order_cancelled(n: _Notice) -> Reply:
    reason = str(n.payload.get("reason") or "")
    if reason == "customer":
        text = n.t("Order {code} is cancelled, as you asked.").format(code=n.code)
    else:
        text = n.t("Order {code} was cancelled by the shop.").format(code=n.code)
        if reason:
            text += "\n" + n.t("Reason: {reason}").format(reason=user_text(reason))
    return Reply(
        text,
        (
            n.choice(tap(Verb.MENU, "catalog"), N_("Catalog")),
            n.choice(tap(Verb.MENU, "menu"), N_("Menu")),
        ),
    )


def _shipped(n: _Notice) -> Reply:
    text = n.t("Good news: order {code} is on its way!").format(code=n.code)
    tracking = n.payload.get("tracking")
    if tracking:
        text += "\n" + n.t("Tracking: {tracking}").format(tracking=user_text(str(tracking)))
    return Reply(text, (n.choice(tap(Verb.MENU, "orders"), N_("My orders")),))


def _refunded(n: _Notice) -> Reply:
    """Says how much came back, so that a second part refunded later reads as its own."""
    if n.payload.get("whole"):
        text = n.t("Refund sent: {amount} for order {code}, the whole payment.")
    else:
        text = n.t("Refund sent: {amount} for order {code}.")
    body = text.format(amount=n.money(), code=n.code)
    body += "\n" + n.t("It may take a few days to reach your account.")
    return Reply(body, (n.choice(tap(Verb.MENU, "orders"), N_("My orders")),))


def _reminder(n: _Notice) -> Reply:
    text = n.t("Reminder: the payment for order {code} expires at {time}.")
    body = text.format(code=n.code, time=n.when(n.payload["expires_at"]))
    choices: tuple[Choice, ...] = (n.choice(tap(Verb.PAY_AGAIN, n.code), N_("How to pay")),)
    if n.payload.get("payment_id"):
        choices = (
            n.choice(tap(Verb.CHECK, int(n.payload["payment_id"])), N_("Check status")),
            *choices,
        )
    return Reply(body, choices)


def _no_prompt(n: _Notice) -> Reply:
    text = n.t(
        "Did the payment prompt for order {code} reach your phone? If not, check that the "
        "phone is on and has signal, or choose another method."
    )
    choices = (
        n.choice(tap(Verb.CHECK, int(n.payload["payment_id"])), N_("Check status")),
        n.choice(tap(Verb.CHANGE_METHOD, n.code), N_("Change method")),
    )
    return Reply(text.format(code=n.code), choices)


def _merchant_paid(n: _Notice) -> Reply:
    head = n.t("New paid order {code}: {amount} via {method}")
    lines = [head.format(code=n.code, amount=n.money(), method=n.method())]
    if n.extra is not None:
        lines += _order_lines(n, n.extra)
    lines.append(n.t("Reference: {reference}").format(reference=n.payload.get("reference", "")))
    gateway = methods.gateway_name(str(n.payload.get("method", "")))
    lines.append(n.t("Paid through: {gateway}").format(gateway=gateway))
    return Reply("\n".join(lines))


def _order_lines(n: _Notice, order: MerchantOrder) -> list[str]:
    items = [f"{li.quantity}× {li.name}  {n.money(li.line_total)}" for li in order.lines]
    who = n.t("Customer: {name}, {phone} ({channel})").format(
        name=user_text(order.customer_name) or "-",
        phone=order.customer_phone or "-",
        channel=order.customer_channel,
    )
    if order.delivery == "delivery":
        where = n.t("Deliver to: {address}").format(address=user_text(order.address))
    else:
        where = n.t("Pick up at the shop")
    note = [n.t("Note: {note}").format(note=user_text(order.note))] if order.note else []
    shipping = n.t("Shipping: {amount}").format(amount=n.money(order.shipping))
    return [*items, shipping, who, where, *note]


def _receipt(n: _Notice) -> Reply:
    """The emailed receipt (bot/channels/email/): what was bought, for how much, how and when."""
    lines = [n.t("Receipt for order {code}").format(code=n.code), ""]
    if n.extra is not None:
        lines += [f"{li.quantity}× {li.name}  {n.money(li.line_total)}" for li in n.extra.lines]
        lines.append(n.t("Shipping: {amount}").format(amount=n.money(n.extra.shipping)))
    lines.append("*" + n.t("Total: {amount}").format(amount=n.money()) + "*")
    lines.append(n.t("Paid via {method}").format(method=n.method()))
    if n.payload.get("paid_at"):
        lines.append(n.t("Paid at {time}").format(time=n.when(n.payload["paid_at"])))
    lines.append(n.t("Reference: {reference}").format(reference=n.payload.get("reference", "")))
    lines += ["", n.t("Thank you for your order!")]
    return Reply("\n".join(lines))


def _review(n: _Notice) -> Reply:
    text = n.t("Payment {reference} needs your review: {reason}")
    return Reply(text.format(reference=n.payload["reference"], reason=n.payload["reason"]))


def _callbacks_missing(n: _Notice) -> Reply:
    p = n.payload
    text = n.t(
        "{gateway}: {count} payments in the last {minutes} min were confirmed by status checks, "
        "none by a callback, so its callbacks are not arriving. Payments are still confirmed, "
        "more slowly. Check the callback URL at {gateway}: {url}"
    )
    count, minutes = int(p["paid_by_query"]), int(p["window_minutes"])
    return Reply(
        text.format(gateway=p["gateway"], count=count, minutes=minutes, url=p["callback_url"])
    )


def _daily_summary(n: _Notice) -> Reply:
    """bot/merchant/summary.py writes the numbers; worded here, in the merchant's language."""
    p, t = n.payload, n.t
    title = t("Summary of {day}").format(day=p["date"])
    paid = t("Paid: {count} orders, {amount}")
    lines = [f"*{title}*", paid.format(count=int(p["paid_orders"]), amount=n.money(p["revenue"]))]
    for row in p["by_method"]:
        label = (
            f"{methods.short_label(t, str(row['method']))} · {methods.gateway_name(row['method'])}"
        )
        amount = n.money(row["amount"], row["currency"])
        lines.append(f"  {label}: {int(row['payments'])} · {amount}")
    lines.append(t("Still waiting for payment: {count}").format(count=int(p["waiting"])))
    if p["to_review"]:
        lines.append("⚠ " + t("Payments to review: {count}").format(count=int(p["to_review"])))
    if p["low_stock"]:
        lines.append(t("Running low:"))
        for item in p["low_stock"]:
            name = texts.pick(item["names"], n.language) or item["sku"]
            lines.append("  " + t("{name}: {count} left").format(name=name, count=item["stock"]))
    return Reply("\n".join(lines))


GENERIC_KEYS: Final = ("text", "order_code", "amount", "method", "expires_at", "reference")


def _generic(kind: str, n: _Notice) -> Reply:
    """For a kind without its own text: its name, then the payload's readable keys."""
    title = kind.replace("_", " ").strip().capitalize() or n.t("Update")
    lines = [f"*{title}*"]
    p = n.payload
    if p.get("text"):
        lines.append(str(p["text"]))
    if p.get("order_code"):
        lines.append(n.t("Order {code}").format(code=p["order_code"]))
    for label, value in _safe_fields(n):
        lines.append(f"{label}: {value}")
    code = p.get("order_code")
    choices = (n.choice(tap(Verb.ORDER, code), N_("Order details")),) if code else ()
    return Reply("\n".join(lines), choices)


def _safe_fields(n: _Notice) -> list[tuple[str, str]]:
    p, out = n.payload, []
    readers: list[tuple[str, str, Callable[[], str]]] = [
        ("amount", N_("Amount"), lambda: n.money()),
        ("method", N_("Method"), lambda: n.method()),
        ("expires_at", N_("Expires"), lambda: n.when(p["expires_at"])),
        ("reference", N_("Reference"), lambda: str(p["reference"])),
    ]
    for key, label, read in readers:
        if p.get(key) is None:
            continue
        try:
            out.append((n.t(label), read()))
        except (KeyError, TypeError, ValueError):
            continue
    return out


RENDERERS: Final[Mapping[str, Callable[[_Notice], Reply]]] = {
    "payment_paid": _paid,
    "payment_failed": _failed,
    "payment_expired": _payment_expired,
    "order_expired": _order_expired,
    "order_cancelled": _order_cancelled,
    "order_shipped": _shipped,
    "refund_done": _refunded,
    "receipt": _receipt,
    "order_paid": _merchant_paid,
    "payment_review": _review,
    "payment_reminder": _reminder,
    "payment_no_prompt": _no_prompt,
    "ussd_no_prompt": _no_prompt,
    "gateway_callbacks_missing": _callbacks_missing,
    "daily_summary": _daily_summary,
}
