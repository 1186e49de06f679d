"""Slack answers 429 (with Retry-After) and 5xx for a while, with many messages queued.

Ten members of two facilities check in by Slack DM while the Web API throttles us: their
replies pile up in their DMs and their consultation requests pile up as alerts in each
facility's staff channel. Some refusals are a proxy's HTML page, some come after the message
was posted (the answer is lost, the message is not). Driving delivery with a simulated clock
afterwards, every message is shown exactly once, in the order it was queued per conversation,
no conversation is tried again before the Retry-After Slack asked for, and every outbox row
ends `sent` with the ts of the Slack message that carries it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from adapters.slack import blocks as bk
from adapters.slack.deps import web_client
from adapters.slack.sender import METADATA_EVENT, SlackSender
from bot.core.domain import reply_from_json
from bot.services import admin, delivery
from storage.models import Alert, InboxEvent, Member, OutboxMessage
from tests.slack.conftest import CHANNEL, TEAM, Rig, sample
from tests.slack.fake_slack import Call, Refusal
from tests.support import jst, link_accounts, make_member

DAY = "2026-07-01"
OTHER_CHANNEL = "C_ALERTS_B"
PER_FACILITY = 5
WORDS = ["よろしくお願いします", "相談したいです", "ありがとうございます"]
POST, OPEN, HISTORY = "chat.postMessage", "conversations.open", "conversations.history"

RATELIMITED = {"ok": False, "error": "ratelimited"}
UNAVAILABLE = {"ok": False, "error": "service_unavailable"}


def storm(n: int) -> list[Refusal]:
    """n refusals of chat.postMessage cycling through every way Slack says "not now"."""
    kinds = [
        Refusal(429, RATELIMITED, {"Retry-After": "30"}),
        Refusal(500, {"ok": False, "error": "internal_error"}),
        Refusal(503, UNAVAILABLE, {"Retry-After": "90"}),
        Refusal(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        Refusal(429, RATELIMITED, {"Retry-After": "45"}),
        Refusal(503, UNAVAILABLE, landed=True),  # posted, but the answer says otherwise
        Refusal(500, {"ok": False, "error": "fatal_error"}, {"Retry-After": "20"}),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def dm(user: str, text: str, at: datetime, n: int) -> dict[str, Any]:
    body = sample("events/message_channel.json")
    body["team_id"] = TEAM
    body["event_id"] = f"EvStorm{user}{n}"
    body["event"].update(
        user=user, text=text, channel="D" + user, channel_type="im", ts=f"{at.timestamp():.6f}"
    )
    return body


async def listeners_done() -> int:
    """Wait for bolt's listeners, which run after the ack (and flush the outbox inline), so
    that every Web API call made afterwards is the simulated clock's; how many were waited."""
    waited = 0
    while running := [
        t
        for t in asyncio.all_tasks()
        if "run_ack_function_asynchronously" in getattr(t.get_coro(), "__qualname__", "")
    ]:
        await asyncio.gather(*running)
        waited += len(running)
    return waited


async def seed(rig: Rig) -> list[str]:
    """Two facilities with their own staff channel, five Slack members each, linked."""
    db, at = rig.db, rig.clock.at
    async with db.transaction() as s:
        other = await admin.init_facility(
            s, name="あおぞら作業所", alert_channel=OTHER_CHANNEL, now=at
        )
        other_id = other.id
    users: list[str] = []
    for f, fid in enumerate((rig.facility_id, other_id)):
        for i in range(PER_FACILITY):
            mid = await make_member(db, fid, at, name=f"利用者 {f}{i}", kana=None)
            user = f"U_M{f}{i}"
            await link_accounts(db, at, [(mid, user)], platform="slack")
            users.append(user)
    return users


def conversation(call: Call) -> str | None:
    """The DM or channel a delivery call is about (None for other calls, e.g. auth.test)."""
    if call.method == OPEN:
        return "D" + str(call.args["users"])
    if call.method in (POST, HISTORY):
        return str(call.args["channel"])
    return None


def carried(call: Call, ids: dict[str, int]) -> list[int]:
    """The outbox rows a posted message carries: its own, then those joined in a digest."""
    meta = call.args["metadata"]
    assert meta["event_type"] == METADATA_EVENT
    payload = meta["event_payload"]
    return [ids[payload["key"]], *(int(i) for i in payload["joined"])]


async def drive(rig: Rig, sender: SlackSender, start: datetime) -> list[datetime]:
    """Flush on a simulated clock until nothing is pending; the instant of every call."""
    fake, db = rig.fake, rig.db
    at_of = [rig.clock.at] * len(fake.calls)  # the DM phase's inline flushes
    now = start
    for _ in range(1000):
        rig.clock.at = now
        await delivery.flush(db, {"slack": sender}, now)
        at_of += [now] * (len(fake.calls) - len(at_of))
        async with db.transaction() as s:
            due = await s.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.platform == "slack", OutboxMessage.status != "sent"
                )
            )
        if due is None:
            return at_of
        # The next instant anything is due (as the delivery loop, polling, would see it).
        now = max(now + timedelta(seconds=1), due.replace(tzinfo=now.tzinfo))
    raise AssertionError("the outbox never drained")


