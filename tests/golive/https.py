"""HTTPS on loopback, for tests that reach Nippo the way LINE and Slack do.

- `make_certificates`: a throwaway certificate authority and a server certificate for
  127.0.0.1 and localhost. Clients trust it through SSL_CERT_FILE (httpx reads it), as a
  facility behind its own CA would; without it they refuse the certificate, as LINE would.
- `Threaded`: any ASGI app under uvicorn on its own thread, on a free loopback port, over
  HTTPS when given certificates.
- `Front`: a reverse proxy standing where Caddy or a tunnel stands: it terminates TLS, passes
  Host through, sets X-Forwarded-For/-Proto/-Host, and answers 502 when nothing answers
  behind it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what clients trust (SSL_CERT_FILE)
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nippo test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    found = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    found.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    found.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return found


def free_socket() -> socket.socket:
    """A bound loopback socket, so a server's URL is known before the app exists. TCP_NODELAY
    as in tests/line/fake_api.py (otherwise ~40 ms per response on Nagle + delayed ACK)."""
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Threaded:
    """`with Threaded(app, certificates=…) as server:` serves `app` at `server.url`. The URL is
    known from construction on; `app` may be given later (`serve(app)`)."""

    def __init__(
        self,
        app: Any = None,
        *,
        certificates: Certificates | None = None,
        lifespan: Literal["on", "off"] = "off",
    ) -> None:
        self.app = app
        self.certificates = certificates
        self.lifespan = lifespan
        self.sock = free_socket()
        port = self.sock.getsockname()[1]
        self.url = f"{'https' if certificates else 'http'}://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def serve(self, app: Any) -> Threaded:
        self.app = app
        return self

    def __enter__(self) -> Threaded:
        tls: dict[str, Any] = {}
        if self.certificates is not None:
            tls = {
                "ssl_certfile": str(self.certificates.cert),
                "ssl_keyfile": str(self.certificates.key),
            }
        config = uvicorn.Config(self.app, log_level="warning", lifespan=self.lifespan, **tls)
        server = self._server = uvicorn.Server(config)
        sock = self.sock
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server for {self.url} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self.sock.close()


# Headers that belong to one connection, not to the request (RFC 9110 §7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


class Front:
    """What Caddy's `reverse_proxy` does, for the requests Nippo gets: the original Host, the
    client's address in X-Forwarded-For, https in X-Forwarded-Proto; 502 with nothing behind."""

    def __init__(self, upstream: str = "") -> None:
        self.upstream = upstream  # http://127.0.0.1:PORT of `nippo serve`; may change
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self.forward,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                )
            ]
        )

    async def forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["x-forwarded-for"] = request.client.host if request.client else ""
        headers["x-forwarded-proto"] = "https"
        headers["x-forwarded-host"] = request.headers.get("host", "")
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.request(
                    request.method,
                    f"{self.upstream}{request.url.path}",
                    params=request.url.query,
                    content=await request.body(),
                    headers=headers,
                )
        except httpx.HTTPError:
            return Response(status_code=502)
        kept = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in HOP_BY_HOP | {"content-encoding"}  # httpx decoded the body
        }
        return Response(answer.content, answer.status_code, headers=kept)
