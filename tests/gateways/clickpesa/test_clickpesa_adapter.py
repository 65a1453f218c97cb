"""The ClickPesa adapter over real HTTP against FakeClickPesa, plus the shared worked examples
(../shared/gateways/examples/clickpesa, copied into recordings/)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from payments.base import (
    CallbackRejected,
    CallbackUnreadable,
    Checkout,
    Customer,
    GatewayRejected,
    GatewayUnavailable,
    MethodId,
    MethodKind,
    PaymentError,
    PaymentRef,
    PaymentStatus,
    PhoneNotAccepted,
)
from payments.gateways.clickpesa import wire
from payments.gateways.clickpesa.adapter import STATUS_MAP, TOKEN_LIFE, ClickPesaGateway
from tests.gateways.clickpesa.fake import CLIENT_ID, RETRY_AFTER, FakeClickPesa

API_KEY = "SKmadeupCLICKPESAkey0000000001"  # made up
CHECKSUM_KEY = "test-checksum-key-0001"  # the worked examples' key
TIMEOUT = 2.0  # roomy, so a busy CI machine never times out by accident
SLOW = 3.0  # a "timeout" answer from the fake comes this late, past TIMEOUT
RECORDINGS = Path(__file__).parent / "recordings"
S = PaymentStatus
METHOD = MethodId.parse("clickpesa:ussd")


def checkout(reference: str = "A7K2Q901", **kw: Any) -> Checkout:
    values: dict[str, Any] = {
        "reference": reference,
        "amount": 15_000,
        "currency": "TZS",
        "method": METHOD,
        "customer": Customer("Juma Mussa", "+255712345678", "juma@example.com"),
        "description": "Kahawa 1/2 kg",
        "expires_at": datetime.now(UTC) + timedelta(minutes=10),
        "callback_url": "https://bot.example.com/callbacks/clickpesa",
    }
    return Checkout(**(values | kw))


def ref(reference: str = "A7K2Q901") -> PaymentRef:
    return PaymentRef(reference, None, METHOD)


def recording(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


class Clock:
    """The adapter's monotonic clock, moved by the test: the token's age without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    fake: FakeClickPesa
    gateway: ClickPesaGateway
    clock: Clock


Start = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start(aiohttp_server: AiohttpServer, http: aiohttp.ClientSession) -> Start:
    async def start(
        *, key: str = API_KEY, checksum_key: str = CHECKSUM_KEY, ours: str | None = None, **kw: Any
    ) -> Harness:
        fake = FakeClickPesa(API_KEY, checksum_key, slow_seconds=SLOW, **kw)
        server = await aiohttp_server(fake.app)
        clock = Clock()
        gateway = ClickPesaGateway(
            http,
            base_url=str(server.make_url("")).rstrip("/"),
            client_id=CLIENT_ID,
            api_key=key,
            checksum_key=checksum_key if ours is None else ours,
            timeout=TIMEOUT,
            clock=clock,
        )
        return Harness(fake, gateway, clock)

    return start


@pytest.fixture
async def clickpesa(start: Start) -> Harness:
    return await start()


# -- the checksum and the phone ----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(RECORDINGS.glob("*.json")), ids=lambda p: p.stem)
def test_the_worked_examples_checksums_are_ours(path: Path) -> None:
    example = recording(path)
    check = example.get("signature_check")
    if check is None:
        pytest.skip("no checksum in this example: read by the status test below")
    assert wire.canonical(example["body"]) == check["string_signed"]
    assert wire.checksum(example["body"], check["checksum_key"]) == check["expected_checksum"]


@pytest.mark.parametrize(
    ("given", "sent", "shown"),
    [
        ("+255712345678", "255712345678", "0712 345 678"),
        ("0754 000 111", "255754000111", "0754 000 111"),
        ("255682345678", "255682345678", "0682 345 678"),
        ("+255 65 234 5678", "255652345678", "0652 345 678"),
    ],
)
def test_a_tanzanian_mobile_number_goes_as_255_and_shows_as_written_there(
    given: str, sent: str, shown: str
) -> None:
    number = wire.msisdn(given)
    assert number is not None
    assert (wire.wire_phone(number), wire.shown_phone(number)) == (sent, shown)


@pytest.mark.parametrize(
    "given", [None, "", "+6281234567890", "+254712345678", "+255222123456", "0712", "hello"]
)
def test_anything_but_a_tanzanian_mobile_number_is_none(given: str | None) -> None:
    assert wire.msisdn(given) is None


