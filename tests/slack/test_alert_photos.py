"""A member's photo where staff are already looking (issue #19), end to end: signed LINE
webhooks into the real app with LINE and Slack on; what Slack's API received.

With an open alert whose message is in the channel, the photo is uploaded into that alert's
thread (files.completeUploadExternal with the alert's thread_ts); without one it is posted in
the channel as before; without consent covering Slack only the caption goes, with a link to
the member's month in the staff console when PUBLIC_URL is set, and no file."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update

from adapters.slack.sender import SlackSender
from bot.core import texts
from storage.models import Alert
from tests.line.conftest import USER, event
from tests.safety.test_linking import NAME, Both, linked_phone
from tests.safety.test_linking import both as both  # the app with LINE and Slack on
from tests.slack.conftest import CHANNEL
from tests.slack.test_staff_message import DAY, deliver, worried_member
from tests.support import jst, make_member

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


async def send_photo(both: Both, message_id: str, hm: str) -> None:
    both.line.content[message_id] = (PHOTO, "image/png")
    at = jst(DAY, hm)
    message = {"id": message_id, "type": "image", "contentProvider": {"type": "line"}}
    await both.line_event(event("24_message_image", at, user=USER, message=message), at=at)
    await deliver(both, jst(DAY, hm))


def completed(both: Both) -> list[dict[str, Any]]:
    return [c.args for c in both.slack.fake.of("files.completeUploadExternal")]


async def test_a_photo_during_an_open_alert_goes_into_the_alerts_thread(both: Both) -> None:
    mid, alert = await worried_member(both)
    await send_photo(both, "p-1", "10:30")
    (done,) = completed(both)
    assert done["channel_id"] == CHANNEL
    assert done["thread_ts"] == alert.slack_ts  # next to what worried staff
    (file,) = json.loads(done["files"])
    assert both.slack.fake.uploads[file["id"]] == PHOTO
    assert file["title"].startswith(f"{DAY}_{mid}_") and NAME not in file["title"]
    assert done["initial_comment"].startswith(
        texts.STAFF_EVIDENCE.format(member=NAME, date="7/1", what="写真")
    )


async def test_once_the_alert_is_resolved_a_photo_is_a_channel_post_again(both: Both) -> None:
    await worried_member(both)
    async with both.db.transaction() as session:
        await session.execute(update(Alert).values(state="resolved"))
    await send_photo(both, "p-1", "10:30")
    (done,) = completed(both)
    assert done["channel_id"] == CHANNEL and "thread_ts" not in done


async def test_a_photo_without_an_alert_is_posted_in_the_channel(both: Both) -> None:
    mid = await make_member(both.db, both.facility_id, both.clock.at, NAME)
    await linked_phone(both, USER, mid, jst(DAY, "09:00"))
    await both.say(USER, "開始 体調4 睡眠7 データ入力", jst(DAY, "10:00"))
    await send_photo(both, "p-1", "10:30")
    (done,) = completed(both)
    assert done["channel_id"] == CHANNEL and "thread_ts" not in done


async def test_without_consent_for_slack_the_caption_links_the_console_and_no_file(
    both: Both,
) -> None:
    sender = both.slack.app.state.senders["slack"]
    assert isinstance(sender, SlackSender)
    sender.console_url = "https://nippo.example.jp/"  # PUBLIC_URL
    mid = await make_member(
        both.db, both.facility_id, both.clock.at, NAME, consent=("records", "evidence")
    )
    await linked_phone(both, USER, mid, jst(DAY, "09:00"))
    await send_photo(both, "p-1", "10:30")
    assert completed(both) == [] and not both.slack.fake.uploads
    (post,) = [c for c in both.slack.fake.of("chat.postMessage") if c.args["channel"] == CHANNEL]
    shown = json.dumps([post.args["text"], post.args["blocks"]], ensure_ascii=False)
    assert texts.STAFF_EVIDENCE_ELSEWHERE.split("。")[0] in shown
    assert f"https://nippo.example.jp/console/members/{mid}?month=2026-07" in shown


async def test_without_consent_and_without_public_url_there_is_no_link(both: Both) -> None:
    mid = await make_member(
        both.db, both.facility_id, both.clock.at, NAME, consent=("records", "evidence")
    )
    await linked_phone(both, USER, mid, jst(DAY, "09:00"))
    await send_photo(both, "p-1", "10:30")
    assert completed(both) == []
    (post,) = [c for c in both.slack.fake.of("chat.postMessage") if c.args["channel"] == CHANNEL]
    assert "/console/" not in json.dumps(post.args, ensure_ascii=False)
    assert texts.STAFF_EVIDENCE_ELSEWHERE.split("。")[0] in post.args["text"]
