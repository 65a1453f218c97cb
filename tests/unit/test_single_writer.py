"""The writer groups what queued meanwhile, and one bad item fails only its own caller."""

from __future__ import annotations

import asyncio

import pytest

from payments.single_writer import SingleWriter


class Ledger:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def write(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(0)  # a commit
        if -1 in items:
            raise ValueError("bad item")
        return [i * 10 for i in items]


async def test_items_queued_together_share_one_batch_and_get_their_own_result() -> None:
    ledger = Ledger()
    writer = SingleWriter(ledger.write, name="test", size=50)
    results = await asyncio.gather(*(writer.submit(i) for i in range(5)))
    await writer.close()
    assert results == [0, 10, 20, 30, 40]
    assert ledger.batches == [[0, 1, 2, 3, 4]]


async def test_a_batch_is_never_larger_than_its_size() -> None:
    ledger = Ledger()
    writer = SingleWriter(ledger.write, name="test", size=2)
    await asyncio.gather(*(writer.submit(i) for i in range(5)))
    await writer.close()
    assert [len(b) for b in ledger.batches] == [2, 2, 1]


async def test_a_failing_item_fails_alone_and_the_rest_are_written() -> None:
    ledger = Ledger()
    writer = SingleWriter(ledger.write, name="test")
    results = await asyncio.gather(*(writer.submit(i) for i in (1, -1, 2)), return_exceptions=True)
    await writer.close()
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], ValueError)
    assert ledger.batches == [[1, -1, 2], [1], [-1], [2]]


async def test_close_writes_what_is_queued_first() -> None:
    ledger = Ledger()
    writer = SingleWriter(ledger.write, name="test")
    pending = asyncio.ensure_future(writer.submit(7))
    await asyncio.sleep(0)
    await writer.close()
    assert await pending == 70


@pytest.mark.parametrize("size", [1])
async def test_size_one_writes_one_by_one(size: int) -> None:
    ledger = Ledger()
    writer = SingleWriter(ledger.write, name="test", size=size)
    await asyncio.gather(writer.submit(1), writer.submit(2))
    await writer.close()
    assert ledger.batches == [[1], [2]]
