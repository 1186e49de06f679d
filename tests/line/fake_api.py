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
import json
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


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
