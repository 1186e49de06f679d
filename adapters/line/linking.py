"""Linking by QR: a printable QR code of a LINE URL that opens the chat with Nippo's account
with the member's link code already typed in (the member only taps send).

The URL is LINE's `https://line.me/R/oaMessage/{basicId}/?{text}`; the account's basic id
(`@…`) comes from GET /v2/bot/info. The code itself is an ordinary link code: the 24-hour
life, single use and attempt limits stay where they are (bot/services/accounts.py,
bot/services/checkin.py); the QR is only another way of typing it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import aiohttp
import qrcode
from linebot.v3.messaging.exceptions import ApiException
from qrcode.image.pil import PilImage

from adapters.line.sender import LineApi

OA_MESSAGE = "https://line.me/R/oaMessage/{basic_id}/?{text}"
BOX_PIXELS = 16  # per module: about 5 cm wide at 300 dpi, sharp on any office printer
QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks


class LinkingUnavailable(Exception):
    """LINE did not tell us the account's basic id (token, network): no URL to encode."""


def oa_message_url(basic_id: str, text: str) -> str:
    """The LINE URL that opens the chat with `basic_id` with `text` typed in, each part
    percent-encoded (`@` becomes `%40`)."""
    return OA_MESSAGE.format(basic_id=quote(basic_id, safe=""), text=quote(text, safe=""))


async def basic_id(api: LineApi) -> str:
    """The account's basic id (`@…`) from LINE's bot info."""
    try:
        info = await api.messaging.get_bot_info()
    except ApiException as exc:
        raise LinkingUnavailable(f"LINE {exc.status}: {exc.reason}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise LinkingUnavailable(f"LINE unreachable: {type(exc).__name__}") from exc
    found = str(info.basic_id or "")
    if not found:
        raise LinkingUnavailable("LINE's bot info has no basicId")
    return found


def write_qr(url: str, path: Path) -> None:
    """A black-on-white PNG of `url` (error correction M: readable when a little smudged)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=BOX_PIXELS,
        border=QUIET_ZONE,
        image_factory=PilImage,  # Pillow writes the PNG
    )
    code.add_data(url)
    code.make(fit=True)
    with path.open("wb") as out:
        code.make_image(fill_color="black", back_color="white").save(out, format="PNG")
