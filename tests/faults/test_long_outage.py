"""Slack is down for 90 minutes while the morning's missed-start alerts are raised (issue #23).

The fake Slack Web API answers 503 (JSON or a proxy's HTML page) for half an hour, then the
connection is refused for half an hour, then it answers 429 with Retry-After for half an hour.
The scheduler ticks every minute and delivery runs every minute on a simulated clock, as the
delivery loop would. Afterwards every alert reaches the staff channel once, the late ones say
how late they are in the blocks Slack received, no outbox row ends "failed", /healthz and
/metrics showed the backlog while it lasted, the staff member with LINE linked as staff was
told on LINE once, and the alert channel got one summary when Slack came back.
"""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from adapters.line.sender import LineApi, LineSender
from adapters.slack.deps import web_client
from adapters.slack.sender import METADATA_EVENT, SlackSender, _classify
from bot.core import texts
from bot.core.payloads import Notice
from bot.core.ports import OutboxItem, Outcome, Sender, SendResult
from bot.services import delivery, ticks
from storage import repo
from storage.models import Alert, OutboxMessage, Staff
from tests.factories import identity
from tests.line.fake_api import FakeLine, Scripted
from tests.slack.conftest import CHANNEL, STAFF1, Rig
from tests.slack.fake_slack import Call, Refusal
from tests.support import jst, link_accounts, make_member

DAY = "2026-07-01"
TOKYO = ZoneInfo("Asia/Tokyo")
DOWN_FROM, REFUSED_FROM, THROTTLED_FROM, BACK_AT = (
    jst(DAY, "10:00"),
    jst(DAY, "10:30"),
    jst(DAY, "11:00"),
    jst(DAY, "11:30"),
)
STARTS = [time(9, 40), time(9, 50), time(10, 0), time(10, 10), time(10, 20), time(10, 30)]
STAFF_LINE_USER = "U" + "5" * 32
POST = "chat.postMessage"
PACED_FOR = timedelta(seconds=50)  # of each minute, for messages held back for Slack's pace
UNAVAILABLE = {"ok": False, "error": "service_unavailable"}


def dead_url() -> str:
    """A loopback port nobody listens on: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


def outage(clock: Any) -> Any:
    """The fake's answer to every call while Slack is down, by the simulated clock."""
    n = 0

    def down(method: str) -> Refusal | None:
        nonlocal n
        now = clock.at
        if method == "auth.test" or not DOWN_FROM <= now < BACK_AT:
            return None
        n += 1
        if now < REFUSED_FROM:  # 503, sometimes as a proxy's HTML page
            if n % 3 == 0:
                return Refusal(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
            return Refusal(503, UNAVAILABLE)
        # From REFUSED_FROM to THROTTLED_FROM the test points the sender at a dead port.
        return Refusal(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "120"})

    return down


async def seed(rig: Rig) -> int:
    """Six Slack members starting 09:40 … 10:30, and staff member 1's LINE linked as staff."""
    db, at = rig.db, jst(DAY, "09:00")
    for i, start in enumerate(STARTS):
        end = time(start.hour + 5, start.minute)
        mid = await make_member(
            db, rig.facility_id, at, name=f"利用者 {i}", kana=None, start=start, end=end
        )
        await link_accounts(db, at, [(mid, f"U_M{i}")], platform="slack")
    async with db.transaction() as s:
        staff_id = await s.scalar(select(Staff.id).where(Staff.slack_user_id == STAFF1))
        assert staff_id is not None
        s.add(identity(STAFF_LINE_USER, at, staff_id=staff_id))
    return staff_id


def gauge(metrics: str, platform: str) -> float:
    found = re.search(
        rf'^nippo_outbox_oldest_pending_seconds{{platform="{platform}"}} (\S+)$', metrics, re.M
    )
    assert found is not None, metrics
    return float(found.group(1))


