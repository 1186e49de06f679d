"""Nippo's LINE rich menu: `nippo line richmenu install|status|remove` against the fake LINE
API (every body checked as LINE checks it, against messaging-api.yml), then members tapping
the menu through signed webhooks: the start check-in from a cold start with no typing at
all, 開始 the day after yesterday's buttons, 今日の記録 and 今月の記録, and the doctor's line."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner, Result

from adapters.line import richmenu
from adapters.line.events import to_inbound
from adapters.line.render import decode_postback, encode_postback
from adapters.line.sender import LineApi
from bot.app import doctor
from bot.cli.main import app
from bot.core import texts
from bot.core.domain import SupportKind
from bot.core.inbound import Kind
from storage.models import DailyReport, InboxEvent, SupportRecord
from tests.line.conftest import Line, event
from tests.line.fake_api import FakeLine, FakeLineThread
from tests.line.schema import check
from tests.line.test_checkin_over_line import buttons, last_body, texts_of
from tests.support import jst, link_accounts, make_facility, make_member

U = "Umenu00000000000000000000000000001"
DAY = "2026-07-01"
TOKEN = "menu-token"
MENU_VALUES = ["start", "end", "absent", "consult", "summary", "help"]


# --- the CLI against the fake -------------------------------------------------------------


@pytest.fixture
def fake(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLine]:
    line = FakeLine()
    line.channel_token = TOKEN
    with FakeLineThread(line):
        monkeypatch.setenv("LINE_CHANNEL_SECRET", "s")
        monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("LINE_API_BASE_URL", line.url)
        monkeypatch.setenv("LINE_DATA_API_BASE_URL", line.url)
        yield line


def nippo(*args: str) -> Result:
    return CliRunner().invoke(app, ["line", "richmenu", *args])


def created(fake: FakeLine) -> list[dict[str, Any]]:
    bodies = [r.body for r in fake.calls("/v2/bot/richmenu") if r.method == "POST"]
    for body in bodies:
        check(body, "RichMenuRequest")
    return bodies


def uploads(fake: FakeLine) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith("/content") and r.method == "POST"]


def test_install_sends_a_valid_menu_its_image_and_makes_it_the_default(fake: FakeLine) -> None:
    result = nippo("install")
    assert result.exit_code == 0, result.output
    (menu,) = created(fake)
    (menu_id,) = fake.rich_menus
    assert f"✔ リッチメニューを設定しました（{menu_id}" in result.output
    assert fake.default_rich_menu == menu_id
    assert [r.method + " " + r.path for r in fake.requests[:3]] == [
        "POST /v2/bot/richmenu",
        f"POST /v2/bot/richmenu/{menu_id}/content",
        f"POST /v2/bot/user/all/richmenu/{menu_id}",
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)

    # the menu: large, open at first, six postbacks in Nippo's format that show their words
    assert menu["size"] == {"width": 2500, "height": 1686} and menu["selected"] is True
    assert len(menu["chatBarText"]) <= 14
    actions = [a["action"] for a in menu["areas"]]
    assert [a["label"] for a in actions] == ["開始", "終了", "休み", "相談", "今日の記録", "ヘルプ"]
    assert [a["displayText"] for a in actions] == [
        "開始します",
        "終了します",
        "今日は休みます",
        "相談したい",
        "今日の記録",
        "ヘルプ",
    ]
    decoded = [decode_postback(a["data"]) for a in actions]
    assert [(p.value, p.day) for p in decoded if p] == [(v, None) for v in MENU_VALUES]
    # the areas tile the whole image: 3 columns × 2 rows, no gap, no overlap
    covered = sum(a["bounds"]["width"] * a["bounds"]["height"] for a in menu["areas"])
    assert covered == 2500 * 1686
    assert {(a["bounds"]["x"], a["bounds"]["y"]) for a in menu["areas"]} == {
        (x, y) for x in (0, 833, 1666) for y in (0, 843)
    }

    # the image as LINE received it: a PNG of the menu's size, under 1 MB
    (upload,) = uploads(fake)
    assert upload.headers["content-type"] == "image/png"
    data, _ = fake.rich_menu_images[menu_id]
    assert data == upload.body and len(data) < 1024 * 1024
    with Image.open(io.BytesIO(data)) as im:
        assert (im.format, im.size) == ("PNG", (2500, 1686))
        pixels = im.convert("RGB")
    for (x, y, w, h), (background, ink) in zip(
        richmenu.grid(2500, 1686), richmenu.PALETTE, strict=True
    ):
        assert richmenu.contrast(background, ink) >= 4.5  # WCAG AA, even for the small line
        assert pixels.getpixel((x + 40, y + 40)) == _rgb(background)
        word = pixels.crop((x + 60, y + 200, x + w - 60, y + h // 2 + 100))
        colours = {c for _, c in word.getcolors(maxcolors=100_000) or []}
        assert _rgb(ink) in colours  # the word is drawn, in its colour


def _rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def test_installing_again_replaces_nippos_menu(fake: FakeLine) -> None:
    assert nippo("install").exit_code == 0
    (first,) = fake.rich_menus
    assert nippo("install").exit_code == 0
    (second,) = fake.rich_menus
    assert second != first and fake.default_rich_menu == second


def test_the_facilitys_own_image_is_checked_before_anything_is_sent(
    fake: FakeLine, cli_env: Path
) -> None:
    def save(name: str, size: tuple[int, int], fmt: str, **kw: Any) -> str:
        path = cli_env / name
        Image.new("RGB", size, "#224466").save(path, fmt, **kw)
        return str(path)

    big = cli_env / "big.png"
    Image.frombytes("RGB", (1200, 810), os.urandom(1200 * 810 * 3)).save(big, "PNG")
    cases = {
        str(big): "1 MB",
        save("menu.gif", (2500, 1686), "GIF"): "PNG か JPEG",
        save("square.png", (1000, 1000), "PNG"): "幅÷高さ",
        str(cli_env / "missing.png"): "missing.png",
    }
    (cli_env / "text.png").write_text("not an image", encoding="utf-8")
    cases[str(cli_env / "text.png")] = "画像として読めません"
    for path, said in cases.items():
        result = nippo("install", "--image", path)
        assert result.exit_code != 0 and said in result.output, (path, result.output)
    assert fake.requests == []  # nothing reached LINE

    jpeg = save("ours.jpg", (1200, 810), "JPEG", quality=85)
    result = nippo("install", "--image", jpeg)
    assert result.exit_code == 0, result.output
    (menu,) = created(fake)
    assert menu["size"] == {"width": 1200, "height": 810}
    assert max(a["bounds"]["x"] + a["bounds"]["width"] for a in menu["areas"]) == 1200
    (upload,) = uploads(fake)
    assert upload.headers["content-type"] == "image/jpeg"
    assert upload.body == Path(jpeg).read_bytes()


def test_without_a_japanese_font_the_error_names_the_package(
    fake: FakeLine, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(richmenu, "FONT_PATHS", (cli_env / "no-such-font.ttf",))
    result = nippo("install")
    assert result.exit_code == 2
    assert "fonts-ipafont-gothic" in result.output
    assert "日本語フォントが見つかりません" in result.output and "No Japanese font" in result.output
    (cli_env / "fake.ttf").write_bytes(b"not a font")
    result = nippo("install", "--font", str(cli_env / "fake.ttf"))
    assert result.exit_code == 2 and "フォントとして読めません" in result.output
    # the setting names a font as --font does
    monkeypatch.setenv("LINE_RICH_MENU_FONT", str(richmenu.FONT_PATHS[0]))
    assert nippo("install").exit_code == 2  # still the missing file, now by the setting
    monkeypatch.setenv("LINE_RICH_MENU_FONT", "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf")
    assert nippo("install").exit_code == 0
    assert len(created(fake)) == 1  # the failures before sent nothing


def test_status_and_remove_leave_other_tools_menus_alone(fake: FakeLine) -> None:
    result = nippo("status")
    assert result.exit_code == 0
    assert "– 既定のリッチメニューはありません。`nippo line richmenu install`" in result.output
    assert nippo("install").exit_code == 0
    (ours,) = fake.rich_menus
    result = nippo("status")
    assert f"✔ 既定のリッチメニュー: {ours}（Nippo のメニュー）" in result.output
    assert "Nippo のメニュー 1 件、ほかのメニュー 0 件" in result.output

    result = nippo("remove")
    assert result.exit_code == 0, result.output
    assert "✔ Nippo のリッチメニューを外しました（既定の設定を解除し、1 件を削除）" in result.output
    assert fake.rich_menus == {} and fake.default_rich_menu is None
    assert [r.method for r in fake.calls("/v2/bot/user/all/richmenu")][-1] == "DELETE"
    assert "何も変えていません" in nippo("remove").output

    # a menu another tool made and set stays, and stays the default
    other = dict(richmenu.menu_object(), name="campaign")
    fake.rich_menus["richmenu-other"] = {"richMenuId": "richmenu-other", **other}
    fake.default_rich_menu = "richmenu-other"
    assert nippo("install").exit_code == 0
    assert "richmenu-other" in fake.rich_menus
    fake.default_rich_menu = "richmenu-other"
    assert "Nippo 以外で作られたもの" in nippo("status").output
    assert nippo("remove").exit_code == 0
    assert list(fake.rich_menus) == ["richmenu-other"]
    assert fake.default_rich_menu == "richmenu-other"


def test_line_refusing_or_missing_is_one_line_and_nothing_half_made(
    fake: FakeLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.channel_token = "another-token"  # every call refused
    result = nippo("install")
    assert result.exit_code == 1 and "error: LINE が受け付けませんでした: LINE 401" in result.output
    assert "Traceback" not in result.output
    fake.channel_token = TOKEN
    # LINE refuses the image after the menu was created: that menu is deleted again
    real = richmenu.generated_image

    def oversized(font: Path) -> richmenu.MenuImage:
        image = real(font)
        return richmenu.MenuImage(image.data + b"\0" * (1024 * 1024), "image/png", 2500, 1686)

    monkeypatch.setattr(richmenu, "generated_image", oversized)
    result = nippo("install")
    assert result.exit_code == 1 and "LINE 413" in result.output, result.output
    assert fake.rich_menus == {} and fake.default_rich_menu is None

    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN")
    result = nippo("status")
    assert result.exit_code == 2 and "LINE_CHANNEL_ACCESS_TOKEN が未設定です" in result.output


# --- the doctor's line ----------------------------------------------------------------------


async def test_the_doctor_says_whether_nippos_menu_is_the_default(fake_line: FakeLine) -> None:
    auth = {"Authorization": "Bearer t"}
    async with httpx.AsyncClient() as client:
        none = await doctor.rich_menu_check(client, fake_line.url, auth)
        assert none.ok is None and "`nippo line richmenu install`" in none.next_step_ja
        assert doctor.render(none).startswith("– LINE リッチメニュー: 既定のリッチメニューはまだ")

        api = LineApi("t", fake_line.url, fake_line.url)
        try:
            menu_id = await richmenu.install(api, richmenu.generated_image(richmenu.find_font()))
        finally:
            await api.aclose()
        ours = await doctor.rich_menu_check(client, fake_line.url, auth)
        assert ours.ok is True
        assert doctor.render(ours) == (
            f"✔ LINE リッチメニュー: Nippo のメニューが既定に設定されています（{menu_id}）"
        )
        fake_line.default_rich_menu = "richmenu-elsewhere"  # set by another tool
        other = await doctor.rich_menu_check(client, fake_line.url, auth)
        assert other.ok is True and "richmenu-elsewhere" in other.message_ja


# --- members tapping the menu through signed webhooks ------------------------------------


def menu_data(value: str) -> str:
    """The postback data of the installed menu's area for `value`."""
    for area in richmenu.menu_object()["areas"]:
        data = str(area["action"]["data"])
        decoded = decode_postback(data)
        if decoded is not None and decoded.value == value:
            return data
    raise AssertionError(f"no menu area for {value}")


