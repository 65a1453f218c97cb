"""The chaos run: orders placed through the HTTP API and paid through the Midtrans fake, with
duplicated, reordered, dropped, forged and tampered callbacks, while the service is killed with
SIGKILL at random moments and restarted; then every invariant is checked against the database
and the fake Bot API, and one summary line is printed (exit 1 when an invariant fails).

    python bench/chaos.py                       # 1,000 orders, 5 kills, SQLite
    python bench/chaos.py --short               # 100 orders, 2 kills (what CI runs)
    python bench/chaos.py --database postgresql+asyncpg://postgres@127.0.0.1:5432/chaos \\
        --instances 2                           # two instances on PostgreSQL (schema reset!)

Requests killed under the client are retried with the same Idempotency-Key, on whichever
instance is up; callbacks that got no answer are sent again, as a gateway does. Invariants:
lost (a paid order whose customer never heard), wrong (orders or payments per key other than
one, a final state other than paid), forged accepted, 5xx while up, a secret in the log, and
duplicate confirmations, which must all be marked repeats and number no more than the sends
in flight at the kills (rows in doubt). The real service runs in subprocesses
(tests/integration/appprocess.py); the fakes are the tests' own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.db import make_engine, make_sessions, transaction, upgrade  # noqa: E402
from storage.models import Order, Outbox, Payment  # noqa: E402
from tests.channels.telegram.fake import TOKEN as BOT_TOKEN  # noqa: E402
from tests.channels.telegram.fake import FakeBotAPI  # noqa: E402
from tests.gateways.midtrans.fake import FakeMidtrans  # noqa: E402
from tests.integration.appprocess import AUTH, TOKEN, AppProcess  # noqa: E402

SERVER_KEY = "SB-Mid-server-CHAOS-0123"
WEBHOOK_SECRET = "chaos-webhook-secret-0123456789"
REPEAT = ("In case you missed it:", "Jika Anda belum melihatnya:", "Iwapo hukuiona:")
LANGUAGES = ("id", "en", "sw")
FAST_POLLER = """
[reconcile]
va = ["3s", "every 3s until 1h", "every 15m until expiry"]

