"""Payment methods as customers read them, and which currencies each one can take.

Which currencies each gateway's methods take is its GatewaySpec's (payments/gateways/). Used by
the conversation (method buttons, instructions), the notices ("via BCA VA") and the
dispatcher (only methods that fit the shop's currency are offered).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from bot.texts import N_, Translate
from payments.base import MethodId, MethodKind
from payments.gateways import GATEWAYS

BANK_NAMES: Final = {
    "bca": "BCA", "bni": "BNI", "bri": "BRI", "mandiri": "Mandiri", "permata": "Permata",
    "cimb": "CIMB Niaga", "bsi": "BSI",
}  # fmt: skip
# A gateway as merchants write it, where capitalizing its id is not how (`ipaymu` -> iPaymu).
GATEWAY_NAMES: Final = {"ipaymu": "iPaymu", "clickpesa": "ClickPesa", "mpesa": "M-Pesa"}
LONG: Final = {
    MethodKind.QRIS: N_("QRIS"),
    MethodKind.LINK: N_("Payment link"),
    MethodKind.USSD: N_("Mobile money (USSD)"),
}
# A gateway whose link is known by what it takes: "Card (Stripe)" rather than "Payment link".
LINK_NAMES: Final = {"stripe": (N_("Card (Stripe)"), N_("card"))}
SHORT: Final = {
    MethodKind.QRIS: N_("QRIS"),
    MethodKind.LINK: N_("payment link"),
    MethodKind.USSD: N_("mobile money"),
}


def fits(method: MethodId, currency: str) -> bool:
    """Each gateway's spec says which currencies a kind of method takes (payments/gateways/);
    an unknown gateway's methods are offered: it should not vanish silently from the chat."""
    spec = GATEWAYS.get(method.gateway)
    return spec is None or spec.takes(str(method.kind), currency)


def offered(methods: Iterable[MethodId], currency: str) -> tuple[str, ...]:
    return tuple(str(m) for m in methods if fits(m, currency))


def _parse(method: str) -> MethodId | None:
    try:
        return MethodId.parse(method)
    except ValueError:
        return None


def bank_name(bank: str | None) -> str:
    return BANK_NAMES.get((bank or "").lower(), (bank or "").upper())


def label(t: Translate, method: str) -> str:
    """ "BCA Virtual Account", "QRIS", "Payment link", "Mobile money (USSD)"."""
    parsed = _parse(method)
    if parsed is None:
        return method
    if parsed.kind is MethodKind.VA:
        return t("{bank} Virtual Account").format(bank=bank_name(parsed.channel))
    if parsed.kind is MethodKind.LINK and parsed.gateway in LINK_NAMES:
        return t(LINK_NAMES[parsed.gateway][0])
    return t(LONG[parsed.kind])


def button_label(t: Translate, method: str, limit: int = 20) -> str:
    """The long label where it fits a button ("BCA Virtual Account"), else the short one."""
    long = label(t, method)
    return long if len(long) <= limit else short_label(t, method)


def short_label(t: Translate, method: str) -> str:
    """ "BCA VA", "QRIS": for "Rp 125.000 via BCA VA"."""
    parsed = _parse(method)
    if parsed is None:
        return method
    if parsed.kind is MethodKind.VA:
        return t("{bank} VA").format(bank=bank_name(parsed.channel))
    if parsed.kind is MethodKind.LINK and parsed.gateway in LINK_NAMES:
        return t(LINK_NAMES[parsed.gateway][1])
    return t(SHORT[parsed.kind])


def gateway_name(method: str) -> str:
    """ "Xendit" for `xendit:va:bca`: the merchant's notice says where the money went."""
    parsed = _parse(method)
    gateway = parsed.gateway if parsed else method.partition(":")[0]
    return GATEWAY_NAMES.get(gateway, gateway.capitalize())


def kind(method: str) -> str:
    parsed = _parse(method)
    return str(parsed.kind) if parsed else ""