async def menu_tap(line: Line, value: str, at: datetime) -> dict[str, Any]:
    await line.send(event("10_postback", at, user=U, postback={"data": menu_data(value)}), at=at)
    return last_body(line)


def button(body: dict[str, Any], value: str) -> str:
    """The data of the quick reply for choice `value` (labels may carry emoji)."""
    for data in buttons(body).values():
        decoded = decode_postback(data)
        if decoded is not None and decoded.value == value:
            return data
    raise AssertionError(f"no button for {value}: {buttons(body)}")


async def tap(line: Line, value: str, at: datetime) -> dict[str, Any]:
    data = button(last_body(line), value)
    await line.send(event("10_postback", at, user=U, postback={"data": data}), at=at)
    return last_body(line)


async def member(line: Line, t0: datetime) -> int:
    """A member with usual tasks whose LINE account is linked; nothing was ever sent to it."""
    fid = await make_facility(line.db, t0)
    mid = await make_member(line.db, fid, t0, tasks=("データ入力", "封入作業"))
    await link_accounts(line.db, t0, [(mid, U)])
    return mid


async def reports(line: Line) -> list[DailyReport]:
    async with line.db.transaction() as s:
        return list((await s.execute(select(DailyReport).order_by(DailyReport.id))).scalars())


def test_a_menu_postback_reads_as_a_button_of_no_day() -> None:
    now = jst(DAY, "10:00")
    inbound = to_inbound(event("10_postback", now, postback={"data": menu_data("start")}), now)
    assert inbound is not None and inbound.kind is Kind.CHOICE
    assert (inbound.msg.choice, inbound.button_day) == ("start", None)


