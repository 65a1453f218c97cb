"""Every reply the conversation can make renders as WhatsApp messages that Meta takes: the
fake Graph API's own checks (its 131009 limits) over arbitrary replies, and the shapes each
kind of reply becomes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.whatsapp.render import Outgoing, render
from bot.conversation.replies import Choice, Image, LinkButton, Reply
from tests.channels.whatsapp.fake import Refused, check_message

MEDIA = {"1357913579": b"png"}

ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64)
labels = st.text(min_size=1, max_size=60).filter(lambda s: s.strip())
choices = st.lists(
    st.builds(Choice, ids, labels, st.none() | st.text(max_size=150)),
    max_size=25,
    unique_by=lambda c: c.id,
)
images = st.none() | st.builds(
    Image,
    st.none() | st.just(b"\x89PNG"),
    st.just("https://shop.example/photo.jpg"),
)
links = st.none() | st.builds(LinkButton, labels, st.just("https://pay.example/x"))
replies = st.builds(
    Reply,
    st.text(max_size=6000),
    choices.map(tuple),
    links,
    images,
    st.booleans(),
    st.none() | st.just(("orders.csv", b"a,b\n")),
)


def accepted(message: Outgoing) -> None:
    payload = message.payload
    if message.upload is not None:  # the channel uploads first and puts the media id in
        if message.type == "interactive":
            payload = {**payload, "header": {"type": "image", "image": {"id": "1357913579"}}}
        else:
            payload = {**payload, "id": "1357913579"}
    check_message(message.type, payload, MEDIA)


@settings(max_examples=400, deadline=None)
@given(replies)
def test_every_reply_renders_within_whatsapps_limits(reply: Reply) -> None:
    rendered = render(reply, "id")
    assert rendered
    for message in rendered:
        try:
            accepted(message)
        except Refused as exc:  # pragma: no cover - the assertion says what broke
            raise AssertionError(f"{exc.details}: {message}") from exc


@settings(max_examples=200, deadline=None)
@given(choices.filter(bool))
def test_every_choice_stays_tappable(options: list[Choice]) -> None:
    rendered = render(Reply("Pick one", tuple(options)), "en")
    offered = [i for m in rendered for i in _choice_ids(m)]
    assert offered == [c.id for c in options]


def _choice_ids(message: Outgoing) -> list[str]:
    action = message.payload.get("action", {})
    if message.payload.get("type") == "button":
        return [b["reply"]["id"] for b in action["buttons"]]
    if message.payload.get("type") == "list":
        return [r["id"] for s in action["sections"] for r in s["rows"]]
    return []


def test_up_to_three_choices_are_reply_buttons_and_more_a_list() -> None:
    three = tuple(Choice(f"c{i}", f"Choice {i}") for i in range(3))
    [buttons] = render(Reply("Pick", three))
    assert buttons.payload["type"] == "button"
    [listed] = render(Reply("Pick", (*three, Choice("c3", "Choice 3"))), "id")
    assert listed.payload["type"] == "list" and listed.payload["action"]["button"] == "Pilih"
    many = render(Reply("Pick", tuple(Choice(f"c{i}", f"C {i}") for i in range(23))))
    assert [len(_choice_ids(m)) for m in many] == [10, 10, 3]


def test_a_payment_link_is_a_cta_url_button() -> None:
    [cta] = render(Reply("Pay here", link=LinkButton("Pay Rp 35.000 now please", "https://p.x/1")))
    assert cta.payload["type"] == "cta_url"
    parameters: dict[str, Any] = cta.payload["action"]["parameters"]
    assert parameters["url"] == "https://p.x/1" and len(parameters["display_text"]) <= 20


def test_a_qr_code_is_uploaded_and_heads_its_buttons() -> None:
    image = Image(data=b"\x89PNG", filename="qris.png", qr_payload="000201")
    [message] = render(Reply("Scan to pay", (Choice("chk:1", "Check status"),), image=image))
    assert message.upload == (b"\x89PNG", "image/png", "qris.png")
    assert message.payload["header"]["type"] == "image"


def test_a_long_text_is_split_and_the_buttons_ride_on_the_last_piece() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # about 10,000 characters
    rendered = render(Reply(text, (Choice("a", "A"),)))
    assert [m.type for m in rendered][-1] == "interactive"
    assert all(m.type == "text" for m in rendered[:-1])
    shown = "\n".join(
        m.payload.get("body", {}).get("text", "") if m.type == "interactive" else m.payload["body"]
        for m in rendered
    )
    assert shown.replace("\n", "") == text.replace("\n", "")


def test_marks_become_whatsapp_formatting() -> None:
    [message] = render(Reply("Pay *Rp 35.000* to `8860812916763449`"))
    assert message.payload["body"] == "Pay *Rp 35.000* to ```8860812916763449```"


def test_a_phone_question_asks_for_the_contact_info() -> None:
    [message] = render(Reply("Your number?", request_phone=True))
    assert message.payload["type"] == "request_contact_info"
