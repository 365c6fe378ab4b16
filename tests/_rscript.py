"""Running the R scripts of the live-R reference tier (``tests/r_reference``): one helper for every test there.

Without ``Rscript`` on PATH the calling test skips, with the apt-get line that installs R and the packages; with the
environment variable ``EVALKIT_REQUIRE_R=1`` (set by ``.ci/run``) a missing R fails instead, so CI cannot pass by
skipping the tier.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = (
    "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
    "r-base-core r-cran-estimatr r-cran-clubsandwich r-cran-sandwich r-cran-jsonlite"
)


def run_rscript(script: Path, *args: Path | str, timeout: float = 600) -> None:
    """``Rscript --vanilla script args...``; skips (fails under ``EVALKIT_REQUIRE_R=1``) without R, fails on error."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        message = f"Rscript not found on PATH; the live-R reference tier needs R. Install it with: {INSTALL}"
        if os.environ.get("EVALKIT_REQUIRE_R") == "1":
            pytest.fail(f"EVALKIT_REQUIRE_R=1 but {message}", pytrace=False)
        pytest.skip(message)
    done = subprocess.run(
        [rscript, "--vanilla", str(script), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        pytest.fail(f"{Path(script).name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}", pytrace=False)
