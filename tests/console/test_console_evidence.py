"""A member's month in the console: the day's photos, voice and files (served by
/console/members/ID/evidence/AID to the member's facility only, while their consent covers
evidence, each view audit-logged) and the month's 体調 and 睡眠 chart with its table."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest

from bot.core import texts
from bot.services import consent
from storage.db import Database
from storage.models import Facility, Member, Staff
from tests.console.media import AUDIO, PDF, Kept, add_chart_values, add_evidence, png
from tests.console.site import Site, build, sign_in


@pytest.fixture
async def site(db: Database) -> Site:
    return await build(db)


@pytest.fixture
async def kept(site: Site) -> Kept:
    return await add_evidence(site)


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=site.app())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://nippo") as c:
        yield c


async def signed_in(site: Site, staff_id: int) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=site.app())  # type: ignore[arg-type]
    c = httpx.AsyncClient(transport=transport, base_url="http://nippo")
    assert (await sign_in(c, await site.link(staff_id))).status_code == 200
    return c


def path(site: Site, attachment_id: int, member: int | None = None) -> str:
    return f"/console/members/{member or site.member}/evidence/{attachment_id}"


MONTH = "/console/members/{member}?month=2026-07"


async def test_the_month_and_the_day_show_the_files_and_serve_their_bytes(
    site: Site, kept: Kept
) -> None:
    c = await signed_in(site, site.staff)  # staff, not only managers
    month = (await c.get(MONTH.format(member=site.member))).text
    photo, audio, pdf = (path(site, a) for a in (kept.photo, kept.audio, kept.pdf))
    assert f'<a href="{photo}"><img src="{photo}" alt="写真(11:05)"' in month
    assert (
        f'<audio controls preload="none" src="{audio}" aria-label="声のメッセージ(12:30)">' in month
    )
    assert f'src="{pdf}"' not in month  # a PDF is a download link only
    download = texts.CONSOLE_EVIDENCE_DOWNLOAD
    assert f'<a href="{pdf}?download=1">{download}' in month and "成果物.pdf" in month
    kinds = texts.CONSOLE_EVIDENCE_KINDS
    assert f"{kinds['file']}(14:45) 成果物.pdf" in month
    day = (await c.get(f"/console/members/{site.member}/days/2026-07-01")).text
    assert f'<img src="{photo}"' in day and f'src="{audio}"' in day

    got = await c.get(photo)
    assert got.status_code == 200 and got.content == png()
    assert got.headers["content-type"] == "image/png"
    assert got.headers["cache-control"] == "private, no-store"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert got.headers["content-disposition"] == (
        f"inline; filename*=UTF-8''2026-07-01_{site.member}_{kept.photo}.png"
    )
    voice = await c.get(audio)
    assert (voice.content, voice.headers["content-type"]) == (AUDIO, "audio/m4a")
    assert voice.headers["content-disposition"].startswith("inline;")
    doc = await c.get(pdf)
    assert (doc.content, doc.headers["content-type"]) == (PDF, "application/pdf")
    assert doc.headers["content-disposition"] == (
        f"attachment; filename*=UTF-8''2026-07-01_{site.member}_{kept.pdf}.pdf"
    )
    saved = await c.get(photo + "?download=1")
    assert saved.headers["content-disposition"].startswith("attachment;")

    views = await site.audit("console.evidence")
    assert [(v.actor, v.target, v.detail["download"]) for v in views] == [
        (f"staff:{site.staff}", f"attachment:{kept.photo}", False),
        (f"staff:{site.staff}", f"attachment:{kept.audio}", False),
        (f"staff:{site.staff}", f"attachment:{kept.pdf}", True),
        (f"staff:{site.staff}", f"attachment:{kept.photo}", True),
    ]
    assert {v.detail["member_id"] for v in views} == {site.member}


async def test_pages_may_play_the_files_they_show(site: Site, kept: Kept) -> None:
    c = await signed_in(site, site.staff)
    page = await c.get(MONTH.format(member=site.member))
    csp = page.headers["content-security-policy"]
    assert "img-src 'self'" in csp and "media-src 'self'" in csp and "default-src 'none'" in csp


async def test_anonymous_visitors_get_no_file(
    site: Site, kept: Kept, client: httpx.AsyncClient
) -> None:
    for attachment_id in (kept.photo, kept.pdf):
        for suffix in ("", "?download=1"):
            got = await client.get(path(site, attachment_id) + suffix)
            assert got.status_code == 401 and texts.CONSOLE_NOT_SIGNED_IN in got.text
            assert got.content != png() and b"%PDF" not in got.content
    assert await site.audit("console.evidence") == []


async def test_another_facility_cannot_open_the_files(site: Site, kept: Kept) -> None:
    c = await signed_in(site, site.other_staff)
    for p in (path(site, kept.photo), path(site, kept.photo, member=site.other_member)):
        got = await c.get(p)  # by the member's URL, or under their own member's
        assert got.status_code == 404 and texts.CONSOLE_NOT_FOUND in got.text, p
        assert got.content != png()
    assert await site.audit("console.evidence") == []
    refused = {a.target for a in await site.audit("console.refused")}
    assert refused == {path(site, kept.photo), path(site, kept.photo, member=site.other_member)}
    unknown = await c.get(path(site, kept.pdf + 1000, member=site.other_member))
    assert unknown.status_code == 404


async def _withdraw_evidence(site: Site, on: date) -> None:
    async with site.db.transaction(actor="test") as session:
        await consent.withdraw(
            session, await session.get_one(Facility, site.facility),
            await session.get_one(Member, site.member), covers=frozenset({consent.EVIDENCE}),
            on=on, staff=await session.get_one(Staff, site.staff), now=site.clock(),
        )  # fmt: skip


async def test_without_consent_to_evidence_nothing_is_shown(site: Site, kept: Kept) -> None:
    """Withdrawn two days later: the files of 7/1 were covered on their day, but not now."""
    c = await signed_in(site, site.staff)
    assert (await c.get(path(site, kept.photo))).status_code == 200
    site.clock.at += timedelta(days=2)
    await _withdraw_evidence(site, date(2026, 7, 3))
    c = await signed_in(site, site.staff)  # the first sign-in has gone idle meanwhile
    page = await c.get(MONTH.format(member=site.member))
    assert page.status_code == 200, page.text
    assert "/evidence/" not in page.text and texts.CONSOLE_EVIDENCE not in page.text
    assert "電話で作業の様子を確認" in page.text  # the rest of the day is still there
    day = await c.get(f"/console/members/{site.member}/days/2026-07-01")
    assert day.status_code == 200 and "/evidence/" not in day.text
    for attachment_id in (kept.photo, kept.audio, kept.pdf):
        got = await c.get(path(site, attachment_id))
        assert got.status_code == 404 and got.content != png()
    assert len(await site.audit("console.evidence")) == 1  # the view before the withdrawal


async def test_a_day_without_consent_on_it_is_not_shown(site: Site, kept: Kept) -> None:
    """Consent withdrawn on 7/1 and given again on 7/2: the day's files stay hidden."""
    site.clock.at += timedelta(days=1)
    await _withdraw_evidence(site, date(2026, 7, 1))
    async with site.db.transaction(actor="test") as session:
        await consent.record(
            session, await session.get_one(Facility, site.facility),
            await session.get_one(Member, site.member), covers=frozenset({consent.EVIDENCE}),
            given_on=date(2026, 7, 2), staff=await session.get_one(Staff, site.staff),
            now=site.clock(),
        )  # fmt: skip
    c = await signed_in(site, site.staff)
    assert (await c.get(path(site, kept.photo))).status_code == 404
    page = await c.get(MONTH.format(member=site.member))
    assert page.status_code == 200 and "/evidence/" not in page.text