async def test_the_menu_runs_the_start_check_in_from_a_cold_start_without_typing(
    line: Line, t0: datetime
) -> None:
    await member(line, t0)
    assert line.fake.requests == []  # no earlier message, no earlier buttons

    health = await menu_tap(line, "start", jst(DAY, "10:02"))
    assert texts_of(health) == [texts.ASK_HEALTH]
    assert button(health, "health:4") == encode_postback("health:4", jst(DAY, "12:00").date())
    assert texts_of(await tap(line, "health:4", jst(DAY, "10:02:20"))) == [texts.ASK_SLEEP]
    plan = await tap(line, "sleep:7", jst(DAY, "10:02:40"))
    assert texts_of(plan) == [texts.ASK_PLAN]
    assert set(buttons(plan)) == {"データ入力", "封入作業"}
    done = await tap(line, "task:0", jst(DAY, "10:03"))
    assert texts_of(done)[0].startswith("10:02 開始を記録しました")
    assert done["messages"][-1]["type"] == "flex"

    # every event was a tap; every answer a free reply, in LINE's schema
    posted = [r for r in line.fake.requests if r.path == "/v2/bot/message/reply"]
    assert len(posted) == 4 and line.fake.calls("/v2/bot/message/push") == []
    async with line.db.transaction() as s:
        kinds = [e.body["type"] for e in (await s.execute(select(InboxEvent))).scalars()]
        kinds_support = [r.kind for r in (await s.execute(select(SupportRecord))).scalars()]
    assert kinds == ["postback"] * 4
    (r,) = await reports(line)
    assert r.status == "started" and r.start_at == jst(DAY, "10:02")
    assert (r.health_start, r.sleep_hours, r.planned_work) == (4, 7.0, "データ入力")
    assert kinds_support == [SupportKind.START_CHECK.value]  # the start check, complete (R2)


