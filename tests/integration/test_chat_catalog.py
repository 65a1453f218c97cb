"""The chat's catalog copy (bot/catalog/cache.py): a change to the products shows at the next
update, whoever made it; what the stamp cannot see shows within the TTL, and until then an
order for a withdrawn product is still refused."""

from __future__ import annotations

from sqlalchemy import func, select, update

from bot.catalog.cache import CatalogCache
from bot.conversation.replies import Reply
from storage.db import Sessions, transaction
from storage.models import Order, Product
from tests.conftest import Running
from tests.integration.test_dispatch import Person, rows, to_summary

FOREVER = 3600.0  # a TTL no test outlives: only the stamp can make the copy reload


def on_sale(replies: list[Reply]) -> set[str]:
    """The SKUs one answer offers to add (photo cards and the list)."""
    return {c.id.removeprefix("add:") for r in replies for c in r.choices if c.id[:4] == "add:"}


async def coffee_shelf(person: Person) -> set[str]:
    return on_sale(await person.send("tap", choice_id="cat:coffee:0"))


async def set_stock(running: Running, sku: str, stock: int) -> None:
    assert running.runtime.sessions is not None
    async with transaction(running.runtime.sessions) as session:
        await session.execute(update(Product).where(Product.sku == sku).values(stock=stock))


async def test_a_product_sold_out_in_the_chat_leaves_the_catalog_at_the_next_update(
    running: Running,
) -> None:
    running.runtime.catalog = CatalogCache(ttl=FOREVER)
    await set_stock(running, "KOPI-SUSU", 1)
    siti = Person(running.runtime, chat_id="1001")
    await siti.command("start")
    await siti.tap("m:catalog")
    assert "KOPI-SUSU" in await coffee_shelf(siti)

    budi = Person(running.runtime, chat_id="1002", name="Budi")
    await to_summary(budi)  # one KOPI-SUSU: the last one
    await budi.tap("pay:sandbox:va:bca")
    assert await rows(running.runtime, select(func.count()).select_from(Order)) == [(1,)]

    assert await coffee_shelf(siti) == {"KOPI-HITAM", "TEH-TARIK"}


async def test_a_product_withdrawn_by_another_process_leaves_the_catalog_at_once(
    running: Running, sessions: Sessions
) -> None:
    running.runtime.catalog = CatalogCache(ttl=FOREVER)
    siti = Person(running.runtime)
    await siti.command("start")
    await siti.tap("m:catalog")
    assert "TEH-TARIK" in await coffee_shelf(siti)
    loads = running.runtime.catalog.loads

    async with transaction(sessions) as session:  # another engine, as `catalog import` is
        await session.execute(
            update(Product).where(Product.sku == "TEH-TARIK").values(active=False)
        )

    assert await coffee_shelf(siti) == {"KOPI-SUSU", "KOPI-HITAM"}
    assert running.runtime.catalog.loads == loads + 1
    await coffee_shelf(siti)
    assert running.runtime.catalog.loads == loads + 1  # and the new copy is kept


async def test_an_edit_the_stamp_misses_shows_within_the_ttl_and_no_order_slips_through(
    running: Running, sessions: Sessions
) -> None:
    now = [0.0]
    running.runtime.catalog = CatalogCache(ttl=2.0, clock=lambda: now[0])
    siti = Person(running.runtime)
    await siti.command("start")
    await siti.tap("m:catalog")
    assert "TEH-TARIK" in await coffee_shelf(siti)

    async with transaction(sessions) as session:  # by hand, leaving updated_at as it was
        await session.execute(
            update(Product)
            .where(Product.sku == "TEH-TARIK")
            .values(active=False, updated_at=Product.updated_at)
        )
    now[0] = 1.9
    assert "TEH-TARIK" in await coffee_shelf(siti)  # the copy still holds
    await siti.tap("add:TEH-TARIK")
    await siti.tap("co")
    await siti.tap("ck:name")
    await siti.text("0812 3456 7890")
    await siti.text("Jl. Merdeka No. 1, Jakarta")
    refused = await siti.tap("pay:sandbox:va:bca")
    assert "Teh Tarik sudah tidak dijual" in refused[0].text  # "is no longer sold"
    assert await rows(running.runtime, select(func.count()).select_from(Order)) == [(0,)]

    now[0] = 2.0
    assert await coffee_shelf(siti) == {"KOPI-SUSU", "KOPI-HITAM"}
