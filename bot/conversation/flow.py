"""The conversation as a pure state machine: step(state, event, ctx) -> Step.

No I/O, no clock, no randomness: the dispatcher passes everything in (ctx) and carries the
effects out, feeding their results back as events. `step` reads as a table: commands and
buttons that work anywhere first, then the results of effects, then what each stage expects.
A button that no longer fits the conversation gets a fresh menu, never an error.
"""

from __future__ import annotations

from bot.conversation import checkout, pay, reorder, shop
from bot.conversation.buttons import Verb, tap
from bot.conversation.common import bold, menu_step, say, voice
from bot.conversation.ctx import Ctx
from bot.conversation.model import (
    CancelRejected,
    Command,
    Event,
    NotFound,
    OrderCancelled,
    OrderLoaded,
    OrderPlaced,
    OrderRejected,
    OrdersLoaded,
    PaymentRejected,
    PaymentStarted,
    Phone,
    SaveLanguage,
    Stage,
    State,
    StatusChecked,
    Step,
    Tap,
    Text,
)
from bot.conversation.parse import MAX_TEXT, claims_paid, is_greeting, is_no, is_yes, words
from bot.conversation.replies import Reply
from bot.texts import LANGUAGE_NAMES, supported

CHECKOUT_STAGES = frozenset(
    {
        Stage.CONFIRM_ADD,
        Stage.ASK_NAME,
        Stage.ASK_PHONE,
        Stage.ASK_ADDRESS,
        Stage.SUMMARY,
        Stage.REORDER,
    }
)
PAYING_STAGES = frozenset({Stage.PLACING, Stage.METHODS, Stage.PAYING})
KEYWORDS = {
    **dict.fromkeys(("catalog", "katalog", "menu makanan", "bidhaa", "orodha"), "catalog"),
    **dict.fromkeys(("cart", "keranjang", "kikapu", "troli"), "cart"),
    **dict.fromkeys(("my orders", "orders", "pesanan", "pesanan saya", "oda zangu"), "orders"),
    **dict.fromkeys(("help", "bantuan", "tolong", "msaada", "?"), "help"),
    **dict.fromkeys(("checkout", "bayar", "pay", "lipa"), Verb.CHECKOUT),
}


def step(state: State, event: Event, ctx: Ctx) -> Step:
    match state.stage, event:
        # anywhere
        case _, Command("start" | "menu"):
            return shop.greet(state, ctx)
        case _, Command("cancel"):
            return cancel(state, ctx)
        case _, Command("language", args) if supported(args, ctx.shop.languages):
            return set_language(state, ctx, supported(args, ctx.shop.languages))
        case _, Command("language") | Tap(Verb.MENU, "lang"):
            return ask_language(state, ctx)
        case _, Tap(Verb.LANGUAGE, code):
            return set_language(state, ctx, code)
        case _, Command("help") | Tap(Verb.MENU, "help"):
            return show_help(state, ctx)
        case _, Tap(Verb.MENU, "menu"):
            return menu_step(state, ctx)
        case _, Command("catalog") | Tap(Verb.MENU, "catalog"):
            return shop.categories(state, ctx)
        case _, Tap(Verb.CATEGORY, arg):
            return shop.category_page(state, ctx, arg)
        case _, Tap(Verb.ADD, token):
            return shop.add(state, ctx, token)
        case _, Command("cart") | Tap(Verb.MENU, "cart"):
            return shop.show_cart(state, ctx)
        case _, Tap(Verb.LINE, token):
            return shop.line_editor(state, ctx, token)
        case _, Tap(Verb.MORE | Verb.LESS | Verb.REMOVE as op, token):
            return shop.change_line(state, ctx, op, token)
        case _, Command("checkout") | Tap(Verb.CHECKOUT):
            return checkout.start(state, ctx)
        case _, Command("orders") | Tap(Verb.MENU, "orders"):
            return pay.my_orders(state, ctx)
        case _, Tap(Verb.ORDER, code):
            return pay.details(state, ctx, code)
        case _, Tap(Verb.REORDER, code):
            return reorder.start(state, ctx, code)
        case _, Tap(Verb.CHECK, arg):
            return pay.check(state, ctx, arg)
        case _, Tap(Verb.CHANGE_METHOD | Verb.PAY_AGAIN, code):
            return pay.repay(state, ctx, code)
        case _, Tap(Verb.CANCEL, code):
            return pay.ask_cancel(state, ctx, code)
        case _, Tap(Verb.CANCEL_YES, code):
            return pay.cancel(state, ctx, code)
        case _, Command():
            return unknown_command(state, ctx)
        # results of effects
        case _, OrderPlaced():
            return checkout.placed(state, ctx, event)
        case _, OrderRejected():
            return checkout.rejected(state, ctx, event)
        case _, PaymentStarted():
            return pay.started(state, ctx, event)
        case _, PaymentRejected():
            return pay.payment_rejected(state, ctx, event)
        case _, StatusChecked():
            return pay.checked(state, ctx, event)
        case _, OrdersLoaded():
            return pay.orders_loaded(state, ctx, event)
        case _, OrderLoaded():
            return pay.order_loaded(state, ctx, event)
        case _, OrderCancelled():
            return pay.cancelled(state, ctx, event)
        case _, CancelRejected():
            return pay.cancel_rejected(state, ctx, event)
        case _, NotFound():
            return menu_step(state, ctx, voice(state, ctx).t("Sorry, I could not find that."))
        # what each stage expects
        case Stage.CONFIRM_ADD, Tap(Verb.FIRST_TIME, "yes"):
            return shop.accept_pending(state, ctx)
        case Stage.CONFIRM_ADD, Tap(Verb.FIRST_TIME, "no"):
            return shop.drop_pending(state, ctx)
        case Stage.CONFIRM_ADD, Text(text) if is_yes(text):
            return shop.accept_pending(state, ctx)
        case Stage.CONFIRM_ADD, Text(text) if is_no(text):
            return shop.drop_pending(state, ctx)
        case Stage.ASK_NAME, Tap(Verb.DETAILS, "name"):
            return checkout.use_suggested_name(state, ctx)
        case Stage.ASK_NAME, Text(text):
            return checkout.take_name(state, ctx, text)
        case Stage.ASK_PHONE, Phone(number) | Text(number):
            return checkout.take_phone(state, ctx, number)
        case Stage.ASK_PHONE, Tap(Verb.DETAILS, "phone"):
            return checkout.use_known_phone(state, ctx)
        case Stage.ASK_ADDRESS, Tap(Verb.DETAILS, "pickup"):
            return checkout.pickup(state, ctx)
        case Stage.ASK_ADDRESS, Tap(Verb.DETAILS, "again"):
            return checkout.same_address(state, ctx)
        case Stage.ASK_ADDRESS, Text(text):
            return checkout.take_address(state, ctx, text)
        case Stage.REORDER, Tap(Verb.DETAILS, "reuse"):
            return reorder.confirm(state, ctx)
        case Stage.REORDER, Tap(Verb.DETAILS, "edit"):
            return reorder.change(state, ctx)
        case Stage.REORDER, Text(text) if is_yes(text):
            return reorder.confirm(state, ctx)
        case Stage.SUMMARY, Tap(Verb.PAY, method):
            return checkout.place(state, ctx, method)
        case Stage.SUMMARY, Tap(Verb.DETAILS, "edit"):
            return checkout.edit_details(state, ctx)
        case Stage.SUMMARY, Text(text):
            return checkout.take_note(state, ctx, text)
        case Stage.PLACING, Tap(Verb.PAY, method):
            return pay.busy(state, ctx, method)
        case Stage.METHODS | Stage.PAYING, Tap(Verb.PAY, method):
            return pay.start(state, ctx, method)
        case _, Phone(number):
            return keep_phone(state, ctx, number)
        case _, Text(text):
            return free_text(state, ctx, text)
        case _:
            return stale(state, ctx)


