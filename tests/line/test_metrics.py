"""/metrics on the real app: every series Nippo declares moves when LINE traffic, a check-in
and the scheduler's ticks happen (scraped before and after, as Prometheus would)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from bot.services import delivery
from bot.services.inbox import MAX_HANDLING_ATTEMPTS, UNLINKED_BACKLOG
from bot.services.metrics import CONTENT_TYPE, REGISTRY
from scheduler.runner import Runner
from storage.models import Alert, InboxEvent, OutboxMessage
from tests.factories import link_accounts, make_facility, make_member
from tests.line.conftest import Line, event, webhook
from tests.support import jst

DAY = "2026-07-01"
MEMBER = "Umetrics000000000000000000000001"
STRANGER = "Ustranger000000000000000000000009"

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]

# What the LINE test below moves; tests/slack/test_metrics.py moves the rest and checks that
# together they cover every metric declared in bot/services/metrics.py.
MOVED_BY_LINE = {
    "nippo_webhooks_received_total",
    "nippo_webhooks_rejected_total",
    "nippo_webhook_ack_seconds",
    "nippo_handling_seconds",
    "nippo_tick_duration_seconds",
    "nippo_inbox_quarantined_total",
    "nippo_inbox_timestamps_replaced_total",
    "nippo_inbox_flood_ignored_total",
    "nippo_outbox_messages",
    "nippo_outbox_oldest_pending_seconds",
    "nippo_inbox_pending",
    "nippo_alerts_open",
    "nippo_answers_pushed_total",  # moved in tests/faults/test_inbox_drain.py
}


def parse(text: str) -> Series:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Series:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == CONTENT_TYPE  # what Prometheus negotiates
    return parse(r.text)


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def moved(before: Series, after: Series, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_every_series_moves_with_a_check_in_and_ticks(line: Line, t0: datetime) -> None:
    fid = await make_facility(line.db, t0, alert_channel="C1")
    mid = await make_member(line.db, fid, t0)
    await link_accounts(line.db, t0, [(mid, MEMBER)])
    runner = Runner(  # the fake clock: at the wall's 10:30 JST a real one would miss a start
        line.db, line.app.state.senders, inbox_passes=line.app.state.inbox_processors,
        clock=line.clock,
    )  # fmt: skip
    before = await scrape(line.client)

    at = jst(DAY, "10:02")
    checkin = event("00_message_text", at, user=MEMBER, message={"text": "開始 体調1 睡眠7"})
    replayed = event(  # a captured event sent again days later: its timestamp is not believed
        "00_message_text", at - timedelta(days=3), user=MEMBER, message={"text": "こんにちは"}
    )
    broken = {**event("00_message_text", at, user=MEMBER), "timestamp": "abc"}
    flood = [
        event("00_message_text", at, user=STRANGER, message={"text": f"spam {n}"})
        for n in range(UNLINKED_BACKLOG + 2)
    ]
    await line.send(checkin, replayed, broken, *flood, at=at)
    refused = await line.post(webhook(checkin), signature="bm90IGEgc2lnbmF0dXJl")
    assert refused.status_code == 400
    for minute in range(1, MAX_HANDLING_ATTEMPTS):  # the ticks' recovery passes retry `broken`
        line.clock.at = at + timedelta(minutes=minute)
        await runner.tick()
    await delivery.flush(line.db, line.app.state.senders, line.clock.at)
    after = await scrape(line.client)

    events = 3 + len(flood)
    assert moved(before, after, "nippo_webhooks_received_total", platform="line") == events
    rejected = moved(
        before, after, "nippo_webhooks_rejected_total", platform="line", reason="bad_signature"
    )
    assert rejected == 1
    assert moved(before, after, "nippo_webhook_ack_seconds_count", platform="line") == 1
    assert moved(before, after, "nippo_webhook_ack_seconds_sum", platform="line") > 0
    ack_slowest = value(after, "nippo_webhook_ack_seconds_bucket", platform="line", le="+Inf")
    assert ack_slowest == value(after, "nippo_webhook_ack_seconds_count", platform="line")
    # The check-in's reply, the replayed message's and the stranger's newest few went out as
    # replies (the test's clock stands still: received and sent in the same instant).
    replies = 2 + UNLINKED_BACKLOG
    handled = moved(before, after, "nippo_handling_seconds_count", platform="line", via="reply")
    assert handled == replies
    assert len(line.fake.calls("/v2/bot/message/reply")) == replies
    assert moved(before, after, "nippo_tick_duration_seconds_count") == MAX_HANDLING_ATTEMPTS - 1
    assert moved(before, after, "nippo_tick_duration_seconds_sum") > 0
    assert moved(before, after, "nippo_inbox_quarantined_total", platform="line") == 1
    assert moved(before, after, "nippo_inbox_timestamps_replaced_total", platform="line") == 1
    assert moved(before, after, "nippo_inbox_flood_ignored_total", platform="line") == 2

    # The gauges say what the database holds.
    async with line.db.transaction() as s:
        by_status = dict((await s.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )).all())  # fmt: skip
        open_alerts = await s.scalar(
            select(func.count()).select_from(Alert).where(Alert.state == "open")
        )
        pending = await s.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
        )
    assert by_status["sent"] >= replies and open_alerts == 1  # 体調1: staff are alerted
    for status, n in by_status.items():
        assert value(after, "nippo_outbox_messages", status=status) == n
    assert value(after, "nippo_alerts_open", state="open") == 1
    assert value(before, "nippo_inbox_pending") == 0 and pending == 0
    assert ("nippo_inbox_pending", frozenset()) in after
    assert value(after, "nippo_outbox_oldest_pending_seconds", platform="line") == 0

    # The process collector's series, for free (Linux).
    assert value(after, "process_resident_memory_bytes") > 0
    assert value(after, "process_open_fds") > 0
    assert value(after, "process_cpu_seconds_total") >= value(before, "process_cpu_seconds_total")
    assert value(after, "process_cpu_seconds_total") > 0


def test_an_undeclared_metric_or_label_fails_loudly() -> None:
    with pytest.raises(KeyError, match="undeclared counter"):
        REGISTRY.inc("nippo_webhook_recieved_total", platform="line")
    with pytest.raises(KeyError, match="undeclared histogram"):
        REGISTRY.observe("nippo_tick_seconds", 1.0)
    with pytest.raises(ValueError):  # a label the counter does not have
        REGISTRY.inc("nippo_webhooks_received_total", channel="line")
    with pytest.raises(KeyError):  # a database gauge must be declared too
        REGISTRY.render({"nippo_outbox_size": {(): 1.0}})
