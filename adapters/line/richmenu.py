"""Nippo's default LINE rich menu: its six areas, its image and the API calls around it.

The menu is always under the chat, so a member can start the day, end it, say they rest, ask
for staff, see today's record or read the help at any moment, without an earlier message's
buttons. Each area is a postback in Nippo's own format with `menu` where a button's date would
be (`v1|menu|start`, adapters/line/render.py): it goes through the same inbox and dialog as
any button and is never read as a button from another day. `displayText` puts the tapped words
in the member's chat, as a quick reply does.

The image is drawn here (Pillow) in LINE's large size, 2500 × 1686, three columns and two
rows, big Japanese words in colours with at least 4.5:1 contrast (WCAG AA), with a Japanese
font from Debian's `fonts-ipafont-gothic` (or one the operator names); or it is the
facility's own PNG or JPEG, checked against LINE's rules before anything is created.

`install` creates the menu, uploads the image (api-data), makes it the default for every
friend and then deletes Nippo's older menus; `status` reads the default and the channel's
menus; `remove` cancels the default when it is Nippo's and deletes Nippo's menus. Nippo's
menus are known by their name (`NAME`), so menus made by other tools are never touched.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linebot.v3.messaging import RichMenuRequest
from linebot.v3.messaging.exceptions import ApiException
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from adapters.line.render import encode_menu_postback
from adapters.line.sender import LineApi
from bot.core import texts

WIDTH, HEIGHT = 2500, 1686  # LINE's large rich menu
COLUMNS, ROWS = 3, 2
NAME = "nippo-default"  # how Nippo knows its own menus in the channel's list (not shown)
MAX_IMAGE_BYTES = 1024 * 1024  # LINE refuses larger rich menu images
# LINE's rules for a rich menu image: 800–2500 px wide, at least 250 px high, w/h ≥ 1.45
MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT, MIN_ASPECT = 800, 2500, 250, 1.45
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}

FONT_PACKAGE = "fonts-ipafont-gothic"
FONT_PATHS = (  # where Debian's package puts IPA Gothic, and its alternatives link
    Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),
    Path("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"),
)

BORDER = "#FFFFFF"  # the lines between the areas
# (background, text) per area in reading order; every pair is ≥ 4.5:1 (tests/line/test_richmenu.py)
PALETTE = (
    ("#1E6B3A", "#FFFFFF"),  # 開始: green
    ("#1F4E8C", "#FFFFFF"),  # 終了: blue
    ("#5B3F8C", "#FFFFFF"),  # 休み: purple
    ("#8A4B08", "#FFFFFF"),  # 相談: brown
    ("#E3EDF7", "#1F2933"),  # 今日の記録: light blue, dark letters
    ("#F3EEE4", "#1F2933"),  # ヘルプ: light sand, dark letters
)
GAP = 8  # px of BORDER on each side of an area
WORD_SIZE = 260  # px; longer words shrink to fit their area
CAPTION_SIZE = 92
PADDING = 70


class RichMenuError(Exception):
    """Something the operator can fix (the image, the font); the message says what, in
    Japanese, and names the file or package."""


@dataclass(frozen=True)
class MenuImage:
    data: bytes
    content_type: str  # image/png or image/jpeg
    width: int
    height: int


@dataclass(frozen=True)
class MenuStatus:
    default_id: str | None  # the channel's default rich menu set through the API
    ours: tuple[str, ...]  # Nippo's menus in the channel
    others: int  # menus other tools made through the API

    @property
    def default_is_ours(self) -> bool:
        return self.default_id is not None and self.default_id in self.ours


# --- the menu object ---------------------------------------------------------------------


def grid(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The six areas (x, y, width, height), left to right, top to bottom; the last column
    and row take the pixels a division leaves over."""
    xs = [width * c // COLUMNS for c in range(COLUMNS + 1)]
    ys = [height * r // ROWS for r in range(ROWS + 1)]
    return [
        (xs[c], ys[r], xs[c + 1] - xs[c], ys[r + 1] - ys[r])
        for r in range(ROWS)
        for c in range(COLUMNS)
    ]


def menu_object(width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """The rich menu as LINE's create call takes it (a RichMenuRequest)."""
    areas = [
        {
            "bounds": {"x": x, "y": y, "width": w, "height": h},
            "action": {
                "type": "postback",
                "label": word,  # what screen readers say
                "data": encode_menu_postback(choice.value),
                "displayText": choice.label,
            },
        }
        for (word, _, choice), (x, y, w, h) in zip(
            texts.RICH_MENU_AREAS, grid(width, height), strict=True
        )
    ]
    return {
        "size": {"width": width, "height": height},
        "selected": True,  # shown open when the chat opens
        "name": NAME,
        "chatBarText": texts.RICH_MENU_CHAT_BAR,
        "areas": areas,
    }


# --- the image ---------------------------------------------------------------------------


def find_font(override: Path | None = None) -> Path:
    """The font to draw with: the operator's, or IPA Gothic where Debian installs it."""
    if override is not None:
        if override.is_file():
            return override
        raise RichMenuError(f"フォントのファイルが見つかりません: {override} (font file not found)")
    for path in FONT_PATHS:
        if path.is_file():
            return path
    raise RichMenuError(
        "メニューの画像に使う日本語フォントが見つかりません。"
        f"`sudo apt-get install {FONT_PACKAGE}` でインストールするか、"
        "--font（または LINE_RICH_MENU_FONT）で .ttf / .otf のファイルを指定してください。"
        f" / No Japanese font found: install the Debian package {FONT_PACKAGE}"
        " or pass --font PATH (or set LINE_RICH_MENU_FONT)."
    )


def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise RichMenuError(f"フォントとして読めません: {path} (not a font: {exc})") from exc


def _fitted(path: Path, word: str, width: int, size: int) -> ImageFont.FreeTypeFont:
    """The largest font up to `size` in which `word` fits `width`."""
    font = _font(path, size)
    length = font.getlength(word)
    return font if length <= width else _font(path, int(size * width / length))


def generated_image(font_path: Path) -> MenuImage:
    """Nippo's default image: each area its colour, its word large and a short line under it."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BORDER)
    draw = ImageDraw.Draw(image)
    for (word, caption, _), (background, ink), (x, y, w, h) in zip(
        texts.RICH_MENU_AREAS, PALETTE, grid(WIDTH, HEIGHT), strict=True
    ):
        draw.rectangle((x + GAP, y + GAP, x + w - GAP - 1, y + h - GAP - 1), fill=background)
        centre_x, centre_y = x + w // 2, y + h // 2
        word_font = _fitted(font_path, word, w - 2 * PADDING, WORD_SIZE)
        draw.text((centre_x, centre_y - 50), word, font=word_font, fill=ink, anchor="mm")
        small = _fitted(font_path, caption, w - 2 * PADDING, CAPTION_SIZE)
        draw.text((centre_x, centre_y + 170), caption, font=small, fill=ink, anchor="mm")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    data = out.getvalue()
    if len(data) > MAX_IMAGE_BYTES:  # flat colours stay far below; a font change must not pass
        raise RichMenuError(f"生成した画像が 1 MB を超えました（{len(data) // 1024} KB）")
    return MenuImage(data, IMAGE_TYPES["PNG"], WIDTH, HEIGHT)


def load_image(path: Path) -> MenuImage:
    """The facility's own image, checked as LINE will check it (format, bytes, size)."""
    data = path.read_bytes()
    if len(data) > MAX_IMAGE_BYTES:
        raise RichMenuError(
            f"画像が大きすぎます: {path}（{len(data) // 1024} KB）。LINE の上限は 1 MB です"
            " (image over 1 MB)"
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            kind, (width, height) = im.format, im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise RichMenuError(
            f"画像として読めません: {path}。PNG か JPEG を指定してください (not an image)"
        ) from exc
    if kind not in IMAGE_TYPES:
        raise RichMenuError(
            f"{path} は {kind} です。LINE のリッチメニューは PNG か JPEG だけです"
            " (only PNG or JPEG)"
        )
    if not (MIN_WIDTH <= width <= MAX_WIDTH and height >= MIN_HEIGHT) or (
        width / height < MIN_ASPECT
    ):
        raise RichMenuError(
            f"画像の大きさ {width}×{height} は使えません。幅 {MIN_WIDTH}〜{MAX_WIDTH}、"
            f"高さ {MIN_HEIGHT} 以上、幅÷高さ {MIN_ASPECT} 以上にしてください"
            f"（おすすめは {WIDTH}×{HEIGHT}）"
        )
    return MenuImage(data, IMAGE_TYPES[str(kind)], width, height)


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two #RRGGBB colours (1 to 21)."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# --- the API calls -----------------------------------------------------------------------


async def install(api: LineApi, image: MenuImage) -> str:
    """Create the menu for the image's size, upload the image, make it every friend's
    default, then delete Nippo's older menus; the new menu's id. A failure part-way deletes
    the menu just created, so nothing half-made is left in the channel."""
    request = RichMenuRequest.from_dict(menu_object(image.width, image.height))
    menu_id = str((await api.messaging.create_rich_menu(request)).rich_menu_id)
    try:
        await api.blob.set_rich_menu_image(
            menu_id, image.data, _headers={"Content-Type": image.content_type}
        )
        await api.messaging.set_default_rich_menu(menu_id)
    except BaseException:
        with contextlib.suppress(Exception):
            await api.messaging.delete_rich_menu(menu_id)
        raise
    await _delete(api, [m for m in (await status(api)).ours if m != menu_id])
    return menu_id


async def status(api: LineApi) -> MenuStatus:
    try:
        default: str | None = str((await api.messaging.get_default_rich_menu_id()).rich_menu_id)
    except ApiException as exc:
        if exc.status != 404:  # 404: no default rich menu
            raise
        default = None
    menus = (await api.messaging.get_rich_menu_list()).richmenus or []
    ours = tuple(str(m.rich_menu_id) for m in menus if m.name == NAME)
    return MenuStatus(default, ours, len(menus) - len(ours))


async def remove(api: LineApi) -> MenuStatus:
    """Cancel the default if it is Nippo's and delete Nippo's menus; what was there."""
    before = await status(api)
    if before.default_is_ours:
        await api.messaging.cancel_default_rich_menu()
    await _delete(api, before.ours)
    return before


async def _delete(api: LineApi, menu_ids: Sequence[str]) -> None:
    for menu_id in menu_ids:
        await api.messaging.delete_rich_menu(menu_id)
