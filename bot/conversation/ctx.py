"""What `step` reads besides the state: a snapshot of the shop the dispatcher takes per event.

Plain frozen data (the catalog, the methods on offer, the customer as stored, `now`), so a
step is a pure function of its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Item:
    """A product as the chat shows it."""

    sku: str
    category: str
    names: Mapping[str, str]
    price: int
    descriptions: Mapping[str, str] = field(default_factory=dict)
    stock: int | None = None
    photo: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    names: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ShopInfo:
    name: str = "Warung Demo"
    currency: str = "IDR"
    languages: tuple[str, ...] = ("id", "en", "sw")
    timezone: str = "Asia/Jakarta"
    country: str = "ID"
    shipping_fee: int = 0
    pickup: bool = True


@dataclass(frozen=True, slots=True)
class Profile:
    """The customer as stored, plus what the channel tells about them."""

    name: str = ""
    phone: str = ""
    channel_name: str = ""
    language: str = ""
    # The channel vouches for `phone` (WhatsApp: the account's own number): not asked again.
    phone_given: bool = False


@dataclass(frozen=True, slots=True)
class Ctx:
    shop: ShopInfo
    items: tuple[Item, ...]
    sections: tuple[Section, ...]
    methods: tuple[str, ...]  # enabled method ids that fit the shop's currency
    now: datetime
    profile: Profile = Profile()

    def item(self, sku: str) -> Item | None:
        return next((i for i in self.items if i.sku == sku), None)

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def in_section(self, key: str) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.category == key)
