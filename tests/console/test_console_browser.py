"""The staff console in a real browser: Debian's Chromium driven by Playwright, against the
real app served by uvicorn on a free loopback port (as `nippo serve` serves it), on the test's
own database. Sign in from a link, the board, a member's month, a day's edit with its reason
and the revision it leaves, taking an alert, the month printed to A4 (PDF and screenshot kept
under the test's tmp dir), a used link, another facility's member, a form posted without its
CSRF token, a manager changing a member's week, and the board on a phone without sideways
scrolling.

Chromium comes from apt (`.ci/run` installs it); Playwright's own browser download is never
used. Without it the test is skipped here, and fails in CI."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app.settings import Settings
from bot.app.web import create_app
from bot.core import texts
from storage.db import Database
from tests.console.axe import axe_source
from tests.console.site import SECRET, Site, build
from tests.golive.https import Threaded

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")


def _browser_or_skip() -> Any:
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need Chromium in CI: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    return sync_playwright


class Served:
    """The site's rows, its links made before the server starts, and the server's URL."""

    def __init__(self, url: str, site: Site, links: dict[str, str]) -> None:
        self.url, self.site, self.links = url, site, links


@pytest.fixture
def served(db_url: str) -> Iterator[Served]:
    server = Threaded()

    async def prepare() -> tuple[Site, dict[str, str]]:
        database = Database(db_url)
        try:
            site = await build(database)
            links = {
                "staff": await site.link(site.staff, server.url),
                "phone": await site.link(site.staff, server.url),
                "other": await site.link(site.other_staff, server.url),
                "manager": await site.link(site.manager, server.url),
            }
            return site, links
        finally:
            await database.dispose()

    site, links = asyncio.run(prepare())
    settings = Settings(database_url=db_url, scheduler_enabled=False, console_session_secret=SECRET)  # type: ignore[call-arg]
    app = create_app(settings, Database(db_url), clock=site.clock)
    with server.serve(app):
        yield Served(server.url, site, links)


def test_a_staff_member_works_through_the_console(served: Served, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    site, url = served.site, served.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(served.links["staff"])
            page.get_by_role("button", name="サインインする").click()
            page.wait_for_url(f"{url}/console/")
            assert "7月1日(水) 在宅の状況" in page.locator("h1").inner_text()
            # problems first: the open alert heads the page, with its buttons
            assert "体調がすぐれないとの回答" in page.locator(".alert").first.inner_text()

            page.get_by_role("link", name="山田 太郎さん").first.click()
            page.wait_for_url(f"{url}/console/members/{site.member}")
            assert page.locator("table.calendar td.mark-zaitaku").count() == 1
            page.locator("table.calendar a", has_text="1").first.click()
            page.wait_for_url(f"{url}/console/members/{site.member}/days/2026-07-01")

            row = page.locator("#field-outputs")
            assert row.locator("td.current").inner_text() == "入力120件"
            row.locator("summary").click()
            assert row.get_by_label("新しい値(成果)").input_value() == "入力120件"
            row.get_by_label("新しい値(成果)").fill("入力150件")
            row.get_by_label("修正理由(必須)").fill("本人に電話で確認")
            row.get_by_role("button", name="保存").click()
            page.wait_for_url("**note=edited**")
            assert page.get_by_role("status").inner_text() == "成果を修正しました。"
            assert page.locator("#field-outputs td.current").inner_text() == "入力150件"
            revisions = page.locator("ul.revisions").inner_text()
            assert "成果: 入力120件 → 入力150件" in revisions
            assert "修正理由: 本人に電話で確認" in revisions

            page.goto(f"{url}/console/")
            page.get_by_role("button", name=texts.ALERT_TAKE).click()
            page.wait_for_url("**note=taken**")
            assert "佐藤 花子さんが対応中" in page.locator(".alert").first.inner_text()

            # a form posted without its CSRF token, with the session's cookie: refused
            forged = page.context.request.post(
                f"{url}/console/members/{site.member}/days/2026-07-01/edit",
                form={"field": "outputs", "value": "改ざん", "reason": "x"},
            )
            assert forged.status == 403 and texts.CONSOLE_CSRF in forged.text()

            # the board reloads every minute, but not while a form on it is open
            page.clock.install()
            page.goto(f"{url}/console/")
            page.evaluate("window.notReloaded = true")
            page.clock.run_for(61_000)
            page.wait_for_function("window.notReloaded === undefined")
            page.evaluate("window.notReloaded = true")
            page.locator(".alert summary").first.click()  # 対応済み: its form opens
            page.clock.run_for(61_000)
            assert page.evaluate("window.notReloaded") is True

            # the month on A4: navigation hidden, the 確認欄 shown
            page.goto(f"{url}/console/members/{site.member}?month=2026-07")
            page.emulate_media(media="print")
            assert page.locator("header.top").is_hidden()
            assert page.locator("table.confirm").is_visible()
            page.screenshot(path=str(tmp_path / "month-print.png"), full_page=True)
            pdf = page.pdf(path=str(tmp_path / "month-print.pdf"), format="A4")
            assert pdf.startswith(b"%PDF") and (tmp_path / "month-print.png").stat().st_size > 0

            used = browser.new_page()
            used.goto(served.links["staff"])
            assert texts.CONSOLE_LINK_REFUSED["used"] in used.locator("main").inner_text()
            assert used.get_by_role("button", name="サインインする").count() == 0

            other = browser.new_context().new_page()
            other.goto(served.links["other"])
            other.get_by_role("button", name="サインインする").click()
            other.wait_for_url(f"{url}/console/")
            assert "山田" not in other.locator("main").inner_text()
            answer = other.goto(f"{url}/console/members/{site.member}")
            assert answer is not None and answer.status == 404
            assert texts.CONSOLE_NOT_FOUND in other.locator("main").inner_text()
            assert "山田" not in other.content()

            boss = browser.new_context().new_page()
            boss.goto(served.links["manager"])
            boss.get_by_role("button", name="サインインする").click()
            boss.wait_for_url(f"{url}/console/")
            boss.goto(f"{url}/console/members/{site.member}")
            boss.get_by_role("link", name="週の予定を変える").click()
            boss.get_by_label("金曜日の利用").select_option(label="通所")
            boss.get_by_label("金曜日の開始").fill("09:30")
            boss.get_by_label("金曜日の終了").fill("16:00")
            boss.get_by_role("button", name="保存", exact=True).click()
            boss.wait_for_url("**note=saved**")
            assert boss.get_by_role("status").inner_text() == texts.CONSOLE_SAVED
            assert boss.get_by_label("金曜日の利用").input_value() == "tsusho"
            boss.goto(f"{url}/console/members/{site.member}?month=2026-07")
            assert boss.locator("td.mark-tsusho").count() == 5  # July's five Fridays

            phone = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
            small = phone.new_page()
            small.goto(served.links["phone"])
            small.get_by_role("button", name="サインインする").click()
            small.wait_for_url(f"{url}/console/")
            for path in ("/console/", f"/console/members/{site.member}/days/2026-07-01"):
                small.goto(url + path)
                width = small.evaluate("document.documentElement.scrollWidth")
                assert width <= 360, (path, width)
        finally:
            browser.close()


@pytest.fixture(scope="session")
def axe_js(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    return axe_source(tmp_path_factory.mktemp("axe"))


# axe-core's WCAG 2 A and AA rules; what counts: "serious" and "critical" violations
AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
}"""


