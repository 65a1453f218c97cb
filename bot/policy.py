"""The `[reconcile]` config read as the payment core's Policy (when to check a payment) and
Throttle (how politely to ask each gateway).

Its own module because both the runtime (a new payment's first check) and the scheduler (the
poller) read it, and the scheduler builds on the runtime.
"""

from __future__ import annotations

from datetime import timedelta
from random import Random

from bot.config import RATE_LIMITS, Reconcile
from payments.base import MethodKind
from payments.reconcile.schedule import Policy, parse_schedule
from payments.reconcile.throttle import Rules, Throttle


def policy(cfg: Reconcile) -> Policy:
    texts = {MethodKind.USSD: cfg.ussd, MethodKind.VA: cfg.va}
    texts |= {MethodKind.QRIS: cfg.qris, MethodKind.LINK: cfg.link}
    return Policy(
        schedules={kind: parse_schedule(t) for kind, t in texts.items()},
        grace=timedelta(seconds=cfg.grace),
        jitter=cfg.jitter,
        reminder_before=timedelta(seconds=cfg.reminder_before),
        reminder_min_life=timedelta(seconds=cfg.reminder_min_life),
        no_prompt_after=timedelta(seconds=cfg.no_prompt_after),
        check_min_interval=timedelta(seconds=cfg.check_min_interval),
    )


def throttle(cfg: Reconcile, rnd: Random) -> Throttle:
    def rules(per_minute: float) -> Rules:
        return Rules(
            per_minute=per_minute,
            backoff_max=cfg.backoff_max,
            circuit_failures=cfg.circuit_failures,
            circuit_open=cfg.circuit_open,
            circuit_open_max=cfg.circuit_open_max,
        )

    limits = {**RATE_LIMITS, **cfg.rate_limits}
    return Throttle({g: rules(n) for g, n in limits.items()}, rules(cfg.default_rate_limit), rnd)
