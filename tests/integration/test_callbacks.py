"""POST /callbacks/{gateway} on the running app, with the sandbox gateway over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.runtime import utcnow
from payments.base import MethodId
from payments.batcher import ApplyBatcher, PaymentFinder
from payments.callbacks import route as callback_web
from payments.callbacks.refused import RefusedCallbacks
from storage.db import TRANSIENT, make_engine, make_sessions, transaction
from storage.models import Order, Outbox, Payment, PaymentEvent
from storage.repo import store_transaction
from tests.conftest import (
    ROOT,
    SANDBOX_SECRET,
    Running,
    add_customer,
    free_port,
    make_config,
    new_order,
    sandbox_on,
    start_app,
)

SECRET = SANDBOX_SECRET


async def pay_order(
    running: Running, method: str = "sandbox:va:bca", chat_id: str = "1001"
) -> Payment:
    runtime = running.runtime
    assert runtime.sessions is not None
    customer = await add_customer(runtime.sessions, chat_id)
    code = await new_order(runtime.uow, runtime.shop, customer)
    return await runtime.start_payment(code, MethodId.parse(method))


async def query(running: Running, statement: Any) -> list[Any]:
    assert running.runtime.sessions is not None
    async with transaction(running.runtime.sessions) as session:
        return list((await session.execute(statement)).all())


async def settle(running: Running, reference: str, outcome: str = "pay") -> None:
    await running.runtime.gateways["sandbox"].settle(reference, outcome)  # type: ignore[attr-defined]
    assert running.runtime.sandbox is not None
    await running.runtime.sandbox.flush()


def signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"Content-Type": "application/json", "X-Sandbox-Signature": signature}


@pytest.mark.parametrize("method", ["sandbox:va:bca", "sandbox:qris", "sandbox:link"])
async def test_a_sandbox_payment_goes_from_created_to_paid_by_its_callback(
    running: Running, method: str
) -> None:
    payment = await pay_order(running, method)
    assert payment.instructions and payment.instructions["kind"] == method.split(":")[1]
    await settle(running, payment.reference)
    [(status, paid_at)] = await query(running, select(Payment.status, Payment.paid_at))
    assert status == "paid" and paid_at is not None
    [(order_status,)] = await query(running, select(Order.status))
    assert order_status == "paid"
    rows = await query(running, select(Outbox.kind, Outbox.address).order_by(Outbox.kind))
    assert rows == [("order_paid", "9001"), ("payment_paid", "1001")]
    events = await query(
        running, select(PaymentEvent.source, PaymentEvent.verified, PaymentEvent.outcome)
    )
    assert events == [("callback", True, "applied")]


async def test_duplicated_callbacks_give_one_confirmation(
    aiohttp_server: Any, db_url: str
) -> None:
    running = await start_app(
        aiohttp_server, make_config(db_url, free_port(), duplicate_share=1.0)
    )
    payment = await pay_order(running)
    await settle(running, payment.reference)
    assert running.runtime.sandbox is not None
    assert len(running.runtime.sandbox.sent_callbacks) == 2
    kinds = [k for (k,) in await query(running, select(Outbox.kind))]
    assert sorted(kinds) == ["order_paid", "payment_paid"]


async def test_a_forged_callback_is_refused_stored_unverified_and_changes_nothing(
    running: Running, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    payment = await pay_order(running)
    body, headers = signed(
        {
            "reference": payment.reference,
            "id": "x",
            "status": "PAID",
            "amount": payment.amount,
            "currency": "IDR",
        },
        secret="wrong",
    )
    async with http.post(running.url("/callbacks/sandbox"), data=body, headers=headers) as resp:
        assert resp.status == 401
    [(status,)] = await query(running, select(Payment.status))
    assert status == "pending"
    assert running.runtime.refused is not None
    await running.runtime.refused.flush()
    assert await query(running, select(PaymentEvent.verified, PaymentEvent.outcome)) == [
        (False, "rejected")
    ]
    assert await query(running, select(func.count()).select_from(Outbox)) == [(0,)]
    assert headers["X-Sandbox-Signature"] not in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/callbacks/paypal", b"{}", 404),
        ("/callbacks/sandbox", b"x" * (64 * 1024 + 1), 413),
        ("/callbacks/sandbox", b"not json", 401),
    ],
)
async def test_bad_requests_get_a_clear_4xx(
    running: Running, http: aiohttp.ClientSession, path: str, body: bytes, status: int
) -> None:
    async with http.post(running.url(path), data=body) as resp:
        assert resp.status == status


async def test_an_unreadable_but_signed_body_is_a_400(
    running: Running, http: aiohttp.ClientSession
) -> None:
    raw = b"not json at all"
    headers = {"X-Sandbox-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}
    async with http.post(running.url("/callbacks/sandbox"), data=raw, headers=headers) as resp:
        assert resp.status == 400
    assert running.runtime.refused is not None
    await running.runtime.refused.flush()
    assert await query(running, select(PaymentEvent.outcome)) == [("unreadable",)]


async def test_a_verified_callback_for_an_unknown_payment_is_kept_and_answered_200(
    running: Running, http: aiohttp.ClientSession
) -> None:
    body, headers = signed(
        {
            "reference": "ZZZZZZ01",
            "id": "sbx_1",
            "status": "PAID",
            "amount": 1000,
            "currency": "IDR",
            "method": "qris",
        }
    )
    async with http.post(running.url("/callbacks/sandbox"), data=body, headers=headers) as resp:
        assert resp.status == 200
    assert await query(
        running, select(PaymentEvent.verified, PaymentEvent.outcome, PaymentEvent.reference)
    ) == [(True, "unmatched", "ZZZZZZ01")]


async def test_our_own_database_failure_is_a_503_so_the_gateway_retries(
    aiohttp_server: Any, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config("sqlite+aiosqlite:////nonexistent/dir/x.db", free_port())
    from payments.gateways.sandbox.adapter import SandboxGateway

    threads_before = set(threading.enumerate())
    engine = make_engine(config.database.url)
    sessions = make_sessions(engine)

    def uow() -> Any:
        return store_transaction(sessions)

    app = web.Application()
    gateway = SandboxGateway(http, base_url="http://127.0.0.1:9/sandbox", secret=SECRET)
    batcher = ApplyBatcher(uow, make_shop(), utcnow)
    finder = PaymentFinder(uow)
    refused = RefusedCallbacks(uow, utcnow, keep_for=timedelta(days=1))
    callback_web.add_routes(
        app,
        callback_web.Callbacks(
            uow, finder, batcher, {"sandbox": gateway}, utcnow, refused, transient=TRANSIENT
        ),
    )
    server = await aiohttp_server(app)
    body, headers = signed(
        {
            "reference": "ABCDEF01",
            "id": "sbx_1",
            "status": "PAID",
            "amount": 1000,
            "currency": "IDR",
            "method": "qris",
        }
    )
    with caplog.at_level(logging.WARNING):
        async with http.post(
            server.make_url("/callbacks/sandbox"), data=body, headers=headers
        ) as resp:
            assert resp.status == 503
    await finder.close()
    await batcher.close()
    await refused.close()
    await engine.dispose()
    await stopped(set(threading.enumerate()) - threads_before)


async def stopped(threads: set[threading.Thread]) -> None:
    """Wait for aiosqlite's threads of failed connections to stop. Each stops itself and then
    reports to this test's event loop; closed by then, the report raises in the thread, and
    pytest fails the next test with it (seen on a busy machine)."""
    for thread in threads:
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 10)


def make_shop() -> Any:
    from payments.orders import Shop

    return Shop(currency="IDR")


async def test_checkout_bot_sandbox_pay_settles_a_payment_by_hand(
    running: Running, tmp_path: Any
) -> None:
    payment = await pay_order(running)
    config = tmp_path / "config.toml"
    port = running.runtime.config.server.port
    config.write_text(
        sandbox_on((ROOT / "config.toml").read_text()).replace(
            'public_url = "http://127.0.0.1:8080"', f'public_url = "http://127.0.0.1:{port}"'
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "sandbox",
        "pay",
        payment.reference,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHECKOUT_SANDBOX_SECRET": SECRET},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert f"{payment.reference}: paid" in out.decode()
    assert running.runtime.sandbox is not None
    await running.runtime.sandbox.flush()
    [(status,)] = await query(running, select(Payment.status))
    assert status == "paid"


async def sandbox_pay(config: Path, reference: str, cwd: Path) -> tuple[int | None, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "sandbox",
        "pay",
        reference,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(cwd),
        env={**os.environ, "CHECKOUT_SANDBOX_SECRET": SECRET},
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, err.decode()


async def test_sandbox_pay_for_an_unknown_reference_says_so(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(sandbox_on((ROOT / "config.toml").read_text()))
    code, err = await sandbox_pay(config, "ZZZZZZ01", tmp_path)
    assert code == 1 and "ZZZZZZ01" in err and "Traceback" not in err


async def test_sandbox_pay_with_the_shipped_config_says_the_sandbox_is_off(tmp_path: Path) -> None:
    code, err = await sandbox_pay(ROOT / "config.toml", "ZZZZZZ01", tmp_path)
    assert code == 2 and "not enabled" in err and err.count("\n") == 1


async def test_many_concurrent_callbacks_each_pay_once_through_the_shared_writer(
    running: Running, http: aiohttp.ClientSession
) -> None:
    payments = [await pay_order(running, chat_id=str(2000 + i)) for i in range(25)]
    requests = [
        signed(
            {
                "reference": p.reference,
                "id": f"sbx_{p.reference}",
                "status": "PAID",
                "amount": p.amount,
                "currency": "IDR",
                "method": "va:bca",
            }
        )
        for p in payments
    ]

    async def post(body: bytes, headers: dict[str, str]) -> int:
        async with http.post(
            running.url("/callbacks/sandbox"), data=body, headers=headers
        ) as resp:
            return resp.status

    statuses = await asyncio.gather(*(post(b, h) for b, h in requests * 3))
    assert set(statuses) == {200}
    paid = await query(running, select(Payment.status).where(Payment.status == "paid"))
    assert len(paid) == 25
    messages = await query(running, select(Outbox.dedupe_key).where(Outbox.kind == "payment_paid"))
    assert len(messages) == 25
    outcomes = [o for (o,) in await query(running, select(PaymentEvent.outcome))]
    assert outcomes.count("applied") == 25
