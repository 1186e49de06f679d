"""/metrics on the real app with Slack: a signed DM is acknowledged and answered, a forged
request is refused, and each shows in the series; with the LINE test, every declared metric."""

from __future__ import annotations

import asyncio
import json

from bot.services.metrics import COUNTERS, GAUGES, HISTOGRAMS
from tests.line.test_metrics import MOVED_BY_LINE, Series, moved, scrape
from tests.slack.conftest import Rig
from tests.slack.test_dm_checkin import dm
from tests.support import jst

MOVED_BY_SLACK = {
    "nippo_webhooks_received_total",
    "nippo_webhooks_rejected_total",
    "nippo_webhook_ack_seconds",
    "nippo_handling_seconds",
}


def test_every_declared_metric_moves_in_a_test() -> None:
    assert {*COUNTERS, *HISTOGRAMS, *GAUGES} == MOVED_BY_LINE | MOVED_BY_SLACK


async def test_slack_requests_and_replies_show_in_the_metrics(rig: Rig) -> None:
    at = jst("2026-07-01", "10:05")
    rig.clock.at = at
    before = await scrape(rig.http)

    assert (await rig.event(dm("こんにちは", at))).status_code == 200  # asked for a code
    forged = json.dumps(dm("こんにちは", at)).encode()
    assert (await rig.post(forged, "application/json", signature="v0=forged")).status_code == 401
    await rig.fake.wait_for("chat.postMessage", 1)

    async def answered() -> Series:  # the reply's outcome is recorded just after it is posted
        for _ in range(100):
            after = await scrape(rig.http)
            if moved(before, after, "nippo_handling_seconds_count", platform="slack", via="api"):
                return after
            await asyncio.sleep(0.05)
        raise AssertionError("the reply's handling time was never observed")

    after = await answered()
    assert moved(before, after, "nippo_webhooks_received_total", platform="slack") == 1
    assert moved(before, after, "nippo_webhook_ack_seconds_count", platform="slack") == 1
    assert moved(before, after, "nippo_webhook_ack_seconds_sum", platform="slack") > 0
    refused = moved(
        before, after, "nippo_webhooks_rejected_total", platform="slack", reason="bad_signature"
    )
    assert refused == 1
    assert moved(before, after, "nippo_handling_seconds_count", platform="slack", via="api") == 1
