"""The HTTP API on the whole app over real HTTP: auth, products, orders, cancel, ship, errors.

Every test runs on SQLite, and on PostgreSQL when CHECKOUT_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.api.document import PATHS
from bot.api.guard import API, TokenBuckets
from storage.models import Customer, Outbox, Product
from tests.integration.apikit import AUTH, CUSTOMER, ApiClient, api_config, start_api

ROUTES = [
    ("GET", "/api/products"),
    ("GET", "/api/orders"),
    ("POST", "/api/orders"),
    ("GET", "/api/orders/A7K2Q9"),
    ("POST", "/api/orders/A7K2Q9/payments"),
    ("POST", "/api/orders/A7K2Q9/cancel"),
    ("POST", "/api/orders/A7K2Q9/ship"),
    ("GET", "/api/payments/1"),
    ("POST", "/api/payments/1/check-status"),
    ("GET", "/api/no-such-route"),
]


@pytest.fixture
async def api(aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession) -> ApiClient:
    return await start_api(aiohttp_server, api_config(db_url), http)


async def stock(api: ApiClient, sku: str) -> int | None:
    [(left,)] = await api.rows(select(Product.stock).where(Product.sku == sku))
    return int(left) if left is not None else None


async def outbox(api: ApiClient) -> list[tuple[str, str, str]]:
    rows = await api.rows(select(Outbox.kind, Outbox.channel, Outbox.address).order_by(Outbox.id))
    return [tuple(row) for row in rows]


# ---- auth and the switch -----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "test-api-token", "Basic x"]
)
async def test_without_the_bearer_token_every_route_answers_401_and_nothing_more(
    api: ApiClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = await api.call(method, path, {}, headers=headers, auth=False)
    assert answer.status == 401
    assert answer.body == {
        "error": {"code": "unauthorized", "message": "A valid bearer token is required."}
    }
    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_the_api_is_off_while_no_token_is_set(
    aiohttp_server: Any, db_url: str, http: aiohttp.ClientSession
) -> None:
    api = await start_api(aiohttp_server, api_config(db_url, token=""), http)
    for method, path in [*ROUTES, ("GET", "/api/openapi.json")]:
        answer = await api.call(method, path, {}, headers={"Authorization": "Bearer "})
        assert (answer.status, answer.body["error"]["code"]) == (404, "api_off")


async def test_the_openapi_document_is_public_and_lists_exactly_the_routes_served(
    api: ApiClient,
) -> None:
    answer = await api.call("GET", "/api/openapi.json", auth=False)
    assert answer.status == 200 and answer.body["openapi"] == "3.1.0"
    documented = {(m.upper(), p) for p, ops in answer.body["paths"].items() for m in ops}
    served = {
        (r.method, r.resource.canonical)
        for r in api.running.server.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/")
    }
    assert documented == served - {("GET", "/api/openapi.json")}
    assert answer.body["paths"] == PATHS


async def test_bursts_beyond_the_rate_limit_get_429_with_retry_after(api: ApiClient) -> None:
    api.running.server.app[API].limits = TokenBuckets(burst=3, per_second=0.01)
    statuses = [(await api.call("GET", "/api/products")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = await api.call("GET", "/api/products")
    assert answer.body["error"]["code"] == "rate_limited"
    assert int(answer.headers["Retry-After"]) >= 1


# ---- products and orders ---------------------------------------------------------------------


async def test_products_lists_the_active_catalog_with_prices_in_minor_units(
    api: ApiClient,
) -> None:
    answer = await api.call("GET", "/api/products")
    assert answer.status == 200
    kopi = next(p for p in answer.body["products"] if p["sku"] == "KOPI-SUSU")
    assert kopi["price"] == 25000 and kopi["currency"] == "IDR" and kopi["stock"] == 100
    assert kopi["names"]["en"] == "Milk Coffee"
    assert len(answer.body["products"]) == 8


async def test_an_order_placed_through_the_api_reserves_stock_and_reads_back(
    api: ApiClient,
) -> None:
    delivery = {"method": "delivery", "address": "Jl. Merdeka 1, Bandung", "note": "gate 2"}
    customer = {**CUSTOMER, "email": "siti@example.com", "language": "en"}
    answer = await api.call(
        "POST",
        "/api/orders",
        {
            "items": [{"sku": "KOPI-SUSU", "quantity": 2}, {"sku": "ROTI-BAKAR", "quantity": 1}],
            "customer": customer,
            "delivery": delivery,
        },
    )
    assert answer.status == 201, answer.body
    order = answer.body
    assert order["status"] == "pending_payment" and len(order["code"]) == 6
    assert (order["items_total"], order["shipping"], order["total"]) == (72000, 10000, 82000)
    assert order["customer"] == {
        "name": "Siti Rahma",
        "phone": "+6281234567890",
        "email": "siti@example.com",
        "telegram_chat_id": 1001,
        "whatsapp_id": None,
        "language": "en",
    }
    assert order["delivery"] == delivery and order["payments"] == [] and order["events"] == []
    assert await stock(api, "KOPI-SUSU") == 98 and await stock(api, "ROTI-BAKAR") == 49
    again = await api.call("GET", f"/api/orders/{order['code'].lower()}")
    assert again.status == 200 and again.body == order


async def test_a_second_order_for_the_same_chat_reuses_its_customer(api: ApiClient) -> None:
    await api.place()
    await api.place(customer={**CUSTOMER, "name": "Siti R."})
    rows = await api.rows(select(Customer.channel, Customer.channel_user_id, Customer.name))
    assert rows == [("telegram", "1001", "Siti R.")]


async def test_a_customer_without_a_chat_is_kept_by_phone_and_pickup_is_the_default(
    api: ApiClient,
) -> None:
    order = await api.place(customer={"name": "Budi", "phone": "+62 812-1111-2222"})
    assert order["customer"]["telegram_chat_id"] is None and order["shipping"] == 0
    assert order["delivery"] == {"method": "pickup", "address": None, "note": None}
    rows = await api.rows(select(Customer.channel, Customer.channel_user_id))
    assert rows == [("api", "+6281211112222")]


async def test_an_invalid_order_gets_422_naming_every_field(api: ApiClient) -> None:
    answer = await api.call(
        "POST",
        "/api/orders",
        {
            "items": [{"sku": "KOPI-SUSU", "quantity": 0}, {"sku": "", "quantity": 1.5}],
            "customer": {"phone": "12", "telegram_chat_id": 5, "whatsapp_id": "6281"},
            "delivery": {"method": "drone"},
            "coupon": "FREE",
        },
    )
    assert answer.status == 422
    assert answer.body["error"]["code"] == "invalid"
    fields = {f["field"] for f in answer.body["error"]["fields"]}
    assert fields == {
        "items[0].quantity",
        "items[1].sku",
        "items[1].quantity",
        "customer.name",
        "customer.whatsapp_id",
        "delivery.method",
        "coupon",
    }


async def test_rules_beyond_the_schema_are_422_naming_the_field(api: ApiClient) -> None:
    answer = await api.call(
        "POST",
        "/api/orders",
        {
            "items": [{"sku": "KOPI-SUSU", "quantity": 1}],
            "customer": {**CUSTOMER, "phone": "12345", "whatsapp_id": "6281234567890"},
            "delivery": {"method": "delivery"},
        },
    )
    assert answer.status == 422
    fields = [f["field"] for f in answer.body["error"]["fields"]]
    assert fields == ["customer.phone", "customer.whatsapp_id", "delivery.address"]


async def test_an_unknown_product_names_its_line_and_nothing_is_kept(api: ApiClient) -> None:
    items = [{"sku": "KOPI-SUSU", "quantity": 1}, {"sku": "BIR-BINTANG", "quantity": 1}]
    answer = await api.call("POST", "/api/orders", {"items": items, "customer": CUSTOMER})
    assert answer.status == 422
    assert answer.body["error"]["code"] == "unknown_product"
    assert answer.body["error"]["fields"][0]["field"] == "items[1].sku"
    assert await stock(api, "KOPI-SUSU") == 100
    assert await api.rows(select(Customer.id)) == []


async def test_more_than_the_stock_is_409_out_of_stock(api: ApiClient) -> None:
    items = [{"sku": "BIJI-TORAJA-250", "quantity": 16}]
    answer = await api.call("POST", "/api/orders", {"items": items, "customer": CUSTOMER})
    assert answer.status == 409
    assert answer.body["error"]["code"] == "out_of_stock"
    assert answer.body["error"]["fields"][0]["field"] == "items[0].quantity"
    assert await stock(api, "BIJI-TORAJA-250") == 15


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 422, "invalid"),
        (b'{"items": NaN}', 400, "bad_request"),
        (b"\xff\xfe", 400, "bad_request"),
        (b'{"items": [], "customer": {"name": "\\u0000", "phone": "\\ud800"}}', 422, "invalid"),
    ],
    ids=["broken", "array", "nan", "not-utf8", "nul-and-surrogate"],
)
async def test_a_body_that_cannot_be_read_is_refused_with_the_error_shape(
    api: ApiClient, data: bytes, status: int, code: str
) -> None:
    headers = {"Content-Type": "application/json"}
    answer = await api.call("POST", "/api/orders", data=data, headers=headers)
    assert (answer.status, answer.body["error"]["code"]) == (status, code)


async def test_a_body_over_1_mib_is_refused_with_413(api: ApiClient) -> None:
    body = io.BytesIO(b"x" * (1024 * 1024 + 1))
    async with api.http.post(api.running.url("/api/orders"), data=body, headers=AUTH) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "too_large"


async def test_orders_come_newest_first_a_page_at_a_time_and_by_status(api: ApiClient) -> None:
    codes = [(await api.place())["code"] for _ in range(5)]
    cancelled = codes[1]
    assert (await api.call("POST", f"/api/orders/{cancelled}/cancel")).status == 200
    seen: list[str] = []
    cursor = None
    while True:
        query = "/api/orders?limit=2" + (f"&cursor={cursor}" if cursor else "")
        answer = await api.call("GET", query)
        assert answer.status == 200 and len(answer.body["orders"]) <= 2
        seen += [o["code"] for o in answer.body["orders"]]
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
    assert seen == codes[::-1]
    pending = await api.call("GET", "/api/orders?status=pending_payment&limit=100")
    assert [o["code"] for o in pending.body["orders"]] == [
        c for c in codes[::-1] if c != cancelled
    ]
    assert pending.body["next_cursor"] is None
    only = await api.call("GET", "/api/orders?status=cancelled")
    assert [o["code"] for o in only.body["orders"]] == [cancelled]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("status=lost", "status"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
    ],
)
async def test_a_bad_list_query_is_422_naming_the_parameter(
    api: ApiClient, query: str, field: str
) -> None:
    answer = await api.call("GET", f"/api/orders?{query}")
    assert answer.status == 422
    assert [f["field"] for f in answer.body["error"]["fields"]] == [field]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/orders/ZZZZZZ"),
        ("GET", "/api/orders/not-a-code"),
        ("POST", "/api/orders/ZZZZZZ/payments"),
        ("POST", "/api/orders/ZZZZZZ/cancel"),
        ("POST", "/api/orders/ZZZZZZ/ship"),
    ],
)
async def test_an_unknown_order_is_404(api: ApiClient, method: str, path: str) -> None:
    answer = await api.call(method, path, {"method": "sandbox:qris"} if "pay" in path else None)
    assert (answer.status, answer.body["error"]["code"]) == (404, "unknown_order")


async def test_unknown_routes_and_methods_answer_in_the_error_shape(api: ApiClient) -> None:
    missing = await api.call("GET", "/api/refunds")
    assert (missing.status, missing.body["error"]["code"]) == (404, "not_found")
    wrong = await api.call("DELETE", "/api/orders")
    assert (wrong.status, wrong.body["error"]["code"]) == (405, "method_not_allowed")
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "POST"}


# ---- cancel and ship -------------------------------------------------------------------------


async def test_cancel_gives_the_stock_back_cancels_the_payment_and_tells_the_customer(
    api: ApiClient,
) -> None:
    order = await api.place()
    payment = await api.pay_with(order["code"])
    answer = await api.call("POST", f"/api/orders/{order['code']}/cancel", {"reason": "no show"})
    assert answer.status == 200 and answer.body["status"] == "cancelled"
    assert answer.body["payments"][0]["id"] == payment["id"]
    assert answer.body["payments"][0]["status"] == "cancelled"
    assert await stock(api, "KOPI-SUSU") == 100
    assert ("order_cancelled", "telegram", "1001") in await outbox(api)
    again = await api.call("POST", f"/api/orders/{order['code']}/cancel")
    assert (again.status, again.body["error"]["code"]) == (409, "not_cancellable")


async def test_only_a_paid_order_ships_and_the_customer_hears_the_tracking_number(
    api: ApiClient,
) -> None:
    order = await api.place()
    code = order["code"]
    early = await api.call("POST", f"/api/orders/{code}/ship", {"tracking": "JNE123"})
    assert (early.status, early.body["error"]["code"]) == (409, "not_shippable")
    payment = await api.pay_with(code)
    await api.runtime.gateways["sandbox"].settle(payment["reference"], "pay")
    await api.runtime.sandbox.flush()
    shipped = await api.call("POST", f"/api/orders/{code}/ship", {"tracking": "JNE123"})
    assert shipped.status == 200, shipped.body
    assert (shipped.body["status"], shipped.body["tracking"]) == ("shipped", "JNE123")
    kinds = [kind for kind, _, _ in await outbox(api)]
    assert kinds.count("order_shipped") == 1
    bad = await api.call("POST", f"/api/orders/{code}/ship", {"tracking": 42})
    assert [f["field"] for f in bad.body["error"]["fields"]] == ["tracking"]
