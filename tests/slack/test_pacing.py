"""About one post a second per channel (Slack's limit for chat.postMessage): the Slack sender
holds back a message to a channel it wrote to less than a second ago (Outcome.PACED), and
delivery tries it again shortly without counting an attempt or failing it (issue #19)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select

from adapters.slack.deps import web_client
from adapters.slack.sender import SlackSender
from bot.core.domain import Reply
from bot.core.payloads import DeliveryFailed, Replies
from bot.services import delivery
from storage import repo
from storage.models import OutboxMessage
from tests.slack.conftest import CHANNEL, Rig
from tests.support import make_member

NOTICES = 5
STEP = timedelta(milliseconds=250)


async def queue_notices(rig: Rig, mid: int, n: int = NOTICES) -> None:
    async with rig.db.transaction() as session:
        for i in range(n):
            await repo.enqueue(
                session,
                key=f"delivery-failed:{i}",
                platform="slack",
                recipient="",
                payload=DeliveryFailed(outbox_id=i, member_id=mid, text=f"送信ID {i}: 届かず"),
                member_id=mid,
                now=rig.clock.at,
            )


async def test_five_notices_to_one_channel_go_out_a_second_apart_none_failed(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    await queue_notices(rig, mid)
    sender = SlackSender(web_client("xoxb-test", rig.fake.url, retries=False), rig.db)
    start, arrived = rig.clock.at, []
    totals = delivery.Flushed()
    for step in range(40):  # ten seconds of the fake clock, a flush every quarter second
        rig.clock.at = start + step * STEP
        before = len(rig.fake.of("chat.postMessage"))
        f = await delivery.flush(rig.db, {"slack": sender}, rig.clock.at)
        totals = delivery.Flushed(
            totals.sent + f.sent,
            totals.retried + f.retried,
            totals.failed + f.failed,
            totals.paced + f.paced,
        )
        arrived += [rig.clock.at] * (len(rig.fake.of("chat.postMessage")) - before)
    posts = rig.fake.of("chat.postMessage")
    assert len(posts) == NOTICES and all(p.args["channel"] == CHANNEL for p in posts)
    assert [p.args["metadata"]["event_payload"]["key"] for p in posts] == [
        f"delivery-failed:{i}" for i in range(NOTICES)
    ]  # in the order they were queued
    gaps = [b - a for a, b in itertools.pairwise(arrived)]
    assert all(g >= timedelta(seconds=1) for g in gaps), gaps
    assert totals.sent == NOTICES and totals.retried == totals.failed == 0 and totals.paced > 0
    async with rig.db.transaction() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}  # held back ≠ an attempt
    assert not [r for r in rows if r.key.startswith("delivery-failed:") and r.platform != "slack"]


async def test_a_paced_send_says_how_long_to_wait_and_a_dm_is_not_paced(rig: Rig) -> None:
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    await queue_notices(rig, mid, 2)
    async with rig.db.transaction() as session:
        for i in range(2):  # two replies to one member's DM, one after the other
            await repo.enqueue(
                session,
                key=f"reply:slack:ev{i}",
                platform="slack",
                recipient="U_MEMBER",
                payload=Replies((Reply(f"返信{i}"),), None),
                member_id=mid,
                now=rig.clock.at,
            )
    sender = SlackSender(web_client("xoxb-test", rig.fake.url, retries=False), rig.db)
    flushed = await delivery.flush(rig.db, {"slack": sender}, rig.clock.at)
    assert (flushed.sent, flushed.paced, flushed.retried) == (3, 1, 0)
    dms = [p for p in rig.fake.of("chat.postMessage") if p.args["channel"] == "DU_MEMBER"]
    assert len(dms) == 2  # a member's DM is not held to the channel pace
    async with rig.db.transaction() as session:
        held = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.key == "delivery-failed:1")
            )
        ).one()
    assert held.status == "pending" and held.attempts == 0 and held.last_error is None
    wait = delivery._aware(held.next_attempt_at) - rig.clock.at
    assert timedelta(0) < wait <= timedelta(seconds=1)
    rig.clock.at += timedelta(seconds=1)
    assert (await delivery.flush(rig.db, {"slack": sender}, rig.clock.at)).sent == 1
