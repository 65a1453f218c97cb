"""What the API's writes do, through the same use cases as the chat: place, pay, cancel, ship.

OrderError codes become HTTP answers here: an unknown order 404, a state that does not allow
the action 409, a request the shop cannot serve 422 naming the field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.errors import ApiError, Problem
from bot.api.input import NewCustomer, NewOrder
from bot.methods import fits
from payments.base import (
    GatewayRejected,
    MethodId,
    PaymentStatus,
)
from payments.orders import OrderError, cancel_order, place_order, ship_order
from payments.ports import PaymentRow
from payments.refunds import Opened, ask_and_settle, open_refund
from storage.models import Customer, utcnow
from storage.repo import SqlStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
S = PaymentStatus
NOT_FOUND: Final = frozenset({"unknown_order"})
UNPROCESSABLE: Final = {
    "empty_cart": "items",
    "method_unavailable": "method",
    "refund_too_large": "amount",
}


def order_error(exc: OrderError, items: Sequence[str] = ()) -> ApiError:
    """`items`: the request's SKUs, to name the line a problem is about."""
    if exc.code in NOT_FOUND:
        return ApiError(404, exc.code, exc.message)
    field = UNPROCESSABLE.get(exc.code)
    if exc.sku is not None and exc.sku in items:
        part = "quantity" if exc.code in ("bad_quantity", "out_of_stock") else "sku"
        field = f"items[{list(items).index(exc.sku)}].{part}"
    status = 409 if exc.code not in ("unknown_product", "bad_quantity", *UNPROCESSABLE) else 422
    fields = [Problem(field, exc.message)] if field else []
    return ApiError(status, exc.code, exc.message, fields)


async def place(store: SqlStore, runtime: Runtime, new: NewOrder) -> str:
    """Find or make the customer, then place the order, in the caller's transaction
    (bot/api/routes.py commits the order with its Idempotency-Key and answer). A refused
    order raises ApiError having written nothing: it rolls back to before this call."""
    try:
        async with store.session.begin_nested():
            customer_id = await _customer(store.session, new.customer, runtime)
            order = await place_order(
                store,
                runtime.shop,
                customer_id=customer_id,
                cart=list(new.items),
                delivery=new.delivery,
                now=runtime.clock(),
            )
    except OrderError as exc:
        raise order_error(exc, [line.sku for line in new.items]) from None
    log.info("order=%s placed through the API", order.code)
    return order.code


async def _customer(session: AsyncSession, new: NewCustomer, runtime: Runtime) -> int:
    """A Telegram or WhatsApp customer keeps their chat, so the confirmation reaches it."""
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    language = new.language or runtime.config.shop.languages[0]
    await session.execute(
        module.insert(Customer)
        .values(
            channel=new.channel,
            channel_user_id=new.address,
            language=language,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["channel", "channel_user_id"])
    )
    where = (Customer.channel == new.channel) & (Customer.channel_user_id == new.address)
    values = {"name": new.name, "phone": new.phone, "email": new.email}
    if new.language is not None:
        values["language"] = new.language
    await session.execute(update(Customer).where(where).values(**values))
    customer_id = await session.scalar(select(Customer.id).where(where))
    assert customer_id is not None
    return customer_id


async def start_payment(runtime: Runtime, code: str, method: MethodId) -> PaymentRow:
    if not fits(method, runtime.config.shop.currency):
        raise order_error(
            OrderError("method_unavailable", f"{method} does not take {runtime.shop.currency}.")
        )
    try:
        return await runtime.start_payment(code, method)
    except OrderError as exc:
        raise order_error(exc) from None
    except GatewayRejected as exc:
        log.warning("order=%s payment with %s rejected by the gateway: %s", code, method, exc)
        message = "The gateway refused this payment; try another method."
        raise ApiError(422, "payment_rejected", message, [Problem("method", message)]) from None


async def cancel(runtime: Runtime, code: str, reason: str) -> None:
    """Cancel the order and its live attempts, here and (best effort) at their gateways."""
    try:
        async with runtime.uow() as store:
            reason = reason or "api"
            cancelled = await cancel_order(store, code, now=runtime.clock(), reason=reason)
    except OrderError as exc:
        raise order_error(exc) from None
    await runtime.cancel_at_gateways(cancelled.attempts)


async def open_refund_in(
    store: SqlStore, runtime: Runtime, code: str, amount: int | None, reason: str
) -> Opened:
    """Record the refund as requested in the request's own transaction (payments/refunds.py),
    so that its Idempotency-Key and the refund are kept together or not at all."""
    try:
        opened = await open_refund(store, code, amount, now=runtime.clock(), reason=reason)
    except OrderError as exc:
        raise order_error(exc) from None
    log.info("order=%s refund %s asked through the API", code, opened.ask.reference)
    return opened


async def finish_refund(runtime: Runtime, opened: Opened) -> None:
    """Once committed: ask the gateway and settle; unanswered, the sweep asks again."""
    await ask_and_settle(runtime.uow, runtime.gateways, opened, runtime.clock())


async def ship(runtime: Runtime, code: str, tracking: str | None) -> None:
    try:
        async with runtime.uow() as store:
            await ship_order(store, code, now=runtime.clock(), tracking=tracking)
    except OrderError as exc:
        raise order_error(exc) from None
