"""Callback throughput and latency: a real `checkout-bot run` process on SQLite, load from
another process (bench/loadgen.py: raw keep-alive connections, a quarter of an aiohttp
client's CPU, which on two cores the server would otherwise lose), next to the floor of a
bare aiohttp handler that only verifies signatures.

Every callback is a verified PAID for its own pending payment, so each one is durable work:
status moves, an event and two outbox rows committed before the 200. Midtrans and Xendit
callbacks are confirmed with a status query against their fakes, which this script serves.

    python bench/callbacks.py [--count 3000] [--seconds 5] [--runs 3] [--gateways xendit ...]

A brief look at one gateway: --gateways xendit --count 500 --seconds 1 --runs 1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import stripe
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import send_all  # noqa: E402
from bench.seed import seed_payments  # noqa: E402
from tests.gateways.midtrans.fake import FakeMidtrans  # noqa: E402
from tests.gateways.stripe.fake import FakeStripe  # noqa: E402
from tests.gateways.stripe.harness import SECRET_KEY as STRIPE_KEY  # noqa: E402
from tests.gateways.stripe.harness import WEBHOOK_SECRET as STRIPE_WEBHOOK  # noqa: E402
from tests.gateways.xendit.fake import FakeXendit  # noqa: E402

SECRET = "bench-sandbox-secret-0123"
MIDTRANS_KEY = "SB-Mid-server-BENCH"
XENDIT_KEY = "xnd_development_BENCH"
XENDIT_TOKEN = "xnd-bench-callback-token-0123"
GATEWAYS = ("sandbox", "midtrans", "xendit", "stripe")


def forgery(i: int) -> tuple[bytes, dict[str, str]]:
    """A sandbox callback signed with the wrong key, each one different (so each is kept)."""
    body, headers = sandbox_callback(f"FORGED{i % 100:02d}", 1000, pad=f"{i:08d}" * 256)
    return body, {**headers, "X-Sandbox-Signature": "0" * 64}


def sandbox_callback(
    reference: str, amount: int, pad: str | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "reference": reference,
            "id": f"sbx_{reference}",
            "status": "PAID",
            "amount": amount,
            "currency": "IDR",
            "method": "va:bca",
        }
        | ({"pad": pad} if pad else {})
    ).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Sandbox-Signature": sig}


# ---- the floor: a bare handler that verifies and answers -----------------------------------


async def floor_handler(request: web.Request) -> web.Response:
    body = await request.read()
    if request.match_info["gateway"] == "sandbox":
        sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(sig, request.headers.get("X-Sandbox-Signature", ""))
    elif request.match_info["gateway"] == "stripe":
        header = request.headers.get("Stripe-Signature", "")
        ok = stripe.WebhookSignature.verify_header(body.decode(), header, STRIPE_WEBHOOK, 300)
        ok = ok and bool(json.loads(body))
    elif request.match_info["gateway"] == "xendit":
        token = request.headers.get("x-callback-token", "").encode()
        ok = hmac.compare_digest(token, XENDIT_TOKEN.encode()) and bool(json.loads(body))
    else:
        data = json.loads(body)
        raw = data["order_id"] + data["status_code"] + data["gross_amount"] + MIDTRANS_KEY
        ok = hmac.compare_digest(hashlib.sha512(raw.encode()).hexdigest(), data["signature_key"])
    return web.json_response({"ok": ok}, status=200 if ok else 401)


async def floor_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def serve_floor(port: int) -> None:
    app = web.Application()
    app.router.add_post("/callbacks/{gateway}", floor_handler)
    app.router.add_get("/healthz", floor_health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---- the load generator (bench/loadgen.py, in its own process) --------------------------------


def load_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    requests = [(r["body"].encode(), r["headers"]) for r in spec["requests"]]
    url = urlsplit(spec["url"])
    assert url.hostname is not None and url.port is not None
    load = send_all(url.hostname, url.port, url.path, requests, spec["rate"], spec["concurrency"])
    result = asyncio.run(load)
    print(json.dumps(result))


async def run_load(
    url: str,
    requests: list[tuple[bytes, dict[str, str]]],
    rate: float | None,
    tmp: Path,
    concurrency: int = 64,
    name: str = "load",
) -> dict[str, Any]:
    spec = tmp / f"{name}.json"
    spec.write_text(
        json.dumps(
            {
                "url": url,
                "rate": rate,
                "concurrency": concurrency,
                "requests": [{"body": b.decode(), "headers": h} for b, h in requests],
            }
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--load", str(spec), stdout=subprocess.PIPE
    )
    out, _ = await process.communicate()
    return dict(json.loads(out))


# ---- the harness ------------------------------------------------------------------------------


def write_config(tmp: Path, db: Path, port: int, midtrans_url: str, xendit_url: str) -> Path:
    text = (ROOT / "config.toml").read_text()
    text = text.replace("sqlite+aiosqlite:///checkout.db", f"sqlite+aiosqlite:///{db}")
    text = text.replace("port = 8080", f"port = {port}")
    text = text.replace('"http://127.0.0.1:8080"', f'"http://127.0.0.1:{port}"')
    text = text.replace('"${CHECKOUT_SANDBOX_SECRET}"', f'"{SECRET}"')
    text = text.replace(
        "[payments.sandbox]\nenabled = false", "[payments.sandbox]\nenabled = true"
    )
    text = text.replace("allow_with_real_gateways = false", "allow_with_real_gateways = true")
    text = text.replace('auto_pay_after = "5s"', 'auto_pay_after = "0s"')
    text = text.replace(
        "[payments.midtrans]\nenabled = false", "[payments.midtrans]\nenabled = true"
    )
    text = text.replace(
        'base_url = "https://api.sandbox.midtrans.com"', f'base_url = "{midtrans_url}"'
    )
    text = text.replace('server_key = "${MIDTRANS_SERVER_KEY}"', f'server_key = "{MIDTRANS_KEY}"')
    text = text.replace("[payments.xendit]\nenabled = false", "[payments.xendit]\nenabled = true")
    text = text.replace('base_url = "https://api.xendit.co"', f'base_url = "{xendit_url}"')
    text = text.replace('"${XENDIT_SECRET_KEY}"', f'"{XENDIT_KEY}"')
    text = text.replace('"${XENDIT_CALLBACK_TOKEN}"', f'"{XENDIT_TOKEN}"')
    stripe_off = 'enabled = false\napi_base = "https://api.stripe.com"'
    text = text.replace(stripe_off, stripe_off.replace("false", "true"))
    text = text.replace('"${STRIPE_SECRET_KEY}"', f'"{STRIPE_KEY}"')
    text = text.replace('"${STRIPE_WEBHOOK_SECRET}"', f'"{STRIPE_WEBHOOK}"')
    path = tmp / "config.toml"
    path.write_text(text)
    return path


async def start_process(args: list[str], port: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{args} did not come up on port {port}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def one_round(args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, Any]]:
    fake, xendit = FakeMidtrans(MIDTRANS_KEY), FakeXendit(XENDIT_KEY, XENDIT_TOKEN)
    runners, fake_urls = [], []
    for app in (fake.app, xendit.app):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        fake_port = free_port()
        await web.TCPSite(runner, "127.0.0.1", fake_port).start()
        runners.append(runner)
        fake_urls.append(f"http://127.0.0.1:{fake_port}")
    rates = [None, 200.0, 1000.0]
    sizes = [args.count, int(200 * args.seconds), int(1000 * args.seconds)]
    db = tmp / "bench.db"
    port, floor_port = free_port(), free_port()
    config = write_config(tmp, db, port, *fake_urls)
    subprocess.run(  # noqa: ASYNC221 - set-up before any timing starts
        [sys.executable, "-m", "bot", "--config", str(config), "db", "upgrade"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    batches = {
        gw: [await seed_payments(f"sqlite+aiosqlite:///{db}", gw, n) for n in sizes]
        for gw in args.gateways
    }
    flooded = await seed_payments(f"sqlite+aiosqlite:///{db}", "sandbox", sizes[1])
    for refs in batches.get("midtrans", []):
        for ref, amount in refs:
            fake.orders[ref] = fake_settled(ref, amount)
    for refs in batches.get("xendit", []):
        for ref, amount in refs:
            xendit_settled(xendit, ref, amount)
    server = await start_process(
        [sys.executable, "-m", "bot", "--config", str(config), "run"], port
    )
    floor = await start_process([sys.executable, __file__, "--floor", str(floor_port)], floor_port)
    results: dict[str, dict[str, Any]] = {}
    try:
        for gw in args.gateways:
            for rate, refs in zip(rates, batches[gw], strict=True):
                requests = [callback(gw, fake, xendit, ref, amount) for ref, amount in refs]
                label = f"{gw} {'max' if rate is None else int(rate)}"
                results[f"app {label}"] = await measured(
                    server, f"http://127.0.0.1:{port}/callbacks/{gw}", requests, rate, tmp
                )
                results[f"floor {label}"] = await measured(
                    floor, f"http://127.0.0.1:{floor_port}/callbacks/{gw}", requests, rate, tmp
                )
        for gw, calls in (("midtrans", fake.calls), ("xendit", xendit.calls)):
            if gw in args.gateways:  # each confirmation asked its fake once: the work was done
                asked = sum(1 for method, _ in calls if method == "GET")
                sent = sum(map(len, batches[gw]))
                results[f"{gw} queries"] = {"asked": asked, "sent": sent}
        results["app sandbox 200 flood"], results["flood"] = await under_flood(
            server, f"http://127.0.0.1:{port}/callbacks/sandbox", flooded, args.seconds, tmp
        )
    finally:
        for process in (server, floor):
            process.terminate()
            await process.wait()
        for runner in runners:
            await runner.cleanup()
    return results


async def under_flood(
    server: asyncio.subprocess.Process,
    url: str,
    refs: list[tuple[str, int]],
    seconds: float,
    tmp: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verified callbacks at 200/s while 16 connections send forgeries as fast as they can."""
    verified = [sandbox_callback(ref, amount) for ref, amount in refs]
    forged = [forgery(i) for i in range(int(1500 * seconds))]
    flood = asyncio.create_task(run_load(url, forged, None, tmp, 16, "flood"))
    await asyncio.sleep(0.3)  # the flood is under way before the first verified callback
    result = await measured(server, url, verified, 200.0, tmp)
    return result, await flood


