"""Gateway throttle: ask each gateway no faster than it allows, back off when it struggles, and
stop asking for a while when it is down. Pure: the caller passes the time, in seconds.

State is per process. A gateway's limit is usually per client IP (ClickPesa: 120 requests a
minute per IP), so instances on separate machines each get their own; several instances behind
one IP should share the limit out in config.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from random import Random
from typing import Final

log = logging.getLogger(__name__)

BURST_SECONDS: Final = 10.0  # a full bucket holds this many seconds' worth of requests
PROBE_WAIT: Final = 1.0  # how long to put off a request while the circuit's probe is out


@dataclass
class TokenBucket:
    """`rate` requests a second on average, up to `burst` at once."""

    rate: float
    burst: float
    tokens: float = -1.0  # -1: full at first use
    updated: float = 0.0

    def _refill(self, now: float) -> None:
        if self.tokens < 0:
            self.tokens = self.burst
        else:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def wait(self, now: float, queued: int = 0) -> float:
        """Seconds until a token is free for the request after `queued` others that wait."""
        self._refill(now)
        return max(0.0, (queued + 1 - self.tokens) / self.rate)


def backoff(failures: int, *, base: float, cap: float, rnd: Random) -> float:
    """Exponential in the failures in a row, with jitter so that instances spread out."""
    delay = min(cap, base * 2 ** max(0, failures - 1))
    return delay * rnd.uniform(0.5, 1.0)


class CircuitState(StrEnum):
    CLOSED = "closed"  # asking as usual
    OPEN = "open"  # not asking until open_until
    HALF_OPEN = "half_open"  # one probe may go; its answer closes or reopens the circuit


@dataclass
class Circuit:
    threshold: int  # failures in a row that open it
    open_for: float  # seconds, doubled on each reopening up to open_max
    open_max: float
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    reopenings: int = 0
    open_until: float = 0.0
    probing: bool = False

    def wait(self, now: float) -> float:
        """0 when a request may go now (and it is the probe, when half open)."""
        if self.state is CircuitState.OPEN:
            if now < self.open_until:
                return self.open_until - now
            self.state = CircuitState.HALF_OPEN
        if self.state is CircuitState.HALF_OPEN and self.probing:
            return PROBE_WAIT
        return 0.0

    def start(self) -> None:
        if self.state is CircuitState.HALF_OPEN:
            self.probing = True

    def succeeded(self) -> bool:
        """True when this closed an open circuit."""
        closed = self.state is not CircuitState.CLOSED
        self.state, self.failures, self.reopenings, self.probing = CircuitState.CLOSED, 0, 0, False
        return closed

    def failed(self, now: float) -> bool:
        """True when this opened the circuit."""
        self.failures += 1
        self.probing = False
        if self.state is CircuitState.CLOSED and self.failures < self.threshold:
            return False
        self.open_until = now + min(self.open_max, self.open_for * 2**self.reopenings)
        self.reopenings += 1
        self.state = CircuitState.OPEN
        return True


@dataclass(frozen=True, slots=True)
class Admission:
    wait: float  # 0: go now
    reason: str = ""  # why not: "circuit open", "backing off", "rate limit"

    @property
    def go(self) -> bool:
        return self.wait <= 0


@dataclass(frozen=True, slots=True)
class Rules:
    per_minute: float = 120.0
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    circuit_failures: int = 5
    circuit_open: float = 60.0
    circuit_open_max: float = 900.0


@dataclass
class GatewayThrottle:
    """One gateway's bucket, circuit and backoff. `admit` before a request, `done` after."""

    name: str
    rules: Rules
    rnd: Random
    counts: Counter[str]
    bucket: TokenBucket = field(init=False)
    circuit: Circuit = field(init=False)
    paused_until: float = 0.0
    next_free: float = 0.0  # after the time given to the last request told to wait for a token

    def __post_init__(self) -> None:
        rate = self.rules.per_minute / 60
        self.bucket = TokenBucket(rate, max(1.0, rate * BURST_SECONDS))
        r = self.rules
        self.circuit = Circuit(r.circuit_failures, r.circuit_open, r.circuit_open_max)

    def admit(self, now: float) -> Admission:
        """Take a token, or say how long to wait.

        Requests told to wait for a token are given times one token apart, so that they do not
        all come back at the same moment.
        """
        if (wait := self.circuit.wait(now)) > 0:
            return Admission(wait, "circuit open")
        if now < self.paused_until:
            return Admission(self.paused_until - now, "backing off")
        if self.bucket.take(now):
            self.circuit.start()
            return Admission(0.0)
        promised = max(now + self.bucket.wait(now), self.next_free)
        self.next_free = promised + 1 / self.bucket.rate
        return Admission(promised - now, "rate limit")

    def abandon(self) -> None:
        """A request that ended without telling us anything about the gateway (cancelled)."""
        self.circuit.probing = False

    def done(self, now: float, *, ok: bool, retry_after: float | None = None) -> float:
        """Record an answer (ok) or an unknown outcome; returns when to ask this gateway again."""
        if ok:
            if self.circuit.succeeded():
                self.counts[f"circuit_closed:{self.name}"] += 1
                log.info("gateway=%s answers again: circuit closed", self.name)
            return now
        self.counts[f"unavailable:{self.name}"] += 1
        r = self.rules
        delay = backoff(
            self.circuit.failures + 1, base=r.backoff_base, cap=r.backoff_max, rnd=self.rnd
        )
        self.paused_until = now + max(delay, retry_after or 0.0)
        if self.circuit.failed(now):
            self.counts[f"circuit_opened:{self.name}"] += 1
            self.paused_until = max(self.paused_until, self.circuit.open_until)
            log.warning(
                "gateway=%s failed %d times in a row: circuit open, next probe in %.0fs",
                self.name,
                self.circuit.failures,
                self.circuit.open_until - now,
            )
        return self.paused_until


class Throttle:
    """Every gateway's throttle in this process; a gateway without its own rules gets `default`."""

    def __init__(
        self,
        rules: Mapping[str, Rules] | None = None,
        default: Rules = Rules(),
        rnd: Random | None = None,
    ) -> None:
        self._rules = dict(rules or {})
        self._default = default
        self._rnd = rnd or Random()
        self._gateways: dict[str, GatewayThrottle] = {}
        self.counts: Counter[str] = Counter()

    def of(self, gateway: str) -> GatewayThrottle:
        throttle = self._gateways.get(gateway)
        if throttle is None:
            rules = self._rules.get(gateway, self._default)
            throttle = GatewayThrottle(gateway, rules, self._rnd, self.counts)
            self._gateways[gateway] = throttle
        return throttle

    def circuit(self, gateway: str) -> CircuitState:
        return self.of(gateway).circuit.state
