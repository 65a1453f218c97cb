"""Meta's webhook payloads as our messages and statuses: the recorded examples, the
signature's worked example, and arbitrary JSON that must never raise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.whatsapp.inbound import Signature, check_signature, parse, to_inbound

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


def test_the_worked_signature_example_verifies_and_a_changed_byte_does_not() -> None:
    example = recording("x_hub_signature_256_example")
    raw, header = example["raw_body"].encode(), example["header_value"]
    assert check_signature(example["app_secret"], header, raw) is Signature.GOOD
    assert check_signature(example["app_secret"], header, raw + b" ") is Signature.WRONG
    assert check_signature("another-secret", header, raw) is Signature.WRONG
    assert check_signature(example["app_secret"], None, raw) is Signature.MISSING


def test_text_button_list_template_and_contact_messages_read_as_events() -> None:
    events = {
        name: to_inbound(parse(recording(name))[0][0])
        for name in (
            "webhook_text_message",
            "webhook_interactive_button_reply",
            "webhook_interactive_list_reply",
            "webhook_template_quick_reply_button",
            "webhook_contacts_from_request_contact_info",
        )
    }
    text = events["webhook_text_message"]
    assert (text.kind, text.text, text.chat_id, text.name) == (
        "text",
        "I want to order 2 x Kopi Susu",
        "6281234567890",
        "Ana",
    )
    assert text.language_hint == "id" and text.extra == {"phone_given": "yes"}
    assert events["webhook_interactive_list_reply"].choice_id == "bank:bca"
    assert events["webhook_interactive_button_reply"].kind == "tap"
    assert events["webhook_template_quick_reply_button"].choice_id == "order:ORD-1001:details"
    contact = events["webhook_contacts_from_request_contact_info"]
    assert (contact.kind, contact.phone, contact.chat_id) == (
        "phone",
        "+6281234567890",
        "ID.1234567890123456789",
    )


def test_statuses_read_with_or_without_contacts() -> None:
    [failed] = parse(recording("webhook_status_failed_131047_no_contacts"))[1]
    assert (failed.status, failed.address, failed.errors[0][0]) == (
        "failed",
        "6281234567890",
        131047,
    )
    [read] = parse(recording("webhook_status_read"))[1]
    assert (read.status, read.tracker) == ("read", "order=ORD-1001")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "entry",
                    "changes",
                    "value",
                    "messages",
                    "statuses",
                    "contacts",
                    "id",
                    "type",
                    "from",
                    "from_user_id",
                    "wa_id",
                    "user_id",
                    "text",
                    "body",
                    "interactive",
                    "button_reply",
                    "list_reply",
                    "button",
                    "payload",
                    "metadata",
                    "errors",
                    "code",
                    "status",
                    "recipient_id",
                    "phones",
                    "origin",
                    "profile",
                    "name",
                    "timestamp",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_any_json_parses_without_raising(data: Any) -> None:
    messages, _statuses = parse(data)
    for message in messages:
        to_inbound(message)
