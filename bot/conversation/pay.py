"""Paying and after: starting payments, status checks, My orders, cancelling.

The answer "paid" here is a status line, never the confirmation: the confirmation is sent
once, through the outbox, by whichever path saw the money first.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

from bot.conversation import checkout, reorder
from bot.conversation.buttons import Verb, tap
from bot.conversation.checkout import method_choices
from bot.conversation.common import Voice, bold, join_lines, menu_step, say, voice
from bot.conversation.ctx import Ctx
from bot.conversation.instructions import action_choices, instructions
from bot.conversation.model import (
    CancelOrder,
    CancelRejected,
    CheckStatus,
    LoadOrder,
    LoadOrders,
    OrderCancelled,
    OrderLoaded,
    OrdersLoaded,
    OrderView,
    PaymentRejected,
    PaymentStarted,
    Stage,
    StartPayment,
    State,
    StatusChecked,
    Step,
)
from bot.conversation.replies import Choice, Reply
from bot.texts import N_

LIVE: Final = frozenset({"pending", "processing"})
STUCK_AFTER: Final = timedelta(minutes=2)  # far longer than placing an order and a payment
REORDER_OFFERS: Final = 3  # "Order again" buttons under My orders, newest past orders first


def start(state: State, ctx: Ctx, method: str) -> Step:
    """Another method (or the same again) for the order this chat is paying."""
    if not state.order_code:
        return menu_step(state, ctx)
    if method not in ctx.methods:
        return show_methods(state, ctx, state.order_code)
    effect = StartPayment(state.order_code, method)
    placing = state.to(Stage.PLACING, method=method, busy_since=ctx.now.isoformat())
    return Step(placing, (), (effect,))


def busy(state: State, ctx: Ctx, method: str) -> Step:
    """A Pay tap while the last one is still being worked on; after a crash, try again."""
    if not _stuck(state, ctx):
        return say(state, Reply(voice(state, ctx).t("One moment, please…")))
    if state.order_code:
        return start(state, ctx, method)
    return checkout.place(state.to(Stage.SUMMARY), ctx, method)


def _stuck(state: State, ctx: Ctx) -> bool:
    try:
        since = datetime.fromisoformat(state.busy_since)
    except ValueError:
        return True
    return ctx.now - since > STUCK_AFTER


def started(state: State, ctx: Ctx, event: PaymentStarted) -> Step:
    p = event.payment
    state = state.to(Stage.PAYING, order_code=p.order_code, payment_id=p.id, method="")
    v = voice(state, ctx)
    if p.status == "paid":
        return menu_step(
            state, ctx, v.t("Order {code} is already paid.").format(code=p.order_code)
        )
    return say(state, instructions(v, p))


PAYMENT_REJECTIONS: Final = {
    "method_unavailable": N_("That payment method is not available right now."),
    "gateway_rejected": N_("Sorry, this payment method is not working right now."),
    "gateway_unavailable": N_("Sorry, this payment method is not working right now."),
    "below_minimum": N_("This total is below the smallest amount this payment method takes."),
    # payments/base.py PhoneNotAccepted, by the gateway's country
    "phone_tz": N_(
        "Mobile money here needs a Tanzanian mobile number (like 0712 345 678), and the "
        "phone number on this order is not one."
    ),
}


def payment_rejected(state: State, ctx: Ctx, event: PaymentRejected) -> Step:
    v = voice(state, ctx)
    state = state.to(Stage.IDLE, method="")
    if event.reason not in PAYMENT_REJECTIONS or not state.order_code:
        cleared = replace(state, order_code="")
        return menu_step(cleared, ctx, v.t("This order can no longer be paid."))
    problem = v.t(PAYMENT_REJECTIONS[event.reason]) + " " + v.t("Please choose another.")
    return show_methods(state, ctx, state.order_code, problem)


def show_methods(state: State, ctx: Ctx, code: str, problem: str = "") -> Step:
    v = voice(state, ctx)
    question = v.t("How would you like to pay for order {code}?").format(code=code)
    choices = (*method_choices(v), v.choice(tap(Verb.ORDER, code), v.t("Order details")))
    body = join_lines(problem, question)
    return say(state.to(Stage.METHODS, order_code=code), Reply(body, choices))


# ---- status ------------------------------------------------------------------------------------


def check(state: State, ctx: Ctx, arg: str) -> Step:
    if not (arg.isascii() and arg.isdigit()):  # "1²" is digits to isdigit, not to int
        return menu_step(state, ctx)
    return Step(state, (), (CheckStatus(int(arg)),))


def claim_paid(state: State, ctx: Ctx) -> Step:
    """ "Sudah bayar": look now rather than making them wait for the poller."""
    if state.payment_id:
        return Step(state, (), (CheckStatus(state.payment_id),))
    return Step(state, (), (LoadOrders(),))


STATUS_TEXT: Final = {
    "paid": N_("Order {code}: payment received ✓"),
    "pending": N_(
        "We have not received the payment for order {code} yet. It can take a few "
        "minutes; we will message you as soon as it arrives."
    ),
    "processing": N_("The payment for order {code} is being checked. We will message you soon."),
    "expired": N_("The payment for order {code} expired."),
    "failed": N_("The payment for order {code} did not go through."),
    "cancelled": N_("This payment for order {code} was cancelled."),
    "refunded": N_("The payment for order {code} was refunded."),
}


def checked(state: State, ctx: Ctx, event: StatusChecked) -> Step:
    p = event.payment
    if p.status not in LIVE and p.id == state.payment_id:
        state = replace(state, payment_id=0)
    if event.quiet:
        return Step(state)
    v = voice(state, ctx)
    text = v.t(STATUS_TEXT.get(p.status, "{code}")).format(code=p.order_code)
    if p.status in LIVE:
        choices = action_choices(v, p)
    elif p.status in ("expired", "failed"):
        choices = (
            v.choice(tap(Verb.PAY_AGAIN, p.order_code), v.t("Pay again")),
            v.choice(tap(Verb.MENU, "menu"), v.t("Menu")),
        )
    else:
        choices = (
            v.choice(tap(Verb.MENU, "orders"), v.t("My orders")),
            v.choice(tap(Verb.MENU, "menu"), v.t("Menu")),
        )
    return say(state, Reply(text, choices))


# ---- my orders ---------------------------------------------------------------------------------


def my_orders(state: State, ctx: Ctx) -> Step:
    check_first = (CheckStatus(state.payment_id, quiet=True),) if state.payment_id else ()
    return Step(state.to(Stage.IDLE), (), (*check_first, LoadOrders()))


def orders_loaded(state: State, ctx: Ctx, event: OrdersLoaded) -> Step:
    v = voice(state, ctx)
    if not event.orders:
        return say(
            state,
            Reply(
                v.t("You have no orders yet."),
                (v.choice(tap(Verb.MENU, "catalog"), v.t("Catalog")),),
            ),
        )
    lines = [_order_line(v, o) for o in event.orders]
    again = v.t("Order again {code}")
    choices = [
        v.choice(tap(Verb.REORDER, o.code), again.format(code=o.code))
        for o in [o for o in event.orders if o.status != "pending_payment"][:REORDER_OFFERS]
    ]
    choices += [
        v.choice(tap(Verb.ORDER, o.code), f"{o.code} {v.money(o.total)}", v.order_status(o.status))
        for o in event.orders[:9]
    ]
    body = "\n".join([bold(v.t("My orders")), *lines])
    return say(state, Reply(body, (*choices, v.choice(tap(Verb.MENU, "menu"), v.t("Menu")))))


def _order_line(v: Voice, o: OrderView) -> str:
    return f"{o.code} · {v.when(o.created_at)} · {v.money(o.total)} · {v.order_status(o.status)}"


def details(state: State, ctx: Ctx, code: str) -> Step:
    return Step(state, (), (LoadOrder(code),))


def repay(state: State, ctx: Ctx, code: str) -> Step:
    return Step(state, (), (LoadOrder(code, "pay"),))


def order_loaded(state: State, ctx: Ctx, event: OrderLoaded) -> Step:
    order = event.order
    if event.purpose == "pay" and order.status == "pending_payment":
        return show_methods(state, ctx, order.code)
    if event.purpose == "again" and order.status != "pending_payment":
        return reorder.loaded(state, ctx, order)
    v = voice(state, ctx)
    lines = [f"{li.quantity}× {v.name(li.names)}  {v.money(li.line_total)}" for li in order.items]
    shipping = v.t("Shipping: {amount}").format(amount=v.money(order.shipping))
    total = v.t("Total: {amount}").format(amount=v.money(order.total))
    status = v.t("Status: {status}").format(status=v.order_status(order.status))
    head = bold(v.t("Order {code}").format(code=order.code))
    body = join_lines(head, *lines, shipping, total, status)
    return say(state, Reply(body, _detail_choices(v, order)))


def _detail_choices(v: Voice, order: OrderView) -> tuple[Choice, ...]:
    if order.status != "pending_payment":
        return (
            v.choice(tap(Verb.REORDER, order.code), v.t("Order again")),
            v.choice(tap(Verb.MENU, "orders"), v.t("My orders")),
            v.choice(tap(Verb.MENU, "menu"), v.t("Menu")),
        )
    p = order.payment
    if p is not None and p.status in LIVE:
        return action_choices(v, p)
    return (
        v.choice(tap(Verb.PAY_AGAIN, order.code), v.t("Pay")),
        v.choice(tap(Verb.CANCEL, order.code), v.t("Cancel order")),
        v.choice(tap(Verb.MENU, "orders"), v.t("My orders")),
    )


# ---- cancelling --------------------------------------------------------------------------------


def ask_cancel(state: State, ctx: Ctx, code: str) -> Step:
    v = voice(state, ctx)
    question = v.t("Cancel order {code}? This cannot be undone.").format(code=code)
    choices = (
        v.choice(tap(Verb.CANCEL_YES, code), v.t("Yes, cancel it")),
        v.choice(tap(Verb.ORDER, code), v.t("No, keep it")),
    )
    return say(state, Reply(question, choices))


def cancel(state: State, ctx: Ctx, code: str) -> Step:
    return Step(state, (), (CancelOrder(code),))


def cancelled(state: State, ctx: Ctx, event: OrderCancelled) -> Step:
    """The menu only: the order's own "cancelled" message comes once, through the outbox."""
    if event.code == state.order_code:
        state = state.to(Stage.IDLE, order_code="", payment_id=0)
    return menu_step(state, ctx)


def cancel_rejected(state: State, ctx: Ctx, event: CancelRejected) -> Step:
    v = voice(state, ctx)
    text = v.t("Order {code} is {status}, so it cannot be cancelled here.")
    return menu_step(state, ctx, text.format(code=event.code, status=v.order_status(event.status)))


def keep_order_on_cancel(state: State, ctx: Ctx) -> Step:
    """/cancel while paying: back to the menu; the order stays payable from My orders."""
    v = voice(state, ctx)
    text = v.t("OK. Order {code} is still waiting for payment; you find it under My orders.")
    return menu_step(state.to(Stage.IDLE), ctx, text.format(code=state.order_code))
