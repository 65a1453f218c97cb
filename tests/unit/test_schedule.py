"""The poller's schedules: when a payment is asked about, and when it gets its one nudge."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, Reconcile, load_config
from bot.config.reader import build
from payments.base import MethodKind
from payments.reconcile.schedule import (
    Nudge,
    Policy,
    Timeline,
    final_check_at,
    first_check_at,
    is_final_check,
    next_check_at,
    nudge_due,
    parse_schedule,
)
from tests.conftest import ROOT

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
EXACT = Policy(jitter=0.0)
K = MethodKind


def checks(policy: Policy, t: Timeline, rnd: Random | None = None) -> list[datetime]:
    """Every check of a payment that is never paid, the final one included."""
    rnd = rnd or Random(1)
    times = [first_check_at(policy, t, rnd)]
    while not is_final_check(policy, t, times[-1]):
        times.append(next_check_at(policy, t, times[-1], rnd))
    return times


def ages(times: list[datetime], t: Timeline) -> list[float]:
    return [(when - t.created_at).total_seconds() for when in times]


def test_a_ussd_push_is_asked_about_at_15s_then_every_10s_then_30s_then_at_10_minutes() -> None:
    t = Timeline(K.USSD, T0, T0 + timedelta(hours=24))
    seen = ages(checks(EXACT, t), t)
    nudge = 60  # "didn't get the prompt?" goes out after the check at one minute
    assert seen[:13] == [15, 25, 35, 45, 55, nudge, 70, 80, 90, 100, 110, 120, 150]
    assert {b - a for a, b in pairwise(seen[12:])} == {30}
    assert seen[-1] == 600


def test_a_24_hour_va_is_asked_about_until_it_expires_and_once_after_the_grace() -> None:
    expires = T0 + timedelta(hours=24)
    times = checks(Policy(), Timeline(K.VA, T0, expires))
    assert len(times) <= 120
    assert max(b - a for a, b in pairwise(times)) <= timedelta(minutes=15) * 1.1
    assert [w for w in times if T0 + timedelta(hours=20) <= w < expires]  # never stops early
    assert times[-1] >= expires + timedelta(minutes=5)


def test_va_intervals_grow_from_a_minute_to_four_to_fifteen() -> None:
    t = Timeline(K.QRIS, T0, T0 + timedelta(hours=24))
    seen = ages(checks(EXACT, t), t)
    assert seen[:11] == [30 + 60 * i for i in range(11)]  # up to 10 minutes
    assert seen[10:24] == [630 + 240 * i for i in range(14)]  # up to an hour
    reminder = 23 * 3600
    tail = [b - a for a, b in pairwise(seen[23:-1]) if reminder not in (a, b)]
    assert set(tail) == {900}  # up to expiry
    assert seen[-1] == 24 * 3600 + 300  # after the grace


@given(
    kind=st.sampled_from(list(MethodKind)),
    life_minutes=st.integers(min_value=1, max_value=3 * 24 * 60),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_check_is_later_than_the_last_and_none_comes_after_the_final_one(
    kind: MethodKind, life_minutes: int, seed: int
) -> None:
    t = Timeline(kind, T0, T0 + timedelta(minutes=life_minutes))
    policy = Policy()
    times = checks(policy, t, Random(seed))
    assert all(a < b for a, b in pairwise(times))
    final = final_check_at(policy, t)
    assert times[-1] >= final
    assert times[-1] <= final + timedelta(minutes=15) * policy.jitter + timedelta(seconds=1)


def test_a_payment_is_not_expired_before_its_expiry_plus_the_grace() -> None:
    t = Timeline(K.LINK, T0, T0 + timedelta(hours=2))
    assert not is_final_check(EXACT, t, T0 + timedelta(hours=2, minutes=4))
    assert is_final_check(EXACT, t, T0 + timedelta(hours=2, minutes=5))


def test_a_long_lived_va_gets_one_reminder_an_hour_before_it_expires() -> None:
    t = Timeline(K.VA, T0, T0 + timedelta(hours=24))
    due = T0 + timedelta(hours=23)
    assert nudge_due(EXACT, t, due - timedelta(minutes=3), due + timedelta(seconds=5)) is (
        Nudge.REMINDER
    )
    assert nudge_due(EXACT, t, due + timedelta(seconds=5), due + timedelta(minutes=15)) is None
    assert nudge_due(EXACT, t, due - timedelta(minutes=20), due - timedelta(minutes=5)) is None
    assert due in checks(EXACT, t)  # the schedule stops by to send it


def test_a_payment_that_lives_under_two_hours_gets_no_reminder() -> None:
    t = Timeline(K.QRIS, T0, T0 + timedelta(minutes=90))
    assert nudge_due(EXACT, t, None, T0 + timedelta(minutes=45)) is None


def test_a_ussd_push_still_pending_after_a_minute_gets_one_didnt_get_the_prompt() -> None:
    t = Timeline(K.USSD, T0, T0 + timedelta(hours=24))
    minute = T0 + timedelta(seconds=60)
    assert nudge_due(EXACT, t, minute - timedelta(seconds=5), minute + timedelta(seconds=5)) is (
        Nudge.NO_PROMPT
    )
    assert nudge_due(EXACT, t, minute + timedelta(seconds=5), minute + timedelta(seconds=15)) is (
        None
    )


@pytest.mark.parametrize(
    "texts",
    [
        ["15s"],
        ["15s", "every 10s"],
        ["soon", "every 10s until 2m"],
        ["15s", "every 0s until 2m"],
        ["15s", "every 10s until expiry", "every 30s until 10m"],
        ["15s", "every 10s until 10m", "every 30s until 2m"],
    ],
)
def test_a_bad_schedule_says_what_is_wrong(texts: list[str]) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_schedule(texts)


def test_a_bad_schedule_in_config_names_its_key() -> None:
    with pytest.raises(ConfigError, match=r"^reconcile\.va: "):
        build(Reconcile, {"va": ["30s", "every 1m"]}, "reconcile", {})


def test_the_commented_reconcile_section_of_config_toml_shows_the_defaults() -> None:
    text = (ROOT / "config.toml").read_text()
    block = text[text.index("# [reconcile]\n") : text.index("[[catalog.categories]]")]
    lines = [line.removeprefix("#").removeprefix(" ") for line in block.splitlines()]
    raw = tomllib.loads("\n".join(lines))["reconcile"]
    assert build(Reconcile, raw, "reconcile", {}) == Reconcile()
    assert load_config(ROOT / "config.toml", environ={}).reconcile == Reconcile()