# -- create ------------------------------------------------------------------------------------


async def test_a_push_is_previewed_then_initiated_with_the_checksum(clickpesa: Harness) -> None:
    created = await clickpesa.gateway.create_payment(checkout())
    assert created.status is S.PROCESSING and created.reference == "A7K2Q901"
    assert created.external_id and created.external_id.startswith("A7K2Q901LCP")
    assert created.instructions is not None
    assert created.instructions.kind is MethodKind.USSD
    assert created.instructions.phone == "0712 345 678"
    paths = [path for path, _ in clickpesa.fake.bodies]
    assert paths == ["/payments/preview-ussd-push-request", "/payments/initiate-ussd-push-request"]
    body = clickpesa.fake.bodies[-1][1]
    assert {k: v for k, v in body.items() if k != "checksum"} == {
        "amount": "15000",
        "currency": "TZS",
        "orderReference": "A7K2Q901",
        "phoneNumber": "255712345678",
    }
    assert body["checksum"] == wire.checksum(body, CHECKSUM_KEY)


async def test_without_a_checksum_key_the_bodies_carry_none(start: Start) -> None:
    plain = await start(checksum_key="")
    await plain.gateway.create_payment(checkout())
    assert all("checksum" not in body for _, body in plain.fake.bodies)


async def test_a_wrong_checksum_key_is_refused_by_clickpesa(start: Start) -> None:
    wrong = await start(ours="not-the-accounts-key")
    with pytest.raises(GatewayRejected) as rejected:
        await wrong.gateway.create_payment(checkout())
    assert "400 Invalid checksum" in str(rejected.value)
    assert wrong.fake.payments == {}


async def test_a_phone_from_another_country_is_refused_before_calling(
    clickpesa: Harness,
) -> None:
    for phone in ("+6281234567890", "+254712345678", None):
        who = Customer("Budi", phone)
        with pytest.raises(PhoneNotAccepted) as refused:
            await clickpesa.gateway.create_payment(checkout(customer=who))
        assert refused.value.country == "TZ"
    assert clickpesa.fake.calls == []


async def test_what_clickpesa_cannot_take_is_refused_before_calling(clickpesa: Harness) -> None:
    bad = [checkout(currency="IDR"), checkout(amount=0), checkout(reference="A7K2-Q901")]
    bad.append(checkout(method=MethodId.parse("clickpesa:va:bca")))
    for one in bad:
        with pytest.raises(GatewayRejected):
            await clickpesa.gateway.create_payment(one)
    assert clickpesa.fake.calls == []


async def test_the_fake_refuses_a_reference_with_a_dash_a_number_amount_and_a_foreign_phone(
    clickpesa: Harness, http: aiohttp.ClientSession
) -> None:
    """The fake's contract, so that the adapter tests above mean something."""
    token = await clickpesa.gateway._bearer()
    url = str(clickpesa.gateway._base) + "/payments/initiate-ussd-push-request"
    good = wire.push_body(checkout(), "255712345678")
    bad = [
        good | {"orderReference": "A7K2-Q901"},
        good | {"amount": 15000},
        good | {"phoneNumber": "6281234567890"},
        good | {"currency": "KES"},
    ]
    for body in bad:
        async with http.post(url, json=wire.signed(body, CHECKSUM_KEY),
                             headers={"Authorization": token}) as resp:  # fmt: skip
            assert resp.status == 400
    assert clickpesa.fake.payments == {}


async def test_each_attempt_is_a_new_reference_and_a_used_one_is_not_prompted_again(
    clickpesa: Harness,
) -> None:
    first = await clickpesa.gateway.create_payment(checkout("A7K2Q901"))
    again = await clickpesa.gateway.create_payment(checkout("A7K2Q901"))  # a 409 at ClickPesa
    second = await clickpesa.gateway.create_payment(checkout("A7K2Q902"))
    assert again.external_id == first.external_id and again.instructions is not None
    assert clickpesa.fake.created("A7K2Q901") == 1 and clickpesa.fake.created("A7K2Q902") == 1
    assert second.external_id != first.external_id


