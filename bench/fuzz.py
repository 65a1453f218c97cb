"""Hostile input against a running `checkout-bot run`: N seeded inputs per route, then the
answers by status class, the 5xx (with the first inputs that caused them) and the server's RSS.

Every callback route (and an unknown gateway), the Telegram webhook with and without its
secret, the API with and without its token, the sandbox's pages and /healthz get random bytes,
mutations of valid callbacks that name real payments (truncated, bit-flipped, with lone
surrogates, other payments' ids), deep JSON, huge numbers and odd headers. The engine
(`hostile`, `fuzz_route`) also runs in CI on a few hundred inputs (tests/integration/
test_fuzz_short.py). Loopback only, bounded in count.

    python bench/fuzz.py [--inputs 20000] [--seed 1] [--concurrency 200] [--route LABEL]

Refused callbacks past 20 a second are answered after a second
(payments/callbacks/refused.py), so the callback routes go at about `concurrency` inputs a
second: raise it for big runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.callbacks import MIDTRANS_KEY, free_port, sandbox_callback  # noqa: E402
from bench.chat import ENV, start_process, write_config  # noqa: E402
from bench.chat import SECRET as WEBHOOK_SECRET  # noqa: E402
from bench.seed import seed_payments  # noqa: E402
from tests.channels.telegram.fake import FakeBotAPI  # noqa: E402
from tests.gateways.ipaymu.fake import FakeIpaymu  # noqa: E402
from tests.gateways.midtrans.fake import FakeMidtrans  # noqa: E402

API_TOKEN = "bench-fuzz-api-token"
IPAYMU_VA, IPAYMU_KEY = "0000001234567890", "FUZZ-IPAYMU-KEY"
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/plain", "")
Make = Callable[[random.Random], tuple[bytes, dict[str, str]]]


@dataclass
class Tally:
    classes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # the first inputs answered 5xx

    @property
    def server_errors(self) -> int:
        return self.classes["5xx"]


def hostile(rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """One hostile body: random, or a valid body bent out of shape."""
    seed = rng.choice(seeds) if seeds else b"{}"
    kind = rng.randrange(9)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 2048))
    if kind == 1:
        return seed[: rng.randrange(len(seed) + 1)]
    if kind == 2:  # flip some bytes
        data = bytearray(seed)
        for _ in range(rng.randrange(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 3:
        return rng.choice([b"[", b'{"a":']) * rng.choice([100, 10_000, 60_000])
    if kind == 4:  # a lone surrogate or NUL inside a string value
        return seed.replace(
            b'": "', rng.choice([b'": "\\udfff', b'": "\\u0000', b'": "\\ud800x']), 1
        )
    if kind == 5:  # numbers past any type's range
        return seed.replace(
            b": ", rng.choice([b': 1e999999, "_": ', b": 9" * 5000 + b', "_": ']), 1
        )
    if kind == 6:  # another shape of JSON where an object is expected
        return json.dumps(
            rng.choice([[], "x", 1, None, [{"a": 1}], {"a": {"b": [1] * 50}}])
        ).encode()
    if kind == 7:  # every field's value of the wrong type
        try:
            data = json.loads(seed)
        except ValueError:
            return seed
        wrong = [None, [], {}, True, -1, 10**30, "", "\udfff", "x" * 5000]
        bent = {k: rng.choice(wrong) for k in data} if isinstance(data, dict) else data
        return json.dumps(bent).encode("utf-8", "surrogatepass")
    return seed  # the valid body itself, perhaps replayed: must still answer < 500


def headers(rng: random.Random, extra: dict[str, str]) -> dict[str, str]:
    chosen = {"Content-Type": rng.choice(CONTENT_TYPES)}
    for name, value in extra.items():
        roll = rng.randrange(4)
        chosen[name] = (value, "", "\xff" * 70, value[:-1] + "x")[roll]
    return {k: v for k, v in chosen.items() if v != "" or k != "Content-Type"}


async def fuzz_route(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    make: Make,
    *,
    inputs: int,
    seed: int,
    concurrency: int = 16,
) -> Tally:
    rng, tally = random.Random(seed), Tally()
    cases = [make(rng) for _ in range(inputs)]
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)

    async def worker() -> None:
        while not queue.empty():
            body, sent_headers = queue.get_nowait()
            try:
                async with http.request(method, url, data=body, headers=sent_headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.classes[type(exc).__name__] += 1
                continue
            tally.classes[f"{status // 100}xx"] += 1
            if status >= 500 and len(tally.errors) < 3:
                tally.errors.append(f"{status} {sent_headers} {body[:200]!r}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


def routes(
    refs: dict[str, list[tuple[str, int]]], midtrans_fake: FakeMidtrans
) -> dict[str, tuple[str, Make]]:
    """route label -> (method and path, input maker), for a server with the seeded payments."""
    sandbox = [sandbox_callback(r, a)[0] for r, a in refs["sandbox"]]
    midtrans = [midtrans_fake.notification(r, amount=a) for r, a in refs["midtrans"]]
    ipaymu = [
        json.dumps({"reference_id": r, "trx_id": 1, "status_code": status}).encode()
        for r in refs["ipaymu"]
        for status in (1, "1\udfff")  # the second: the freeze reproducer of issue 11
    ]
    update = [
        json.dumps(
            {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": 5, "type": "private"},
                    "text": "hi",
                },
            }
        ).encode()
    ]
    api_body = [
        json.dumps(
            {"method": "sandbox:va:bca", "items": [{"sku": "KOPI-SUSU", "quantity": 1}]}
        ).encode()
    ]

    def maker(seeds: list[bytes], extra: dict[str, str]) -> Make:
        return lambda rng: (hostile(rng, seeds), headers(rng, extra))

    signed = {"X-Sandbox-Signature": "0" * 64}
    bearer = {"Authorization": f"Bearer {API_TOKEN}"}
    webhook = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    ref = refs["sandbox"][0][0]
    return {
        "callback sandbox": ("POST /callbacks/sandbox", maker(sandbox, signed)),
        "callback midtrans": ("POST /callbacks/midtrans", maker(midtrans, {})),
        "callback ipaymu": ("POST /callbacks/ipaymu", maker(ipaymu, {"X-Signature": "0" * 64})),
        "callback unknown": ("POST /callbacks/paypal", maker(sandbox, {})),
        "telegram webhook": ("POST /telegram/webhook", maker(update, webhook)),
        "api orders": ("POST /api/orders", maker(api_body, bearer)),
        "api payments": (f"POST /api/orders/{ref[:6]}/payments", maker(api_body, bearer)),
        "sandbox pay": (f"POST /sandbox/pay/{ref}", maker([b"outcome=pay"], {})),
        "healthz": ("GET /healthz", maker([b""], {})),
    }


async def healthz_latencies(port: int, done: asyncio.Event) -> list[float]:
    """GET /healthz every 50 ms on its own connection while a route is fuzzed: is anything
    holding the service (the database's write lock, the event loop)? Milliseconds each; a
    probe that fails reads 60,000 ms, so the route's max shows it."""
    waits: list[float] = []
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        while not done.is_set():
            started = loop.time()
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            # a failed probe counts as the whole wait, and at least 60 s: nothing hides it
            waits.append((loop.time() - started) * 1000 if ok else 60_000.0)
            await asyncio.sleep(0.05)
    return waits


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def configure(tmp: Path, port: int, bot_url: str, midtrans: str, ipaymu: str) -> Path:
    path = write_config(tmp, port, bot_url, "")
    text = path.read_text().replace(
        "allow_with_real_gateways = false", "allow_with_real_gateways = true"
    )
    for name in ("midtrans", "ipaymu"):
        text = text.replace(
            f"[payments.{name}]\nenabled = false", f"[payments.{name}]\nenabled = true"
        )
    text = text.replace(
        'base_url = "https://api.sandbox.midtrans.com"', f'base_url = "{midtrans}"'
    )
    text = text.replace('base_url = "https://sandbox.ipaymu.com"', f'base_url = "{ipaymu}"')
    text = text.replace('"${MIDTRANS_SERVER_KEY}"', f'"{MIDTRANS_KEY}"')
    text = text.replace('"${IPAYMU_VA}"', f'"{IPAYMU_VA}"').replace(
        '"${IPAYMU_API_KEY}"', f'"{IPAYMU_KEY}"'
    )
    path.write_text(text)
    return path


async def fuzz_server(
    port: int, pid: int, refs: dict[str, list[tuple[str, int]]], fake: FakeMidtrans, args: Any
) -> int:
    """Every route in turn; prints a line each and returns the number of 5xx."""
    rss_before, failed = rss_kib(pid), 0
    head = f"{'route':<18} {'inputs':>7} {'2xx':>7} {'3xx':>5} {'4xx':>7} {'5xx':>5}"
    print(f"{head}  healthz p50/max ms  other")
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        for i, (label, (target, make)) in enumerate(routes(refs, fake).items()):
            if args.route and label not in args.route:
                continue
            method, path = target.split(" ", 1)
            url = f"http://127.0.0.1:{port}{path}"
            done = asyncio.Event()
            health = asyncio.create_task(healthz_latencies(port, done))
            tally = await fuzz_route(
                http, method, url, make, inputs=args.inputs, seed=args.seed + i,
                concurrency=args.concurrency,
            )  # fmt: skip
            done.set()
            waits = sorted(await health)
            c = tally.classes
            other = {k: v for k, v in c.items() if not k.endswith("xx")} or ""
            counts = f"{c['2xx']:>7} {c['3xx']:>5} {c['4xx']:>7} {c['5xx']:>5}"
            liveness = f"{waits[len(waits) // 2]:>8.1f} {waits[-1]:>8.1f}" if waits else " " * 17
            print(f"{label:<18} {args.inputs:>7} {counts}  {liveness}  {other}")
            for error in tally.errors:
                print(f"    5xx: {error}")
            failed += tally.server_errors
    rss_after = rss_kib(pid)
    print(f"server RSS: {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} MiB after")
    print(f"5xx in all: {failed}")
    return failed


async def main_async(args: argparse.Namespace) -> int:
    midtrans, ipaymu = FakeMidtrans(MIDTRANS_KEY), FakeIpaymu(va=IPAYMU_VA, api_key=IPAYMU_KEY)
    bot = FakeBotAPI()
    runners = [await serve(app) for app in (midtrans.app, ipaymu.app, bot.app)]
    bot.url = runners[2][1]
    os.environ.update({**ENV, "CHECKOUT_API_TOKEN": API_TOKEN})
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            port = free_port()
            config = configure(Path(tmp_name), port, bot.url, runners[0][1], runners[1][1])
            command = [sys.executable, "-m", "bot", "--config", str(config)]
            upgrade = await asyncio.create_subprocess_exec(*command, "db", "upgrade", cwd=ROOT)
            if await upgrade.wait() != 0:
                raise RuntimeError("db upgrade failed")
            url = f"sqlite+aiosqlite:///{Path(tmp_name) / 'chat.db'}"
            gateways = ("sandbox", "midtrans", "ipaymu")
            refs = {gw: await seed_payments(url, gw, 20) for gw in gateways}
            server = await start_process([*command, "run"], port)
            try:
                return 1 if await fuzz_server(port, server.pid, refs, midtrans, args) else 0
            finally:
                server.terminate()
                await server.wait()
    finally:
        await bot.close()
        for runner, _ in runners:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=2000, help="inputs per route")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--route", action="append", help="only this route (by its label)")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
