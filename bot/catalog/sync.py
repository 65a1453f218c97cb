"""Writes the operator's catalog (config.toml or an imported file) into the database.

At start-up only new SKUs are added, so a restart never resets stock that sales have moved;
`checkout-bot catalog import FILE` updates existing SKUs too and reports what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.catalog.spec import Catalog, ProductSpec
from storage.models import Category, Product


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)  # sku -> changed fields
    unchanged: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"created {sku}" for sku in self.created]
        out += [f"updated {sku}: {', '.join(f)}" for sku, f in self.updated.items()]
        out.append(
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )
        return out


def _fields(spec: ProductSpec, currency: str) -> dict[str, Any]:
    return {
        "category": spec.category,
        "names": dict(spec.names),
        "descriptions": dict(spec.descriptions),
        "price": spec.price,
        "currency": currency,
        "stock": spec.stock,
        "photo": spec.photo,
        "active": spec.active,
    }


async def sync_catalog(
    session: AsyncSession, catalog: Catalog, currency: str, *, update_existing: bool
) -> ImportReport:
    report = ImportReport()
    await _sync_categories(session, catalog, update_existing)
    existing = {p.sku: p for p in await session.scalars(select(Product))}
    for spec in catalog.products:
        wanted = _fields(spec, currency)
        product = existing.get(spec.sku)
        if product is None:
            session.add(Product(sku=spec.sku, **wanted))
            report.created.append(spec.sku)
            continue
        changed = [k for k, v in wanted.items() if getattr(product, k) != v]
        if not changed or not update_existing:
            report.unchanged.append(spec.sku)
            continue
        for key in changed:
            setattr(product, key, wanted[key])
        report.updated[spec.sku] = changed
    await session.flush()
    return report


async def _sync_categories(session: AsyncSession, catalog: Catalog, update: bool) -> None:
    existing = {c.key: c for c in await session.scalars(select(Category))}
    for position, spec in enumerate(catalog.categories):
        category = existing.get(spec.id)
        if category is None:
            session.add(Category(key=spec.id, names=dict(spec.names), position=position))
        elif update:
            category.names = dict(spec.names)
            category.position = position