[reconcile.rate_limits]
midtrans = 30000
"""


@dataclass
class Tally:
    five_xx: int = 0
    forged_sent: int = 0
    forged_accepted: int = 0
    callbacks: int = 0
    retries: int = 0
    kills: int = 0
    codes: dict[int, str] = field(default_factory=dict)  # order number -> code


def replacements(fake_tg: str, fake_mt: str) -> dict[str, str]:
    return {
        "[telegram]\nenabled = false": "[telegram]\nenabled = true",
        'mode = "polling"': 'mode = "webhook"',
        'api_url = "https://api.telegram.org"': f'api_url = "{fake_tg}"',
        "merchant_chat_ids = []": "merchant_chat_ids = [9001]",
        "[payments.midtrans]\nenabled = false": "[payments.midtrans]\nenabled = true",
        'base_url = "https://api.sandbox.midtrans.com"': f'base_url = "{fake_mt}"',
        "rate_per_second = 10 ": "rate_per_second = 10000 ",
        "burst = 60 ": "burst = 10000 ",
    }


class Cluster:
    """The instances; a kill takes one down and starts it again on the same port."""

    def __init__(self, tmp: Path, db_url: str, count: int, fake_tg: str, fake_mt: str) -> None:
        env = {
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MIDTRANS_SERVER_KEY": SERVER_KEY,
        }
        self.apps = []
        for n in range(count):
            folder = tmp / f"instance{n}"
            folder.mkdir()
            app = AppProcess(folder, db_url, replacements=replacements(fake_tg, fake_mt), env=env)
            app.config.write_text(app.config.read_text() + FAST_POLLER)
            self.apps.append(app)
        self.up = [False] * count

    async def start(self) -> None:
        for n, app in enumerate(self.apps):
            await app.start()
            self.up[n] = True

    def any_url(self, path: str, rnd: random.Random) -> str:
        live = [a for a, up in zip(self.apps, self.up, strict=True) if up] or self.apps
        return rnd.choice(live).url(path)

    async def kill_one(self, rnd: random.Random) -> None:
        n = rnd.randrange(len(self.apps))
        self.up[n] = False
        await self.apps[n].kill()
        await self.apps[n].start()
        self.up[n] = True

    async def stop(self) -> None:
        for app in self.apps:
            await app.stop()

    def logs(self) -> str:
        return "".join(app.log.read_text(errors="replace") for app in self.apps)


async def call(
    http: aiohttp.ClientSession,
    cluster: Cluster,
    tally: Tally,
    rnd: random.Random,
    path: str,
    body: dict[str, Any],
    key: str,
) -> dict[str, Any]:
    """POST with an Idempotency-Key until an answer of the API itself comes back."""
    while True:
        headers = {**AUTH, "Idempotency-Key": key}
        try:
            async with http.post(cluster.any_url(path, rnd), json=body, headers=headers) as r:
                answer = await r.json(content_type=None)
                if r.status >= 500:
                    tally.five_xx += 1
                elif r.status in (201, 202):
                    return dict(answer)
                elif r.status != 409:  # 409: the first try still holds the key
                    raise RuntimeError(f"{path}: {r.status} {answer}")
        except (aiohttp.ClientError, TimeoutError):
            pass
        tally.retries += 1
        await asyncio.sleep(0.3)


async def callback(
    http: aiohttp.ClientSession, cluster: Cluster, tally: Tally, rnd: random.Random, body: bytes
) -> int:
    """As Midtrans does: again until it gets an HTTP answer."""
    headers = {"Content-Type": "application/json"}
    while True:
        try:
            url = cluster.any_url("/callbacks/midtrans", rnd)
            async with http.post(url, data=body, headers=headers) as r:
                if r.status >= 500:
                    tally.five_xx += 1
                if r.status != 503:
                    return r.status
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.3)


async def one_order(
    n: int,
    http: aiohttp.ClientSession,
    cluster: Cluster,
    fake: FakeMidtrans,
    tally: Tally,
    rnd: random.Random,
) -> None:
    customer = {
        "name": f"Customer {n}",
        "phone": "081234567890",
        "telegram_chat_id": 300_000 + n,
        "language": LANGUAGES[n % 3],
    }
    items = [{"sku": "KOPI-SUSU", "quantity": 1}]
    order = await call(
        http, cluster, tally, rnd, "/api/orders", {"items": items, "customer": customer}, f"o{n}"
    )
    tally.codes[n] = order["code"]
    path = f"/api/orders/{order['code']}/payments"
    while True:  # a 202 (the charge's outcome unknown) is not kept: asked again, same key
        payment = await call(
            http, cluster, tally, rnd, path, {"method": "midtrans:va:bca"}, f"p{n}"
        )
        reference = payment["reference"]
        if reference in fake.orders:
            break
        await asyncio.sleep(1.0)
    fake.settle(reference)
    bodies = [] if rnd.random() < 0.10 else [fake.notification(reference)]  # 10% dropped
    if bodies and rnd.random() < 0.30:
        bodies.append(bodies[0])  # duplicated (or replayed)
    if rnd.random() < 0.20:
        bodies.insert(len(bodies), fake.notification(reference, status="pending"))  # reordered
    rnd.shuffle(bodies)
    for body in bodies:
        tally.callbacks += 1
        await callback(http, cluster, tally, rnd, body)
    if rnd.random() < 0.10:  # forged, or tampered after signing
        tally.forged_sent += 1
        forged = fake.notification(reference, forged=True)
        if rnd.random() < 0.5:
            data = json.loads(fake.notification(reference))
            data["gross_amount"] = "1.00"
            forged = json.dumps(data).encode()
        if await callback(http, cluster, tally, rnd, forged) != 401:
            tally.forged_accepted += 1


async def kills(
    cluster: Cluster, count: int, within: float, rnd: random.Random, tally: Tally
) -> None:
    for _ in range(count):
        await asyncio.sleep(rnd.uniform(0.2, 1.0) * within / max(count, 1))
        await cluster.kill_one(rnd)
        tally.kills += 1


async def settle(sessions: Any, orders: int, within: float) -> None:
    """Until every payment is paid and the outbox is quiet, or `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        async with transaction(sessions) as session:
            paid = await session.scalar(
                select(func.count()).select_from(Payment).where(Payment.status == "paid")
            )
            open_rows = await session.scalar(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
            )
        if paid == orders and open_rows == 0:
            return
        await asyncio.sleep(0.5)


async def check(
    sessions: Any, tg: FakeBotAPI, tally: Tally, orders: int, logs: str
) -> dict[str, int]:
    async with transaction(sessions) as session:
        order_count = await session.scalar(select(func.count()).select_from(Order))
        per_order = await session.execute(
            select(Payment.order_id, func.count()).group_by(Payment.order_id)
        )
        not_paid = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.status != "paid")
        )
        in_doubt = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.doubts > 0)
        )
    heard: dict[int, list[str]] = {}
    for sent in tg.sent():
        if sent.chat_id is not None and sent.chat_id >= 300_000:
            heard.setdefault(sent.chat_id - 300_000, []).append(sent.text)
    lost = sum(1 for n in range(orders) if not _confirmations(heard.get(n, []), tally.codes[n]))
    copies = [_confirmations(heard.get(n, []), tally.codes[n]) for n in range(orders)]
    duplicates = sum(max(len(c) - 1, 0) for c in copies)
    unmarked = sum(1 for c in copies for t in c[1:] if not t.startswith(REPEAT))
    secrets = sum(logs.count(s) for s in (SERVER_KEY, TOKEN, BOT_TOKEN, WEBHOOK_SECRET))
    wrong = abs((order_count or 0) - orders) + (not_paid or 0)
    wrong += sum(1 for _, count in per_order if count != 1)
    return {
        "lost": lost,
        "wrong": wrong,
        "forged_accepted": tally.forged_accepted,
        "5xx": tally.five_xx,
        "secrets_in_log": secrets,
        "unmarked_duplicates": unmarked,
        "duplicates": duplicates,
        "in_flight_at_kills": in_doubt or 0,
    }


def _confirmations(texts: list[str], code: str) -> list[str]:
    """What the customer's chat showed about the order (only its confirmation goes there)."""
    return [t for t in texts if code in t]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def reset(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        await upgrade(db_url)
        return
    engine = make_engine(db_url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await upgrade(db_url)


async def run(args: argparse.Namespace) -> int:
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="chaos-") as folder:
        tmp = Path(folder)
        db_url = args.database or f"sqlite+aiosqlite:///{tmp / 'chaos.db'}"
        await reset(db_url)
        tg, midtrans = FakeBotAPI(), FakeMidtrans(SERVER_KEY)
        tg_runner, tg_url = await serve(tg.app)
        tg.url = tg_url
        mt_runner, mt_url = await serve(midtrans.app)
        cluster = Cluster(tmp, db_url, args.instances, tg_url, mt_url)
        engine = make_engine(db_url, pool_size=2)
        sessions = make_sessions(engine)
        tally = Tally()
        try:
            await cluster.start()
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                gate = asyncio.Semaphore(args.concurrency)

                async def guarded(n: int) -> None:
                    async with gate:
                        await one_order(n, http, cluster, midtrans, tally, rnd)

                orders = asyncio.gather(*(guarded(n) for n in range(args.orders)))
                killer = asyncio.create_task(
                    kills(cluster, args.kills, args.orders / 40, rnd, tally)
                )
                await orders
                await killer
            await settle(sessions, args.orders, args.settle)
            found = await check(sessions, tg, tally, args.orders, cluster.logs())
        finally:
            await cluster.stop()
            await engine.dispose()
            await tg.close()
            await tg_runner.cleanup()
            await mt_runner.cleanup()
    backend = "postgresql" if "postgresql" in db_url else "sqlite"
    failed = [k for k, v in found.items() if v and k not in ("duplicates", "in_flight_at_kills")]
    if found["duplicates"] > found["in_flight_at_kills"]:
        failed.append("duplicates")
    line = " ".join(f"{k}={v}" for k, v in found.items())
    print(
        f"chaos {backend} x{args.instances}: orders={args.orders} kills={tally.kills} "
        f"callbacks={tally.callbacks} forged={tally.forged_sent} retries={tally.retries} "
        f"{line} -> {'FAIL ' + ','.join(failed) if failed else 'ok'}"
    )
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--short", action="store_true", help="100 orders, 2 kills")
    parser.add_argument("--database", default="", help="a PostgreSQL URL (its schema is reset)")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--settle", type=float, default=180.0, help="seconds to wait at the end")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if args.short:
        args.orders, args.kills = 100, 2
    if args.instances > 1 and not args.database:
        parser.error("several instances need --database postgresql+asyncpg://...")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
