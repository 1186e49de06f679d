"""Linked accounts (issue #23), end to end: the real app with LINE and Slack both on, a fake
LINE API and a fake Slack API that record what members and staff were shown.

A member's new phone cuts the old one off (it gets only the linking prompt and sees nothing of
today), staff are told; a newer code voids the older one; staff list and unlink accounts from
the CLI and from a signed `/nippo` command; too many wrong codes across the installation pause
linking for an hour (even a right code waits) and managers hear of it once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from adapters.line.render import encode_postback
from bot.app.settings import Settings
from bot.app.web import create_app
from bot.core import texts
from bot.core.domain import Reply
from bot.core.payloads import Replies
from bot.services import admin
from storage import repo
from storage.db import Database
from storage.models import AuditLog, Identity, LinkCode, OutboxMessage, Staff
from tests.line.conftest import SECRET as LINE_SECRET
from tests.line.conftest import event, sign, webhook
from tests.line.fake_api import FakeLine, FakeLineServer
from tests.slack.conftest import CHANNEL, MANAGER, SECRET, STAFF1, Rig
from tests.slack.fake_slack import Call, FakeSlack, Served
from tests.support import FakeClock, jst, link_code, make_member, run_cli

DAY = "2026-07-01"  # a Wednesday
OLD, NEW = "Uold00000000000000000000000000001", "Unew00000000000000000000000000002"
NAME = "山田 太郎"


@dataclass
class Both:
    """The app with LINE and Slack on; `slack` drives signed Slack requests."""

    slack: Rig
    line: FakeLine
    db: Database
    clock: FakeClock
    facility_id: int

    async def line_event(self, *evs: dict[str, Any], at: datetime) -> list[str]:
        """Deliver LINE events in one webhook at `at`; what the accounts were shown in answer
        (texts, and a card's alt text)."""
        self.clock.at = at
        before = len(self.line.requests)
        body = webhook(*evs)
        resp = await self.slack.http.post(
            "/callback/line",
            content=body,
            headers={"X-Line-Signature": sign(body), "Content-Type": "application/json"},
        )
        assert resp.status_code == 200, resp.text
        await self.slack.app.state.line_worker.settled()
        shown = []
        for r in self.line.requests[before:]:
            if r.path in ("/v2/bot/message/reply", "/v2/bot/message/push") and r.body:
                for m in r.body["messages"]:
                    shown.append(m["text"] if m["type"] == "text" else m.get("altText", ""))
        return shown

    async def say(self, user: str, text: str, at: datetime) -> list[str]:
        return await self.line_event(
            event("00_message_text", at, user=user, message={"text": text}), at=at
        )

    async def tap(self, user: str, data: str, at: datetime) -> list[str]:
        return await self.line_event(
            event("10_postback", at, user=user, postback={"data": data}), at=at
        )

    async def identity(self, user: str) -> Identity:
        async with self.db.transaction() as session:
            stmt = select(Identity).where(Identity.platform_user_id == user)
            return (await session.execute(stmt)).scalar_one()

    def channel_posts(self) -> list[Call]:
        return [c for c in self.slack.fake.of("chat.postMessage") if c.args["channel"] == CHANNEL]


def shown_in(calls: list[Call]) -> str:
    return json.dumps(
        [(c.args.get("text"), c.args.get("blocks")) for c in calls], ensure_ascii=False
    )


@pytest.fixture
async def both(db: Database, db_url: str) -> AsyncIterator[Both]:
    clock = FakeClock(jst(DAY, "09:00"))
    async with db.transaction() as session:
        f = await admin.init_facility(
            session, name="ひだまり作業所", alert_channel=CHANNEL, now=clock.at
        )
        await admin.add_staff(
            session, f, name="佐藤 花子", slack_user=STAFF1, role="staff", now=clock.at
        )
        await admin.add_staff(
            session, f, name="高橋 管理", slack_user=MANAGER, role="manager", now=clock.at
        )
        facility_id = f.id
    async with FakeLineServer(FakeLine()) as line, Served(FakeSlack()) as fake:
        settings = Settings(
            database_url=db_url,
            line_channel_secret=SecretStr(LINE_SECRET),
            line_channel_access_token=SecretStr("test-access-token"),
            line_api_base_url=line.url,
            line_data_api_base_url=line.url,
            slack_bot_token=SecretStr("xoxb-test"),
            slack_signing_secret=SecretStr(SECRET),
            slack_api_base_url=fake.url,
            scheduler_enabled=False,  # the tests drive handling and delivery themselves
        )
        app = create_app(settings, db, clock)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://nippo.test"
            ) as http,
        ):
            rig = Rig(http, fake, db, clock, facility_id, app)
            yield Both(rig, line, db, clock, facility_id)
        fake.check_limits()
        fake.check_spec()