async def test_retry_after_a_timeout_that_created_returns_the_same_push(
    clickpesa: Harness,
) -> None:
    clickpesa.fake.fail_next("timeout")
    with pytest.raises(GatewayUnavailable):
        await clickpesa.gateway.create_payment(checkout())
    again = await clickpesa.gateway.create_payment(checkout())
    assert clickpesa.fake.created("A7K2Q901") == 1
    assert again.status is S.PROCESSING and again.instructions is not None


async def test_create_during_a_500_or_429_is_unavailable(clickpesa: Harness) -> None:
    clickpesa.fake.fail_next("500")
    with pytest.raises(GatewayUnavailable):
        await clickpesa.gateway.create_payment(checkout())
    clickpesa.fake.fail_next("429")
    with pytest.raises(GatewayUnavailable) as limited:
        await clickpesa.gateway.create_payment(checkout())
    assert limited.value.retry_after == RETRY_AFTER
    assert clickpesa.fake.created("A7K2Q901") == 0


async def test_no_network_available_at_preview_stops_before_the_prompt(clickpesa: Harness) -> None:
    clickpesa.fake.networks_up = False
    with pytest.raises(GatewayRejected) as rejected:
        await clickpesa.gateway.create_payment(checkout())
    assert "no network available" in str(rejected.value)
    assert clickpesa.fake.payments == {}


# -- the token ---------------------------------------------------------------------------------


async def test_one_token_is_fetched_and_shared_by_concurrent_requests(clickpesa: Harness) -> None:
    await clickpesa.gateway.create_payment(checkout())
    answers = await asyncio.gather(*(clickpesa.gateway.fetch_status(ref()) for _ in range(10)))
    assert {a.status for a in answers} == {S.PROCESSING}
    assert clickpesa.fake.token_requests == 1


async def test_the_token_is_sent_as_clickpesa_gave_it(clickpesa: Harness) -> None:
    await clickpesa.gateway.fetch_status(ref())
    [token] = clickpesa.fake.tokens
    assert token.startswith("Bearer ") and not token.startswith("Bearer Bearer")


async def test_an_old_token_is_replaced_before_its_hour_is_up(clickpesa: Harness) -> None:
    await clickpesa.gateway.fetch_status(ref())
    clickpesa.clock.now += TOKEN_LIFE - 1
    await clickpesa.gateway.fetch_status(ref())
    assert clickpesa.fake.token_requests == 1
    clickpesa.clock.now += 2
    await clickpesa.gateway.fetch_status(ref())
    assert clickpesa.fake.token_requests == 2
    assert TOKEN_LIFE < 3600


async def test_a_401_gets_one_new_token_and_one_more_try(clickpesa: Harness) -> None:
    await clickpesa.gateway.create_payment(checkout())
    clickpesa.fake.expire_tokens()
    answers = await asyncio.gather(*(clickpesa.gateway.fetch_status(ref()) for _ in range(5)))
    assert {a.status for a in answers} == {S.PROCESSING}
    assert clickpesa.fake.token_requests == 2  # one refresh, shared


async def test_wrong_credentials_are_rejected_with_one_token_request(start: Start) -> None:
    wrong = await start(key=API_KEY + "-wrong")
    with pytest.raises(GatewayRejected) as rejected:
        await wrong.gateway.fetch_status(ref())
    assert "generate-token: 401" in str(rejected.value)
    assert wrong.fake.token_requests == 1


async def test_a_token_refused_again_after_refreshing_is_not_asked_for_a_third_time(
    start: Start,
) -> None:
    short = await start(token_life=0.0)  # every token is dead on arrival
    with pytest.raises(GatewayRejected) as rejected:
        await short.gateway.fetch_status(ref())
    assert "401" in str(rejected.value) and short.fake.token_requests == 2


async def test_past_120_requests_a_minute_clickpesa_answers_429_and_we_wait(start: Start) -> None:
    tight = await start(per_minute=3)
    for _ in range(2):  # the token, then two reads fill the window
        await tight.gateway.fetch_status(ref())
    with pytest.raises(GatewayUnavailable) as limited:
        await tight.gateway.fetch_status(ref())
    assert limited.value.retry_after == RETRY_AFTER and tight.fake.limited == 1


# -- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", sorted(STATUS_MAP))
async def test_each_clickpesa_status_maps_to_ours(clickpesa: Harness, raw: str) -> None:
    await clickpesa.gateway.create_payment(checkout())
    clickpesa.fake.set_status("A7K2Q901", raw)
    answer = await clickpesa.gateway.fetch_status(ref())
    assert answer.status is STATUS_MAP[raw] and answer.raw_status == raw
    assert (answer.alert is not None) == (raw == "ON-HOLD")