async def test_start_from_the_menu_the_day_after_yesterdays_buttons(
    line: Line, t0: datetime
) -> None:
    await member(line, t0)
    yesterday = "2026-06-30"
    asked = await menu_tap(line, "start", jst(yesterday, "10:00"))
    old_health = button(asked, "health:4")  # never answered

    fresh = await menu_tap(line, "start", jst(DAY, "09:50"))
    assert texts.STALE_BUTTON not in texts_of(fresh)
    assert texts_of(fresh)[-1] == texts.ASK_HEALTH
    assert button(fresh, "health:4") == encode_postback("health:4", jst(DAY, "12:00").date())
    # yesterday's own button is still recognised as yesterday's
    await line.send(event("10_postback", jst(DAY, "09:51"), user=U, postback={"data": old_health}))
    assert texts_of(last_body(line)) == [texts.STALE_BUTTON]

    # 開始 again half-way: the question that waits, with fresh buttons, no new start time
    again = await menu_tap(line, "start", jst(DAY, "09:55"))
    assert texts_of(again) == [texts.START_RESUMED.format(time="09:50"), texts.ASK_HEALTH]
    assert button(again, "health:4") != old_health
    await tap(line, "health:4", jst(DAY, "09:56"))
    await tap(line, "sleep:7", jst(DAY, "09:56:20"))
    await tap(line, "task:1", jst(DAY, "09:57"))
    # once the start report is done, kindly said so, with 終了 offered
    done = await menu_tap(line, "start", jst(DAY, "11:00"))
    assert texts_of(done) == [texts.ALREADY_STARTED.format(time="09:50")]
    assert "終了します" in buttons(done)
    today = [r for r in await reports(line) if r.business_date.isoformat() == DAY]
    assert today[0].start_at == jst(DAY, "09:50") and today[0].planned_work == "封入作業"


