"""axe-core (the npm package) for the browser tests' accessibility check: from NIPPO_AXE_JS
(a path to axe.min.js), else fetched once per run with `npm pack` (the registry's ordinary
client), else None."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

AXE = "axe-core@4.10"


def axe_source(directory: Path) -> str | None:
    given = os.environ.get("NIPPO_AXE_JS")
    if given:
        return Path(given).read_text(encoding="utf-8")
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        subprocess.run(
            [npm, "pack", AXE, "--silent", "--pack-destination", str(directory)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError):
        return None
    [archive] = directory.glob("axe-core-*.tgz")
    with tarfile.open(archive) as tar:
        member = tar.extractfile("package/axe.min.js")
        return member.read().decode("utf-8") if member is not None else None
