"""The M-Pesa adapter over real HTTP against FakeDaraja, plus the shared recorded examples."""

from __future__ import annotations

import asyncio
import base64
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

from bot.config import ConfigError, load_config
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
)
from payments.gateways.mpesa import wire
from payments.gateways.mpesa.adapter import REASONS, STATUS_MAP, MpesaGateway
from tests.conftest import ROOT
from tests.gateways.mpesa.fake import FakeDaraja
from tests.gateways.mpesa.harness import CONSUMER_KEY, CONSUMER_SECRET, PASSKEY, SHORTCODE

TIMEOUT = 2.0  # roomy, so a busy CI machine never times out by accident
SLOW = 3.0  # a "timeout" answer from the fake comes this late, past TIMEOUT
CALLBACKS = "https://bot.example.com/callbacks/mpesa"
RECORDINGS = Path(__file__).parent / "recordings"
TILL = "5678901"
S = PaymentStatus


def checkout(reference: str = "A7K2Q901", **kw: Any) -> Checkout:
    values: dict[str, Any] = {
        "reference": reference,
        "amount": 150_000,  # KSh 1,500 in cents
        "currency": "KES",
        "method": MethodId.parse("mpesa:ussd"),
        "customer": Customer("Wanjiru Kamau", "+254712345678"),
        "description": "Order A7K2Q9",
        "expires_at": datetime.now(UTC) + timedelta(minutes=5),
        "callback_url": CALLBACKS,
    }
    return Checkout(**(values | kw))


def ref(external_id: str | None, reference: str = "A7K2Q901") -> PaymentRef:
    return PaymentRef(reference, external_id, MethodId.parse("mpesa:ussd"))


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDINGS / name).read_text())
    return data


@dataclass
class Harness:
    fake: FakeDaraja
    gateway: MpesaGateway

    def token(self, reference: str = "A7K2Q901") -> str:
        url = self.gateway.callback_url(CALLBACKS, reference)
        return url.rsplit("/", 1)[1]

    async def pushed(self, reference: str = "A7K2Q901") -> str:
        created = await self.gateway.create_payment(checkout(reference))
        assert created.external_id is not None
        return created.external_id


Start = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start(aiohttp_server: AiohttpServer, http: aiohttp.ClientSession) -> Start:
    async def start(*, secret: str = CONSUMER_SECRET, till: bool = False, **kw: Any) -> Harness:
        kind = "CustomerBuyGoodsOnline" if till else "CustomerPayBillOnline"
        fake = FakeDaraja(
            CONSUMER_KEY,
            CONSUMER_SECRET,
            SHORTCODE,
            PASSKEY,
            transaction_type=kind,
            till_number=TILL if till else "",
            slow_seconds=SLOW,
        )
        server = await aiohttp_server(fake.app)
        gateway = MpesaGateway(
            http,
            base_url=str(server.make_url("")).rstrip("/"),
            consumer_key=CONSUMER_KEY,
            consumer_secret=secret,
            shortcode=SHORTCODE,
            passkey=PASSKEY,
            transaction_type="till" if till else "paybill",
            till_number=TILL if till else "",
            timeout=TIMEOUT,
            **kw,
        )
        return Harness(fake, gateway)

    return start


@pytest.fixture
async def mpesa(start: Start) -> Harness:
    return await start()


# -- the push ----------------------------------------------------------------------------------


async def test_a_push_sends_whole_shillings_to_the_kenyan_number_and_keeps_the_id(
    mpesa: Harness,
) -> None:
    created = await mpesa.gateway.create_payment(checkout())
    assert created.status is S.PENDING and created.external_id
    assert created.external_id.startswith("ws_CO_")
    assert created.instructions is not None
    assert created.instructions.kind is MethodKind.USSD
    assert created.instructions.phone == "0712 345678"
    [body] = mpesa.fake.bodies
    assert body["Amount"] == 1500 and body["PhoneNumber"] == body["PartyA"] == "254712345678"
    assert body["TransactionType"] == "CustomerPayBillOnline" and body["PartyB"] == SHORTCODE
    assert body["AccountReference"] == "A7K2Q901" and len(body["TransactionDesc"]) <= 13
    assert body["CallBackURL"] == f"{CALLBACKS}/{mpesa.token()}"


async def test_a_till_pays_to_the_till_number_by_buy_goods(start: Start) -> None:
    mpesa = await start(till=True)
    await mpesa.gateway.create_payment(checkout())
    [body] = mpesa.fake.bodies
    assert body["TransactionType"] == "CustomerBuyGoodsOnline"
    assert (body["BusinessShortCode"], body["PartyB"]) == (SHORTCODE, TILL)


