"""X-Forwarded-* behind a reverse proxy (issue #22): `nippo serve` believes X-Forwarded-For and
X-Forwarded-Proto from FORWARDED_ALLOW_IPS only (read from `.env` like every setting), and the
compose recipe allows exactly the address it gives Caddy.

The client address is what OPERATOR_NETWORKS compares, so /metrics shows whose address Nippo
saw; the scheme shows in the Location of the redirect every app gives for a trailing slash.
Requests come from two loopback addresses: 127.0.0.3 stands for the proxy, 127.0.0.1 for
anyone else on the network who reaches port 8000 directly."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bot.app.settings import Settings
from tests.faults.server import Server

pytestmark = pytest.mark.slow  # a real `nippo serve` process

ROOT = Path(__file__).resolve().parents[2]
PROXY, OTHER = "127.0.0.3", "127.0.0.1"
CLIENT = "203.0.113.7"  # the member's or operator's address, as the proxy forwards it


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Server]:
    for name in Settings.model_fields:  # `.env` alone configures the server
        monkeypatch.delenv(name.upper(), raising=False)
    (tmp_path / ".env").write_text(
        f"DATABASE_URL={db_url}\nSCHEDULER_ENABLED=false\n"
        f"FORWARDED_ALLOW_IPS={PROXY}\nOPERATOR_NETWORKS=203.0.113.0/24\n",
        encoding="utf-8",
    )
    server = Server({}, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _get(server: Server, source: str, path: str, **headers: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(f"{server.url}{path}", headers=headers)


def test_forwarded_headers_count_from_the_allowed_proxy_only(served: Server) -> None:
    forwarded = {"x-forwarded-for": CLIENT, "x-forwarded-proto": "https"}
    # through the proxy: Nippo sees the client's address and HTTPS
    assert _get(served, PROXY, "/metrics", **forwarded).status_code == 200
    moved = _get(served, PROXY, "/healthz/", host="nippo.example.jp", **forwarded)
    assert moved.status_code == 307
    assert moved.headers["location"] == "https://nippo.example.jp/healthz"
    # the proxy's own request is the proxy's
    assert _get(served, PROXY, "/metrics").status_code == 403
    # anyone else claiming to be forwarded is taken for who they are, over plain HTTP
    assert _get(served, OTHER, "/metrics", **forwarded).status_code == 403
    moved = _get(served, OTHER, "/healthz/", host="nippo.example.jp", **forwarded)
    assert moved.headers["location"] == "http://nippo.example.jp/healthz"


def test_the_compose_recipe_allows_caddys_address_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    app, caddy = compose["services"]["app"], compose["services"]["caddy"]
    caddy_address = caddy["networks"]["default"]["ipv4_address"]
    assert app["environment"]["FORWARDED_ALLOW_IPS"] == caddy_address  # not from .env
    network = compose["networks"]["default"]["ipam"]["config"][0]
    address = ipaddress.ip_address(caddy_address)
    assert address in ipaddress.ip_network(network["subnet"])
    assert address not in ipaddress.ip_network(network["ip_range"])  # never handed to another
    caddyfile = (ROOT / "Caddyfile").read_text(encoding="utf-8")
    assert re.search(r"^\s*reverse_proxy app:8000\b", caddyfile, flags=re.M)
    assert any(str(p).endswith(":8000") for p in app["ports"])