UNLABELLED = """() => [...document.querySelectorAll(
  'input:not([type=hidden]), select, textarea'
)].filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name)"""


def test_the_main_pages_pass_an_accessibility_check(served: Served, axe_js: str | None) -> None:
    sync_playwright = _browser_or_skip()
    if axe_js is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "the accessibility check needs axe-core (npm pack axe-core, or NIPPO_AXE_JS)"
            )
        pytest.skip("accessibility check skipped: axe-core not available (npm or NIPPO_AXE_JS)")
    site, url = served.site, served.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            # the pages' CSP allows no script: axe is let in for this check only
            page = browser.new_context(bypass_csp=True).new_page()
            found: dict[str, list[str]] = {}

            def check(path: str) -> None:
                page.goto(url + path)
                page.add_script_tag(content=axe_js)
                found[path] = page.evaluate(AXE_RUN)
                # labels: every visible form control has one (axe checks this too, by name)
                unlabelled = page.evaluate(UNLABELLED)
                assert unlabelled == [], (path, unlabelled)

            check(served.links["other"].removeprefix(url))  # the sign-in page, not used up
            page.goto(served.links["manager"])
            page.get_by_role("button", name="サインインする").click()
            page.wait_for_url(f"{url}/console/")
            for path in (
                "/console/",
                f"/console/members/{site.member}?month=2026-07",
                f"/console/members/{site.member}/days/2026-07-01",
                f"/console/members/{site.member}/settings",
                "/console/settings",
                "/console/exports",
                "/console/staff",
                f"/console/members/{site.member}/evaluations",
                "/console/compliance?month=2026-07",
                f"/console/members/{site.other_member}",  # the kind "not found" page
            ):
                check(path)
            assert {p: v for p, v in found.items() if v} == {}
        finally:
            browser.close()