def free_text(state: State, ctx: Ctx, text: str) -> Step:
    """Typed text outside a question: a greeting, "I paid", a menu word, or an order."""
    if len(text) > MAX_TEXT:
        v = voice(state, ctx)
        text = v.t("That is a long message! Please send your order in a shorter one.")
        return shop.not_understood(state, ctx, text)
    if is_greeting(text):
        return shop.greet(state, ctx)
    if claims_paid(text):
        return pay.claim_paid(state, ctx)
    keyword = KEYWORDS.get(words(text))
    if keyword == Verb.CHECKOUT:
        return step(state, Tap(Verb.CHECKOUT), ctx)
    if keyword:
        return step(state, Tap(Verb.MENU, keyword), ctx)
    return shop.typed_order(state, ctx, text)


def cancel(state: State, ctx: Ctx) -> Step:
    if state.stage in CHECKOUT_STAGES:
        return checkout.cancel(state, ctx)
    if state.stage in PAYING_STAGES and state.order_code:
        return pay.keep_order_on_cancel(state, ctx)
    return menu_step(state, ctx, voice(state, ctx).t("Nothing to cancel."))


def ask_language(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    choices = tuple(
        v.choice(tap(Verb.LANGUAGE, code), LANGUAGE_NAMES.get(code, code))
        for code in ctx.shop.languages
    )
    return say(state, Reply(v.t("Choose your language:"), choices))


def set_language(state: State, ctx: Ctx, code: str) -> Step:
    if code not in ctx.shop.languages:
        return stale(state, ctx)
    greeted = shop.greet(state.to(state.stage, language=code), ctx)
    return Step(greeted.state, greeted.replies, (SaveLanguage(code),))


def show_help(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    text = "\n".join(
        [
            bold(v.t("How to order")),
            v.t("• Tap Catalog, choose a category and add products."),
            v.t("• Or type your order, for example: 2 kopi susu, 1 roti bakar"),
            v.t("• Open your Cart and tap Checkout to pay."),
            v.t("• After paying, we tell you here as soon as the money is in."),
            "",
            v.t("/start menu · /cancel stop · /language change language"),
        ]
    )
    choices = (*v.menu_choices()[:3], v.choice(tap(Verb.MENU, "lang"), v.t("Language")))
    return say(state, Reply(text, choices))


def keep_phone(state: State, ctx: Ctx, number: str) -> Step:
    """A contact shared outside the phone question: remember it for checkout."""
    normalized = checkout.normalize_phone(number, ctx.shop.country)
    if normalized:
        state = state.to(state.stage, phone=normalized)
    return menu_step(state, ctx, voice(state, ctx).t("Thanks, I saved your number."))


def unknown_command(state: State, ctx: Ctx) -> Step:
    return menu_step(state, ctx, voice(state, ctx).t("I do not know that command."))


def stale(state: State, ctx: Ctx) -> Step:
    v = voice(state, ctx)
    return menu_step(state, ctx, v.t("That button is from an earlier step. Here is the menu."))
