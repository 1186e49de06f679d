"""The site's day with evidence and chart values: a photo, a voice message and a PDF kept with
山田さん's 日報 of 7/1 (as intake keeps them: bytes, type, SHA-256, when sent), and 体調(朝)
and 睡眠 entered by staff through `records.staff_edit`, with a reason."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from sqlalchemy import select

from bot.services import records
from storage.models import Attachment, DailyReport
from tests.console.site import DAY, Site
from tests.support import jst


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG (red pixels) a browser decodes: the thumbnail must show, not just exist."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


AUDIO = b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00" + b"voice" * 20
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass(frozen=True)
class Kept:
    photo: int
    audio: int
    pdf: int


async def add_evidence(site: Site) -> Kept:
    ids = []
    async with site.db.transaction(actor="test") as session:
        report_id = await session.scalar(
            select(DailyReport.id).where(
                DailyReport.member_id == site.member, DailyReport.business_date == DAY
            )
        )
        assert report_id is not None
        for n, (content_type, filename, data, at) in enumerate(
            (
                ("image/png", None, png(), "11:05"),
                ("audio/m4a", None, AUDIO, "12:30"),
                ("application/pdf", "成果物.pdf", PDF, "14:45"),
            )
        ):
            row = Attachment(
                report_id=report_id, platform="line", platform_message_id=f"m{n}",
                content_type=content_type, filename=filename,
                sha256=hashlib.sha256(data).hexdigest(), data=data, at=jst("2026-07-01", at),
            )  # fmt: skip
            session.add(row)
            await session.flush()
            ids.append(row.id)
    return Kept(*ids)


async def add_chart_values(site: Site) -> None:
    """体調(朝) 3 and 睡眠 6.5 on 7/1 (the day already has 体調(終了時) 4 from the call)."""
    async with site.db.transaction(actor="test") as session:
        report_id = await session.scalar(
            select(DailyReport.id).where(
                DailyReport.member_id == site.member, DailyReport.business_date == DAY
            )
        )
        assert report_id is not None
        for field, value in (("health_start", "3"), ("sleep_hours", "6.5")):
            await records.staff_edit(
                session, report_id, field, value, site.staff, site.clock(), reason="電話で確認"
            )