def carried(call: Call) -> list[str | int]:
    """The outbox key a posted message carries, then the ids of rows joined in a digest."""
    meta = call.args["metadata"]
    assert meta["event_type"] == METADATA_EVENT
    return [meta["event_payload"]["key"], *(int(i) for i in meta["event_payload"]["joined"])]


def context_texts(call: Call) -> list[str]:
    return [e["text"] for b in call.args["blocks"] if b["type"] == "context" for e in b["elements"]]


async def test_a_90_minute_outage_delivers_every_alert_once_and_late_ones_say_so(
    rig: Rig, fake_line: FakeLine
) -> None:
    fake, db = rig.fake, rig.db
    fake_line.quota_limit = None
    await seed(rig)
    fake.down = outage(rig.clock)
    live = web_client("xoxb-test", fake.url, retries=False)
    dead = web_client("xoxb-test", dead_url(), retries=False)
    slack = SlackSender(live, db)
    line = LineSender(LineApi("test-access-token", fake_line.url, fake_line.url), db)
    senders: dict[str, Sender] = {"slack": slack, "line": line}

    post_at: list[datetime] = []  # the simulated instant of every call to the fake Slack
    health: dict[str, Any] = {}
    gauges: dict[str, float] = {}
    now = jst(DAY, "09:40")
    try:
        while now <= jst(DAY, "13:00"):
            rig.clock.at = now
            slack.client = dead if REFUSED_FROM <= now < THROTTLED_FROM else live
            await ticks.tick(db, now)
            at = now  # delivery runs every few seconds: held back for Slack's pace, a second on
            while (await delivery.flush(db, senders, at)).paced and at < now + PACED_FOR:
                post_at += [at] * (len(fake.calls) - len(post_at))
                at += timedelta(seconds=1)
            post_at += [at] * (len(fake.calls) - len(post_at))
            hhmm = now.astimezone(TOKYO).strftime("%H:%M")
            if hhmm in ("10:45", "11:20", "13:00"):
                answer = await rig.http.get("/healthz")
                assert answer.status_code == 200  # a Slack outage is no reason to restart us
                health[hhmm] = answer.json()
                gauges[hhmm] = gauge((await rig.http.get("/metrics")).text, "slack")
            now += timedelta(minutes=1)
    finally:
        await line.aclose()

    async with db.transaction() as s:
        rows = (
            await s.scalars(
                select(OutboxMessage).where(OutboxMessage.platform == "slack").order_by("id")
            )
        ).all()
        alerts = (await s.scalars(select(Alert).order_by(Alert.id))).all()
        line_rows = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.platform == "line"))
        ).all()

    # Nothing was given up on; everything went out once Slack was back.
    assert {r.status for r in rows} == {"sent"}, [(r.key, r.status, r.last_error) for r in rows]
    assert max(r.attempts for r in rows) >= 12  # today's limit would have failed these
    by_key = {r.key: r for r in rows}
    by_id = {r.id: r for r in rows}
    alert_rows = [r for r in rows if r.payload["kind"] == "alert"]
    levels = Counter(a.level for a in alerts)
    assert len(alerts) >= 10 and levels["urgent"] >= 5, levels  # staff +30, managers +60
    assert all(a.slack_ts for a in alerts)

    # Each alert row is in exactly one message Slack accepted; late ones say how late.
    posted = [(c, at) for c, at in zip(fake.calls, post_at, strict=True) if c.method == POST]
    shown: Counter[int] = Counter()
    late_seen = 0
    for call, at in posted:
        if call.ts is None or call.status != 200:
            continue
        key, *joined = carried(call)
        head = by_key[str(key)]
        for row in [head, *(by_id[int(i)] for i in joined)]:
            shown[row.id] += 1
        if head.payload["kind"] not in ("alert", "renotify"):
            continue
        age = at - head.created_at
        note = texts.OUTAGE_LATE_NOTE.format(
            minutes=int(age.total_seconds() // 60),
            time=head.created_at.astimezone(TOKYO).strftime("%H:%M"),
        )
        if age > timedelta(minutes=5):
            assert note in context_texts(call), (head.key, context_texts(call))
            assert call.args["text"].startswith("⏱"), call.args["text"]
            late_seen += 1
        else:
            assert not any("遅れて届きました" in t for t in context_texts(call)), head.key
    # Re-notification steps held back by the outage collapse to the latest one per alert.
    late_renotify = Counter(
        by_key[str(carried(call)[0])].payload["alert_id"]
        for call, at in posted
        if call.ts
        and by_key[str(carried(call)[0])].payload["kind"] == "renotify"
        and at - by_key[str(carried(call)[0])].created_at > timedelta(minutes=5)
    )
    assert late_renotify and max(late_renotify.values()) == 1, late_renotify
    assert {r.id for r in alert_rows} <= set(shown)
    assert all(shown[r.id] == 1 for r in alert_rows), shown
    assert late_seen >= 3  # the alerts raised while Slack was down (re-notifications collapse)

    # While it lasted: degraded with the backlog's age, and the gauge said the same.
    assert health["10:45"]["status"] == "degraded", health
    assert health["10:45"]["backlog"]["slack"] >= 40 * 60
    assert health["11:20"]["status"] == "degraded"
    assert gauges["10:45"] >= 40 * 60 and gauges["11:20"] > gauges["10:45"]
    assert health["13:00"] == {"status": "ok", "database": "up"}
    assert gauges["13:00"] == 0

    # Staff member 1 (LINE linked as staff) was told on LINE once, without names.
    pushes = [body for to, body in fake_line.shown if to == STAFF_LINE_USER]
    assert len(pushes) == 1, pushes
    said = pushes[0]["messages"][0]["text"]
    assert "Slack に障害" in said and "利用者" not in said
    assert [r.key.split(":")[:2] for r in line_rows] == [["outage", "line"]]

    # Back up: one summary in the alert channel, mentioning the manager, with the count.
    summaries = [c for c, _ in posted if c.ts and str(carried(c)[0]).startswith("outage:")]
    assert len(summaries) == 1, [carried(c) for c in summaries]
    summary = json.dumps(summaries[0].args["blocks"], ensure_ascii=False)
    assert summaries[0].args["channel"] == CHANNEL
    late_rows = [
        r
        for r in rows
        if r.payload["kind"] not in ("replies", "outage_summary")
        and r.via != "skipped"
        and r.sent_at is not None
        and r.sent_at - r.created_at > timedelta(minutes=5)
    ]
    longest = max(r.sent_at - r.created_at for r in late_rows if r.sent_at is not None)
    expected = texts.OUTAGE_SUMMARY.format(
        count=len(late_rows), minutes=int(longest.total_seconds() // 60)
    )
    assert expected in summary and "<@U_MGR>" in summary, summary


async def test_only_the_messages_own_fault_fails_a_row(rig: Rig) -> None:
    """channel_not_found fails at once; 40 answers of 503 in a row fail nothing."""
    fake, db = rig.fake, rig.db
    now = jst(DAY, "10:00")
    async with db.transaction() as s:
        for key, channel in (("bad", "C_GONE"), ("good", CHANNEL)):
            await repo.enqueue(
                s, key=key, platform="slack", recipient=channel, payload=Notice(text=key), now=now
            )
    gone = Refusal(200, {"ok": False, "error": "channel_not_found"})
    fake.down = lambda method: (
        gone
        if method == POST and fake.calls[-1].args.get("channel") == "C_GONE"
        else Refusal(503, UNAVAILABLE)
        if method == POST and len(fake.of(POST)) <= 41
        else None
    )
    slack = SlackSender(web_client("xoxb-test", fake.url, retries=False), db)
    for _ in range(60):
        await delivery.flush(db, {"slack": slack}, now)
        async with db.transaction() as s:
            row = await s.scalar(select(OutboxMessage).where(OutboxMessage.key == "good"))
            bad = await s.scalar(select(OutboxMessage).where(OutboxMessage.key == "bad"))
        assert row is not None and bad is not None
        assert (bad.status, bad.attempts, bad.last_error) == ("failed", 1, "channel_not_found")
        if row.status == "sent":
            break
        assert row.status == "pending", (row.attempts, row.last_error)
        now = max(now + timedelta(seconds=1), row.next_attempt_at)
    assert row is not None and row.status == "sent" and row.attempts == 41


def test_backoff_is_capped_with_a_deterministic_spread() -> None:
    waits = [delivery.backoff(n, None, delivery.jitter_for(7, n)) for n in range(1, 30)]
    assert waits[:8] == [timedelta(seconds=2**n) for n in range(1, 9)]  # exact before the cap
    capped = waits[8:]
    assert all(delivery.MAX_BACKOFF * 0.75 <= w <= delivery.MAX_BACKOFF for w in capped)
    assert len(set(capped)) > 10  # spread, not in lockstep
    again = [delivery.backoff(n, None, delivery.jitter_for(7, n)) for n in range(1, 30)]
    assert again == waits
    spread = {delivery.backoff(12, None, delivery.jitter_for(i, 12)) for i in range(50)}
    assert len(spread) > 40  # rows of one backlog retry at different moments
    assert delivery.backoff(12, 900.0, 0.9) == timedelta(seconds=900)  # Retry-After wins


def test_slack_transient_answers_are_retried_and_the_rest_fail() -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    def answer(status: int, body: dict[str, Any] | str, headers: dict[str, Any]) -> SendResult:
        resp = AsyncSlackResponse(
            client=None,
            http_verb="POST",
            api_url="https://slack.test/api/chat.postMessage",
            req_args={},
            data=body,  # type: ignore[arg-type]
            headers=headers,
            status_code=status,
        )
        return _classify(SlackApiError("refused", resp))  # type: ignore[no-untyped-call]

    for status, body in (
        (408, "Request Timeout"),
        (200, {"ok": False, "error": "request_timeout"}),
        (504, "<html>Gateway Timeout</html>"),
        (429, {"ok": False, "error": "ratelimited"}),
    ):
        assert answer(status, body, {}).outcome is Outcome.RETRY, (status, body)
    for error in ("channel_not_found", "not_in_channel", "invalid_auth", "msg_too_long"):
        assert answer(200, {"ok": False, "error": error}, {}).outcome is Outcome.FAILED


async def test_line_timeouts_and_refused_connections_are_retried(
    rig: Rig, fake_line: FakeLine
) -> None:
    """408 and a refused connection are LINE's trouble (today: FAILED, and an exception)."""
    db, at = rig.db, jst(DAY, "10:00")
    mid = await make_member(db, rig.facility_id, at, name="利用者 L", kana=None)
    await link_accounts(db, at, [(mid, "U" + "a" * 32)])
    item = OutboxItem(
        id=1,
        key="k",
        platform="line",
        recipient="U" + "a" * 32,
        payload=Notice(text="こんにちは"),
        retry_key="0b7c5b0e-3f0e-4a55-9a43-52a4e0f3c001",
        attempts=1,
        member_id=mid,
    )
    fake_line.script("/v2/bot/message/push", Scripted(408, {"message": "Request Timeout"}))
    line = LineSender(LineApi("t", fake_line.url, fake_line.url), db)
    refused = LineSender(LineApi("t", dead_url(), dead_url()), db)
    try:
        timed_out = await line.send(item, at)
        unreachable = await refused.send(item, at)
        # A reply that cannot reach LINE is retried as a push (the token is single use).
        fresh = OutboxItem(**{**item.__dict__, "attempts": 0, "reply_token": "tok"})
        fresh = OutboxItem(**{**fresh.__dict__, "reply_token_until": at + timedelta(seconds=30)})
        reply = await refused.send(fresh, at)
    finally:
        await line.aclose()
        await refused.aclose()
    assert (timed_out.outcome, timed_out.via) == (Outcome.RETRY, "push")
    assert (unreachable.outcome, unreachable.via) == (Outcome.RETRY, "push")
    assert (reply.outcome, reply.via) == (Outcome.RETRY, "reply")
