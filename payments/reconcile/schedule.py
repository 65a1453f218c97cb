"""When to ask a gateway again about a payment whose callback has not come. Pure: no I/O.

Intervals grow with the payment's age, per method kind: a USSD push is answered within a minute
or not at all, while a VA can be paid at any hour until it expires, so it is asked about until
then and once more after a grace period. Every interval is jittered, so that payments created
together do not reach the gateway together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from random import Random
from typing import Final

from payments.base import MethodKind

_DURATION_RE: Final = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?$")
_STEP_RE: Final = re.compile(r"^every\s+(\S+)\s+until\s+(\S+)$")
_UNIT: Final = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Step:
    """Ask every `every` while the payment is younger than `until` (None: its expiry)."""

    every: timedelta
    until: timedelta | None


@dataclass(frozen=True, slots=True)
class KindSchedule:
    """The first check after the payment was created, then steps by age.

    A schedule whose last step runs "until expiry" asks until the payment expires and once
    more after the grace period; any other ends with one final check at its last `until`.
    """

    first: timedelta
    steps: tuple[Step, ...]

    def every(self, age: timedelta) -> timedelta:
        for step in self.steps:
            if step.until is None or age < step.until:
                return step.every
        return self.steps[-1].every

    @property
    def horizon(self) -> timedelta | None:
        return self.steps[-1].until


def parse_schedule(texts: Sequence[str]) -> KindSchedule:
    """`["15s", "every 10s until 2m", "every 30s until 10m"]`; ValueError says what is wrong."""
    if len(texts) < 2:
        raise ValueError("want the first check and at least one 'every X until Y' step")
    first = _duration(texts[0])
    steps = tuple(_step(text) for text in texts[1:])
    ages = [s.until for s in steps]
    if any(until is None for until in ages[:-1]):
        raise ValueError("only the last step may run 'until expiry'")
    bounded = [until for until in ages if until is not None]
    if any(a >= b for a, b in pairwise(bounded)):
        raise ValueError("the 'until' ages must grow from step to step")
    return KindSchedule(first, steps)


def _step(text: str) -> Step:
    match = _STEP_RE.match(text.strip())
    if match is None:
        raise ValueError(f"expected 'every 10s until 2m' or 'every 15m until expiry': {text!r}")
    every, until = match.groups()
    return Step(_duration(every), None if until == "expiry" else _duration(until))


def _duration(text: str) -> timedelta:
    match = _DURATION_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a duration like '30s', '4m' or '1h': {text!r}")
    seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"a check interval must be positive: {text!r}")
    return timedelta(seconds=seconds)


DEFERRED_PAYMENT: Final = (
    "30s",
    "every 60s until 10m",
    "every 4m until 1h",
    "every 15m until expiry",
)
USSD_PUSH: Final = ("15s", "every 10s until 2m", "every 30s until 10m")


def default_schedules() -> dict[MethodKind, KindSchedule]:
    deferred = parse_schedule(DEFERRED_PAYMENT)
    return {
        MethodKind.USSD: parse_schedule(USSD_PUSH),
        MethodKind.VA: deferred,
        MethodKind.QRIS: deferred,
        MethodKind.LINK: deferred,
    }


class Nudge(StrEnum):
    """A one-off message to a customer whose payment is still open; the value is its kind."""

    REMINDER = "payment_reminder"  # VA, QRIS, link: "expires soon"
    NO_PROMPT = "payment_no_prompt"  # USSD: "didn't get the prompt?"


@dataclass(frozen=True, slots=True)
class Policy:
    schedules: Mapping[MethodKind, KindSchedule] = field(default_factory=default_schedules)
    grace: timedelta = timedelta(minutes=5)  # after expiry, before the last check
    jitter: float = 0.05  # each interval is stretched or shrunk by up to this share
    reminder_before: timedelta = timedelta(minutes=60)
    reminder_min_life: timedelta = timedelta(hours=2)  # shorter-lived payments get none
    no_prompt_after: timedelta = timedelta(seconds=60)
    check_min_interval: timedelta = timedelta(seconds=10)  # "check status" per payment
    default_life: timedelta = timedelta(hours=24)  # for a payment without a known expiry


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the schedule needs to know about one payment."""

    kind: MethodKind
    created_at: datetime
    expires_at: datetime | None


def jittered(interval: timedelta, jitter: float, rnd: Random) -> timedelta:
    return interval * (1 + rnd.uniform(-jitter, jitter))


def first_check_at(policy: Policy, t: Timeline, rnd: Random) -> datetime:
    return t.created_at + jittered(policy.schedules[t.kind].first, policy.jitter, rnd)


def final_check_at(policy: Policy, t: Timeline) -> datetime:
    """From here on a check is the last one: a payment still pending is then expired locally."""
    expires_at = t.expires_at or t.created_at + policy.default_life
    after_expiry = expires_at + policy.grace
    horizon = policy.schedules[t.kind].horizon
    return after_expiry if horizon is None else min(t.created_at + horizon, after_expiry)


def is_final_check(policy: Policy, t: Timeline, now: datetime) -> bool:
    return now >= final_check_at(policy, t)


def next_check_at(policy: Policy, t: Timeline, now: datetime, rnd: Random) -> datetime:
    """The next check after one made at `now`: the schedule's, a nudge's, or the final one."""
    schedule = policy.schedules[t.kind]
    every = schedule.every(now - t.created_at)
    final = final_check_at(policy, t)
    if now >= final:  # past the final check and still not settled (processing): keep asking
        return now + jittered(every, policy.jitter, rnd)
    candidate = now + jittered(every, policy.jitter, rnd)
    nudge = nudge_at(policy, t)
    if nudge is not None and now < nudge < candidate:
        return nudge
    if candidate >= final:
        return final + every * rnd.uniform(0, policy.jitter)
    return candidate


def nudge_at(policy: Policy, t: Timeline) -> datetime | None:
    """When this payment's one nudge is due, if it gets one."""
    if t.kind is MethodKind.USSD:
        return t.created_at + policy.no_prompt_after
    if t.expires_at is None or t.expires_at - t.created_at < policy.reminder_min_life:
        return None
    return t.expires_at - policy.reminder_before


def nudge_due(
    policy: Policy, t: Timeline, previous_check: datetime | None, now: datetime
) -> Nudge | None:
    """The nudge to send after a check at `now` that found the payment still open.

    Only the first check at or after the nudge's time sends it (the outbox's dedupe key makes
    that once even when two checks race); none after expiry or past the final check.
    """
    when = nudge_at(policy, t)
    if when is None or now < when or now >= final_check_at(policy, t):
        return None
    if t.expires_at is not None and now >= t.expires_at:
        return None
    if previous_check is not None and previous_check >= when:
        return None
    return Nudge.NO_PROMPT if t.kind is MethodKind.USSD else Nudge.REMINDER