async def measured(
    process: asyncio.subprocess.Process,
    url: str,
    requests: list[tuple[bytes, dict[str, str]]],
    rate: float | None,
    tmp: Path,
) -> dict[str, Any]:
    """The load's figures plus the server's CPU time per request, all its threads: on a shared
    machine that moves less than throughput does when other processes take the cores."""
    before = cpu_seconds(process.pid)
    result = await run_load(url, requests, rate, tmp)
    result["cpu_us"] = (cpu_seconds(process.pid) - before) / len(requests) * 1e6
    return result


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fake_settled(ref: str, amount: int) -> dict[str, Any]:
    return {
        "order_id": ref,
        "transaction_id": f"tx-{ref}",
        "transaction_status": "settlement",
        "fraud_status": "accept",
        "status_code": "200",
        "gross_amount": f"{amount}.00",
        "payment_type": "bank_transfer",
        "currency": "IDR",
        "va_numbers": [{"bank": "bca", "va_number": "12345678901"}],
    }


def xendit_settled(fake: FakeXendit, ref: str, amount: int) -> None:
    """A paid payment request under the id bench/seed.py gave the payment (ext-<code>)."""
    xid = f"ext-{ref[:6]}"
    va = {"channel_code": "BCA", "channel_properties": {}}
    method = {"type": "VIRTUAL_ACCOUNT", "reusability": "ONE_TIME_USE", "virtual_account": va}
    fake.requests[xid] = {
        "id": xid,
        "reference_id": ref,
        "amount": amount,
        "currency": "IDR",
        "status": "SUCCEEDED",
        "payment_method": method,
        "created": "2026-01-15T04:59:00.000Z",
    }
    fake.refs[ref] = xid


