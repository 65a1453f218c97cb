"""aiohttp route for gateway callbacks: read, verify, store, apply, answer fast.

401 for a bad signature, 404 for an unknown gateway, 400 for a body we cannot read, 413 for
one over 64 KiB, 503 when our side fails for a moment (so the gateway retries), 200 otherwise:
also for a verified callback about a payment we do not know, which a retry would not fix.
400 too when the status query that must confirm a callback is refused (it names a transaction
the gateway does not know). What is refused is kept by payments/callbacks/refused.py, off
this path. /callbacks/{gateway}/{token} is for a gateway that signs nothing and so gives each
payment its own URL (payments/gateways/spec.py): a token it refuses is an unknown URL, 404.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from aiohttp import web

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Gateway,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    PaymentRef,
    PaymentResult,
)
from payments.batcher import ApplyBatcher, PaymentFinder
from payments.callbacks.refused import RefusedCallbacks
from payments.ports import NamedPayment, PaymentName
from payments.service import Applied, BatchItem, Outcome, UnitOfWork
from payments.status_query import CALLBACK, Observe, query_status

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Callbacks:
    """What the callback route needs; bot/app.py builds it."""

    uow: UnitOfWork
    finder: PaymentFinder  # on the readers, which never block on the writer (SQLite WAL)
    batcher: ApplyBatcher
    gateways: Mapping[str, Gateway]
    clock: Callable[[], datetime]
    refused: RefusedCallbacks  # forgeries and junk: kept at a bounded cost, off this path
    on_result: Callable[[str, str], None] = lambda gateway, outcome: None  # metrics hook
    observe: Observe | None = None  # status queries confirming a callback: the same metrics
    # The database's errors worth a retry (storage/db.py TRANSIENT): a 503, so the gateway
    # sends again. Given, not imported: this package knows no SQLAlchemy.
    transient: tuple[type[Exception], ...] = (OSError, TimeoutError)

    @property
    def retry_later(self) -> tuple[type[Exception], ...]:
        return (GatewayUnavailable, *self.transient)


CALLBACKS = web.AppKey("callbacks", Callbacks)


def add_routes(app: web.Application, callbacks: Callbacks) -> None:
    app[CALLBACKS] = callbacks
    app.router.add_post("/callbacks/{gateway}", handle_callback)
    app.router.add_post("/callbacks/{gateway}/{token}", handle_callback)


async def handle_callback(request: web.Request) -> web.Response:
    ctx = request.app[CALLBACKS]
    name = request.match_info["gateway"]
    gateway = ctx.gateways.get(name)
    tokened = "token" in request.match_info
    if gateway is None or (tokened and not hasattr(gateway, "parse_tokened_callback")):
        return _answer(ctx, name, "unknown_gateway", 404)
    body = await _read_limited(request)
    if body is None:
        log.warning("gateway=%s callback refused: body over %d bytes", name, MAX_BODY)
        return _answer(ctx, name, "too_large", 413)
    try:
        return await _handle(ctx, gateway, request, body)
    except ctx.retry_later as exc:
        log.warning("gateway=%s callback deferred (503): %s", name, type(exc).__name__)
        return _answer(ctx, name, "retry_later", 503)


async def _read_limited(request: web.Request) -> bytes | None:
    """The whole body, however many segments it came in; None when it passes MAX_BODY.

    The app has read it already, under its read timeout (bot/server.py)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = await request.read()
    return body if len(body) <= MAX_BODY else None


async def _handle(
    ctx: Callbacks, gateway: Gateway, request: web.Request, body: bytes
) -> web.Response:
    token = request.match_info.get("token")
    try:
        claimed = _parse(gateway, token, request.headers, body)
    except (CallbackRejected, CallbackUnreadable) as exc:
        rejected = isinstance(exc, CallbackRejected)
        outcome = "rejected" if rejected else "unreadable"
        ctx.refused.record(gateway.name, outcome, body, exc.detail)
        if pause := ctx.refused.pause():
            await asyncio.sleep(pause)
        if rejected and token is not None:
            return _answer(ctx, gateway.name, "unknown_token", 404)
        return _answer(ctx, gateway.name, outcome, 401 if rejected else 400)
    key = f"cb:{gateway.name}:{hashlib.sha256(body).hexdigest()[:40]}"
    text = body.decode("utf-8", errors="replace")
    item = BatchItem(gateway.name, claimed, text, key, verified=claimed.verified)
    if gateway.confirm_paid_by_query:
        payment = await _find(ctx.finder, gateway.name, claimed)
        if payment is None and not claimed.verified:  # a stranger's, most likely: no write
            ctx.refused.record(gateway.name, "unmatched", body, "unsigned, for no payment")
            return _answer(ctx, gateway.name, "unmatched", 200)
        if payment is not None:
            try:
                item = await _confirmed(gateway, payment, item, ctx.observe)
            except GatewayRejected as exc:
                ctx.refused.record(gateway.name, "unconfirmed", body, exc.detail)
                return _answer(ctx, gateway.name, "unconfirmed", 400)
    applied = await ctx.batcher.apply(item)
    return _answer(ctx, gateway.name, str(applied.outcome), 200)


def _parse(
    gateway: Gateway, token: str | None, headers: Mapping[str, str], body: bytes
) -> PaymentResult:
    """A callback to a tokened URL is read with its token (payments/gateways/spec.py)."""
    if token is None:
        return gateway.parse_callback(headers, body)
    return gateway.parse_tokened_callback(token, headers, body)  # type: ignore[attr-defined,no-any-return]


async def _find(finder: PaymentFinder, gateway: str, result: PaymentResult) -> NamedPayment | None:
    name = PaymentName(gateway, result.reference or None, result.external_id or None)
    payment = await finder.find(name)
    if payment is not None and payment.gateway != gateway:
        return None
    return payment


async def _confirmed(
    gateway: Gateway, payment: NamedPayment, item: BatchItem, observe: Observe | None
) -> BatchItem:
    """The callback's word is not enough for this gateway: act on its status endpoint's.

    Where we hold no id of the gateway's yet (a hosted page), the callback's is the only one
    to ask by; the answer then moves this payment only if it names this payment (rules.decide).
    """
    claimed = item.result
    ref = PaymentRef(
        payment.reference,
        payment.external_id or claimed.external_id,
        MethodId.parse(payment.method),
    )
    answer = await query_status(gateway, ref, source=CALLBACK, observe=observe)
    if answer.amount is None and answer.status is claimed.status:  # M-Pesa's query has none
        answer = replace(answer, amount=claimed.amount)
    if answer.status is not claimed.status:
        log.warning(
            "gateway=%s payment=%s callback said %s, status query says %s",
            gateway.name,
            payment.reference,
            claimed.status,
            answer.status,
        )
    return replace(item, result=answer, asked_about=payment.reference)


def _answer(ctx: Callbacks, gateway: str, outcome: str, status: int) -> web.Response:
    """The gateway's own answer where its adapter has `answer_callback`, else ours."""
    ctx.on_result(gateway, outcome)
    own = getattr(ctx.gateways.get(gateway), "answer_callback", None)
    body = own(outcome) if own is not None else _answer_body(outcome)
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


@functools.cache
def _answer_body(outcome: str) -> bytes:
    """A handful of outcomes, each encoded once rather than per callback."""
    return json.dumps({"status": outcome}).encode()


__all__ = ["CALLBACKS", "Applied", "Callbacks", "Outcome", "add_routes", "handle_callback"]