def test_the_password_is_the_worked_example() -> None:
    example = recording("stk_push_request.json")
    check = example["password_check"]
    stamp = wire.timestamp(datetime(2026, 1, 15, 7, 10, 26, tzinfo=UTC))  # 10:10:26 in Nairobi
    assert stamp == check["timestamp"] == example["body"]["Timestamp"]
    made = wire.password(check["shortcode"], check["passkey"], stamp)
    assert made == check["expected_password"] == example["body"]["Password"]


async def test_a_timestamp_in_utc_instead_of_kenyan_time_is_refused(start: Start) -> None:
    """The fake checks Timestamp against Kenyan time: a clock read as UTC is 3 hours off."""

    def utc_wall_clock() -> datetime:
        return datetime.now(UTC).replace(tzinfo=wire.EAT)  # UTC's digits, read as Nairobi's

    mpesa = await start(clock=utc_wall_clock)
    with pytest.raises(GatewayRejected, match="Timestamp"):
        await mpesa.gateway.create_payment(checkout())
    assert mpesa.fake.refusals == ["Timestamp"]


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("+254712345678", "254712345678"),
        ("0712345678", "254712345678"),
        ("+254 110 123456", "254110123456"),
        ("254112345678", "254112345678"),
    ],
)
async def test_kenyan_mobile_numbers_are_sent_as_254_and_nine_digits(
    mpesa: Harness, given: str, sent: str
) -> None:
    await mpesa.gateway.create_payment(checkout(customer=Customer("W", given)))
    assert mpesa.fake.bodies[-1]["PhoneNumber"] == sent


@pytest.mark.parametrize("phone", [None, "+6281234567890", "+255712345678", "+254201234567"])
async def test_a_number_that_is_not_a_kenyan_mobile_is_refused_before_calling(
    mpesa: Harness, phone: str | None
) -> None:
    with pytest.raises(GatewayRejected, match="Kenyan mobile"):
        await mpesa.gateway.create_payment(checkout(customer=Customer("W", phone)))
    assert mpesa.fake.calls == []


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": 150_050},
        {"amount": 0},
        {"currency": "TZS"},
        {"method": MethodId.parse("mpesa:link")},
    ],
)
async def test_what_daraja_cannot_take_is_refused_before_calling(
    mpesa: Harness, bad: dict[str, Any]
) -> None:
    with pytest.raises(GatewayRejected):
        await mpesa.gateway.create_payment(checkout(**bad))
    assert mpesa.fake.calls == []


async def test_one_token_serves_every_request_until_it_expires(mpesa: Harness) -> None:
    ids = await asyncio.gather(*(mpesa.pushed(f"A7K2Q9{n:02d}") for n in range(1, 6)))
    for checkout_id in ids:
        await mpesa.gateway.fetch_status(ref(checkout_id))
    assert mpesa.fake.token_requests == 1
    mpesa.fake.expire_tokens()  # Daraja answers "Invalid Access Token": one new token, once
    assert (await mpesa.gateway.fetch_status(ref(ids[0]))).status is S.PENDING
    await mpesa.gateway.fetch_status(ref(ids[1]))
    assert mpesa.fake.token_requests == 2


async def test_wrong_consumer_credentials_are_rejected(start: Start) -> None:
    mpesa = await start(secret="not-the-secret")
    with pytest.raises(GatewayRejected, match=r"400\.008\.01"):
        await mpesa.gateway.create_payment(checkout())


async def test_a_retry_after_a_timeout_that_pushed_returns_the_same_push(mpesa: Harness) -> None:
    mpesa.fake.fail_next("timeout")
    with pytest.raises(GatewayUnavailable):
        await mpesa.gateway.create_payment(checkout())
    again = await mpesa.gateway.create_payment(checkout())
    assert again.external_id == mpesa.fake.refs["A7K2Q901"]
    assert mpesa.fake.created("A7K2Q901") == 1


@pytest.mark.parametrize("mode", ["500", "429"])
async def test_a_push_refused_for_a_moment_is_unavailable_then_sent_once(
    mpesa: Harness, mode: str
) -> None:
    mpesa.fake.fail_next(mode)
    with pytest.raises(GatewayUnavailable):
        await mpesa.gateway.create_payment(checkout())
    assert mpesa.fake.created("A7K2Q901") == 0
    await mpesa.gateway.create_payment(checkout())
    assert mpesa.fake.created("A7K2Q901") == 1


# -- the query ---------------------------------------------------------------------------------


async def test_an_open_prompt_reads_as_pending_while_daraja_says_being_processed(
    mpesa: Harness,
) -> None:
    checkout_id = await mpesa.pushed()
    answer = await mpesa.gateway.fetch_status(ref(checkout_id))
    assert answer.status is S.PENDING and answer.raw_status == "500.001.1001"
    assert answer.external_id == checkout_id