def stripe_completed(ref: str, amount: int) -> tuple[bytes, dict[str, str]]:
    """A signed checkout.session.completed for the session bench/seed.py gave the payment."""
    session = {"id": f"ext-{ref[:6]}", "object": "checkout.session", "status": "complete",
               "payment_status": "paid", "amount_total": amount * 100, "currency": "idr",
               "client_reference_id": ref}  # fmt: skip
    event = {"id": f"evt_{ref}", "type": "checkout.session.completed", "data": {"object": session}}
    body = json.dumps(event).encode()
    fake = FakeStripe(STRIPE_KEY, STRIPE_WEBHOOK)
    return body, {"Content-Type": "application/json", "Stripe-Signature": fake.signed(body)}


def callback(
    gw: str, fake: FakeMidtrans, xendit: FakeXendit, ref: str, amount: int
) -> tuple[bytes, dict[str, str]]:
    if gw == "sandbox":
        return sandbox_callback(ref, amount)
    if gw == "stripe":
        return stripe_completed(ref, amount)
    if gw == "xendit":
        body = json.dumps(xendit.callback(ref)).encode()
        return body, {"Content-Type": "application/json", "x-callback-token": XENDIT_TOKEN}
    return fake.notification(ref, status="settlement"), {"Content-Type": "application/json"}


