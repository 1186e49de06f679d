"""No silent failure (issue #19): when Slack refuses an upload or a post that someone asked
for with `/nippo`, that person is told, in Japanese, what failed and what to do."""

from __future__ import annotations

from bot.core import texts
from tests.slack.conftest import CHANNEL, MANAGER, Rig
from tests.slack.fake_slack import Refusal
from tests.slack.test_commands import DAY, add_report, all_text
from tests.support import jst, make_member


async def export_refused(rig: Rig, refusal: Refusal) -> str:
    """A manager's `/nippo export` whose upload Slack refuses: what the manager is shown."""
    mid = await make_member(rig.db, rig.facility_id, rig.clock.at)
    await add_report(rig, mid, status="ended", start_at=jst(DAY, "10:00"), end_at=jst(DAY, "15:00"))
    rig.fake.refuse("files.getUploadURLExternal", refusal)
    assert (await rig.command(MANAGER, "export nippo 2026-07 csv")).status_code == 200
    (answer,) = await rig.fake.wait_for("chat.postEphemeral")
    await rig.fake.settle()
    assert answer.args["user"] == MANAGER
    assert rig.fake.of("files.completeUploadExternal") == []
    return all_text([answer]) + str(answer.args["text"])


async def test_an_export_slack_refuses_for_want_of_permission_says_so_and_what_to_do(
    rig: Rig,
) -> None:
    shown = await export_refused(rig, Refusal(200, {"ok": False, "error": "missing_scope"}))
    assert "日報" in shown and "ファイルをSlackに送れませんでした" in shown
    assert "missing_scope" in shown and "files:write" in shown and "nippo export" in shown
    assert "出力しました" not in shown  # never the success it was not


async def test_an_export_upload_during_an_outage_asks_to_try_again(rig: Rig) -> None:
    shown = await export_refused(
        rig, Refusal(500, {"ok": False, "error": "internal_error"}, {"Retry-After": "0"})
    )
    assert "ファイルをSlackに送れませんでした" in shown
    assert "もう一度 `/nippo export` をお試しください" in shown
    assert "出力しました" not in shown


async def test_a_shared_board_slack_refuses_is_answered_to_the_manager(rig: Rig) -> None:
    await make_member(rig.db, rig.facility_id, rig.clock.at, "山田 太郎")
    rig.fake.refuse("chat.postMessage", Refusal(200, {"ok": False, "error": "restricted_action"}))
    await rig.command(MANAGER, "status share", channel=CHANNEL)
    (hook,) = await rig.fake.wait_for("response_url")
    assert hook.args["response_type"] == "ephemeral"
    assert hook.args["text"] == texts.SLACK_POST_FAILED.format(error="restricted_action")
    assert "山田 太郎" not in str(hook.args)  # the refusal, not the board, goes back