@pytest.mark.parametrize("code", sorted(STATUS_MAP))
async def test_each_result_code_maps_to_ours_with_a_reason(mpesa: Harness, code: str) -> None:
    checkout_id = await mpesa.pushed()
    mpesa.fake.set_status("A7K2Q901", code)
    answer = await mpesa.gateway.fetch_status(ref(checkout_id))
    assert answer.status is STATUS_MAP[code] and answer.raw_status == code
    assert answer.external_id == checkout_id and answer.reference is None
    assert answer.reason == (None if code == "0" else REASONS[code])


def test_the_documented_outcomes_are_the_ones_in_the_notes() -> None:
    assert STATUS_MAP["0"] is S.PAID and STATUS_MAP["1032"] is S.CANCELLED
    assert {STATUS_MAP[c] for c in ("1037", "1019")} == {S.EXPIRED}
    assert {STATUS_MAP[c] for c in ("1", "2001", "1001", "1025", "9999", "17")} == {S.FAILED}
    assert REASONS["2001"] == "wrong PIN" and REASONS["1"] == "not enough balance"
    assert REASONS["1032"] == "you cancelled the prompt"


async def test_an_unlisted_result_code_is_a_failure_and_a_word_is_pending(
    mpesa: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    checkout_id = await mpesa.pushed()
    mpesa.fake.set_status("A7K2Q901", "4242")
    with caplog.at_level(logging.WARNING):
        assert (await mpesa.gateway.fetch_status(ref(checkout_id))).status is S.FAILED
        mpesa.fake.set_status("A7K2Q901", "MYSTERY")
        assert (await mpesa.gateway.fetch_status(ref(checkout_id))).status is S.PENDING
    assert "unlisted result code" in caplog.text and "unmapped status" in caplog.text


async def test_without_the_push_id_it_reads_as_pending_without_asking(mpesa: Harness) -> None:
    answer = await mpesa.gateway.fetch_status(ref(None))
    assert answer.status is S.PENDING and answer.reference == "A7K2Q901"
    assert mpesa.fake.calls == []


async def test_an_unknown_push_id_is_rejected(mpesa: Harness) -> None:
    with pytest.raises(GatewayRejected, match="CheckoutRequestID"):
        await mpesa.gateway.fetch_status(ref("ws_CO_000"))


async def test_cancel_reports_where_the_prompt_stands(mpesa: Harness) -> None:
    checkout_id = await mpesa.pushed()
    mpesa.fake.pay("A7K2Q901")
    answer = await mpesa.gateway.cancel_payment(ref(checkout_id))
    assert answer is not None and answer.status is S.PAID
    assert await mpesa.gateway.cancel_payment(ref(None)) is None


# -- callbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["stk_callback_success.json", "stk_callback_cancelled.json", "stk_callback_timeout.json"],
)
async def test_recorded_callbacks_read_as_documented(mpesa: Harness, name: str) -> None:
    example = recording(name)
    body = json.dumps(example["body"]).encode()
    result = mpesa.gateway.parse_tokened_callback(mpesa.token(), {}, body)
    assert result.status == example["expected"]["canonical_status"]
    assert result.raw_status == str(example["expected"]["raw_result_code"])
    assert result.reference == "A7K2Q901"  # from the token, not from anything in the body
    assert result.external_id == example["body"]["Body"]["stkCallback"]["CheckoutRequestID"]
    if result.status is S.PAID:
        assert (result.amount, result.currency) == (15_000, "KES")  # KSh 150 in cents


@pytest.mark.parametrize(
    "token", ["", "A7K2Q901", "A7K2Q901.", "A7K2Q902.{mac}", "A7K2Q901.{mac}x", "x.{mac}"]
)
async def test_a_wrong_token_is_rejected(mpesa: Harness, token: str) -> None:
    mac = mpesa.token().split(".")[1]
    body = json.dumps(recording("stk_callback_success.json")["body"]).encode()
    with pytest.raises(CallbackRejected):
        mpesa.gateway.parse_tokened_callback(token.format(mac=mac), {}, body)


async def test_a_token_made_by_another_server_is_rejected(start: Start) -> None:
    ours, theirs = await start(), await start(secret="another-consumer-secret")
    body = json.dumps(recording("stk_callback_success.json")["body"]).encode()
    with pytest.raises(CallbackRejected):
        ours.gateway.parse_tokened_callback(theirs.token(), {}, body)


