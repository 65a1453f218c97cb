"""The catalog as the chat shows it, loaded once per process and reused while it holds.

Every inbound event needs the catalog (`Ctx.items`), and loading it cost more than the rest of
the event's reads together. The copy kept here is used again while both hold:

- its stamp (the newest `products.updated_at` and the number of products) equals the stamp
  the event read along with its conversation row (bot/dispatch/chats.py), so a sale, a restock, a
  deactivation or an import seen by that read, from this process or any other, reloads it;
- it is younger than `TTL`: for what the stamp cannot see (a category renamed by an import,
  a product edited by hand in SQL without touching `updated_at`, clocks of two instances
  apart).

A stale catalog in the chat is safe: placing an order reads the products again and takes the
stock with a conditional update in the same transaction (payments/orders.py), so an item
sold out or withdrawn a moment ago is refused there, with a message, never sold.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, bindparam, func, or_, select

from bot.conversation.ctx import Item, Section
from storage.db import Sessions, core_transaction
from storage.models import Category, Product

TTL: Final = 2.0  # seconds
Catalog = tuple[tuple[Item, ...], tuple[Section, ...]]
CatalogStamp = tuple[datetime | None, int]

_products = Product.__table__
_categories = Category.__table__
# Columns for a reader's SELECT: what the stamp of the catalog is now (one pass over products).
STAMP_COLUMNS: Final[tuple[ColumnElement[datetime | None], ColumnElement[int]]] = (
    select(func.max(_products.c.updated_at)).scalar_subquery().label("catalog_updated"),
    select(func.count()).select_from(_products).scalar_subquery().label("catalog_size"),
)
_ON_SALE: Final = (
    select(
        _products.c.sku,
        _products.c.category,
        _products.c.names,
        _products.c.price,
        _products.c.descriptions,
        _products.c.stock,
        _products.c.photo,
    )
    .where(
        _products.c.active.is_(True),
        _products.c.currency == bindparam("currency"),
        or_(_products.c.stock.is_(None), _products.c.stock > 0),
    )
    .order_by(_products.c.id)
)
_SECTIONS: Final = select(_categories.c.key, _categories.c.names).order_by(_categories.c.position)


@dataclass(frozen=True, slots=True)
class _Copy:
    stamp: CatalogStamp
    currency: str
    loaded_at: float
    catalog: Catalog


class CatalogCache:
    """One per running app (Runtime.catalog). `clock` is monotonic seconds."""

    def __init__(self, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._copy: _Copy | None = None
        self._loading = asyncio.Lock()  # a burst of misses loads once
        self.loads = 0  # for tests and the bench

    async def get(self, sessions: Sessions, currency: str, stamp: CatalogStamp) -> Catalog:
        """The catalog as of `stamp` (or newer), from the copy when it still holds."""
        fresh = self._fresh(currency, stamp)
        if fresh is not None:
            return fresh
        async with self._loading:
            fresh = self._fresh(currency, stamp)  # loaded while this one waited
            if fresh is not None:
                return fresh
            loaded_at = self._clock()
            catalog = await load_catalog(sessions, currency)
            self.loads += 1
            self._copy = _Copy(stamp, currency, loaded_at, catalog)
            return catalog

    def _fresh(self, currency: str, stamp: CatalogStamp) -> Catalog | None:
        copy = self._copy
        if copy is None or copy.stamp != stamp or copy.currency != currency:
            return None
        if self._clock() - copy.loaded_at >= self._ttl:
            return None
        return copy.catalog


async def load_catalog(sessions: Sessions, currency: str) -> Catalog:
    """What the chat may sell now: active products in the shop's currency, not sold out."""
    async with core_transaction(sessions) as connection:
        products = (await connection.execute(_ON_SALE, {"currency": currency})).all()
        categories = (await connection.execute(_SECTIONS)).all()
    items = tuple(
        Item(
            sku=p.sku,
            category=p.category,
            names=dict(p.names),
            price=p.price,
            descriptions=dict(p.descriptions or {}),
            stock=p.stock,
            photo=p.photo,
        )
        for p in products
    )
    sections = tuple(Section(c.key, dict(c.names)) for c in categories)
    known = {s.key for s in sections}
    unlisted = dict.fromkeys(i.category for i in items if i.category not in known)
    extra = tuple(Section(key, {"en": key.replace("-", " ").title()}) for key in unlisted)
    return items, sections + extra
