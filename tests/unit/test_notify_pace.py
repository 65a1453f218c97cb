"""The outbox's pace: a gap per chat and a cap per second in all, on a clock we move."""

from __future__ import annotations

import pytest

from bot.notify.pace import NO_LIMIT, Pace, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_chat_waits_a_second_between_messages_others_do_not() -> None:
    clock = Clock()
    pacer = Pacer(Pace(per_second=30, per_chat_interval=1.0), clock)
    await pacer.turn("a")
    assert pacer.wait_needed("a") == pytest.approx(1.0)
    assert pacer.wait_needed("b") == 0
    clock.now += 0.4
    assert pacer.wait_needed("a") == pytest.approx(0.6)
    clock.now += 0.6
    assert pacer.wait_needed("a") == 0


async def test_no_more_than_the_cap_in_any_second() -> None:
    clock = Clock()
    pacer = Pacer(Pace(per_second=3, per_chat_interval=1.0), clock)
    for chat in "abc":
        await pacer.turn(chat)
        clock.now += 0.1
    assert pacer.wait_needed("d") == pytest.approx(0.7)  # the first of the three leaves then
    clock.now += 0.7
    assert pacer.wait_needed("d") == 0


async def test_a_held_chat_waits_out_the_channels_retry_after() -> None:
    clock = Clock()
    pacer = Pacer(Pace(), clock)
    pacer.hold("a", 7)
    assert pacer.wait_needed("a") == pytest.approx(7)
    assert pacer.wait_needed("b") == 0


async def test_no_limit_never_waits() -> None:
    pacer = Pacer(NO_LIMIT, Clock())
    for _ in range(100):
        await pacer.turn("a")
    assert pacer.wait_needed("a") == 0
