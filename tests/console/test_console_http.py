"""The staff console over HTTP (the real app, its real database): signing in with a one-time
link, what each role may open, CSRF, and that a staff edit leaves its revision and audit rows.
The browser walk-through is tests/console/test_console_browser.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, time, timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.core import texts
from bot.services import admin, console_auth
from bot.services.admin import AdminError
from storage.db import Database
from storage.models import (
    ConsoleLoginLink,
    ConsoleSession,
    Evaluation,
    Facility,
    Member,
    ReportRevision,
    Schedule,
    Staff,
)
from tests.console.site import DAY, Site, build, csrf_of, sign_in
from tests.support import run_cli


@pytest.fixture
async def site(db: Database) -> Site:
    return await build(db)


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=site.app())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://nippo") as c:
        yield c


async def signed_in(site: Site, staff_id: int) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=site.app())  # type: ignore[arg-type]
    c = httpx.AsyncClient(transport=transport, base_url="http://nippo")
    board = await sign_in(c, await site.link(staff_id))
    assert board.status_code == 200, board.text
    return c


DAY_PATH = "/console/members/{member}/days/2026-07-01"


async def test_a_link_signs_in_once_and_sets_a_safe_cookie(
    site: Site, client: httpx.AsyncClient
) -> None:
    link = await site.link(site.staff)
    assert link.startswith("http://nippo/console/login/")
    token = link.rsplit("/", 1)[1]
    async with site.db.transaction() as session:  # only the hash is stored
        rows = list((await session.execute(select(ConsoleLoginLink))).scalars())
    assert [r.token_hash for r in rows] == [console_auth.token_hash(token)]
    assert token not in str([vars(r) for r in rows])

    opened = await client.get(f"/console/login/{token}")
    assert opened.status_code == 200 and "佐藤 花子さんとして" in opened.text
    assert opened.headers["referrer-policy"] == "no-referrer"
    done = await client.post("/console/login", data={"token": token})
    assert done.status_code == 303 and done.headers["location"] == "/console/"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; behind HTTPS the flag is set
    board = await client.get("/console/")
    assert board.status_code == 200 and "山田 太郎さん" in board.text
    # refreshed every minute: by a small script that waits while a form is in use, by a
    # meta refresh without JavaScript
    assert '<noscript><meta http-equiv="refresh" content="60"></noscript>' in board.text
    assert '<script src="/console/static/board.js" defer></script>' in board.text
    script = await client.get("/console/static/board.js")
    assert script.status_code == 200 and "location.reload()" in script.text

    again = httpx.AsyncClient(transport=client._transport, base_url="http://nippo")
    used = await again.get(f"/console/login/{token}")
    assert used.status_code == 410
    assert texts.CONSOLE_LINK_REFUSED["used"] in used.text
    reused = await again.post("/console/login", data={"token": token})
    assert reused.status_code == 410 and "set-cookie" not in reused.headers
    assert [a.detail["reason"] for a in await site.audit("console.login_refused")] == ["used"]
    assert [a.actor for a in await site.audit("console.login")] == [f"staff:{site.staff}"]


async def test_the_cookie_is_secure_behind_https(site: Site) -> None:
    transport = httpx.ASGITransport(app=site.app())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://nippo") as c:
        token = (await site.link(site.staff)).rsplit("/", 1)[1]
        done = await c.post("/console/login", data={"token": token})
    assert "Secure" in done.headers["set-cookie"]


async def test_an_expired_or_unknown_link_is_refused_kindly(
    site: Site, client: httpx.AsyncClient
) -> None:
    token = (await site.link(site.staff)).rsplit("/", 1)[1]
    site.clock.at += timedelta(minutes=10)
    expired = await client.post("/console/login", data={"token": token})
    assert expired.status_code == 410
    assert texts.CONSOLE_LINK_REFUSED["expired"] in expired.text
    assert texts.CONSOLE_LINK_HOW in expired.text
    unknown = await client.get("/console/login/not-a-token")
    assert unknown.status_code == 410 and texts.CONSOLE_LINK_REFUSED["unknown"] in unknown.text


async def test_links_are_limited_per_staff_member(site: Site) -> None:
    for _ in range(console_auth.LINKS_PER_HOUR):
        await site.link(site.staff)
    with pytest.raises(AdminError, match="しばらく時間をおいて"):
        await site.link(site.staff)
    await site.link(site.manager)  # someone else is not held back
    site.clock.at += timedelta(hours=1, minutes=1)
    await site.link(site.staff)


async def test_a_session_ends_when_idle_and_at_sign_out(site: Site) -> None:
    c = await signed_in(site, site.staff)
    site.clock.at += timedelta(minutes=29)
    assert (await c.get("/console/")).status_code == 200  # each page view keeps it alive
    site.clock.at += timedelta(minutes=31)
    idle = await c.get("/console/")
    assert idle.status_code == 401 and texts.CONSOLE_SESSION_ENDED in idle.text

    c = await signed_in(site, site.staff)
    board = await c.get("/console/")
    out = await c.post("/console/logout", data={"csrf": csrf_of(board.text)})
    assert out.status_code == 200 and texts.CONSOLE_SIGNED_OUT in out.text
    assert (await c.get("/console/")).status_code == 401
    async with site.db.transaction() as session:
        ended = [s.ended_at for s in (await session.execute(select(ConsoleSession))).scalars()]
    assert len(ended) == 2 and all(e is not None for e in ended)


async def test_a_forged_cookie_opens_nothing(site: Site, client: httpx.AsyncClient) -> None:
    c = await signed_in(site, site.staff)
    cookie = c.cookies.get("nippo_console")
    assert cookie is not None
    token, _, _sig = cookie.rpartition(".")
    client.cookies.set("nippo_console", f"{token}.forged", path="/console")
    assert (await client.get("/console/")).status_code == 401


async def test_anonymous_visitors_see_no_page(site: Site, client: httpx.AsyncClient) -> None:
    member = site.member
    for path in (
        "/console/", f"/console/members/{member}", DAY_PATH.format(member=member),
        "/console/exports", "/console/exports/file?kind=nippo&month=2026-07",
        "/console/compliance", "/console/settings", f"/console/members/{member}/settings",
        "/console/staff", f"/console/members/{member}/evaluations",
        f"/console/members/{member}/evaluations/1",
    ):  # fmt: skip
        page = await client.get(path)
        assert page.status_code == 401, path
        assert texts.CONSOLE_NOT_SIGNED_IN in page.text and "山田" not in page.text
    for path in (
        f"/console/alerts/{site.alert}/take", f"/console/alerts/{site.alert}/resolve",
        DAY_PATH.format(member=member) + "/edit", DAY_PATH.format(member=member) + "/sign-off",
        "/console/logout", "/console/settings", f"/console/members/{member}/schedule",
        "/console/settings/closures", "/console/settings/closures/remove",
        f"/console/members/{member}/one-off", f"/console/members/{member}/one-off/remove",
        f"/console/members/{member}/deactivate", "/console/staff",
        f"/console/staff/{site.staff}/role", f"/console/staff/{site.staff}/remove",
        f"/console/members/{member}/evaluations", f"/console/members/{member}/tasks",
    ):  # fmt: skip
        assert (await client.post(path, data={"csrf": "x"})).status_code == 401, path


async def test_staff_of_another_facility_cannot_open_the_member(site: Site) -> None:
    c = await signed_in(site, site.other_staff)
    board = await c.get("/console/")
    assert "山田" not in board.text
    csrf = csrf_of(board.text)
    for path in (f"/console/members/{site.member}", DAY_PATH.format(member=site.member)):
        page = await c.get(path)
        assert page.status_code == 404 and "山田" not in page.text, path
    edit = await c.post(
        DAY_PATH.format(member=site.member) + "/edit",
        data={"csrf": csrf, "field": "outputs", "value": "x", "reason": "y"},
    )
    assert edit.status_code == 404
    take = await c.post(f"/console/alerts/{site.alert}/take", data={"csrf": csrf})
    assert take.status_code == 404
    assert {a.target for a in await site.audit("console.refused")} == {
        f"/console/members/{site.member}",
        f"/console/members/{site.member}/days/2026-07-01",
        f"/console/members/{site.member}/days/2026-07-01/edit",
        f"/console/alerts/{site.alert}/take",
    }
    own = await c.get(f"/console/members/{site.other_member}")
    assert own.status_code == 200 and "高橋 三郎さん" in own.text


async def test_exports_are_for_managers(site: Site) -> None:
    staff = await signed_in(site, site.staff)
    assert (await staff.get("/console/exports")).status_code == 403
    refused = await staff.get("/console/exports/file?kind=nippo&month=2026-07")
    assert refused.status_code == 403 and texts.CONSOLE_MANAGERS_ONLY in refused.text
    manager = await signed_in(site, site.manager)
    page = await manager.get("/console/exports")
    assert page.status_code == 200 and "評価シート" in page.text
    got = await manager.get(
        f"/console/exports/file?kind=nippo&month=2026-07&fmt=csv&member={site.member}"
    )
    assert got.status_code == 200
    assert got.headers["content-disposition"].endswith(f"nippo-2026-07-member{site.member}.csv")
    assert "入力120件" in got.content.decode("utf-8-sig")
    [export] = await site.audit("export")
    assert export.actor == f"staff:{site.manager}"
    other = await manager.get(
        f"/console/exports/file?kind=nippo&month=2026-07&member={site.other_member}"
    )
    assert other.status_code == 404


async def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    c = await signed_in(site, site.staff)
    path = DAY_PATH.format(member=site.member) + "/edit"
    data = {"field": "outputs", "value": "入力150件", "reason": "本人に電話で確認"}
    assert (await c.post(path, data=data)).status_code == 403
    wrong = await c.post(path, data={**data, "csrf": "guess"})
    assert wrong.status_code == 403 and texts.CONSOLE_CSRF in wrong.text
    take = await c.post(f"/console/alerts/{site.alert}/take")
    assert take.status_code == 403
    async with site.db.transaction() as session:
        staff_edits = (
            await session.execute(
                select(ReportRevision).where(ReportRevision.source == "staff_edit")
            )
        ).all()
    assert staff_edits == []


async def test_a_staff_edit_needs_a_reason_and_shows_as_a_revision(site: Site) -> None:
    c = await signed_in(site, site.staff)
    path = DAY_PATH.format(member=site.member)
    page = await c.get(path)
    assert "入力120件" in page.text  # the current value, shown by the form
    csrf = csrf_of(page.text)
    no_reason = await c.post(
        path + "/edit", data={"csrf": csrf, "field": "outputs", "value": "入力150件"}
    )
    assert no_reason.status_code == 400 and texts.REASON_REQUIRED in no_reason.text
    done = await c.post(
        path + "/edit",
        data={"csrf": csrf, "field": "outputs", "value": "入力150件", "reason": "本人に電話で確認"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert texts.CONSOLE_EDITED.format(label="成果") in done.text
    assert "入力120件 → 入力150件" in done.text and "修正理由: 本人に電話で確認" in done.text
    async with site.db.transaction() as session:
        [rev] = (
            await session.execute(
                select(ReportRevision).where(ReportRevision.source == "staff_edit")
            )
        ).scalars()
    assert (rev.before, rev.after, rev.by_staff_id) == ("入力120件", "入力150件", site.staff)
    assert rev.reason == "本人に電話で確認"
    [view] = [a for a in await site.audit("console.day")][:1]
    assert view.actor == f"staff:{site.staff}"
    writes = [a for a in await site.audit("insert:report_revision")]
    assert writes[-1].actor == f"staff:{site.staff}"


async def test_sign_off_and_alerts_from_the_console(site: Site) -> None:
    c = await signed_in(site, site.staff)
    path = DAY_PATH.format(member=site.member)
    csrf = csrf_of((await c.get(path)).text)
    signed = await c.post(
        path + "/sign-off", data={"csrf": csrf, "advice": "休憩を取りましょう"},
        follow_redirects=True,
    )  # fmt: skip
    assert texts.CONSOLE_SIGNED_OFF in signed.text and "確認: 佐藤 花子" in signed.text
    taken = await c.post(
        f"/console/alerts/{site.alert}/take", data={"csrf": csrf}, follow_redirects=True
    )
    assert texts.CONSOLE_ALERT_TAKEN in taken.text
    assert texts.ALERT_TAKEN_BY.format(name="佐藤 花子", time="16:00") in taken.text
    manager = await signed_in(site, site.manager)
    theirs = await manager.post(f"/console/alerts/{site.alert}/take", data={"csrf": csrf})
    assert theirs.status_code == 403  # a CSRF token belongs to one session
    again = await manager.post(
        f"/console/alerts/{site.alert}/take",
        data={"csrf": csrf_of((await manager.get("/console/")).text)},
    )
    assert again.status_code == 409  # someone took it first
    assert texts.ALERT_ALREADY_TAKEN.format(name="佐藤 花子") in again.text
    resolved = await c.post(
        f"/console/alerts/{site.alert}/resolve",
        data={"csrf": csrf, "method": "電話", "outcome": "電話で体調を確認。午後は休む"},
        follow_redirects=True,
    )
    assert texts.CONSOLE_ALERT_RESOLVED in resolved.text and "low_health" not in resolved.text
    month = await c.get(f"/console/members/{site.member}?month=2026-07")
    assert "アラート対応開始" in month.text and "(コンソール)" in month.text


async def test_the_month_shows_the_calendar_and_each_day(site: Site) -> None:
    c = await signed_in(site, site.staff)
    page = await c.get(f"/console/members/{site.member}?month=2026-07")
    assert page.status_code == 200
    html = page.text
    assert "山田 太郎さん 2026年7月の日報・支援記録" in html
    assert (
        f'class="day mark-zaitaku"><a href="/console/members/{site.member}/days/2026-07-01"' in html
    )
    assert "7月1日(水)" in html and "電話で作業の様子を確認" in html
    # June: planned 在宅 days with no report are 未報告
    june = await c.get(f"/console/members/{site.member}?month=2026-06")
    assert june.text.count("mark-missing") >= 20
    assert "確認欄" in html and "サービス管理責任者" in html


def test_the_cli_prints_a_login_link(cli_env: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://nippo.example.jp")
    run_cli("facility", "init", "--name", "テスト事業所")
    run_cli("staff", "add", "--name", "鈴木 一郎", "--slack-user", "U1", "--role", "manager")
    out = run_cli("staff", "login-link", "鈴木")
    assert "鈴木 一郎さん" in out
    assert "https://nippo.example.jp/console/login/" in out
    assert DAY.year == 2026  # the site's day is unused here; the CLI runs on its own clock


async def test_settings_are_for_managers_of_the_facility(site: Site) -> None:
    staff = await signed_in(site, site.staff)
    board = await staff.get("/console/")
    assert "/console/settings" not in board.text  # not offered in the menu either
    csrf = csrf_of(board.text)
    for path in ("/console/settings", f"/console/members/{site.member}/settings", "/console/staff"):
        assert (await staff.get(path)).status_code == 403, path
    for path in (
        "/console/settings", f"/console/members/{site.member}/schedule",
        "/console/settings/closures", "/console/settings/closures/remove",
        f"/console/members/{site.member}/one-off", f"/console/members/{site.member}/one-off/remove",
        f"/console/members/{site.member}/deactivate", f"/console/members/{site.member}/tasks",
        "/console/staff",
        f"/console/staff/{site.manager}/role", f"/console/staff/{site.manager}/remove",
    ):  # fmt: skip
        assert (await staff.post(path, data={"csrf": csrf})).status_code == 403, path
    manager = await signed_in(site, site.manager)
    theirs = f"/console/members/{site.other_member}"
    assert (await manager.get(f"{theirs}/settings")).status_code == 404
    mine = csrf_of((await manager.get("/console/")).text)
    for path in ("/schedule", "/one-off", "/one-off/remove", "/deactivate", "/tasks"):
        answer = await manager.post(theirs + path, data={"csrf": mine, "confirm": "1"})
        assert answer.status_code == 404, path
    async with site.db.transaction() as session:
        assert (await session.get_one(Member, site.other_member)).active


async def test_a_manager_changes_the_facility_settings(site: Site) -> None:
    manager = await signed_in(site, site.manager)
    page = await manager.get("/console/settings")
    assert page.status_code == 200 and 'name="ladder_start_staff"' in page.text
    form = {
        "csrf": csrf_of(page.text), "opens": "08:30", "closes": "17:00", "day_mon": "1",
        "day_tue": "1", "day_wed": "1", "ask_temperature": "1", "disclosure": "minimal",
        "alert_channel": "C_NEW", "late_entry_grace_hours": "48", "office_no": "",
        "crisis_contacts": "市の相談窓口|0120-000-111|9:00-17:00", "ladder_start_staff": "45",
    }  # fmt: skip
    saved = await manager.post("/console/settings", data=form, follow_redirects=True)
    assert saved.status_code == 200 and texts.CONSOLE_SAVED in saved.text
    assert 'name="ladder_start_staff" value="45"' in saved.text
    async with site.db.transaction() as session:
        f = await session.get_one(Facility, site.facility)
        assert f.business_hours["opens"] == "08:30" and f.business_hours["weekdays"] == [
            "mon", "tue", "wed",
        ]  # fmt: skip
        assert (f.ask_temperature, f.disclosure, f.alert_channel) == (True, "minimal", "C_NEW")
        assert f.late_entry_grace_hours == 48 and f.ladder == {"start_staff": 45}
        assert f.crisis_contacts == [
            {"name": "市の相談窓口", "phone": "0120-000-111", "hours": "9:00-17:00"}
        ]
    [entry] = await site.audit("facility.set")
    assert entry.actor == f"staff:{site.manager}"
    bad = await manager.post(
        "/console/settings", data={**form, "closes": "07:00", "disclosure": "full"}
    )
    assert bad.status_code == 400 and "--business-hours must close after it opens" in bad.text
    async with site.db.transaction() as session:
        assert (await session.get_one(Facility, site.facility)).disclosure == "minimal"


async def test_a_manager_changes_a_members_week(site: Site) -> None:
    manager = await signed_in(site, site.manager)
    page = await manager.get(f"/console/members/{site.member}/settings")
    assert page.status_code == 200
    form: dict[str, str] = {"csrf": csrf_of(page.text)}
    for day in ("mon", "tue", "wed", "thu", "fri"):
        form |= {f"mode_{day}": "zaitaku", f"start_{day}": "10:00", f"end_{day}": "15:00"}
    form |= {"mode_fri": "tsusho", "start_fri": "09:30", "end_fri": "16:00", "mode_sat": "off"}
    saved = await manager.post(
        f"/console/members/{site.member}/schedule", data=form, follow_redirects=True
    )
    assert saved.status_code == 200 and texts.CONSOLE_SAVED in saved.text
    async with site.db.transaction() as session:
        rows = (
            await session.execute(select(Schedule).where(Schedule.member_id == site.member))
        ).scalars()
        week = {s.weekday: (s.mode, s.start, s.end) for s in rows}
    assert week[4] == ("tsusho", time(9, 30), time(16, 0))
    assert week[0] == ("zaitaku", time(10, 0), time(15, 0)) and week[5][0] == "off"
    missing = await manager.post(
        f"/console/members/{site.member}/schedule", data={**form, "end_mon": ""}
    )
    assert missing.status_code == 400 and "--start and --end" in missing.text


async def test_the_compliance_view_links_each_finding_to_its_day(site: Site) -> None:
    staff = await signed_in(site, site.staff)
    assert (await staff.get("/console/compliance")).status_code == 403
    manager = await signed_in(site, site.manager)
    page = await manager.get("/console/compliance?month=2026-07")
    assert page.status_code == 200
    assert "2026年7月の記録の確認" in page.text and "山田 太郎" in page.text
    links = re.findall(r'href="(/console/members/(\d+)/days/[0-9-]+)">([^<]+)<', page.text)
    assert links, page.text
    assert {int(m) for _, m, _ in links} == {site.member}  # never another facility's
    opened = await manager.get(links[0][0])
    assert opened.status_code == 200 and "山田 太郎さん" in opened.text
    [entry] = await site.audit("console.compliance")
    assert entry.actor == f"staff:{site.manager}"


async def test_closures_one_off_days_and_the_end_of_the_service(site: Site) -> None:
    manager = await signed_in(site, site.manager)
    csrf = csrf_of((await manager.get("/console/settings")).text)
    closed = await manager.post(
        "/console/settings/closures", data={"csrf": csrf, "day": "2026-12-29", "note": "年末年始"},
        follow_redirects=True,
    )  # fmt: skip
    assert closed.status_code == 200 and "12月29日(火) 年末年始" in closed.text
    bad = await manager.post("/console/settings/closures", data={"csrf": csrf, "day": "12/29"})
    assert bad.status_code == 400 and texts.SLACK_BAD_DATE in bad.text
    path = f"/console/members/{site.member}"
    one_off = await manager.post(
        f"{path}/one-off",
        data={"csrf": csrf, "day": "2026-07-03", "mode": "tsusho", "start": "09:30",
              "end": "16:00", "note": "面談"},
        follow_redirects=True,
    )  # fmt: skip
    assert one_off.status_code == 200 and "7月3日(金) 通所 09:30〜16:00 面談" in one_off.text
    month = await manager.get(f"{path}?month=2026-07")
    assert f'class="day mark-tsusho"><a href="{path}/days/2026-07-03"' in month.text
    async with site.db.transaction() as session:
        assert [c.date for c in await admin.closures(session, await session.get_one(
            Facility, site.facility), DAY)] == [date(2026, 12, 29)]  # fmt: skip
    await manager.post(f"{path}/one-off/remove", data={"csrf": csrf, "day": "2026-07-03"})
    month = await manager.get(f"{path}?month=2026-07")
    assert f'class="day mark-planned"><a href="{path}/days/2026-07-03"' in month.text

    tasks = await manager.post(
        f"{path}/tasks", data={"csrf": csrf, "tasks": "シール貼り\n\nデータ入力\n"},
        follow_redirects=True,
    )  # fmt: skip
    assert tasks.status_code == 200 and "シール貼り\nデータ入力</textarea>" in tasks.text
    async with site.db.transaction() as session:
        assert (await session.get_one(Member, site.member)).usual_tasks == [
            "シール貼り",
            "データ入力",
        ]
    unsure = await manager.post(f"{path}/deactivate", data={"csrf": csrf})
    assert unsure.status_code == 400 and texts.CONSOLE_CONFIRM_NEEDED in unsure.text
    done = await manager.post(
        f"{path}/deactivate", data={"csrf": csrf, "confirm": "1"}, follow_redirects=True
    )
    assert "山田 太郎さんの利用は終了しています" in done.text
    board = await manager.get("/console/")
    assert "山田 太郎さん</a>" not in board.text.split("在宅の利用者")[1]  # off the board
    assert (await manager.get(f"{path}?month=2026-07")).status_code == 200  # records stay


async def test_managers_add_change_and_remove_staff(site: Site) -> None:
    manager = await signed_in(site, site.manager)
    page = await manager.get("/console/staff")
    assert page.status_code == 200 and "佐藤 花子" in page.text and "田中 次郎" not in page.text
    csrf = csrf_of(page.text)
    form = {"csrf": csrf, "name": "伊藤 四郎", "slack_user": "", "role": "staff"}
    added = await manager.post("/console/staff", data=form, follow_redirects=True)
    assert "伊藤 四郎" in added.text
    async with site.db.transaction() as session:
        newcomer = (
            await session.execute(select(Staff).where(Staff.name == "伊藤 四郎"))
        ).scalar_one()
    assert newcomer.slack_user_id is None and newcomer.facility_id == site.facility
    link = await site.link(newcomer.id)  # no Slack: signs in by link
    assert (await signed_in(site, newcomer.id)).cookies and link

    promoted = await manager.post(
        f"/console/staff/{site.staff}/role", data={"csrf": csrf, "role": "manager"}
    )
    assert promoted.status_code == 303
    yourself = await manager.post(f"/console/staff/{site.manager}/remove", data={"csrf": csrf})
    assert yourself.status_code == 400 and texts.CONSOLE_NOT_YOURSELF in yourself.text
    other = await manager.post(f"/console/staff/{site.other_staff}/remove", data={"csrf": csrf})
    assert other.status_code == 404

    staff = await signed_in(site, site.staff)  # a manager now, and then removed
    assert (await staff.get("/console/settings")).status_code == 200
    await manager.post(f"/console/staff/{site.staff}/remove", data={"csrf": csrf})
    assert (await staff.get("/console/")).status_code == 401  # the session ends at once
    async with site.db.transaction() as session:
        gone = await session.get_one(Staff, site.staff)
    assert (gone.active, gone.role) == (False, "manager")
    plain = await signed_in(site, newcomer.id)
    assert (await plain.get("/console/staff")).status_code == 403


def test_the_cli_sets_what_needed_sql(cli_env: object) -> None:
    run_cli("facility", "init", "--name", "テスト事業所")
    run_cli("member", "add", "--name", "山田 太郎")
    run_cli("staff", "add", "--name", "鈴木 一郎", "--role", "manager")  # no Slack
    run_cli("staff", "add", "--name", "佐藤 花子", "--slack-user", "U2")
    assert "closed 2099-12-29 年末年始" in run_cli(
        "closure", "add", "2099-12-29", "--note", "年末年始"
    )
    assert "2099-12-29\t年末年始" in run_cli("closure", "list")
    assert "open on 2099-12-29" in run_cli("closure", "remove", "2099-12-29")
    out = run_cli("schedule", "except", "山田", "--date", "2099-07-03", "--mode", "tsusho",
                  "--start", "09:30", "--end", "16:00")  # fmt: skip
    assert "山田 太郎: 2099-07-03 tsusho 09:30-16:00" in out
    assert "follows the week again" in run_cli(
        "schedule", "except", "山田", "--date", "2099-07-03", "--clear"
    )
    assert "(manager)" in run_cli("staff", "role", "佐藤", "manager")
    assert "removed" in run_cli("staff", "remove", "佐藤")
    out = run_cli("member", "tasks", "山田", "--task", "データ入力", "--task", "封入作業")
    assert "山田 太郎: データ入力 | 封入作業" in out
    assert "deactivated" in run_cli("member", "deactivate", "山田")
    assert "山田" not in run_cli("member", "list")


async def test_a_removed_staff_members_link_opens_nothing(
    site: Site, client: httpx.AsyncClient
) -> None:
    token = (await site.link(site.staff)).rsplit("/", 1)[1]
    async with site.db.transaction() as session:
        admin.set_active(await session.get_one(Staff, site.staff), False)
    refused = await client.post("/console/login", data={"token": token})
    assert refused.status_code == 410 and texts.CONSOLE_LINK_REFUSED["inactive"] in refused.text
    with pytest.raises(AdminError, match="登録が外れている"):
        await site.link(site.staff)


async def test_an_evaluation_sheet_from_the_form_and_its_print(site: Site) -> None:
    c = await signed_in(site, site.staff)
    path = f"/console/members/{site.member}/evaluations"
    page = await c.get(path)
    assert page.status_code == 200 and "評価を記録する" in page.text
    sheet = {
        "goal": "入力作業を1日2時間続ける", "activities": "データ入力 300件",
        "achievement": "目標の8割", "issues": "午後に疲れが出る", "plan": "休憩を増やす",
        "health_notes": "睡眠に注意", "continuation": "在宅継続が妥当",
    }  # fmt: skip
    form = {"csrf": csrf_of(page.text), "kind": "monthly", "date": "2026-07-01"}
    phone = await c.post(path, data={**form, "method": "電話", **sheet})
    assert phone.status_code == 400 and "訪問 or 通所" in phone.text
    assert "データ入力 300件" in phone.text  # what was typed is kept in the form
    saved = await c.post(path, data={**form, "method": "訪問", **sheet}, follow_redirects=True)
    assert saved.status_code == 200 and texts.CONSOLE_SAVED in saved.text
    async with site.db.transaction() as session:
        [e] = (await session.execute(select(Evaluation))).scalars()
    assert (e.kind, e.method, e.staff_id, e.goal) == ("monthly", "visit", site.staff, sheet["goal"])
    assert e.entered_by == f"staff:{site.staff}" and e.flags == {}
    printed = await c.get(f"{path}/{e.id}")
    assert printed.status_code == 200
    for text in (
        "評価シート(月1回の評価)",
        "訪問",
        "佐藤 花子",
        "在宅継続が妥当",
        "確認欄",
    ):
        assert text in printed.text, text
    other = await signed_in(site, site.other_staff)
    assert (await other.get(path)).status_code == 404
    theirs = csrf_of((await other.get("/console/")).text)
    posted = await other.post(path, data={**form, "csrf": theirs, "method": "訪問", **sheet})
    assert posted.status_code == 404
    assert (await other.get(f"{path}/{e.id}")).status_code == 404
    assert (
        await other.get(f"/console/members/{site.other_member}/evaluations/{e.id}")
    ).status_code == 404
