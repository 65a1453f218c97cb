"""`/refund CODE [amount]` from the merchant chat: ask first, refund on the confirm button.

The question names the amount, the gateway and whether it refunds by API or by hand, so the
tap that follows cannot surprise anyone; the refund itself is payments/refunds.py, the same
use case as the API's POST /api/orders/{code}/refund.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Final, Protocol

from bot import methods
from bot.conversation.buttons import Verb, tap
from bot.conversation.replies import Choice, Reply
from payments.base import PaymentStatus, RefundStatus, refunder
from payments.refunds import refund_order
from storage.models import Payment, Refund

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
# "25000", "25.000", "Rp 25.000": the shop's currencies take whole units (DESIGN section 3).
_AMOUNT: Final = re.compile(r"(?:rp|tsh|ksh)?\s*([0-9][0-9., ]{0,20})", re.IGNORECASE)
MAX_CODE: Final = 16


class DeskLike(Protocol):
    """What bot/merchant/desk.py's Desk offers; a Protocol so that this module needs no
    import of the desk (which lists these commands)."""

    @property
    def runtime(self) -> Runtime: ...

    def t(self, message: str) -> str: ...

    def money(self, amount: int, currency: str | None = None) -> str: ...


def parse(args: str) -> tuple[str, int | None] | None:
    """`CODE [amount]` as (code, amount or None for all that is left); None when unreadable."""
    code, _, rest = args.strip().partition(" ")
    if not (0 < len(code) <= MAX_CODE and code.isascii() and code.isalnum()):
        return None
    if not rest.strip():
        return code.upper(), None
    match = _AMOUNT.fullmatch(rest.strip())
    digits = re.sub(r"[., ]", "", match.group(1)) if match else ""
    return (code.upper(), int(digits)) if digits.isdigit() and int(digits) > 0 else None


async def ask(desk: DeskLike, args: str) -> list[Reply]:
    parsed = parse(args)
    if parsed is None:
        return [Reply(desk.t("Which order and how much? For example: /refund A7K2Q9 25000"))]
    code, amount = parsed
    paid, left = await _refundable(desk.runtime, code)
    if paid is None or left <= 0:
        text = desk.t("Order {code} has nothing left to refund.") if paid else None
        none = desk.t("Order {code} has no paid payment to refund.")
        return [Reply((text or none).format(code=code))]
    wanted = left if amount is None else amount
    if wanted > left:
        text = desk.t("At most {amount} of order {code} can be refunded.")
        return [Reply(text.format(amount=desk.money(left, paid.currency), code=code))]
    gateway = desk.runtime.gateways.get(paid.gateway)
    text = desk.t("Refund {amount} of order {code} through {gateway}?").format(
        amount=desk.money(wanted, paid.currency),
        code=code,
        gateway=methods.gateway_name(paid.method),
    )
    if gateway is None or refunder(gateway) is None:
        text += "\n" + desk.t(
            "This gateway has no refund API here: pay the customer back yourself, "
            "then confirm to record it."
        )
    yes = Choice(tap(Verb.MERCHANT_REFUND_YES, f"{code} {wanted}"), desk.t("Yes, refund"))
    return [Reply(text, (yes, Choice(tap(Verb.MERCHANT_ORDER, code), desk.t("No"))))]


async def _refundable(runtime: Runtime, code: str) -> tuple[Payment | None, int]:
    """The order's paid payment and what is left of it to refund (0 with none)."""
    async with runtime.read_uow() as store:
        order = await store.orders.lock_by_code(code)
        payments = await store.payments.of_order(order.id) if order else []
        paid = [p for p in payments if p.status in (PaymentStatus.PAID, PaymentStatus.REFUNDED)]
        if not paid:
            return None, 0
        refunds: list[Refund] = await store.refunds.of_payment(paid[-1].id)
    taken = sum(r.amount for r in refunds if r.status != RefundStatus.FAILED)
    left = 0 if paid[-1].status == PaymentStatus.REFUNDED else paid[-1].amount - taken
    return paid[-1], left


async def confirm(desk: DeskLike, args: str) -> list[Reply]:
    parsed = parse(args)
    if parsed is None or parsed[1] is None:
        return await ask(desk, args)
    code, amount = parsed
    runtime = desk.runtime
    refund_id = await refund_order(
        runtime.uow, runtime.gateways, code, amount, now=runtime.clock(), reason="merchant chat"
    )
    async with runtime.read_uow() as store:
        refund = await store.refunds.lock(refund_id)
    assert refund is not None
    log.info("order=%s refund=%s %s by the merchant", code, refund.reference, refund.status)
    money = desk.money(refund.amount, refund.currency)
    return [Reply(_outcome(desk, refund).format(amount=money, code=code, reason=refund.reason))]


def _outcome(desk: DeskLike, refund: Refund) -> str:
    if refund.status == RefundStatus.DONE and refund.by_hand:
        return desk.t("Recorded: {amount} of order {code} refunded by hand. The customer is told.")
    if refund.status == RefundStatus.DONE:
        return desk.t("Refunded {amount} of order {code}. The customer is told.")
    if refund.status == RefundStatus.FAILED:
        return desk.t(
            "The gateway refused to refund {amount} of order {code}: {reason}. "
            "Refund it from the gateway's dashboard."
        )
    return desk.t(
        "Refund of {amount} for order {code} asked; the gateway has not answered yet. "
        "It is asked again, and the customer is told once it is done."
    )