async def test_the_table_is_the_one_clickpesa_documents() -> None:
    assert {k: str(v) for k, v in STATUS_MAP.items()} == {
        "SUCCESS": "paid",
        "SETTLED": "paid",
        "FAILED": "failed",
        "PROCESSING": "processing",
        "PENDING": "pending",
        "ON-HOLD": "processing",
    }


async def test_a_paid_push_reads_as_paid_with_its_amount(clickpesa: Harness) -> None:
    await clickpesa.gateway.create_payment(checkout())
    clickpesa.fake.pay("A7K2Q901")
    answer = await clickpesa.gateway.fetch_status(ref())
    assert (answer.status, answer.amount, answer.currency) == (S.PAID, 15_000, "TZS")
    assert answer.reference == "A7K2Q901" and answer.reason is None


async def test_a_failed_push_keeps_clickpesas_message(clickpesa: Harness) -> None:
    await clickpesa.gateway.create_payment(checkout())
    clickpesa.fake.fail("A7K2Q901", "Insufficient balance")
    answer = await clickpesa.gateway.fetch_status(ref())
    assert (answer.status, answer.reason) == (S.FAILED, "Insufficient balance")


async def test_a_push_clickpesa_does_not_know_yet_reads_as_pending(clickpesa: Harness) -> None:
    answer = await clickpesa.gateway.fetch_status(ref("ZZZZZZ01"))
    assert answer.status is S.PENDING and answer.raw_status is None
    assert ("GET", "/payments/ZZZZZZ01") in clickpesa.fake.calls


async def test_unmapped_status_reads_as_pending_and_warns(
    clickpesa: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await clickpesa.gateway.create_payment(checkout())
    clickpesa.fake.set_status("A7K2Q901", "MYSTERY")
    with caplog.at_level(logging.WARNING):
        answer = await clickpesa.gateway.fetch_status(ref())
    assert answer.status is S.PENDING and "unmapped status" in caplog.text


async def test_fetch_during_an_outage_is_unavailable(clickpesa: Harness) -> None:
    clickpesa.fake.fail_next("timeout", on="status")
    with pytest.raises(GatewayUnavailable):
        await clickpesa.gateway.fetch_status(ref())


async def test_a_prompt_cannot_be_withdrawn_but_a_paid_one_reports_paid(
    clickpesa: Harness,
) -> None:
    await clickpesa.gateway.create_payment(checkout())
    open_one = await clickpesa.gateway.cancel_payment(ref())
    assert open_one is not None and open_one.status is S.PROCESSING
    clickpesa.fake.pay("A7K2Q901")
    paid = await clickpesa.gateway.cancel_payment(ref())
    assert paid is not None and paid.status is S.PAID


# -- webhooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(RECORDINGS.glob("webhook_*.json")), ids=lambda p: p.stem)
async def test_the_worked_webhooks_verify_and_read_as_documented(
    clickpesa: Harness, path: Path
) -> None:
    example = recording(path)
    body = json.dumps(example["body"]).encode()
    result = clickpesa.gateway.parse_callback(example["http"]["headers"], body)
    assert result.status == example["expected"]["canonical_status"]
    assert result.status.is_final == example["expected"]["final"]
    assert result.reference == example["body"]["data"]["orderReference"] and result.verified
    tampered = json.loads(body)
    tampered["data"]["orderReference"] = "ORD20260115A8"
    with pytest.raises(CallbackRejected):
        clickpesa.gateway.parse_callback({}, json.dumps(tampered).encode())


@pytest.mark.parametrize("old_spelling", [False, True])
@pytest.mark.parametrize("where", ["body", "header"])
@pytest.mark.parametrize("status", ["SUCCESS", "FAILED"])
async def test_both_spellings_and_both_places_of_the_checksum_are_read(
    clickpesa: Harness, old_spelling: bool, where: str, status: str
) -> None:
    await clickpesa.gateway.create_payment(checkout())
    body, headers = clickpesa.fake.callback(
        "A7K2Q901", status=status, old_spelling=old_spelling, where=where
    )
    result = clickpesa.gateway.parse_callback(headers, json.dumps(body).encode())
    assert result.status is STATUS_MAP[status] and result.verified
    assert result.reference == "A7K2Q901" and result.amount == 15_000
    assert result.currency == "TZS" and result.external_id


async def test_an_event_without_a_status_reads_by_its_name(clickpesa: Harness) -> None:
    body = {"eventType": "PAYMENT FAILED", "data": {"orderReference": "A7K2Q901"}}
    signed = body | {"checksum": wire.checksum(body, CHECKSUM_KEY)}
    result = clickpesa.gateway.parse_callback({}, json.dumps(signed).encode())
    assert result.status is S.FAILED


@pytest.mark.parametrize("key", ["forged-key", ""])
async def test_a_webhook_with_a_wrong_or_no_checksum_is_rejected(
    clickpesa: Harness, key: str
) -> None:
    await clickpesa.gateway.create_payment(checkout())
    body, headers = clickpesa.fake.callback("A7K2Q901", key=key)
    with pytest.raises(CallbackRejected):
        clickpesa.gateway.parse_callback(headers, json.dumps(body).encode())


async def test_without_a_checksum_key_a_webhook_is_only_a_claim(start: Start) -> None:
    plain = await start(checksum_key="")
    await plain.gateway.create_payment(checkout())
    body, headers = plain.fake.callback("A7K2Q901")
    result = plain.gateway.parse_callback(headers, json.dumps(body).encode())
    assert result.status is S.PAID and not result.verified


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"status": "SUCCESS"},
        {"status": 7, "orderReference": "A7K2Q901"},
        {"status": "SUCCESS", "orderReference": "A7K2Q901", "collectedAmount": "15000.5"},
        {"status": "SUCCESS", "orderReference": "A7K2Q901", "collectedAmount": True},
        {"status": "SUCCESS", "orderReference": "A7K2Q901", "collectedAmount": "1e400"},
        {"orderReference": "A7K2Q901"},
    ],
)
async def test_an_unreadable_signed_webhook_is_unreadable(clickpesa: Harness, data: Any) -> None:
    body = {"event": "PAYOUT INITIATED", "data": data}
    signed = body | {"checksum": wire.checksum(body, CHECKSUM_KEY)}
    with pytest.raises(CallbackUnreadable):
        clickpesa.gateway.parse_callback({}, json.dumps(signed).encode())


