"""`nippo line …`: the LINE channel's own set-up, for operators.

`nippo line richmenu install [--image PATH] [--font PATH]` puts Nippo's rich menu (開始 / 終了 /
休み / 相談 / 今日の記録 / ヘルプ) under every member's chat, `status` says what the channel
has, `remove` takes Nippo's menu away (adapters/line/richmenu.py); `nippo line quota` shows
this month's paid pushes, the plan's limit and the projection. Exit status: 0 done,
1 LINE refused or could not be reached, 2 something to fix here (LINE not configured, the
image, the font). Registered on the main app by importing this module in bot.cli.main.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import aiohttp
import typer
from linebot.v3.messaging.exceptions import ApiException

from adapters.line import quota, richmenu
from adapters.line.sender import LineApi, error_message
from bot.app.settings import Settings
from bot.cli.base import _run, app, line_api, now
from bot.cli.errors import EXIT_ENVIRONMENT, EXIT_MISTAKE
from storage.db import Database

T = TypeVar("T")

line_app = typer.Typer(help="LINE: the channel's rich menu and push quota.", no_args_is_help=True)
richmenu_app = typer.Typer(
    help="Nippo's default rich menu (開始 / 終了 / 休み / 相談 / 今日の記録 / ヘルプ).",
    no_args_is_help=True,
)
app.add_typer(line_app, name="line")
line_app.add_typer(richmenu_app, name="richmenu")

INSTALL_HINT = "`nippo line richmenu install` で設定できます"


def _fail(line: str, status: int) -> NoReturn:
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(status)


def _guarded(run: Callable[[], T]) -> T:
    """Run LINE calls; LINE's refusal or silence is one line and exit 1."""
    try:
        return run()
    except ApiException as exc:
        _fail(f"LINE が受け付けませんでした: {error_message(exc)}", EXIT_ENVIRONMENT)
    except (aiohttp.ClientError, TimeoutError) as exc:
        _fail(
            f"LINE の API に届きません（{type(exc).__name__}）。接続先と通信環境を確かめてください",
            EXIT_ENVIRONMENT,
        )


def _call(settings: Settings, work: Callable[[LineApi], Awaitable[T]]) -> T:
    """One unit of LINE calls (LINE not set up: an operator's mistake, exit 2)."""
    api = line_api(settings)

    async def go() -> T:
        try:
            return await work(api)
        finally:
            await api.aclose()

    return _guarded(lambda: asyncio.run(go()))


@richmenu_app.command("install")
def install_command(
    image: Annotated[
        Path | None,
        typer.Option(
            "--image",
            help="The facility's own PNG or JPEG (≤ 1 MB, ideally 2500×1686, six areas in "
            "3 columns × 2 rows in the order 開始 終了 休み / 相談 今日の記録 ヘルプ).",
        ),
    ] = None,
    font: Annotated[
        Path | None,
        typer.Option("--font", help="A Japanese .ttf/.otf for the generated image."),
    ] = None,
) -> None:
    """Create Nippo's rich menu, upload its image and make it every friend's default."""
    settings = Settings()
    try:
        if image is not None:
            picture = richmenu.load_image(image)
        else:
            configured = settings.line_rich_menu_font
            chosen = font or (Path(configured) if configured else None)
            picture = richmenu.generated_image(richmenu.find_font(chosen))
    except richmenu.RichMenuError as exc:
        _fail(str(exc), EXIT_MISTAKE)
    menu_id = _call(settings, lambda api: richmenu.install(api, picture))
    where = f"{image}" if image is not None else "Nippo の画像"
    typer.echo(
        f"✔ リッチメニューを設定しました（{menu_id}、{where}、{picture.width}×{picture.height}、"
        f"{len(picture.data) // 1024} KB）。"
        "友だち全員のトーク画面の下に表示されます（開いている画面には少し遅れて出ます）。"
    )


@richmenu_app.command("status")
def status_command() -> None:
    """Show the channel's default rich menu and Nippo's menus."""
    current = _call(Settings(), richmenu.status)
    if current.default_id is None:
        typer.echo(f"– 既定のリッチメニューはありません。{INSTALL_HINT}")
    elif current.default_is_ours:
        typer.echo(f"✔ 既定のリッチメニュー: {current.default_id}（Nippo のメニュー）")
    else:
        typer.echo(
            f"– 既定のリッチメニュー: {current.default_id}（Nippo 以外で作られたもの）。"
            f"Nippo のメニューにするときは {INSTALL_HINT}"
        )
    typer.echo(f"Nippo のメニュー {len(current.ours)} 件、ほかのメニュー {current.others} 件")
    typer.echo(
        "（LINE Official Account Manager で作ったメニューは API からは見えないため、"
        "ここには出ません）"
    )


@richmenu_app.command("remove")
def remove_command() -> None:
    """Stop showing Nippo's rich menu and delete it from the channel."""
    before = _call(Settings(), richmenu.remove)
    if not before.ours:
        typer.echo("– Nippo のリッチメニューはありません。何も変えていません。")
        return
    cancelled = "既定の設定を解除し、" if before.default_is_ours else ""
    typer.echo(f"✔ Nippo のリッチメニューを外しました（{cancelled}{len(before.ours)} 件を削除）。")


# --- nippo line quota: this month's paid pushes, the limit and the projection ---------------
# Replies are free; every push counts (adapters/line/quota.py): LINE's own consumption beside
# Nippo's count (the larger is used). Reading them changes nothing.


@line_app.command("quota")
def quota_command() -> None:
    """Show this month's LINE pushes, the plan's limit and the month's projection."""

    async def work(database: Database) -> quota.QuotaState:
        api = line_api(Settings())
        try:
            return await quota.read(database, api.messaging, now())
        finally:
            await api.aclose()

    state = _guarded(lambda: _run(work))
    for line in describe_quota(state):
        typer.echo(line)


def describe_quota(state: quota.QuotaState) -> list[str]:
    lines = [
        f"{state.month} のプッシュ送信: {state.used}通（うち Nippo から {state.ours}通）",
    ]
    if state.limit is None:
        lines.append("上限: なし（このプランでは数の上限がありません）")
    else:
        lines.append(f"上限: {state.limit}通（{state.percent:.0f}% を使用）")
    over = state.limit is not None and state.projected > state.limit
    lines.append(
        f"見込み: このままのペースだと月末までに約{state.projected}通"
        + ("（上限を超えます。リマインドが届かなくなる前にプランの見直しを）" if over else "")
    )
    lines.append("返信（応答メッセージ）は無料で、この数に入りません。")
    return lines
