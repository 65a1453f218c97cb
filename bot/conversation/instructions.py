"""How to pay, per method: the VA number, the QRIS image, the payment link, the USSD push.

Every set of instructions ends with the same three buttons: Check status, Change method,
Cancel order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from bot import methods
from bot.conversation.buttons import Verb, tap
from bot.conversation.common import Voice, bold, join_lines
from bot.conversation.model import PaymentView
from bot.conversation.replies import Choice, Image, LinkButton, Reply
from payments.qris import render_png


def instructions(v: Voice, p: PaymentView) -> Reply:
    """How to pay, per method; a hosted page where the method's own details are missing."""
    kind = p.instructions.get("kind") or methods.kind(p.method)
    for render in (HOW_TO_PAY.get(kind), _pay_page):
        reply = render(v, p) if render else None
        if reply is not None:
            return reply
    waiting = v.t("Your payment is being set up. Tap Check status in a moment.")
    return Reply(join_lines(_head(v, p), waiting, _amount(v, p)), action_choices(v, p))


def _va(v: Voice, p: PaymentView) -> Reply | None:
    number = p.instructions.get("number")
    if not number:
        return None
    bank = methods.bank_name(p.instructions.get("bank") or p.method.rpartition(":")[2])
    account = v.t("Transfer to this {bank} Virtual Account:").format(bank=bank)
    body = join_lines(_head(v, p), account, f"`{number}`", _amount(v, p), _expiry(v, p))
    return Reply(body, action_choices(v, p))


def _qris(v: Voice, p: PaymentView) -> Reply | None:
    qr = p.instructions.get("qr_string")
    if not qr:
        return None
    image = Image(data=render_png(qr), filename=f"qris-{p.order_code}.png", qr_payload=qr)
    scan = v.t("Scan this QRIS code with any banking or e-wallet app.")
    body = join_lines(_head(v, p), scan, _amount(v, p), _expiry(v, p))
    return Reply(body, action_choices(v, p), image=image)


def _ussd(v: Voice, p: PaymentView) -> Reply | None:
    phone = p.instructions.get("phone")
    if not phone:
        return None
    push = v.t("We sent a payment prompt to {phone}. Approve it on your phone with your PIN.")
    missing = v.t("No prompt? Tap Check status, or Change method.")
    body = join_lines(_head(v, p), push.format(phone=phone), _amount(v, p), missing)
    return Reply(body, action_choices(v, p))


def _pay_page(v: Voice, p: PaymentView) -> Reply | None:
    url = p.instructions.get("url")
    if not url:
        return None
    open_page = v.t("Open the payment page to pay:")
    body = join_lines(_head(v, p), open_page, _amount(v, p), _expiry(v, p))
    return Reply(body, action_choices(v, p), link=LinkButton(v.t("Pay now"), url))


HOW_TO_PAY: Final[dict[str, Callable[[Voice, PaymentView], Reply | None]]] = {
    "va": _va,
    "qris": _qris,
    "ussd": _ussd,
    "link": _pay_page,
}


def _head(v: Voice, p: PaymentView) -> str:
    return v.t("Order {code}").format(code=p.order_code)


def _amount(v: Voice, p: PaymentView) -> str:
    return v.t("Amount: {amount} (exactly)").format(amount=bold(v.money(p.amount)))


def _expiry(v: Voice, p: PaymentView) -> str:
    return v.t("Pay before {time}.").format(time=v.when(p.expires_at)) if p.expires_at else ""


def action_choices(v: Voice, p: PaymentView) -> tuple[Choice, ...]:
    return (
        v.choice(tap(Verb.CHECK, p.id), v.t("Check status")),
        v.choice(tap(Verb.CHANGE_METHOD, p.order_code), v.t("Change method")),
        v.choice(tap(Verb.CANCEL, p.order_code), v.t("Cancel order")),
    )