@pytest.mark.parametrize("body", [b"", b"[]", b"not json", b"[" * 100_000, b'{"a":' * 900])
async def test_a_hostile_body_is_refused(clickpesa: Harness, body: bytes) -> None:
    deep = body + b"1" + b"}" * 900 if body.startswith(b'{"a":') else body
    with pytest.raises((CallbackRejected, CallbackUnreadable)):
        clickpesa.gateway.parse_callback({}, deep)


async def test_no_secret_appears_in_errors_logs_or_repr(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clickpesa = await start()
    errors: list[PaymentError] = []
    for mode in ("timeout", "500", "429"):
        clickpesa.fake.fail_next(mode)
        with pytest.raises(GatewayUnavailable) as unavailable:
            await clickpesa.gateway.create_payment(checkout())
        errors.append(unavailable.value)
    with pytest.raises(CallbackRejected) as rejected:
        clickpesa.gateway.parse_callback({}, b'{"data": {}, "checksum": "00"}')
    errors.append(rejected.value)
    wrong = await start(key=API_KEY + "-but-wrong")
    with pytest.raises(GatewayRejected) as refused:
        await wrong.gateway.create_payment(checkout())
    errors.append(refused.value)
    tokens = list(clickpesa.fake.tokens)
    texts = [str(e) for e in errors] + [repr(e.args) for e in errors] + [caplog.text]
    texts += [repr(clickpesa.gateway), repr(wrong.gateway)]
    for text in texts:
        assert API_KEY not in text and CHECKSUM_KEY not in text
        assert all(token not in text for token in tokens)
    assert all(e.__cause__ is None for e in errors)


async def test_the_worked_status_answer_reads_as_documented(clickpesa: Harness) -> None:
    """The shared example of GET /payments/{orderReference}, served as ClickPesa would."""
    example = recording(RECORDINGS / "query_payment_status_processing.json")
    [item] = example["response_body"]
    clickpesa.fake.payments[item["orderReference"]] = item
    answer = await clickpesa.gateway.fetch_status(ref(item["orderReference"]))
    assert answer.status == example["expected"]["canonical_status"]
    assert answer.status.is_final == example["expected"]["final"]
    assert (answer.amount, answer.currency) == (5000, "TZS")