async def answer(rig: Rig, user: str, text: str) -> str:
    """A signed `/nippo TEXT` from `user`; what Slack was asked to show them."""
    before = len(rig.fake.of("chat.postEphemeral"))
    assert (await rig.command(user, text)).status_code == 200
    posts = await rig.fake.wait_for("chat.postEphemeral", before + 1)
    assert all(p.args["user"] == user for p in posts[before:])
    return shown_in(posts[before:])


async def linked_phone(both: Both, user: str, member_id: int, at: datetime) -> None:
    code = await link_code(both.db, member_id, at)
    assert await both.say(user, code, at) == [texts.LINK_DONE.format(name=NAME)]


async def old_phone_checked_in(both: Both) -> int:
    """山田 太郎 linked his old phone at 09:00 and reported the start of his day at 10:00."""
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME)
    await linked_phone(both, OLD, mid, jst(DAY, "09:00"))
    shown = await both.say(OLD, "開始 体調4 睡眠7 データ入力", jst(DAY, "10:00"))
    assert any("データ入力" in s for s in shown), shown
    return mid


# --- a new phone cuts the old one off -------------------------------------------------------


async def test_the_old_phone_gets_only_the_linking_prompt_after_the_new_one_links(
    both: Both,
) -> None:
    mid = await old_phone_checked_in(both)
    summary_button = encode_postback("summary", jst(DAY, "12:00").date())
    # Before the switch the old phone is shown today's answers when it asks.
    before = await both.say(OLD, "今日の記録", jst(DAY, "11:00"))
    assert any("データ入力" in s for s in before), before

    await linked_phone(both, NEW, mid, jst(DAY, "12:00"))

    # Whatever the old phone sends now, it is asked for a code and learns nothing.
    for shown in (
        await both.say(OLD, "今日の記録", jst(DAY, "12:10")),
        await both.tap(OLD, summary_button, jst(DAY, "12:11")),
        await both.say(OLD, "終了 入力120件 体調3", jst(DAY, "12:12")),
        await both.line_event(
            event("06_follow", jst(DAY, "12:13"), user=OLD), at=jst(DAY, "12:13")
        ),
    ):
        assert shown == [texts.LINK_PROMPT]
    # The new phone carries on with the same day.
    now_shown = await both.say(NEW, "今日の記録", jst(DAY, "12:20"))
    assert any("データ入力" in s for s in now_shown), now_shown

    old = await both.identity(OLD)
    assert (old.member_id, old.unlinked_reason, old.unlinked_member_id) == (None, "replaced", mid)
    assert old.unlinked_at == jst(DAY, "12:00")
    assert (await both.identity(NEW)).member_id == mid
    async with both.db.transaction() as session:
        actions = [
            (a.action, a.target, a.detail.get("reason"))
            for a in (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars()
            if a.action.startswith("account.")
        ]
    assert ("account.unlink", f"identity:{old.id}", "replaced") in actions


async def test_staff_are_told_when_an_account_is_replaced(both: Both) -> None:
    mid = await old_phone_checked_in(both)
    assert both.channel_posts() == []  # a first link is no news
    await linked_phone(both, NEW, mid, jst(DAY, "12:00"))

    posts = both.channel_posts()
    assert len(posts) == 1
    text = shown_in(posts)
    assert f"{NAME}さんのLINEが新しいアカウントで連携されました" in text
    assert "前のアカウント(1件)の連携は解除しました" in text
    assert OLD not in text and NEW not in text  # platform ids stay out of Slack
    async with both.db.transaction() as session:
        row = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.key.like("account_replaced:%"))
            )
        ).scalar_one()
    assert row.status == "sent" and row.payload["kind"] == "account_replaced"


async def test_an_older_code_no_longer_links(both: Both) -> None:
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME)
    first = await link_code(both.db, mid, jst(DAY, "09:00"))
    second = await link_code(both.db, mid, jst(DAY, "09:05"))  # e.g. the first was lost

    assert await both.say(NEW, first, jst(DAY, "09:10")) == [texts.LINK_WRONG]
    assert (await both.identity(NEW)).member_id is None
    assert await both.say(NEW, second, jst(DAY, "09:11")) == [texts.LINK_DONE.format(name=NAME)]
    async with both.db.transaction() as session:
        codes = {c.code: c for c in (await session.execute(select(LinkCode))).scalars()}
    assert codes[first].voided_at == jst(DAY, "09:05") and codes[first].used_at is None
    assert codes[second].used_at == jst(DAY, "09:11")


