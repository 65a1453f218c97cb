"""The app's Prometheus instruments, one CollectorRegistry per app.

Apart from bot/metrics.py (which counts and serves them) so that bot/runtime.py can type its
METRICS key without importing what needs the runtime: no import cycle.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    """The app's instruments; names as operators and dashboards use them."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.callbacks = Counter(
            "checkout_callbacks",
            "Gateway callbacks answered, by gateway and result",
            ["gateway", "result"],
            registry=registry,
        )
        self.refused_callbacks = Counter(
            "checkout_refused_callbacks",
            "Refused callbacks by what became of them: kept, repeat, dropped",
            ["outcome"],
            registry=registry,
        )
        self.status_queries = Counter(
            "checkout_status_queries",
            "Status queries put to gateways, by gateway, source (poller, check-status, callback)"
            " and outcome (answered, unavailable, rejected)",
            ["gateway", "source", "outcome"],
            registry=registry,
        )
        self.outbox_send_failures = Counter(
            "checkout_outbox_send_failures",
            "Outbox messages whose sending failed (retried or given up), by channel",
            ["channel"],
            registry=registry,
        )
        self.chat_updates = Counter(
            "checkout_chat_updates",
            "Chat updates handled, by channel",
            ["channel"],
            registry=registry,
        )
        self.payments = Gauge(
            "checkout_payments",
            "Payments by status (database, at scrape time)",
            ["status"],
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "checkout_outbox_depth",
            "Outbox messages not sent yet, by channel (database, at scrape time)",
            ["channel"],
            registry=registry,
        )