async def test_the_month_charts_health_and_sleep_with_a_table(site: Site) -> None:
    await add_chart_values(site)
    c = await signed_in(site, site.staff)
    html = (await c.get(MONTH.format(member=site.member))).text
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 2
    health, sleep = svgs
    assert 'role="img"' in health and '<title id="chart-health-t">体調(1〜5)</title>' in health
    assert "体調(朝): 1日 3。体調(終了時): 1日 4。" in health
    assert "睡眠: 1日 6.5時間。" in sleep
    # July has 31 days over 604 px from x=36: day 1 sits at 36 + 604/31/2
    assert re.search(r'<circle class="start" cx="45.7" cy="[\d.]+" r="3">', health)
    # the sleep dot: 6.5 of 12 hours over 116 px from y=10
    assert '<circle class="start" cx="45.7" cy="63.2" r="3">' in sleep
    assert f"<summary>{texts.CONSOLE_CHART_VALUES}</summary>" in html
    table = re.search(r'<table class="chart-values">.*?</table>', html, re.S)
    assert table is not None
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table.group(0))
    assert cells[:4] == ["日付", "体調(朝)", "体調(終了時)", "睡眠(時間)"]
    assert cells[-4:] == ["7月1日(水)", "3 ふつう", "4 良い", "6.5"]
    june = (await c.get(f"/console/members/{site.member}?month=2026-06")).text
    assert texts.CONSOLE_CHART_EMPTY in june and "<svg" not in june
