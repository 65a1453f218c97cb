"""Whatever a stranger posts to /callbacks/clickpesa, the parser answers with our two refusals
or a result; with the checksum key, signed bodies of any shape reach the reading, which must
hold too. The strategies are tests/unit/test_parsers_hostile.py's."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.gateways.clickpesa import wire
from payments.gateways.clickpesa.adapter import ClickPesaGateway
from tests.unit.test_parsers_hostile import (
    FUZZ,
    HOSTILE_BODIES,
    answers_only_with_our_refusals,
    field_maps,
    headers,
    json_values,
    texts,
)

KEY = "hostile-checksum-key"
DATA_FIELDS = ("orderReference", "status", "collectedAmount", "amount", "collectedCurrency",
               "currency", "id", "paymentId", "message", "customer")  # fmt: skip
EVENTS = st.sampled_from(["PAYMENT RECEIVED", "PAYMENT FAILED", "PAYOUT INITIATED"]) | texts


@pytest.fixture(params=[KEY, ""], ids=["checksum", "no-checksum"])
async def clickpesa(http: aiohttp.ClientSession, request: pytest.FixtureRequest) -> Any:
    gateway = ClickPesaGateway(
        http, base_url="http://127.0.0.1:9", client_id="c", api_key="k", checksum_key=request.param
    )
    return gateway


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_a_known_hostile_body_is_refused(clickpesa: ClickPesaGateway, body: bytes) -> None:
    for head in ({}, {"X-ClickPesa-Signature": "\udfff"}, {"x-clickpesa-checksum": "00"}):
        answers_only_with_our_refusals(clickpesa.parse_callback, head, body)


@FUZZ
@given(head=headers, data=st.dictionaries(texts, json_values, max_size=6) | json_values)
def test_arbitrary_json_is_refused_or_read(
    clickpesa: ClickPesaGateway, head: dict[str, str], data: Any
) -> None:
    answers_only_with_our_refusals(clickpesa.parse_callback, head, json.dumps(data).encode())


@FUZZ
@given(
    event=EVENTS,
    spelling=st.sampled_from(["event", "eventType"]),
    inner=field_maps(DATA_FIELDS) | json_values,
    in_header=st.booleans(),
)
def test_a_signed_body_of_any_shape_is_read_or_refused(
    clickpesa: ClickPesaGateway, event: str, spelling: str, inner: Any, in_header: bool
) -> None:
    envelope: dict[str, Any] = {spelling: event, "data": inner}
    try:
        mac = wire.checksum(envelope, KEY)
    except ValueError:  # too deep to sign: nobody could have
        return
    head = {"X-ClickPesa-Signature": mac} if in_header else {}
    body = envelope if in_header else envelope | {"checksum": mac}
    answers_only_with_our_refusals(clickpesa.parse_callback, head, json.dumps(body).encode())
