"""The dask test pattern: skip when dask.distributed is missing, fail instead when CI requires it
(``EVALKIT_REQUIRE_DASK=1``), and a 2-worker ``LocalCluster`` client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def require_dask() -> Any:
    """The ``distributed`` module, or skip (fail under ``EVALKIT_REQUIRE_DASK=1``) when it is not installed."""
    try:
        import distributed
    except ImportError:
        message = "dask.distributed is not installed; install the extra with `pip install evalkit[dask]`."
        if os.environ.get("EVALKIT_REQUIRE_DASK") == "1":
            pytest.fail(f"EVALKIT_REQUIRE_DASK=1 but {message}", pytrace=False)
        pytest.skip(message)
    return distributed


@contextmanager
def local_client(processes: bool = False) -> Iterator[Any]:
    """A client of a 2-worker ``LocalCluster`` (one thread each; threads in this process, or two processes)."""
    distributed = require_dask()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
