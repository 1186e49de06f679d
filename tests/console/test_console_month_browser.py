"""A member's month in a real browser (Debian's Chromium through Playwright, as in
tests/console/test_console_browser.py, whose server and skip rules this reuses): the 体調 and
睡眠 charts are drawn, and the day's photo shows as a decoded thumbnail under the page's CSP."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from storage.db import Database
from tests.console.media import Kept, add_chart_values, add_evidence
from tests.console.test_console_browser import (  # noqa: F401 (`served` is a fixture)
    CHROMIUM,
    Served,
    _browser_or_skip,
    served,
)

pytestmark = pytest.mark.slow


def _seed(at: Served, db_url: str) -> Kept:
    async def run() -> Kept:
        database = Database(db_url)
        try:
            site = replace(at.site, db=database)
            await add_chart_values(site)
            return await add_evidence(site)
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_the_month_shows_the_chart_and_the_photo(served: Served, db_url: str) -> None:  # noqa: F811
    sync_playwright = _browser_or_skip()
    kept = _seed(served, db_url)
    site, url = served.site, served.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(served.links["staff"])
            page.get_by_role("button", name="サインインする").click()
            page.wait_for_url(f"{url}/console/")
            page.goto(f"{url}/console/members/{site.member}?month=2026-07")

            chart = page.get_by_role("img", name="体調(1〜5)")
            assert chart.is_visible() and chart.locator("circle").count() == 2
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 40
            sleep = page.get_by_role("img", name="睡眠(時間)")
            assert sleep.locator("circle").count() == 1

            photo = page.get_by_role("img", name="写真(11:05)")
            photo.scroll_into_view_if_needed()
            page.wait_for_function(
                "el => el.complete && el.naturalWidth > 0", arg=photo.element_handle()
            )
            assert photo.evaluate("el => [el.naturalWidth, el.naturalHeight]") == [4, 3]
            assert photo.get_attribute("src") == (
                f"/console/members/{site.member}/evidence/{kept.photo}"
            )
            voice = page.locator("audio")
            assert (
                voice.count() == 1 and voice.get_attribute("aria-label") == "声のメッセージ(12:30)"
            )
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
