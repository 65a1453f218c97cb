"""Instances and heartbeats (bot/instance.py, storage/instances_repo.py): the outbox rows and
poller leases of an instance that stopped beating are free at the next heartbeat of any other,
not when their lease runs out; a live instance's are left alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.instance import beat_once
from payments.base import MethodId
from payments.ports import Recipient
from storage.db import transaction
from storage.models import Instance, Outbox, Payment, utcnow
from storage.reconcile_repo import reconcile_transaction
from tests.channels.telegram.kit import rows
from tests.conftest import Running, add_customer, new_order


async def test_a_silent_instances_claims_are_taken_over_at_the_next_heartbeat(
    running: Running,
) -> None:
    runtime = running.runtime
    sessions = runtime.sessions
    assert sessions is not None and runtime.instance_id is not None
    now = utcnow()
    customer = await add_customer(sessions, "4242")
    payments = []
    for _ in range(2):
        code = await new_order(runtime.uow, runtime.shop, customer)
        payments.append(await runtime.start_payment(code, MethodId.parse("sandbox:va:bca")))
    async with transaction(sessions) as session:
        silent = now - timedelta(seconds=9)
        session.add(Instance(id="ghost:1", started_at=now, heartbeat_at=silent))
        session.add(Instance(id="alive:2", started_at=now, heartbeat_at=now))
        for n, owner in enumerate(["ghost:1", "alive:2"]):
            to = Recipient("console", f"chat-{n}")  # no sender: no worker touches it
            session.add(
                Outbox(
                    channel=to.channel,
                    address=to.address,
                    kind="order_shipped",
                    payload={"order_code": f"C{n}", "language": "en"},
                    dedupe_key=f"test:{owner}",
                    attempts=1,
                    next_attempt_at=now + timedelta(seconds=60),
                    send_started_at=now - timedelta(seconds=1),
                    claimed_by=owner,
                )
            )
            await session.execute(
                update(Payment)
                .where(Payment.id == payments[n].id)
                .values(next_check_at=now + timedelta(minutes=2), claimed_by=owner)
            )
    await beat_once(sessions, runtime.instance_id)
    after = utcnow()
    outbox = dict(await rows(running, select(Outbox.claimed_by, Outbox.next_attempt_at)))
    leases = await rows(running, select(Payment.id, Payment.claimed_by, Payment.next_check_at))
    instances = {i for (i,) in await rows(running, select(Instance.id))}
    assert outbox[None] <= after  # due now, not in a minute
    assert outbox["alive:2"] > after + timedelta(seconds=30)
    by_id = {p: (owner, at) for p, owner, at in leases}
    assert by_id[payments[0].id][0] is None and by_id[payments[0].id][1] <= after
    assert by_id[payments[1].id][0] == "alive:2"
    assert "ghost:1" not in instances and {"alive:2", runtime.instance_id} <= instances
    [(started,)] = await rows(
        running, select(Outbox.send_started_at).where(Outbox.dedupe_key == "test:ghost:1")
    )
    assert started is not None  # kept: its next claim knows the send is in doubt


async def test_the_poller_writes_its_instance_into_the_leases_it_takes_and_clears_it_after(
    running: Running,
) -> None:
    runtime = running.runtime
    assert runtime.sessions is not None and runtime.reconciler is not None
    customer = await add_customer(runtime.sessions, "4343")
    code = await new_order(runtime.uow, runtime.shop, customer)
    payment = await runtime.start_payment(code, MethodId.parse("sandbox:va:bca"))
    async with transaction(runtime.sessions) as session:
        await session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(next_check_at=utcnow() - timedelta(seconds=1))
        )
    lease = utcnow() + timedelta(minutes=2)
    async with reconcile_transaction(runtime.sessions, runtime.instance_id) as store:
        [due] = await store.reconcile.claim_due(utcnow(), lease, 10)
    [(owner,)] = await rows(running, select(Payment.claimed_by))
    assert due.id == payment.id and owner == runtime.instance_id
    async with reconcile_transaction(runtime.sessions, runtime.instance_id) as store:
        await store.reconcile.defer([(payment.id, utcnow() + timedelta(seconds=30))], lease)
    [(owner,)] = await rows(running, select(Payment.claimed_by))
    assert owner is None  # given back: nobody's to free
