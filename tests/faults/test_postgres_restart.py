"""PostgreSQL restarts under a running server: it recovers by itself."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.server import Server


def _restart_postgres() -> None:
    version = sorted(Path("/etc/postgresql").iterdir())[0].name
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        timeout=60,
    )


def test_server_recovers_after_a_postgres_restart(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("runs in the PostgreSQL pass")
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("needs a local PostgreSQL cluster this test may restart")
    server = Server({"DATABASE_URL": db_url}, tmp_path)
    server.start()
    try:
        _restart_postgres()
        # The same process answers healthy again once PostgreSQL is back: no restart of ours.
        deadline = time.monotonic() + 30
        codes = []
        while time.monotonic() < deadline:
            try:
                codes.append(httpx.get(f"{server.url}/healthz", timeout=3).status_code)
            except httpx.HTTPError:
                codes.append(0)
            if codes[-1] == 200:
                break
            time.sleep(0.3)
        assert codes[-1] == 200
        assert server.proc is not None and server.proc.poll() is None
    finally:
        server.stop()