async def test_a_callback_without_a_token_is_rejected(mpesa: Harness) -> None:
    body = json.dumps(recording("stk_callback_success.json")["body"]).encode()
    with pytest.raises(CallbackRejected):
        mpesa.gateway.parse_callback({}, body)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"Body": {}}',
        b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1"}}}',
        b'{"Body": {"stkCallback": {"ResultCode": 0, "CallbackMetadata": {"Item": ['
        b'{"Name": "Amount", "Value": 150.5}]}}}}',
        b'{"Body": {"stkCallback": {"ResultCode": 0, "CallbackMetadata": {"Item": ['
        b'{"Name": "Amount", "Value": "lots"}]}}}}',
        b"[" * 100_000,
    ],
)
async def test_an_unreadable_body_with_a_good_token_is_unreadable(
    mpesa: Harness, body: bytes
) -> None:
    with pytest.raises(CallbackUnreadable):
        mpesa.gateway.parse_tokened_callback(mpesa.token(), {}, body)


async def test_daraja_gets_its_own_answer_shape(mpesa: Harness) -> None:
    accepted = {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert json.loads(mpesa.gateway.answer_callback("applied")) == accepted
    assert json.loads(mpesa.gateway.answer_callback("unknown_token"))["ResultCode"] == 1


async def test_no_secret_appears_in_errors_logs_or_repr(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mpesa = await start()
    errors: list[PaymentError] = []
    for mode in ("timeout", "500", "429"):
        mpesa.fake.fail_next(mode)
        with pytest.raises(GatewayUnavailable) as unavailable:
            await mpesa.gateway.create_payment(checkout(f"B7K2Q9{len(errors):02d}"))
        errors.append(unavailable.value)
    with pytest.raises(CallbackRejected) as rejected:
        mpesa.gateway.parse_tokened_callback("A7K2Q901.0000", {}, b"{}")
    errors.append(rejected.value)
    wrong = await start(secret="wrong-" + CONSUMER_SECRET)
    with pytest.raises(GatewayRejected) as refused:
        await wrong.gateway.create_payment(checkout())
    errors.append(refused.value)
    basic = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    texts = [str(e) for e in errors] + [repr(e.args) for e in errors] + [caplog.text]
    texts += [repr(mpesa.gateway), repr(wrong.gateway)]
    for text in texts:
        assert CONSUMER_SECRET not in text and PASSKEY not in text and basic not in text
        assert mpesa.token() not in text
    assert all(e.__cause__ is None for e in errors)


# -- config ------------------------------------------------------------------------------------

SHIPPED = (ROOT / "config.toml").read_text()
MPESA_ENV = {"MPESA_CONSUMER_KEY": "k", "MPESA_CONSUMER_SECRET": "s", "MPESA_PASSKEY": "p"}


def mpesa_config(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    at = SHIPPED.index("[payments.mpesa]")
    section = SHIPPED[at:].replace("enabled = false", "enabled = true", 1)
    for old, new in changes:  # within [payments.mpesa]: other sections have such lines too
        assert old in section
        section = section.replace(old, new, 1)
    path = tmp_path / "config.toml"
    head = SHIPPED[:at].replace('currency = "IDR"', 'currency = "KES"', 1)  # M-Pesa: KES only
    path.write_text(head + section)
    return path


def test_mpesa_is_off_as_shipped_and_loads_when_enabled(tmp_path: Path) -> None:
    assert not load_config(ROOT / "config.toml", environ={}).payments.mpesa.enabled
    config = load_config(mpesa_config(tmp_path), environ=MPESA_ENV)
    section = config.payments.mpesa
    assert section.enabled and section.methods == ("ussd",) and section.passkey == "p"
    assert section.expiry == 300 and section.transaction_type == "paybill"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            'consumer_secret = "${MPESA_CONSUMER_SECRET}"',
            'consumer_secret = ""',
            "consumer_secret",
        ),
        ('passkey = "${MPESA_PASSKEY}"', 'passkey = "${MPESA_PASSKEY_X:-}"', "passkey"),
        ('transaction_type = "paybill"', 'transaction_type = "buygoods"', "transaction_type"),
        ('transaction_type = "paybill"', 'transaction_type = "till"', "till_number"),
        ('shortcode = "174379"', 'shortcode = "my shop"', "shortcode"),
        ('methods = ["ussd"]', 'methods = ["ussd", "link"]', "methods[1]"),
    ],
)
def test_a_bad_mpesa_setting_names_its_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(mpesa_config(tmp_path, (old, new)), environ=MPESA_ENV)
    assert caught.value.key == f"payments.mpesa.{key}"


def test_an_unset_mpesa_secret_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(mpesa_config(tmp_path), environ={"MPESA_CONSUMER_KEY": "k"})
    assert caught.value.key == "payments.mpesa.consumer_secret"
