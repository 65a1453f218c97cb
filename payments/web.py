"""aiohttp route for gateway callbacks: read, verify, store, apply, answer fast.

401 for a bad signature, 404 for an unknown gateway, 400 for a body we cannot read, 413 for
one over 64 KiB, 503 when our side fails for a moment (so the gateway retries), 200 otherwise:
also for a verified callback about a payment we do not know, which a retry would not fix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Gateway,
    GatewayUnavailable,
    MethodId,
    PaymentRef,
    PaymentResult,
)
from payments.batcher import ApplyBatcher, PaymentFinder
from payments.ports import NamedPayment, PaymentName
from payments.service import Applied, BatchItem, Outcome, UnitOfWork

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
    on_result: Callable[[str, str], None] = lambda gateway, outcome: None  # metrics hook


CALLBACKS = web.AppKey("callbacks", Callbacks)


def add_routes(app: web.Application, callbacks: Callbacks) -> None:
    app[CALLBACKS] = callbacks
    app.router.add_post("/callbacks/{gateway}", handle_callback)


async def handle_callback(request: web.Request) -> web.Response:
    ctx = request.app[CALLBACKS]
    name = request.match_info["gateway"]
    gateway = ctx.gateways.get(name)
    if gateway is None:
        return _answer(ctx, name, "unknown_gateway", 404)
    body = await _read_limited(request)
    if body is None:
        log.warning("gateway=%s callback refused: body over %d bytes", name, MAX_BODY)
        return _answer(ctx, name, "too_large", 413)
    try:
        return await _handle(ctx, gateway, request, body)
    except (DBAPIError, OSError, TimeoutError, GatewayUnavailable) as exc:
        log.warning("gateway=%s callback deferred (503): %s", name, type(exc).__name__)
        return _answer(ctx, name, "retry_later", 503)


async def _read_limited(request: web.Request) -> bytes | None:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = await request.content.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


async def _handle(
    ctx: Callbacks, gateway: Gateway, request: web.Request, body: bytes
) -> web.Response:
    text = body.decode("utf-8", errors="replace")
    key = f"cb:{gateway.name}:{hashlib.sha256(body).hexdigest()[:40]}"
    try:
        result = gateway.parse_callback(request.headers, body)
    except (CallbackRejected, CallbackUnreadable) as exc:
        return await _refuse(ctx, gateway.name, exc, text)
    if gateway.confirm_paid_by_query:
        payment = await _find(ctx.finder, gateway.name, result)
        if payment is not None:
            result = await _confirmed(gateway, payment, result)
    item = BatchItem(gateway.name, result, body=text, dedupe_key=key)
    applied = await ctx.batcher.apply(item)
    return _answer(ctx, gateway.name, str(applied.outcome), 200)


async def _refuse(
    ctx: Callbacks, gateway: str, exc: CallbackRejected | CallbackUnreadable, body: str
) -> web.Response:
    """Kept for the audit trail, never applied: 401 for a forgery, 400 for nonsense."""
    rejected = isinstance(exc, CallbackRejected)
    outcome = "rejected" if rejected else "unreadable"
    log.warning("gateway=%s callback %s: %s", gateway, outcome, exc.detail)
    async with ctx.uow() as store:
        await store.payments.add_event(
            payment_id=None,
            gateway=gateway,
            source="callback",
            reference=None,
            raw_status=None,
            status=None,
            outcome=outcome,
            verified=False,
            body=body,
            dedupe_key=None,
            created_at=ctx.clock(),
        )
    return _answer(ctx, gateway, outcome, 401 if rejected else 400)


async def _find(finder: PaymentFinder, gateway: str, result: PaymentResult) -> NamedPayment | None:
    name = PaymentName(gateway, result.reference or None, result.external_id or None)
    payment = await finder.find(name)
    if payment is not None and payment.gateway != gateway:
        return None
    return payment


async def _confirmed(
    gateway: Gateway, payment: NamedPayment, claimed: PaymentResult
) -> PaymentResult:
    """The callback's word is not enough for this gateway: act on its status endpoint's."""
    ref = PaymentRef(
        payment.reference,
        payment.external_id or claimed.external_id,
        MethodId.parse(payment.method),
    )
    confirmed = await gateway.fetch_status(ref)
    confirmed = replace(confirmed, reference=payment.reference)
    if confirmed.status is not claimed.status:
        log.warning(
            "gateway=%s payment=%s callback said %s, status query says %s",
            gateway.name,
            payment.reference,
            claimed.status,
            confirmed.status,
        )
    return confirmed


def _answer(ctx: Callbacks, gateway: str, outcome: str, status: int) -> web.Response:
    ctx.on_result(gateway, outcome)
    return web.Response(
        body=_answer_body(outcome), status=status, content_type="application/json", charset="utf-8"
    )


@functools.cache
def _answer_body(outcome: str) -> bytes:
    """A handful of outcomes, each encoded once rather than per callback."""
    return json.dumps({"status": outcome}).encode()


__all__ = ["CALLBACKS", "Applied", "Callbacks", "Outcome", "add_routes", "handle_callback"]
