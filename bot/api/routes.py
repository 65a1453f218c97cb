"""The HTTP API for merchants and integrations (DESIGN section 4): JSON under /api/.

Handlers are thin: read and check the request (bot/api/input.py), act through the same use
cases as the chat (bot/api/actions.py), answer with the shared views (bot/api/views.py).
bot/api/guard.py stands in front of all of them (token, rate limit, error shape); the
OpenAPI document is bot/api/document.py over the shapes in bot/api/schema.py.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api import actions, idempotency, views
from bot.api import input as read
from bot.api.document import openapi_document
from bot.api.errors import ApiError
from bot.api.guard import API, ApiState, TokenBuckets, guard, read_body
from bot.api.schema import MAX_ID, ORDER_CODE
from bot.merchant import events
from payments.refunds import Opened
from storage.db import Sessions
from storage.repo import SqlStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

Json = dict[str, Any]
Work = Callable[[Any], Awaitable[web.Response]]
StoreWork = Callable[[SqlStore, Any], Awaitable[web.Response]]


def add_routes(app: web.Application, runtime: Runtime) -> None:
    settings = runtime.config.api
    limits = TokenBuckets(burst=settings.burst, per_second=settings.rate_per_second)
    app[API] = ApiState(runtime, settings.token, limits)
    app.middlewares.append(guard)
    for method, path, handler in [
        ("GET", "/api/openapi.json", openapi),
        ("GET", "/api/products", list_products),
        ("GET", "/api/orders", list_orders),
        ("POST", "/api/orders", create_order),
        ("GET", "/api/orders/{code}", get_order),
        ("POST", "/api/orders/{code}/payments", create_payment),
        ("POST", "/api/orders/{code}/cancel", cancel_order),
        ("POST", "/api/orders/{code}/ship", ship_order),
        ("POST", "/api/orders/{code}/refund", refund_order),
        ("GET", "/api/payments/{id}", get_payment),
        ("POST", "/api/payments/{id}/check-status", check_payment),
        ("GET", "/api/events", list_events),
        ("POST", "/api/events/{id}/replay", replay_event),
    ]:
        app.router.add_route(method, path, handler)


def _runtime(request: web.Request) -> Runtime:
    return request.app[API].runtime


def _reader(runtime: Runtime) -> Sessions:
    assert runtime.read_sessions is not None, "database not started"
    return runtime.read_sessions


def _ok(body: Json, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _code(request: web.Request) -> str:
    code = request.match_info["code"]
    if not re.fullmatch(ORDER_CODE.strip("^$"), code):
        raise ApiError(404, "unknown_order", f"There is no order {code[:20]}.")
    return code.upper()


def _payment_id(request: web.Request, what: str = "payment") -> int:
    text = request.match_info["id"]
    if not re.fullmatch(r"[0-9]{1,10}", text) or not 1 <= int(text) <= MAX_ID:
        raise ApiError(404, f"unknown_{what}", f"There is no {what} {text[:20]}.")
    return int(text)


async def openapi(request: web.Request) -> web.Response:
    return _ok(openapi_document(_runtime(request).config.shop.name))


async def list_products(request: web.Request) -> web.Response:
    runtime = _runtime(request)
    async with _reader(runtime)() as session:
        products = await views.products(session, runtime.config.shop.currency)
    return _ok({"products": products})


async def list_orders(request: web.Request) -> web.Response:
    page = read.page(request.query)
    async with _reader(_runtime(request))() as session:
        orders, last = await views.orders_page(
            session, status=page.status, limit=page.limit, before=page.before
        )
    cursor = read.encode_cursor(last) if last is not None else None
    return _ok({"orders": orders, "next_cursor": cursor})


async def _order(runtime: Runtime, code: str) -> Json:
    async with _reader(runtime)() as session:
        order = await views.order_detail(session, code)
    if order is None:
        raise ApiError(404, "unknown_order", f"There is no order {code}.")
    return order


async def get_order(request: web.Request) -> web.Response:
    return _ok(await _order(_runtime(request), _code(request)))


async def create_order(request: web.Request) -> web.Response:
    runtime = _runtime(request)

    async def work(store: SqlStore, data: Any) -> web.Response:
        code = await actions.place(store, runtime, read.new_order(data, runtime.config.shop))
        order = await views.order_detail(store.session, code)
        assert order is not None
        return _ok(order, 201)

    return await _atomic(request, work)


async def create_payment(request: web.Request) -> web.Response:
    runtime, code = _runtime(request), _code(request)

    async def work(data: Any) -> web.Response:
        payment = await actions.start_payment(runtime, code, read.new_payment(data))
        return _ok(await _payment(runtime, payment.id), 201 if payment.instructions else 202)

    return await _idempotent(request, work)


async def _payment(runtime: Runtime, payment_id: int) -> Json:
    async with _reader(runtime)() as session:
        payment = await views.payment_detail(session, payment_id)
    if payment is None:
        raise ApiError(404, "unknown_payment", f"There is no payment {payment_id}.")
    return payment


async def get_payment(request: web.Request) -> web.Response:
    return _ok(await _payment(_runtime(request), _payment_id(request)))


async def check_payment(request: web.Request) -> web.Response:
    """Through the reconciler's check-now, so that PAID tells the customer as usual."""
    runtime, payment_id = _runtime(request), _payment_id(request)
    try:
        assert runtime.check_status is not None, "the scheduler's context has not started"
        check = await runtime.check_status(payment_id)
    except LookupError:
        raise ApiError(404, "unknown_payment", f"There is no payment {payment_id}.") from None
    return _ok(
        {
            "payment": await _payment(runtime, payment_id),
            "asked": check.asked,
            "changed": check.changed,
            "error": check.error,
            "retry_in": check.retry_in,
        }
    )