async def test_storm_every_message_once_in_order_after_retry_after(rig: Rig) -> None:
    fake, db = rig.fake, rig.db
    rig.clock.at = jst(DAY, "10:00")
    users = await seed(rig)
    fake.refuse(POST, *storm(70))
    fake.refuse(
        OPEN,
        *[Refusal(429, RATELIMITED, {"Retry-After": "20"}), Refusal(503, UNAVAILABLE)] * 4,
    )

    # The members write while Slack throttles; each DM is stored, answered and flushed.
    waited = 0
    for n, word in enumerate(WORDS):
        at = rig.clock.at + timedelta(seconds=n)
        answers = await asyncio.gather(*(rig.event(dm(u, word, at, n)) for u in users))
        assert {r.status_code for r in answers} == {200}
        waited += await listeners_done()
    assert waited > 0, "bolt's listener tasks were not found: the wait above is broken"
    async with db.transaction() as s:
        inbox = (await s.scalars(select(InboxEvent))).all()
        leased = await s.scalar(select(func.count()).where(OutboxMessage.status == "sending"))
    assert len(inbox) == len(users) * len(WORDS) and {e.status for e in inbox} == {"done"}
    assert leased == 0  # no inline flush is still under way
    refused_inline = sum(c.status != 200 for c in fake.calls)
    assert refused_inline > 0, "the storm must hit the inline flushes already"

    sender = SlackSender(web_client("xoxb-test", fake.url, retries=False), db)
    at_of = await drive(rig, sender, rig.clock.at)

    async with db.transaction() as s:
        rows = (
            await s.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.platform == "slack")
                .order_by(OutboxMessage.id)
            )
        ).all()
        alerts = {a.id: a for a in (await s.scalars(select(Alert))).all()}
        names = {m.id: m.name for m in (await s.scalars(select(Member))).all()}
    replies = [r for r in rows if r.payload["kind"] == "replies"]
    notices = [r for r in rows if r.payload["kind"] == "alert"]
    assert len(replies) == len(users) * len(WORDS)
    assert len(notices) == len(users)  # one consultation alert per member
    assert len(rows) == len(replies) + len(notices)
    assert {r.status for r in rows} == {"sent"}, [(r.key, r.status, r.last_error) for r in rows]

    # What members and staff see: every row in exactly one message, in order per conversation.
    ids = {r.key: r.id for r in rows}
    by_id = {r.id: r for r in rows}
    shown: dict[str, list[int]] = defaultdict(list)
    message_of: dict[int, Call] = {}
    for call in fake.of(POST):
        if call.ts is None:
            continue
        for row_id in carried(call, ids):
            shown[str(call.args["channel"])].append(row_id)
            message_of[row_id] = call
    assert Counter(i for seq in shown.values() for i in seq) == Counter(list(by_id))
    expected: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        expected[r.recipient if r.payload["kind"] == "alert" else "D" + r.recipient].append(r.id)
    assert set(expected) == {"D" + u for u in users} | {CHANNEL, OTHER_CHANNEL}
    assert dict(shown) == dict(expected)

    # Each row keeps the ts of the message that carries it; an alert knows where it is.
    for r in rows:
        call = message_of[r.id]
        assert r.external_id == call.ts, r.key
        if r.payload["kind"] == "replies":
            said = [reply_from_json(x) for x in r.payload["replies"]]
            assert call.args["text"] == bk.reply_fallback(said), r.key
        else:
            alert = alerts[int(r.payload["alert_id"])]
            assert (alert.slack_channel, alert.slack_ts) == (call.args["channel"], call.ts)
            assert alert.member_id is not None
            shown_text = json.dumps(call.args["blocks"], ensure_ascii=False)
            assert names[alert.member_id] in shown_text, r.key

    # Retry-After was honoured: nothing more about that conversation before it elapsed.
    honoured = 0
    for i, call in enumerate(fake.calls):
        wait = call.response_headers.get("Retry-After")
        if wait is None:
            continue
        until = at_of[i] + timedelta(seconds=int(wait))
        about = conversation(call)
        assert about is not None, call.method
        later = [j for j in range(i + 1, len(at_of)) if conversation(fake.calls[j]) == about]
        early = [(fake.calls[j].method, at_of[j]) for j in later if at_of[j] < until]
        assert not early, (call.method, conversation(call), at_of[i], wait, early)
        honoured += bool(later)
    assert honoured >= 10

    # The storm really happened: every refusal was answered, many rows needed several tries,
    # and some messages were posted although their answer said otherwise.
    assert all(v == [] for v in fake.failures.values())
    assert sum(r.attempts > 1 for r in rows) >= 10
    assert any(c.status != 200 and c.ts for c in fake.calls)
