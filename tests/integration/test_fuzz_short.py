"""bench/fuzz.py's engine, briefly, in CI: hostile input on the app's routes earns no 5xx."""

from __future__ import annotations

import aiohttp
import pytest

from bench.callbacks import sandbox_callback
from bench.fuzz import fuzz_route, headers, hostile
from tests.conftest import Running
from tests.integration.test_callbacks import pay_order

INPUTS = 150


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/callbacks/sandbox", {"X-Sandbox-Signature": "0" * 64}),
        ("POST", "/callbacks/paypal", {}),
        ("POST", "/api/orders", {"Authorization": "Bearer nope"}),
        ("POST", "/sandbox/pay/{ref}", {}),
        ("GET", "/healthz", {}),
    ],
)
async def test_hostile_input_earns_no_5xx(
    running: Running, http: aiohttp.ClientSession, method: str, path: str, extra: dict[str, str]
) -> None:
    payment = await pay_order(running)
    seeds = [sandbox_callback(payment.reference, payment.amount)[0]]
    url = running.url(path.format(ref=payment.reference))
    tally = await fuzz_route(
        http,
        method,
        url,
        lambda rng: (hostile(rng, seeds), headers(rng, extra)),
        inputs=INPUTS,
        seed=7,
        concurrency=8,
    )
    assert tally.server_errors == 0, tally.errors
    assert sum(tally.classes.values()) == INPUTS