# --- staff list and unlink accounts ---------------------------------------------------------


async def test_the_last_message_staff_see_is_written_once_a_minute(
    both: Both, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff see an account's last message to the minute; the member's taps within that
    minute write nothing more to the account (nor to the audit log), a later one moves it."""
    await old_phone_checked_in(both)  # 10:00
    monkeypatch.setenv("DATABASE_URL", db_url)
    account = await both.identity(OLD)

    async def account_writes() -> int:
        async with both.db.transaction() as session:
            stmt = select(AuditLog).where(
                AuditLog.action == "update:identity", AuditLog.target == f"identity:{account.id}"
            )
            return len((await session.execute(stmt)).scalars().all())

    before = await account_writes()
    await both.say(OLD, "今日の記録", jst(DAY, "10:00:40"))
    assert await account_writes() == before
    listing = await asyncio.to_thread(run_cli, "member", "accounts", "山田")
    assert "\tlast message 2026-07-01 10:00" in listing

    await both.say(OLD, "今日の記録", jst(DAY, "10:01:05"))
    assert await account_writes() == before + 1
    assert (await both.identity(OLD)).last_seen_at == jst(DAY, "10:01:05")
    listing = await asyncio.to_thread(run_cli, "member", "accounts", "山田")
    assert "\tlast message 2026-07-01 10:01" in listing


async def test_unlink_from_the_cli(
    both: Both, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mid = await old_phone_checked_in(both)
    monkeypatch.setenv("DATABASE_URL", db_url)

    listing = await asyncio.to_thread(run_cli, "member", "accounts", "山田")
    (line,) = listing.strip().splitlines()
    assert "\tline\tlinked\tlinked since 2026-07-01 09:00\tlast message 2026-07-01 10:00" in line

    out = await asyncio.to_thread(run_cli, "member", "unlink", "山田", "--platform", "line")
    assert out.startswith("unlinked ")
    assert await both.say(OLD, "今日の記録", jst(DAY, "11:00")) == [texts.LINK_PROMPT]

    listing = await asyncio.to_thread(run_cli, "member", "accounts", "山田")
    assert "\tline\tunlinked " in listing and "(staff)" in listing
    old = await both.identity(OLD)
    assert (old.member_id, old.unlinked_reason, old.unlinked_member_id) == (None, "staff", mid)
    async with both.db.transaction() as session:
        audit = (
            await session.execute(select(AuditLog).where(AuditLog.action == "account.unlink"))
        ).scalar_one()
    assert (audit.actor, audit.target, audit.detail["member_id"]) == (
        "cli",
        f"identity:{old.id}",
        mid,
    )
    # Linked again later with a new code, the phone is the member's once more.
    await linked_phone(both, OLD, mid, jst(DAY, "11:30"))
    assert (await both.identity(OLD)).unlinked_at is None


async def test_the_old_phones_message_in_the_new_ones_batch_is_not_answered(
    both: Both,
) -> None:
    """The old phone writes and the new one enters the code in one webhook: the old phone's
    answer, written with its batch's other replies at the batch's end, is cancelled with
    whatever else waited for it when the new phone links; the new phone is welcomed."""
    mid = await old_phone_checked_in(both)
    at = jst(DAY, "12:00")
    code = await link_code(both.db, mid, at)
    asks = event("00_message_text", at, user=OLD, message={"text": "今日の記録"})
    links = event("00_message_text", at, user=NEW, message={"text": code})
    shown = await both.line_event(asks, links, at=at)

    assert shown == [texts.LINK_DONE.format(name=NAME)]
    async with both.db.transaction() as session:
        reply = (
            await session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.key == f"reply:line:{asks['webhookEventId']}"
                )
            )
        ).scalar_one()
    assert reply.status == "cancelled"


async def test_unlink_from_slack_is_for_managers_of_the_members_facility(both: Both) -> None:
    mid = await old_phone_checked_in(both)
    rig = both.slack
    async with both.db.transaction() as session:
        other = await admin.init_facility(
            session, name="よつば作業所", alert_channel="C_OTHER", now=rig.clock.at
        )
        await admin.add_staff(
            session, other, name="他所 管理", slack_user="U_MGR_B", role="manager", now=rig.clock.at
        )

    listing = await answer(rig, STAFF1, "accounts 山田")
    refused = await answer(rig, STAFF1, "unlink 山田")  # staff, not a manager
    elsewhere = await answer(rig, "U_MGR_B", "unlink 山田")  # a manager of another facility
    assert f"{NAME}さんのアカウント" in listing and "LINE (id " in listing and "連携中" in listing
    assert "最後のメッセージ 07/01 10:00" in listing
    assert texts.SLACK_MANAGERS_ONLY in refused
    assert "当てはまる利用者が見つかりません" in elsewhere
    assert (await both.identity(OLD)).member_id == mid

    async with both.db.transaction() as session:  # a reminder still waiting for the old phone
        await repo.enqueue(
            session,
            key="remind:test",
            platform="line",
            recipient=OLD,
            payload=Replies((Reply(f"{NAME}さん、おはよう"),)),
            now=rig.clock.at,
            member_id=mid,
        )
    done = await answer(rig, MANAGER, "unlink 山田")
    assert f"{NAME}さんのLINEの連携を解除しました(1件)" in done
    assert await both.say(OLD, "今日の記録", jst(DAY, "11:00")) == [texts.LINK_PROMPT]
    async with both.db.transaction() as session:
        audit = (
            await session.execute(select(AuditLog).where(AuditLog.action == "account.unlink"))
        ).scalar_one()
        manager = (
            await session.execute(select(Staff).where(Staff.slack_user_id == MANAGER))
        ).scalar_one()
    assert audit.actor == f"staff:{manager.id}"
    assert audit.detail == {
        "member_id": mid,
        "platform": "line",
        "reason": "staff",
        "cancelled_outbox": 1,
    }
    async with both.db.transaction() as session:
        reminder = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.key == "remind:test"))
        ).scalar_one()
    assert reminder.status == "cancelled"
    assert "おはよう" not in json.dumps(both.line.shown, ensure_ascii=False)  # never sent


# --- the installation-wide limit on wrong codes ---------------------------------------------


async def test_too_many_wrong_codes_pause_linking_and_managers_hear_once(both: Both) -> None:
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME)
    async with both.db.transaction() as session:  # a second facility, and one with no channel
        other = await admin.init_facility(
            session, name="よつば作業所", alert_channel="C_OTHER", now=both.clock.at
        )
        await admin.add_staff(
            session,
            other,
            name="他所 管理",
            slack_user="U_MGR_B",
            role="manager",
            now=both.clock.at,
        )
        quiet = await admin.init_facility(session, name="しずか作業所", now=both.clock.at)
        await admin.add_staff(
            session, quiet, name="静 管理", slack_user="U_MGR_C", role="manager", now=both.clock.at
        )
    right = await link_code(both.db, mid, jst(DAY, "09:00"))
    wrong = [f"{n:06d}" for n in range(100000, 100030) if f"{n:06d}" != right]
    at = jst(DAY, "10:00")

    # 20 wrong codes within the hour, from four accounts (each locks itself after five).
    for n in range(20):
        shown = await both.say(f"Uguess{n // 5:027d}", wrong[n], at + timedelta(seconds=n))
        assert shown == [texts.LINK_LOCKED if n % 5 == 4 else texts.LINK_WRONG], n
    dms = [c for c in both.slack.fake.of("chat.postMessage") if c.args["channel"] == MANAGER]
    others = [c for c in both.slack.fake.of("chat.postMessage") if c.args["channel"] == "U_MGR_B"]
    assert len(dms) == 1 and len(others) == 1
    assert "連携コードの入力の失敗が20回ありました" in shown_in(dms)
    assert "11:00ごろまで止めています" in shown_in(dms)
    assert not [c for c in both.slack.fake.of("chat.postMessage") if c.args["channel"] == "U_MGR_C"]

    # While paused even the right code is not checked, and nobody is told again.
    assert await both.say(NEW, right, jst(DAY, "10:30")) == [texts.LINK_PAUSED]
    assert await both.say("Uguess5", wrong[21], jst(DAY, "10:31")) == [texts.LINK_PAUSED]
    assert (await both.identity(NEW)).member_id is None
    assert len(both.slack.fake.of("chat.postMessage")) == 2

    # An hour after those failures, the right code links.
    assert await both.say(NEW, right, jst(DAY, "11:01")) == [texts.LINK_DONE.format(name=NAME)]
    assert (await both.identity(NEW)).member_id == mid
