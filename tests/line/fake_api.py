"""A local fake of the LINE Messaging API, served by uvicorn on 127.0.0.1 in the test.

It records every request (method, path, headers, JSON body) and behaves like LINE where the
tests depend on it: a reply token works once, a push whose X-Line-Retry-Key was accepted
before gets 409, and responses can be scripted per path (429 with Retry-After, 500, 400 with
LINE's error JSON …). `shown` lists what a member would actually see.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from jsonschema.exceptions import ValidationError
from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.line.schema import check


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    retry_after: str | None = None  # the Retry-After a scripted refusal answered with


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeLine:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripts: dict[str, list[Scripted]] = defaultdict(list)
        self.used_tokens: set[str] = set()
        self.accepted_keys: dict[str, str] = {}
        self.shown: list[tuple[str, dict[str, Any]]] = []  # (recipient or token, body)
        self.content: dict[str, tuple[bytes, str]] = {}
        self.hold_replies: threading.Event | None = None  # replies wait until it is set
        self.quota_limit: int | None = 200
        self.usage = 0
        self.url = ""
        # `nippo doctor`'s endpoints: the token /v2/bot/info accepts (None: any), the webhook
        # the channel has set ("" : none), whether LINE's test delivery reached it, and the
        # default rich menu (None: none).
        self.channel_token: str | None = None
        self.webhook_endpoint = ""
        self.webhook_active = True
        self.webhook_test_ok = True
        self.default_rich_menu: str | None = None
        # Rich menus made through the API (id → the menu as LINE returns it) and their images
        # (id → bytes, content type), checked as LINE checks them (`create_rich_menu` …).
        self.rich_menus: dict[str, dict[str, Any]] = {}
        self.rich_menu_images: dict[str, tuple[bytes, str]] = {}
        # When set, the webhook test is delivered for real, as LINE does: a POST with no
        # events, signed with this channel secret, to `webhook_endpoint` (its answer decides;
        # `webhook_test_ok` is then ignored).
        self.channel_secret: str | None = None
        self.app = Starlette(
            routes=[
                Route("/v2/bot/message/reply", self.reply, methods=["POST"]),
                Route("/v2/bot/message/push", self.push, methods=["POST"]),
                Route("/v2/bot/message/quota", self.quota, methods=["GET"]),
                Route("/v2/bot/message/quota/consumption", self.consumption, methods=["GET"]),
                Route("/v2/bot/message/{mid}/content", self.get_content, methods=["GET"]),
                Route("/v2/bot/info", self.bot_info, methods=["GET"]),
                Route("/v2/bot/channel/webhook/endpoint", self.webhook, methods=["GET"]),
                Route("/v2/bot/channel/webhook/test", self.webhook_test, methods=["POST"]),
                Route("/v2/bot/user/all/richmenu", self.rich_menu, methods=["GET"]),
                Route("/v2/bot/user/all/richmenu", self.cancel_default, methods=["DELETE"]),
                Route("/v2/bot/user/all/richmenu/{rid}", self.set_default, methods=["POST"]),
                Route("/v2/bot/richmenu", self.create_rich_menu, methods=["POST"]),
                Route("/v2/bot/richmenu/list", self.rich_menu_list, methods=["GET"]),
                Route("/v2/bot/richmenu/{rid}/content", self.upload_image, methods=["POST"]),
                Route("/v2/bot/richmenu/{rid}", self.get_rich_menu, methods=["GET"]),
                Route("/v2/bot/richmenu/{rid}", self.delete_rich_menu, methods=["DELETE"]),
                Route("/v2/bot/chat/loading/start", self.loading, methods=["POST"]),
            ]
        )

    def script(self, path: str, *responses: Scripted) -> None:
        self.scripts[path].extend(responses)

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def _record(self, request: Request) -> Recorded:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        rec = Recorded(request.method, request.url.path, dict(request.headers), body)
        self.requests.append(rec)
        return rec

    def _scripted(self, rec: Recorded, name: str | None = None) -> Response | None:
        script = self.scripts[name or rec.path]
        if script:
            s = script.pop(0)
            rec.retry_after = s.headers.get("Retry-After")
            return JSONResponse(s.body or {}, status_code=s.status, headers=s.headers)
        return None

    async def reply(self, request: Request) -> Response:
        rec = await self._record(request)
        scripted = self._scripted(rec)
        if scripted is not None:
            return scripted
        if self.hold_replies is not None:
            await asyncio.to_thread(self.hold_replies.wait, 10)
        token = rec.body["replyToken"]
        if token in self.used_tokens:
            return JSONResponse({"message": "Invalid reply token"}, status_code=400)
        self.used_tokens.add(token)
        self.shown.append((token, rec.body))
        return JSONResponse({"sentMessages": [{"id": "1", "quoteToken": "q"}]})

    async def push(self, request: Request) -> Response:
        rec = await self._record(request)
        scripted = self._scripted(rec)
        if scripted is not None:
            return scripted
        key = rec.headers.get("x-line-retry-key")
        if key and key in self.accepted_keys:
            return JSONResponse(
                {"message": "The retry key is already accepted"},
                status_code=409,
                headers={"x-line-accepted-request-id": self.accepted_keys[key]},
            )
        if key:
            self.accepted_keys[key] = f"req-{len(self.accepted_keys) + 1}"
        self.usage += 1
        self.shown.append((rec.body["to"], rec.body))
        return JSONResponse({"sentMessages": [{"id": "2", "quoteToken": "q"}]})

    async def quota(self, request: Request) -> Response:
        await self._record(request)
        if self.quota_limit is None:
            return JSONResponse({"type": "none"})
        return JSONResponse({"type": "limited", "value": self.quota_limit})

    async def consumption(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"totalUsage": self.usage})

    async def get_content(self, request: Request) -> Response:
        rec = await self._record(request)
        scripted = self._scripted(rec, "content")  # one script for every message id
        if scripted is not None:
            return scripted
        found = self.content.get(request.path_params["mid"])
        if found is None:
            return JSONResponse({"message": "Not found"}, status_code=404)
        return Response(found[0], media_type=found[1])

    async def loading(self, request: Request) -> Response:
        """The loading animation: 202 for a body LINE accepts (its schema, and seconds in
        steps of 5), 400 with LINE's message otherwise."""
        rec = await self._record(request)
        scripted = self._scripted(rec)
        if scripted is not None:
            return scripted
        try:
            check(rec.body, "ShowLoadingAnimationRequest")
            assert rec.body.get("loadingSeconds", 5) % 5 == 0, "loadingSeconds"
        except (AssertionError, ValidationError) as exc:
            return JSONResponse({"message": f"invalid request: {exc}"[:200]}, status_code=400)
        return JSONResponse({}, status_code=202)

    def _unauthorized(self, rec: Recorded) -> Response | None:
        given = rec.headers.get("authorization", "")
        if self.channel_token is not None and given != f"Bearer {self.channel_token}":
            return JSONResponse(
                {
                    "message": "Authentication failed. Confirm that the access token in the "
                    "authorization header is valid."
                },
                status_code=401,
            )
        return None

    async def bot_info(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._scripted(rec) or self._unauthorized(rec)
        if refused is not None:
            return refused
        return JSONResponse(
            {
                "userId": "Ubot",
                "basicId": "@nippo",
                "displayName": "Nippo",
                "chatMode": "bot",
                "markAsReadMode": "auto",
            }
        )

    async def webhook(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._scripted(rec) or self._unauthorized(rec)
        if refused is not None:
            return refused
        return JSONResponse({"endpoint": self.webhook_endpoint, "active": self.webhook_active})

    async def webhook_test(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._scripted(rec) or self._unauthorized(rec)
        if refused is not None:
            return refused
        if not self.webhook_endpoint:
            return JSONResponse({"message": "Webhook URL is not set"}, status_code=400)
        if self.channel_secret is not None:
            return JSONResponse(await self._deliver_test(self.channel_secret))
        ok = self.webhook_test_ok
        return JSONResponse(
            {
                "success": ok,
                "timestamp": "2026-07-01T00:00:00Z",
                "statusCode": 200 if ok else 502,
                "reason": "OK" if ok else "ERROR_STATUS_CODE",
                "detail": "200" if ok else "The webhook returned a status other than 200.",
            }
        )

    async def _deliver_test(self, secret: str) -> dict[str, Any]:
        """LINE's test delivery and its documented answer (reason OK, COULD_NOT_CONNECT,
        REQUEST_TIMEOUT or ERROR_STATUS_CODE)."""
        body = json.dumps({"destination": "Ubot", "events": []}).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Line-Signature": base64.b64encode(digest).decode(),
        }
        answer: dict[str, Any] = {"timestamp": "2026-07-01T00:00:00Z"}
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                r = await client.post(self.webhook_endpoint, content=body, headers=headers)
        except httpx.TimeoutException:
            return answer | {"success": False, "statusCode": 0, "reason": "REQUEST_TIMEOUT",
                             "detail": "The request timed out."}  # fmt: skip
        except httpx.HTTPError as exc:
            return answer | {"success": False, "statusCode": 0, "reason": "COULD_NOT_CONNECT",
                             "detail": str(exc) or type(exc).__name__}  # fmt: skip
        ok = r.status_code == 200
        return answer | {"success": ok, "statusCode": r.status_code,
                         "reason": "OK" if ok else "ERROR_STATUS_CODE",
                         "detail": str(r.status_code)}  # fmt: skip

    async def rich_menu(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._scripted(rec) or self._unauthorized(rec)
        if refused is not None:
            return refused
        if self.default_rich_menu is None:
            return JSONResponse({"message": "no default richmenu"}, status_code=404)
        return JSONResponse({"richMenuId": self.default_rich_menu})

    # --- rich menus: LINE's checks, so a menu LINE would refuse is refused here too ---------

    def _refused(self, rec: Recorded) -> Response | None:
        return self._scripted(rec) or self._unauthorized(rec)

    @staticmethod
    def _bad_request(message: str) -> Response:
        return JSONResponse({"message": message[:300]}, status_code=400)

    def _unknown_menu(self, rid: str) -> Response | None:
        if rid not in self.rich_menus:
            return JSONResponse({"message": "Not found"}, status_code=404)
        return None

    async def create_rich_menu(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._refused(rec)
        if refused is not None:
            return refused
        menu = rec.body
        try:
            check(menu, "RichMenuRequest")  # every action down to PostbackAction, no extras
            size = menu["size"]
            assert set(menu) == {"size", "selected", "name", "chatBarText", "areas"}, "fields"
            assert 800 <= size["width"] <= 2500 and size["height"] >= 250, "size"
            assert size["width"] / size["height"] >= 1.45, "aspect ratio"
            assert 1 <= len(menu["areas"]) <= 20, "areas"
            for area in menu["areas"]:
                b, action = area["bounds"], area["action"]
                assert b["x"] + b["width"] <= size["width"], "bounds.width"
                assert b["y"] + b["height"] <= size["height"], "bounds.height"
                assert len(action.get("label", "")) <= 20, "action.label"
                assert len(action.get("displayText", "")) <= 300, "action.displayText"
        except (AssertionError, ValidationError, KeyError, TypeError) as exc:
            return self._bad_request(f"The request body has 1 error(s): {exc}")
        rid = f"richmenu-{hashlib.sha256(json.dumps(menu).encode()).hexdigest()[:24]}"
        rid += f"{len(self.rich_menus):08x}"
        self.rich_menus[rid] = {"richMenuId": rid, **menu}
        return JSONResponse({"richMenuId": rid})

    async def upload_image(self, request: Request) -> Response:
        """api-data: the image must be a JPEG or PNG under 1 MB of the menu's own size, sent
        once (LINE does not replace a menu's image)."""
        raw = await request.body()
        rec = Recorded(request.method, request.url.path, dict(request.headers), raw)
        self.requests.append(rec)
        refused = self._refused(rec)
        rid = request.path_params["rid"]
        refused = refused or self._unknown_menu(rid)
        if refused is not None:
            return refused
        content_type = rec.headers.get("content-type", "")
        if content_type not in ("image/png", "image/jpeg"):
            return JSONResponse({"message": "Unsupported Media Type"}, status_code=415)
        if len(raw) > 1024 * 1024:
            return JSONResponse({"message": "Request Entity Too Large"}, status_code=413)
        if rid in self.rich_menu_images:
            return self._bad_request("An image has already been uploaded to the richmenu")
        try:
            with Image.open(io.BytesIO(raw)) as im:
                kind, size = im.format, im.size
        except (UnidentifiedImageError, OSError):
            return self._bad_request("Invalid image")
        menu_size = self.rich_menus[rid]["size"]
        expected = {"image/png": "PNG", "image/jpeg": "JPEG"}[content_type]
        if kind != expected or size != (menu_size["width"], menu_size["height"]):
            return self._bad_request(f"Invalid image: {kind} {size}")
        self.rich_menu_images[rid] = (raw, content_type)
        return JSONResponse({})

    async def set_default(self, request: Request) -> Response:
        rec = await self._record(request)
        rid = request.path_params["rid"]
        refused = self._refused(rec) or self._unknown_menu(rid)
        if refused is not None:
            return refused
        if rec.body:  # the call has no body in messaging-api.yml
            return self._bad_request("no request body is expected")
        if rid not in self.rich_menu_images:
            return self._bad_request("must upload richmenu image before applying it to user")
        self.default_rich_menu = rid
        return JSONResponse({})

    async def cancel_default(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._refused(rec)
        if refused is not None:
            return refused
        self.default_rich_menu = None
        return JSONResponse({})

    async def rich_menu_list(self, request: Request) -> Response:
        rec = await self._record(request)
        refused = self._refused(rec)
        if refused is not None:
            return refused
        return JSONResponse({"richmenus": list(self.rich_menus.values())})

    async def get_rich_menu(self, request: Request) -> Response:
        rec = await self._record(request)
        rid = request.path_params["rid"]
        refused = self._refused(rec) or self._unknown_menu(rid)
        if refused is not None:
            return refused
        return JSONResponse(self.rich_menus[rid])

    async def delete_rich_menu(self, request: Request) -> Response:
        rec = await self._record(request)
        rid = request.path_params["rid"]
        refused = self._refused(rec) or self._unknown_menu(rid)
        if refused is not None:
            return refused
        del self.rich_menus[rid]
        self.rich_menu_images.pop(rid, None)
        if self.default_rich_menu == rid:
            self.default_rich_menu = None
        return JSONResponse({})


def _listening_socket() -> socket.socket:
    """A free loopback port. TCP_NODELAY is set here because connections accepted on a
    socket handed to uvicorn otherwise wait ~40 ms on Nagle + delayed ACK per response."""
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class FakeLineServer:
    """Runs a FakeLine under uvicorn on a free loopback port for the test's duration."""

    def __init__(self, fake: FakeLine) -> None:
        self.fake = fake
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FakeLine:
        sock = _listening_socket()
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.fake.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 - a tiny poll until uvicorn listens
            await asyncio.sleep(0.01)
        self.fake.url = f"http://127.0.0.1:{port}"
        return self.fake

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task


class FakeLineThread:
    """The same fake on its own thread and loop, for synchronous callers such as the CLI."""

    def __init__(self, fake: FakeLine) -> None:
        self.fake = fake
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeLine:
        sock = _listening_socket()
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.fake.app, log_level="warning", lifespan="off")
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        while not server.started:
            time.sleep(0.01)
        self.fake.url = f"http://127.0.0.1:{port}"
        return self.fake

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)
