"""Gateway throttle: rate limit, backoff and circuit, on a clock the test turns by hand."""

from __future__ import annotations

from collections import Counter
from random import Random
from typing import Any

import pytest

from payments.reconcile.throttle import (
    CircuitState,
    GatewayThrottle,
    Rules,
    Throttle,
    TokenBucket,
    backoff,
)


def gateway(**rules: Any) -> GatewayThrottle:
    return GatewayThrottle("clickpesa", Rules(**rules), Random(7), Counter())


def test_a_bucket_lets_a_burst_through_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=20.0)
    assert sum(bucket.take(100.0) for _ in range(25)) == 20
    assert bucket.wait(100.0) == pytest.approx(0.5)
    assert bucket.wait(100.0, queued=3) == pytest.approx(2.0)
    assert sum(bucket.take(101.0) for _ in range(5)) == 2


def test_clickpesa_gets_at_most_120_queries_a_minute_after_its_burst() -> None:
    throttle = gateway(per_minute=120)
    sent = 0
    for tenth in range(600):  # a minute, asking ten times a second as hard as we can
        for _ in range(10):
            if throttle.admit(tenth / 10).go:
                throttle.done(tenth / 10, ok=True)
                sent += 1
    assert sent <= 120 + throttle.bucket.burst


@pytest.mark.parametrize("failures", [1, 2, 3, 4, 5, 12])
def test_backoff_doubles_with_jitter_up_to_its_cap(failures: int) -> None:
    delays = [backoff(failures, base=1.0, cap=60.0, rnd=Random(seed)) for seed in range(50)]
    top = min(60.0, 2.0 ** (failures - 1))
    assert all(top / 2 <= d <= top for d in delays)
    assert len(set(delays)) > 1


def test_an_unknown_outcome_pauses_the_gateway_at_least_for_its_retry_after() -> None:
    throttle = gateway()
    assert throttle.admit(0.0).go
    resume = throttle.done(0.0, ok=False, retry_after=30.0)
    assert resume >= 30.0
    admission = throttle.admit(10.0)
    assert not admission.go and admission.reason == "backing off"
    assert admission.wait == pytest.approx(resume - 10.0)


def test_requests_told_to_wait_for_tokens_are_given_times_a_token_apart() -> None:
    throttle = gateway(per_minute=60)  # one a second, ten at once
    assert all(throttle.admit(0.0).go for _ in range(10))
    waits = [throttle.admit(0.0) for _ in range(3)]
    assert [w.reason for w in waits] == ["rate limit"] * 3
    assert [w.wait for w in waits] == pytest.approx([1.0, 2.0, 3.0])
    assert throttle.admit(1.0).go  # a token came back


def test_the_circuit_opens_after_repeated_failures_probes_later_and_closes_on_an_answer() -> None:
    throttle = gateway(circuit_failures=3, circuit_open=60, backoff_max=1)
    now = 0.0
    for _ in range(3):
        now = max(now, throttle.paused_until)
        assert throttle.admit(now).go
        throttle.done(now, ok=False)
    assert throttle.circuit.state is CircuitState.OPEN
    assert throttle.counts["circuit_opened:clickpesa"] == 1
    opened = now
    assert throttle.admit(opened + 30).reason == "circuit open"
    probe_at = opened + 60
    assert throttle.admit(probe_at).go  # the probe
    assert throttle.circuit.state is CircuitState.HALF_OPEN
    assert not throttle.admit(probe_at).go  # only one probe at a time
    throttle.done(probe_at + 1, ok=True)
    assert throttle.circuit.state is CircuitState.CLOSED
    assert throttle.counts["circuit_closed:clickpesa"] == 1
    assert throttle.admit(probe_at + 1).go


def test_a_failed_probe_reopens_the_circuit_for_longer_up_to_the_maximum() -> None:
    throttle = gateway(circuit_failures=1, circuit_open=60, circuit_open_max=200, backoff_max=1)
    now, opened_for = 0.0, []
    for _ in range(4):
        assert throttle.admit(now).go
        throttle.done(now, ok=False)
        opened_for.append(throttle.circuit.open_until - now)
        now = throttle.circuit.open_until
    assert opened_for == [60, 120, 200, 200]
    assert throttle.counts["circuit_opened:clickpesa"] == 4


def test_each_gateway_has_its_own_manners_and_unknown_ones_get_the_default() -> None:
    all_of_them = Throttle({"clickpesa": Rules(per_minute=120)}, Rules(per_minute=6))
    assert all_of_them.of("clickpesa").rules.per_minute == 120
    assert all_of_them.of("xendit").rules.per_minute == 6
    assert all_of_them.of("xendit") is all_of_them.of("xendit")
    all_of_them.of("xendit").done(0.0, ok=False)
    assert all_of_them.counts["unavailable:xendit"] == 1
    assert all_of_them.circuit("clickpesa") is CircuitState.CLOSED
