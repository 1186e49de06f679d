"""Linking by QR: `nippo member link-code NAME --qr FILE.png` writes a QR code that decodes to
LINE's URL with the account's basic id and the code; the member's chat then sends the code
through the webhook and the account is linked. The code rules stay."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from adapters.line.linking import oa_message_url
from bot.cli.main import app
from bot.core import texts
from storage.models import Identity, LinkCode
from tests.line.conftest import Line, event
from tests.line.test_checkin_over_line import DAY, U, last_body, texts_of
from tests.support import jst, make_facility, make_member

runner = CliRunner()


def decode_qr(path: Path) -> str:
    """What a phone's camera reads. OpenCV's classic detector misses a few percent of valid
    codes at full size (seen: 8 in 300 random link codes), so it is asked at smaller sizes
    and its ArUco-based twin is asked too, as a phone retries frame after frame."""
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "not an image"
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        for scale in (1.0, 0.5, 0.25):
            frame = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            text, _, _ = detector.detectAndDecode(frame)
            if text:
                return str(text)
    raise AssertionError("no QR code found")


def test_the_url_is_lines_oa_message_scheme_percent_encoded() -> None:
    assert oa_message_url("@nippo", "123456") == "https://line.me/R/oaMessage/%40nippo/?123456"
    assert oa_message_url("@abc 1/2", "コード 1") == (
        "https://line.me/R/oaMessage/%40abc%201%2F2/?%E3%82%B3%E3%83%BC%E3%83%89%201"
    )


async def _cli(*args: str) -> Result:
    """The CLI in a thread (it runs its own event loop); the fake LINE API stays on ours."""
    return await asyncio.to_thread(runner.invoke, app, list(args))


@pytest.fixture
def cli_env(line: Line, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "test-access-token")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "test-channel-secret")
    monkeypatch.setenv("LINE_API_BASE_URL", line.fake.url)
    monkeypatch.setenv("LINE_DATA_API_BASE_URL", line.fake.url)
    monkeypatch.setattr("bot.cli.admin.now", lambda: jst(DAY, "08:30"))


async def _codes(line: Line) -> list[LinkCode]:
    async with line.db.transaction() as s:
        return list((await s.scalars(select(LinkCode).order_by(LinkCode.id))).all())


async def test_the_qr_decodes_to_the_chat_url_and_links_the_member(
    line: Line, t0: datetime, tmp_path: Path, cli_env: None
) -> None:
    fid = await make_facility(line.db, t0)
    await make_member(line.db, fid, t0)
    png = tmp_path / "yamada.png"

    result = await _cli("member", "link-code", "山田", "--qr", str(png))
    assert result.exit_code == 0, result.output
    code = result.output.splitlines()[0].strip()
    assert len(code) == 6 and code.isdigit()
    assert str(png) in result.output

    # The basic id came from LINE's bot info, asked with the channel's token.
    (info,) = line.fake.calls("/v2/bot/info")
    assert info.headers["authorization"] == "Bearer test-access-token"
    url = decode_qr(png)
    assert url == f"https://line.me/R/oaMessage/%40nippo/?{code}"
    parts = urlsplit(url)
    assert unquote(parts.path) == "/R/oaMessage/@nippo/" and unquote(parts.query) == code
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The member scans it: LINE opens the chat with the code typed in; they tap send.
    at = jst(DAY, "09:00")
    await line.send(event("06_follow", at, user=U), at=at)
    await line.send(event("00_message_text", at, user=U, message={"text": code}), at=at)
    assert texts_of(last_body(line)) == [texts.LINK_DONE.format(name="山田 太郎")]
    async with line.db.transaction() as s:
        ident = (
            await s.execute(select(Identity).where(Identity.platform_user_id == U))
        ).scalar_one()
    assert ident.member_id is not None
    # Single use: the same code from another account links nobody.
    other = "Uother00000000000000000000000001"
    later = at + timedelta(minutes=1)
    await line.send(event("00_message_text", later, user=other, message={"text": code}), at=later)
    assert texts_of(last_body(line)) == [texts.LINK_WRONG]
    (used,) = await _codes(line)
    assert used.used_at is not None and used.expires_at - used.created_at == timedelta(hours=24)


async def test_without_lines_answer_no_code_is_issued_and_the_old_one_still_works(
    line: Line, t0: datetime, tmp_path: Path, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fid = await make_facility(line.db, t0)
    await make_member(line.db, fid, t0)
    first = await _cli("member", "link-code", "山田")
    assert first.exit_code == 0, first.output

    line.fake.channel_token = "another-token"  # LINE refuses ours: 401
    refused = await _cli("member", "link-code", "山田", "--qr", str(tmp_path / "a.png"))
    assert refused.exit_code == 2 and "LINE" in refused.output
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN")
    unset = await _cli("member", "link-code", "山田", "--qr", str(tmp_path / "b.png"))
    assert unset.exit_code == 2 and "LINE_CHANNEL_ACCESS_TOKEN" in unset.output
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()

    (only,) = await _codes(line)  # the first code was not voided by the failed attempts
    assert only.voided_at is None and only.code == first.output.strip()