async def test_todays_and_this_months_record_from_the_menu(line: Line, t0: datetime) -> None:
    await member(line, t0)
    first = await menu_tap(line, "help", jst(DAY, "09:00"))
    assert texts_of(first) == [texts.HELP]
    nothing = await tap_month_by_text(line, jst(DAY, "09:01"))
    assert texts_of(nothing) == [texts.MEMBER_MONTH_NONE.format(month=7)]

    async def say(text: str, at: datetime) -> None:
        await line.send(event("00_message_text", at, user=U, message={"text": text}), at=at)

    await say("開始 体調4 睡眠7 データ入力", jst("2026-07-01", "10:00"))
    await say("終了 入力120件 体調3", jst("2026-07-01", "15:00"))
    ended = await menu_tap(line, "summary", jst("2026-07-01", "16:00"))
    card = ended["messages"][-1]
    assert card["type"] == "flex" and "作業時間: 5時間0分" in card["altText"]
    assert "成果: 入力120件" in card["altText"] and "今月の記録" in buttons(ended)

    await say("開始 体調4 睡眠7 データ入力", jst("2026-07-02", "10:00"))
    today = await menu_tap(line, "summary", jst("2026-07-02", "11:00"))
    assert "開始時刻: 10:00" in today["messages"][-1]["altText"]
    month = await tap(line, "month", jst("2026-07-02", "11:00:30"))
    assert texts_of(month) == [texts.MEMBER_MONTH_DAYS.format(month=7, days=2)]
    flex = month["messages"][-1]
    assert flex["type"] == "flex" and flex["altText"].startswith("7月の記録")
    assert "7/1(水): 10:00〜15:00(5時間0分)" in flex["altText"]
    assert "7/2(木): 10:00〜" in flex["altText"]
    assert "今日の記録" in buttons(month)
    typed = await tap_month_by_text(line, jst("2026-07-02", "11:05"))
    assert texts_of(typed) == texts_of(month)


async def tap_month_by_text(line: Line, at: datetime) -> dict[str, Any]:
    await line.send(event("00_message_text", at, user=U, message={"text": "今月の記録"}), at=at)
    return last_body(line)


async def test_rest_and_consult_from_the_menu(line: Line, t0: datetime) -> None:
    await member(line, t0)
    consult = await menu_tap(line, "consult", jst(DAY, "10:30"))
    assert texts_of(consult) == [texts.CONSULT_ACK]
    rest = await menu_tap(line, "absent", jst(DAY, "10:31"))
    assert texts_of(rest) == [texts.ABSENCE]
    (r,) = await reports(line)
    assert r.status == "absent"
    async with line.db.transaction() as s:
        kinds = {x.kind for x in (await s.execute(select(SupportRecord))).scalars()}
    assert {SupportKind.CONSULT.value, SupportKind.ABSENCE.value} <= kinds


async def test_a_stranger_tapping_the_menu_only_gets_the_linking_prompt(line: Line) -> None:
    at = jst(DAY, "10:00")
    tapped = event("10_postback", at, user="Ustranger", postback={"data": menu_data("start")})
    await line.send(tapped, at=at)
    assert texts_of(last_body(line)) == [texts.LINK_PROMPT]
    assert await reports(line) == []
