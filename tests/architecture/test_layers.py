"""The import contracts hold the layers apart: a planted violation must break them.

The tree is copied as it is, one import is planted, and import-linter (the same command CI
runs) must fail on the copy, naming the contract that broke.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "adapters", "storage", "scheduler")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(tool), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        # A use case that reaches for the Slack adapter (it passed all three old contracts).
        ("bot/services/alert_actions.py", "from adapters.slack import blocks", "platform"),
        # The pure core reading the database.
        ("bot/core/dialog.py", "from storage import repo", "pure"),
        # A read model calling the composition root.
        ("bot/queries/board.py", "from bot.app import settings", "Layers"),
    ],
)
def test_a_planted_layer_violation_breaks_the_contracts(
    tree: Path, module: str, planted: str, contract: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{planted}  # noqa: E402, F401\n")
    result = _lint_imports(tree)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