def report(all_runs: list[dict[str, dict[str, Any]]], gateways: list[str]) -> None:
    def med(key: str, field: str) -> float:
        return statistics.median(run[key][field] for run in all_runs)

    for gw in gateways:
        app_tp = med(f"app {gw} max", "count") / med(f"app {gw} max", "elapsed")
        floor_tp = med(f"floor {gw} max", "count") / med(f"floor {gw} max", "elapsed")
        app_cpu, floor_cpu = med(f"app {gw} max", "cpu_us"), med(f"floor {gw} max", "cpu_us")
        print(
            f"{gw:<9} throughput: app {app_tp:7.0f}/s   floor {floor_tp:7.0f}/s   "
            f"ratio {app_tp / floor_tp:5.2f}   server CPU per callback: "
            f"app {app_cpu:5.0f} us  floor {floor_cpu:4.0f} us"
        )
        for rate in (200, 1000):
            a, f = f"app {gw} {rate}", f"floor {gw} {rate}"
            print(
                f"{gw:<9} at {rate:>4}/s:  app p50 {med(a, 'p50'):7.1f} ms  p99 "
                f"{med(a, 'p99'):7.1f} ms   floor p50 {med(f, 'p50'):5.1f} ms  p99 "
                f"{med(f, 'p99'):5.1f} ms   p99 ratio {med(a, 'p99') / med(f, 'p99'):6.1f}"
                f"   failures {int(med(a, 'failures'))}"
            )
        if f"{gw} queries" in all_runs[0]:
            asked, sent = med(f"{gw} queries", "asked"), med(f"{gw} queries", "sent")
            print(f"{gw:<9} status queries at its fake: {asked:.0f} for {sent:.0f} callbacks")
    a, quiet = "app sandbox 200 flood", "app sandbox 200"
    if quiet not in all_runs[0]:
        quiet = a  # sandbox not measured alone: the flood's figures stand by themselves
    flood_rate = med("flood", "count") / med("flood", "elapsed")
    print(
        f"sandbox   at  200/s under a flood of forgeries ({flood_rate:.0f}/s, 16 connections, "
        f"refused {int(med('flood', 'failures'))} of {int(med('flood', 'count'))}): "
        f"p50 {med(a, 'p50'):.1f} ms  p99 {med(a, 'p99'):.1f} ms   p99 ratio to no flood "
        f"{med(a, 'p99') / med(quiet, 'p99'):.2f}   failures {int(med(a, 'failures'))}"
    )
    print(f"(median of {len(all_runs)} runs; every callback a durable PAID for its own payment)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--gateways", nargs="+", choices=GATEWAYS, default=list(GATEWAYS), help="default: all"
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        return load_main(args.load)
    if args.floor:
        return serve_floor(args.floor)
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(asyncio.run(one_round(args, Path(tmp))))
    report(runs, args.gateways)


if __name__ == "__main__":
    main()
