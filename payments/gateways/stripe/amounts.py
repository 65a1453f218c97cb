"""The shop's amounts in Stripe's units and back.

The shop counts IDR, TZS, UGX and RWF in whole units (bot/texts/__init__.py,
WHOLE_UNIT_CURRENCIES), but Stripe takes every currency not on its zero-decimal list in
hundredths (and three-decimal ones in thousandths): Rp 35.000 goes to Stripe as 3500000.
Converting in one place, both ways, keeps callback amounts comparable in the shop's units.
"""

from __future__ import annotations

from typing import Final

# Stripe's zero-decimal currencies (docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL: Final = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL: Final = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
# What the shop keeps in whole units although ISO 4217 gives them decimals (DESIGN section 3).
SHOP_WHOLE: Final = frozenset({"IDR", "TZS", "UGX", "RWF"}) | ZERO_DECIMAL
# Stripe's smallest charge, in the shop's units. USD/EUR/GBP/JPY/SGD/MYR are Stripe's
# published minimums; IDR, TZS and KES are UNCONFIRMED (Stripe asks for the equivalent of
# US$0.50 in the settlement currency): rounded up so a charge near the line is not refused.
MINIMUM: Final = {
    "USD": 50, "EUR": 50, "GBP": 30, "SGD": 50, "AUD": 50, "JPY": 50, "MYR": 200,
    "IDR": 10_000, "TZS": 2_000, "KES": 100_00,
}  # fmt: skip


def stripe_exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def shop_exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in SHOP_WHOLE else stripe_exponent(code)


def to_stripe(amount: int, currency: str) -> int:
    return amount * 10 ** (stripe_exponent(currency) - shop_exponent(currency))


def from_stripe(amount: int, currency: str) -> int | None:
    """None where Stripe's amount is not a whole number of the shop's units (never ours)."""
    whole, rest = divmod(amount, 10 ** (stripe_exponent(currency) - shop_exponent(currency)))
    return None if rest else whole


def below_minimum(amount: int, currency: str) -> int | None:
    """Stripe's minimum in the shop's units where `amount` is under it, else None."""
    least = MINIMUM.get(currency.upper(), 0)
    return least if amount < least else None