async def list_events(request: web.Request) -> web.Response:
    page = read.event_page(request.query, events.OUTCOMES)
    async with _reader(_runtime(request))() as session:
        found, last = await events.events_page(
            session,
            gateway=page.gateway,
            outcome=page.outcome,
            since=page.since,
            limit=page.limit,
            before=page.before,
        )
    cursor = read.encode_cursor(last, "e") if last is not None else None
    return _ok({"events": found, "next_cursor": cursor})


async def replay_event(request: web.Request) -> web.Response:
    runtime, event_id = _runtime(request), _payment_id(request, "event")
    try:
        replayed = await events.replay(runtime, event_id)
    except LookupError:
        raise ApiError(404, "unknown_event", f"There is no event {event_id}.") from None
    except events.Unverified:
        message = f"Event {event_id} was never verified: it is kept, never applied."
        raise ApiError(409, "unverified_event", message) from None
    return _ok(replayed.to_json())


async def cancel_order(request: web.Request) -> web.Response:
    runtime, code = _runtime(request), _code(request)
    reason = read.cancel_reason(read.parse_json(await read_body(request)))
    await actions.cancel(runtime, code, reason)
    return _ok(await _order(runtime, code))


async def ship_order(request: web.Request) -> web.Response:
    runtime, code = _runtime(request), _code(request)
    tracking = read.tracking(read.parse_json(await read_body(request)))
    await actions.ship(runtime, code, tracking)
    return _ok(await _order(runtime, code))


async def refund_order(request: web.Request) -> web.Response:
    """The refund is written with its Idempotency-Key in one transaction (a retry after a
    crash finds it, never a second refund), then its gateway is asked; a replay answers with
    the refund as first accepted."""
    runtime, code = _runtime(request), _code(request)
    opened: list[Opened] = []

    async def work(store: SqlStore, data: Any) -> web.Response:
        amount, reason = read.new_refund(data)
        opened.append(await actions.open_refund_in(store, runtime, code, amount, reason))
        return _ok(await _refund(store.session, opened[0].refund_id), 202)

    response = await _atomic(request, work, keep_accepted=True)
    if not opened or response.status != 202:
        return response  # refused, or a replay
    await actions.finish_refund(runtime, opened[0])
    async with _reader(runtime)() as session:
        return _ok(await _refund(session, opened[0].refund_id), 202)


async def _refund(session: AsyncSession, refund_id: int) -> Json:
    refund = await views.refund_detail(session, refund_id)
    assert refund is not None
    return refund


async def _atomic(
    request: web.Request, work: StoreWork, *, keep_accepted: bool = False
) -> web.Response:
    """Run `work` once per Idempotency-Key, the key's claim, the work and its answer in one
    transaction: killed in the middle, nothing is kept and the retry does the work. An error
    answer (4xx) is kept without the work's writes; a 5xx keeps nothing."""
    body = await read_body(request)
    runtime = _runtime(request)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        async with runtime.uow() as store:
            return await _answer_in(store, work, body)
    key = read.idempotency_key(key)
    digest = idempotency.request_hash(request.method, request.path, body)
    async with runtime.uow() as store:
        stored = await idempotency.claim_in(store.session, key, digest, runtime.clock())
        if stored is not None:
            return _replay(stored)
        response = await _answer_in(store, work, body)
        if idempotency.repeatable(response.status) or (keep_accepted and response.status == 202):
            answer = idempotency.Answer(response.status, response.text or "null")
            await idempotency.remember_in(store.session, key, answer)
        else:
            await idempotency.forget_in(store.session, key)
    return response


async def _answer_in(store: SqlStore, work: StoreWork, body: bytes) -> web.Response:
    try:
        return await work(store, read.parse_json(body))
    except ApiError as exc:
        return exc.response()


def _replay(stored: idempotency.Answer) -> web.Response:
    return web.json_response(
        text=stored.body, status=stored.status, headers={"Idempotent-Replayed": "true"}
    )


async def _idempotent(request: web.Request, work: Work) -> web.Response:
    """Run `work` on the body once per Idempotency-Key; a repeat gets the stored answer."""
    body = await read_body(request)
    if "Idempotency-Key" not in request.headers:
        return await work(read.parse_json(body))
    key = read.idempotency_key(request.headers["Idempotency-Key"])
    runtime = _runtime(request)
    assert runtime.sessions is not None, "database not started"
    digest = idempotency.request_hash(request.method, request.path, body)
    stored = await idempotency.claim(runtime.sessions, key, digest, runtime.clock())
    if stored is not None:
        return _replay(stored)
    try:
        response = await _answer(work, body)
    except Exception:
        await idempotency.forget(runtime.sessions, key)
        raise
    if not idempotency.repeatable(response.status):
        await idempotency.forget(runtime.sessions, key)
    else:
        answer = idempotency.Answer(response.status, response.text or "null")
        await idempotency.remember(runtime.sessions, key, answer)
    return response


async def _answer(work: Work, body: bytes) -> web.Response:
    try:
        return await work(read.parse_json(body))
    except ApiError as exc:
        return exc.response()
