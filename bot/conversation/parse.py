"""Reading typed messages: "2 kopi susu, 1 roti bakar", greetings, "sudah bayar".

Pure functions over the catalog snapshot. Product names are matched in every language the
catalog has, with rapidfuzz, so typos and English names find the product; a name that fits
several products equally well is reported as ambiguous rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from rapidfuzz import fuzz

from bot.conversation.ctx import Item

MAX_TEXT: Final = 600  # longer messages are not read as orders
MAX_PARTS: Final = 12
ACCEPT: Final = 78.0  # a name scoring at least this is taken...
MARGIN: Final = 4.0  # ...when no other product scores within this of it
SUGGEST: Final = 55.0

NUMBER_WORDS: Final = {
    # id
    "satu": 1, "se": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7,
    "delapan": 8, "sembilan": 9, "sepuluh": 10,
    # en
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    # sw
    "moja": 1, "mbili": 2, "tatu": 3, "nne": 4, "tano": 5, "sita": 6, "saba": 7, "nane": 8,
    "tisa": 9, "kumi": 10,
}  # fmt: skip
GREETINGS: Final = frozenset(
    {"hi", "hello", "hey", "halo", "hallo", "hai", "hii", "jambo", "habari", "mambo", "start",
     "mulai", "menu", "pagi", "selamat pagi", "selamat siang", "selamat sore", "selamat malam",
     "good morning", "salam", "assalamualaikum", "shikamoo", "jambo rafiki", "jambo bwana"}
)  # fmt: skip
PAID_CLAIMS: Final = (
    "sudah bayar", "sudah transfer", "sudah tf", "udah bayar", "udah transfer", "sdh bayar",
    "telah bayar", "sudah dibayar", "i paid", "i have paid", "i've paid", "paid already",
    "already paid", "payment done", "nimelipa", "nimeshalipa", "tayari nimelipa", "nimetuma",
)  # fmt: skip
YES_WORDS: Final = frozenset({"yes", "y", "ya", "iya", "ok", "oke", "okay", "ndiyo", "sawa", "👍"})
NO_WORDS: Final = frozenset({"no", "n", "tidak", "nggak", "gak", "batal", "hapana", "👎"})
_SPLIT: Final = re.compile(r"[,;\n+&]|\bdan\b|\band\b|\bna\b|\bsama\b", re.IGNORECASE)
_QTY_HEAD: Final = re.compile(r"^\s*(-?\d+)\s*(?:x|×|pcs|buah|porsi|cup|gelas)?\s+(.+)$", re.I)
_QTY_TAIL: Final = re.compile(r"^(.+?)\s+(?:x|×)?\s*(-?\d+)\s*(?:x|×|pcs|buah|porsi)?\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Wanted:
    """One part of a typed order: what was written and what it matched."""

    text: str
    quantity: int
    sku: str = ""  # the product, when one matched clearly
    candidates: tuple[str, ...] = ()  # skus that fit about as well, when none clearly did


def normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.replace("’", "'").split())


def words(text: str) -> str:
    """Letters, digits and spaces only, for matching keywords."""
    return " ".join(re.sub(r"[^\w\s']", " ", normalize(text)).split())


def is_greeting(text: str) -> bool:
    return words(text) in GREETINGS


def claims_paid(text: str) -> bool:
    said = words(text)
    return any(claim in said for claim in PAID_CLAIMS)


def is_yes(text: str) -> bool:
    return words(text) in YES_WORDS or normalize(text) in YES_WORDS


def is_no(text: str) -> bool:
    return words(text) in NO_WORDS or normalize(text) in NO_WORDS


def parse_order(text: str, items: Iterable[Item]) -> tuple[Wanted, ...]:
    """Every part of a typed order; parts that name nothing we sell come back without a sku."""
    if len(text) > MAX_TEXT:
        return ()
    names = _name_table(items)
    parts = [p.strip() for p in _SPLIT.split(normalize(text)) if p and p.strip()]
    return tuple(_one(part, names) for part in parts[:MAX_PARTS])


def _name_table(items: Iterable[Item]) -> list[tuple[str, str]]:
    return [(words(name), item.sku) for item in items for name in item.names.values() if name]


def _one(part: str, names: list[tuple[str, str]]) -> Wanted:
    quantity, name = split_quantity(part)
    scores = _scores(words(name), names)
    best = scores[0] if scores else (0.0, "")
    rivals = [sku for score, sku in scores[1:] if score >= best[0] - MARGIN and sku != best[1]]
    if best[0] >= ACCEPT and not rivals:
        return Wanted(part, quantity, best[1])
    near = [sku for score, sku in scores if score >= max(SUGGEST, best[0] - MARGIN)]
    return Wanted(part, quantity, "", tuple(dict.fromkeys(near))[:3])


def split_quantity(part: str) -> tuple[int, str]:
    """("2 kopi susu") -> (2, "kopi susu"); also "kopi susu 2", "dua kopi susu", "2x ..."."""
    head = _QTY_HEAD.match(part)
    if head:
        return int(head.group(1)), head.group(2)
    tail = _QTY_TAIL.match(part)
    if tail:
        return int(tail.group(2)), tail.group(1)
    first, _, rest = part.partition(" ")
    if rest and first in NUMBER_WORDS:
        return NUMBER_WORDS[first], rest
    return 1, part


def _scores(query: str, names: list[tuple[str, str]]) -> list[tuple[float, str]]:
    """Best score per sku, highest first."""
    best: dict[str, float] = {}
    for name, sku in names:
        best[sku] = max(best.get(sku, 0.0), _score(query, name))
    return sorted(((s, sku) for sku, s in best.items()), reverse=True)


def _score(query: str, name: str) -> float:
    """Whole-name similarity, or, when every typed word is (nearly) in the name, a high score
    that grows with how much of the name was typed: "nasi" finds "nasi goreng"."""
    whole = max(fuzz.ratio(query, name), fuzz.token_sort_ratio(query, name))
    typed, known = query.split(), name.split()
    if not typed or not known:
        return whole
    hits = [max(fuzz.ratio(w, k) for k in known) for w in typed]
    if min(hits) < 80:
        return whole
    covered = min(1.0, len(typed) / len(known))
    return max(whole, 80.0 + 20.0 * covered * (sum(hits) / len(hits) / 100.0))
