"""Button verbs: the first word of every choice id, `verb:arg`, defined once.

The conversation (bot/conversation/), the notices (bot/notify/notices.py) and the merchant desk
(bot/merchant/desk.py) write choice ids with `tap(...)` and read them back through
`Tap.parse` (bot/conversation/model.py) and `match`, so the render side and the parse side
cannot drift. The values are what buttons already carry in chats: never change one.
"""

from __future__ import annotations

from enum import StrEnum


class Verb(StrEnum):
    MENU = "m"  # m:catalog, m:cart, m:orders, m:help, m:menu, m:lang
    LANGUAGE = "lang"
    CATEGORY = "cat"
    ADD = "add"
    LINE = "line"
    MORE = "inc"
    LESS = "dec"
    REMOVE = "rm"
    FIRST_TIME = "ft"  # a typed order: yes / no
    CHECKOUT = "co"
    DETAILS = "ck"  # ck:name, ck:phone, ck:pickup, ck:again, ck:edit, ck:reuse
    PAY = "pay"
    ORDER = "ord"
    CHECK = "chk"
    CHANGE_METHOD = "chg"
    PAY_AGAIN = "repay"
    CANCEL = "cxl"
    CANCEL_YES = "cxly"
    REORDER = "again"  # again:<order code>, "Order again" under My orders
    STALE = "stale"  # an edited order verb (Tap.parse): nobody handles it
    # The merchant's buttons (bot/merchant/desk.py)
    MERCHANT_LIST = "ml"
    MERCHANT_ORDER = "mo"
    MERCHANT_SHIP = "ms"
    MERCHANT_CANCEL = "mc"
    MERCHANT_CANCEL_YES = "mcy"
    MERCHANT_REFUND = "mrf"
    MERCHANT_REFUND_YES = "mrfy"
    MERCHANT_REPLAY = "mr"  # mr:<event id>, under /callbacks


def tap(verb: Verb, arg: object = "") -> str:
    """A choice id: `verb:arg`, or the bare verb."""
    text = str(arg)
    return f"{verb}:{text}" if text else str(verb)
