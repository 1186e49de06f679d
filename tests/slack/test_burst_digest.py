"""A burst of missed starts (30 members at 10:30) is one digest message (issue #19): one
compact line per member with an overflow menu of the alert's actions, updated in place when
staff act, when a member's own report closes their line and when the next tick adds more."""

from __future__ import annotations

from datetime import time
from typing import Any

from sqlalchemy import select

from adapters.slack import blocks as bk
from adapters.slack.sender import DIGEST_MAX
from bot.core import texts
from storage.models import Alert, Member, OutboxMessage
from tests.slack.conftest import CHANNEL, STAFF1, TEAM, Rig, sample
from tests.slack.fake_slack import MESSAGE_BLOCKS, check_blocks
from tests.slack.test_member_day import DAY, Channel, shown
from tests.support import Chat, jst, make_member

BURST = 30


def lines(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The digest's alert lines by block id (`alert:<id>`)."""
    return {b["block_id"]: b for b in blocks if str(b.get("block_id", "")).startswith("alert:")}


def menu(line: dict[str, Any]) -> list[str]:
    accessory = line.get("accessory") or {}
    return [o["text"]["text"] for o in accessory.get("options", [])]


def choose(user: str, option: dict[str, Any], ts: str) -> dict[str, Any]:
    """A signed block_actions body as Slack sends it when an overflow option is chosen."""
    body = sample("interactivity/block_actions.json")
    body["user"].update(id=user, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["channel"]["id"] = CHANNEL
    body["container"].update(channel_id=CHANNEL, message_ts=ts, is_ephemeral=False)
    action = body["actions"][0]
    action.pop("value", None)
    action.update(type="overflow", action_id=bk.ACTION_MENU, selected_option=option)
    return body


async def burst(rig: Rig, n: int = BURST) -> list[int]:
    rig.clock.at = jst(DAY, "09:00")
    return [
        await make_member(rig.db, rig.facility_id, rig.clock.at, f"利用者{i:02d} 花")
        for i in range(n)
    ]


async def test_thirty_missed_starts_are_one_digest_and_its_actions_work(rig: Rig) -> None:
    assert DIGEST_MAX >= 45  # what Slack's 50 blocks allow, one line each
    mids = await burst(rig)
    chat, channel = Chat(rig.db), Channel(rig)
    await chat.link("u-late", mids[3], rig.clock.at)
    await channel.at("10:30", tick=True)
    (post,) = channel.posts()  # exactly one chat.postMessage for the 30
    assert len(rig.fake.of("chat.postMessage")) == 1
    check_blocks(post.args["blocks"], MESSAGE_BLOCKS, "digest")
    assert f"アラートが {BURST}件" in post.args["text"]
    text = shown(post)
    assert all(f"利用者{i:02d} 花さん" in text for i in range(BURST))
    found = lines(post.args["blocks"])
    assert len(found) == BURST
    assert all(menu(x) == ["対応します", "メッセージを送る", "対応済み"] for x in found.values())
    async with rig.db.transaction() as session:
        alerts = (await session.scalars(select(Alert).order_by(Alert.id))).all()
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert {a.slack_ts for a in alerts} == {post.ts}
    assert {r.external_id for r in rows if r.key.startswith("notify:")} == {post.ts}

    # 対応します chosen in one member's menu: the digest is updated, that line says who
    ts = str(post.ts)
    target = alerts[5]
    option = found[f"alert:{target.id}"]["accessory"]["options"][0]
    assert option["value"] == bk.menu_value(bk.ACTION_TAKE, target.id)
    assert (await rig.interact(choose(STAFF1, option, ts))).status_code == 200
    (update,) = await rig.fake.wait_for("chat.update")
    await rig.fake.settle()
    assert update.args["ts"] == ts
    taken = lines(update.args["blocks"])[f"alert:{target.id}"]
    assert "佐藤 花子さんが対応中" in taken["text"]["text"]
    assert menu(taken) == ["メッセージを送る", "対応済み"]  # taken: no 対応します any more
    async with rig.db.transaction() as session:
        assert (await session.get_one(Alert, target.id)).state == "acked"

    # the member of line 3 reports late: the tick closes it, the digest line is edited
    late = next(a for a in alerts if a.member_id == mids[3])
    await chat.send("u-late", jst(DAY, "10:42"), text="開始 体調4 睡眠7 データ入力")
    await channel.at("10:43", tick=True)
    edited = channel.updates(ts)[-1]
    line = lines(edited.args["blocks"])[f"alert:{late.id}"]
    assert "本人から連絡があり解消(10:43)" in line["text"]["text"]
    assert "accessory" not in line  # no actions for that member
    assert len(channel.posts()) == 1


async def test_the_next_ticks_alerts_join_a_recent_digest_in_place(rig: Rig) -> None:
    await burst(rig, 5)
    rig.clock.at = jst(DAY, "09:00")
    later = await make_member(
        rig.db, rig.facility_id, rig.clock.at, "遅番 次郎", start=time(10, 5), end=time(15, 0)
    )
    channel = Channel(rig)
    await channel.at("10:30", tick=True)
    (post,) = channel.posts()
    assert "アラートが 5件" in post.args["text"]
    await channel.at("10:35", tick=True)  # the 10:05 member's missed start, five minutes on
    assert channel.posts() == [post]  # no new post: the digest is updated in place
    (update,) = channel.updates(str(post.ts))
    assert "アラートが 6件" in update.args["text"] and "遅番 次郎さん" in shown(update)
    (note,) = channel.notes(str(post.ts))
    assert "遅番 次郎さん" in note.args["text"]
    async with rig.db.transaction() as session:
        joined = (await session.scalars(select(Alert).where(Alert.member_id == later))).one()
        assert (await session.get_one(Member, later)).name == "遅番 次郎"
    assert joined.slack_ts == post.ts


async def test_an_old_digest_is_left_alone_and_a_new_alert_posts(rig: Rig) -> None:
    await burst(rig, 3)
    rig.clock.at = jst(DAY, "09:00")
    await make_member(rig.db, rig.facility_id, rig.clock.at, "遅番 次郎", start=time(10, 30))
    channel = Channel(rig)
    await channel.at("10:30", tick=True)
    await channel.at("11:00", tick=True)  # 30 minutes on: not a recent digest any more
    await channel.at("11:00:01")  # the managers' step joined the digest first; then the pace
    posts = channel.posts()
    assert len(posts) == 2 and "遅番 次郎さん" in shown(posts[1])
    assert texts.ALERT_TAKE in shown(posts[1])
