"""Our app with the sandbox, whose provider (payments/gateways/sandbox/server.py) our own server
runs, for tests/gateways/test_routes.py. The provider's own callbacks are all dropped here, so
the suite sends each callback itself, as it does with the fakes."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from payments.gateways.sandbox.adapter import SIGNATURE_HEADER
from payments.gateways.sandbox.server import SandboxProvider
from tests.conftest import SANDBOX_SECRET, free_port, make_config, start_app
from tests.gateways.harness import Harness


async def start(aiohttp_server: Any, db_url: str) -> Harness:
    config = make_config(db_url, free_port(), drop_share=1.0)
    running = await start_app(aiohttp_server, config)
    provider = running.runtime.sandbox
    assert isinstance(provider, SandboxProvider)

    async def send(
        http: aiohttp.ClientSession, url: str, reference: str, *, forged: bool = False
    ) -> int:
        payment = provider.find(reference)
        assert payment is not None
        body = json.dumps(payment.callback_json(), separators=(",", ":")).encode()
        key = b"not-the-secret" if forged else SANDBOX_SECRET.encode()
        signature = hmac.new(key, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        async with http.post(url, data=body, headers=headers) as response:
            return response.status

    def pay(reference: str) -> None:
        payment = provider.find(reference)
        assert payment is not None
        provider.act(payment, "pay")

    def set_amount(reference: str, amount: int) -> None:
        payment = provider.find(reference)
        assert payment is not None
        payment.amount = amount

    def confuse(reference: str, other: str) -> None:
        provider.payments[reference] = provider.payments[other]

    return Harness(
        "sandbox",
        "sandbox:va:bca",
        provider,
        running,
        send=send,
        pay=pay,
        created=lambda reference: int(reference in provider.payments),
        set_status=provider.set_status,
        unmapped_status="MYSTERY",
        set_amount=set_amount,
        confuse=confuse,
        fail_next=None,  # the provider has no failure knob for creates
        confirms_paid_by_query=False,  # its callbacks are signed over the whole body
    )
