"""Refused callbacks (forged, unreadable) kept for the audit trail at a bounded cost.

Anyone can post to /callbacks/...; a row per forgery, written in its own transaction, let a
flood of junk grow the database by megabytes a second and slow the verified callbacks that
share the write lock. So a refused callback is cut to BODY_LIMIT, kept once per distinct body
and minute (the dedupe key), at most KEEP_PER_MINUTE a minute (the rest are counted, not
kept), buffered here without waiting and written in one small transaction now and then, off
the verified callbacks' path; rows older than the retention are pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from payments.service import UnitOfWork

log = logging.getLogger(__name__)
BODY_LIMIT: Final = 4096  # characters of a refused body worth keeping
KEEP_PER_MINUTE: Final = 600  # rows at most: under a flood of distinct junk, 2.4 MB a minute
FLUSH_EVERY: Final = 0.5  # seconds
PRUNE_EVERY: Final = 3600.0  # seconds
# Past this many refusals in a second, each refused answer waits TARPIT seconds: a client
# that floods with forgeries over a few connections then gets a few answers a second, and
# leaves the event loop to the verified callbacks. Gateways never send forgeries.
CALM_PER_SECOND: Final = 20
TARPIT: Final = 1.0
LOG_PER_MINUTE: Final = 60  # warning lines; a flood is counted in /metrics, not logged


class RefusedCallbacks:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Callable[[], datetime],
        *,
        keep_for: timedelta,
        on_count: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._uow, self._clock, self._keep_for, self._count = uow, clock, keep_for, on_count
        self._rows: dict[str, dict[str, Any]] = {}  # by dedupe key: a repeat is not kept twice
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._pruned_at = float("-inf")
        self._minute, self._kept = "", 0
        self._second, self._this_second = 0, 0

    def record(self, gateway: str, outcome: str, body: bytes, why: str) -> None:
        """Keep this refused callback, later; never waits, never raises."""
        now = self._clock()
        minute = f"{now:%Y%m%d%H%M}"
        key = f"refused:{gateway}:{hashlib.sha256(body).hexdigest()[:32]}:{minute}"
        if key in self._rows:
            self._count("repeat")
            return
        if minute != self._minute:
            self._minute, self._kept = minute, 0
        if self._kept >= KEEP_PER_MINUTE:
            self._count("dropped")
            return
        self._kept += 1
        self._rows[key] = _row(gateway, outcome, body, key, now)
        self._count("kept")
        self._log(gateway, outcome, why)

    def pause(self) -> float:
        """How long the answer to one more refused callback should wait (see TARPIT)."""
        second = int(time.monotonic())
        if second != self._second:
            self._second, self._this_second = second, 0
        self._this_second += 1
        return TARPIT if self._this_second > CALM_PER_SECOND else 0.0

    def _log(self, gateway: str, outcome: str, why: str) -> None:
        if self._kept <= LOG_PER_MINUTE:
            log.warning("gateway=%s callback %s: %s", gateway, outcome, why)
        elif self._kept == LOG_PER_MINUTE + 1:
            log.warning("more refused callbacks this minute: see checkout_refused_callbacks")

    def start(self) -> None:
        """Write and prune in the background from now on: pruning runs also while nothing
        is refused, so the retention holds after a flood has stopped."""
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="refused-callbacks")

    async def close(self) -> None:
        """Let a write under way finish, write what is buffered, then stop."""
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), FLUSH_EVERY)
            try:
                await self.flush()
                await self._prune()
            except Exception as exc:  # the audit trail of junk is not worth a crash loop
                log.warning("refused callbacks not stored: %s", type(exc).__name__)

    async def flush(self) -> None:
        """Write what is buffered now (the background task does it every FLUSH_EVERY)."""
        rows, self._rows = list(self._rows.values()), {}
        if rows:
            async with self._uow() as store:
                await store.payments.add_events(rows)  # a repeat of a stored key is skipped

    async def _prune(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        async with self._uow() as store:
            gone = await store.payments.prune_refused(self._clock() - self._keep_for)
        if gone:
            log.info("pruned %d refused callbacks older than %s", gone, self._keep_for)


def _row(gateway: str, outcome: str, body: bytes, key: str, now: datetime) -> dict[str, Any]:
    text = body[: BODY_LIMIT * 4].decode("utf-8", errors="replace")[:BODY_LIMIT]
    return {
        "payment_id": None,
        "gateway": gateway,
        "source": "callback",
        "reference": None,
        "raw_status": None,
        "status": None,
        "outcome": outcome,
        "verified": False,
        "body": text,
        "dedupe_key": key,
        "created_at": now,
    }
