"""This process's instance id and heartbeat, so that a crash costs seconds, not a lease.

The id is the host and the server's port: a restarted instance has the id of the one that died
(two live processes cannot share a port), so at start it frees its previous life's outbox
rows and poller leases at once, before the worker or the poller claims anything. Every BEAT
it writes its heartbeat and frees the claims of any instance silent for DEAD_AFTER
(storage/instances_repo.py), which is how several instances on PostgreSQL take over a dead
one's work within seconds.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from bot.runtime import RUNTIME
from storage import instances_repo as instances
from storage.db import Sessions, transaction
from storage.models import utcnow

log = logging.getLogger(__name__)
BEAT: Final = 1.0  # seconds between heartbeats


def instance_id(port: int) -> str:
    return f"{socket.gethostname()[:50]}:{port}"


async def heartbeat(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context, after the database's and before the poller's and the worker's."""
    runtime = app[RUNTIME]
    sessions = runtime.sessions
    assert sessions is not None, "the database context comes first"
    if runtime.instance_id is None:
        runtime.instance_id = instance_id(runtime.config.server.port)
    me = runtime.instance_id
    async with transaction(sessions) as session:  # real time: heartbeats are about the wall
        freed = await instances.free_claims(session, me, utcnow())
        await instances.beat(session, me, utcnow())
    if freed.outbox or freed.payments:
        log.info(
            "instance %s: took back %d outbox rows and %d poller leases of its previous run",
            me,
            freed.outbox,
            freed.payments,
        )
    task = asyncio.create_task(_beat_forever(sessions, me), name="heartbeat")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _beat_forever(sessions: Sessions, me: str) -> None:
    while True:
        await asyncio.sleep(BEAT)
        try:
            await beat_once(sessions, me)
        except Exception:
            log.exception("instance %s: heartbeat failed; trying again", me)


async def beat_once(sessions: Sessions, me: str) -> None:
    """One heartbeat, and the claims of the instances that stopped beating set free."""
    now = utcnow()
    async with transaction(sessions) as session:
        await instances.beat(session, me, now)
        silent = [i for i in await instances.dead(session, now, instances.DEAD_AFTER) if i != me]
    for other in silent:
        async with transaction(sessions) as session:
            if not await instances.bury(session, other, now - instances.DEAD_AFTER):
                continue
            freed = await instances.free_claims(session, other, now)
        log.warning(
            "instance %s: %s stopped beating; took over %d outbox rows and %d poller leases",
            me,
            other,
            freed.outbox,
            freed.payments,
        )
