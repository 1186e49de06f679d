"""`/nippo web`: a one-time link to the staff console, answered to the asker alone."""

from __future__ import annotations

import json
import re

import httpx

from bot.app.settings import Settings
from bot.app.web import create_app
from bot.core import texts
from tests.slack.conftest import SECRET, STAFF1, Rig
from tests.slack.fake_slack import Call

PUBLIC_URL = "https://nippo.example.jp"


def text_of(calls: list[Call]) -> str:
    return json.dumps([c.args.get("blocks") for c in calls], ensure_ascii=False)


async def test_nippo_web_answers_with_a_link_only_the_asker_sees(rig: Rig) -> None:
    settings = Settings(
        database_url=rig.db.url, slack_bot_token="xoxb-test", slack_signing_secret=SECRET,
        slack_api_base_url=rig.fake.url, public_url=PUBLIC_URL, scheduler_enabled=False,
        console_session_secret="slack-console-test-secret-0123456789",
    )  # fmt: skip
    app = create_app(settings, rig.db, rig.clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL
    ) as http:
        rig.http = http
        assert (await rig.command(STAFF1, "web")).status_code == 200
        [post] = await rig.fake.wait_for("chat.postEphemeral")
        assert post.args["user"] == STAFF1
        assert rig.fake.of("chat.postMessage") == []
        found = re.search(r"<(https://nippo\.example\.jp/console/login/[^|>]+)\|", text_of([post]))
        assert found, text_of([post])
        token = found.group(1).rsplit("/", 1)[1]
        signed = await http.post("/console/login", data={"token": token}, follow_redirects=True)
        assert signed.status_code == 200 and "佐藤 花子さん" in signed.text


async def test_nippo_web_without_a_public_url_says_so(rig: Rig) -> None:
    await rig.command(STAFF1, "web")
    [post] = await rig.fake.wait_for("chat.postEphemeral")
    assert texts.SLACK_CONSOLE_NO_URL in text_of([post])
    assert "/console/login/" not in text_of([post])
