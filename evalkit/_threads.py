"""BLAS thread control for thin matrix products.

A product such as ``(n x k) @ (k x B)`` with small ``k`` is memory-bound: one thread does it as fast as two, and
when the other core is busy a multi-threaded BLAS waits for it, which was measured to slow such products up to
100-fold. Resampling loops (randomization inference, the wild bootstrap, simulation) therefore run their products
inside :func:`single_threaded_blas`, and so do least-squares fits and sandwiches of designs with at most
:data:`THIN_COLUMNS` columns (:func:`thin_blas`), whatever their number of rows. The limit is process-wide while
the context is open and restored on exit.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import lru_cache
from typing import Any

import numpy as np  # noqa: F401  (load numpy's BLAS before the controller looks for it)
import scipy.linalg  # noqa: F401  (and scipy's)
from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded_blas() -> Any:
    """Context manager limiting every loaded BLAS to one thread (``threadpoolctl``), restored on exit.

    Examples
    --------
    >>> from evalkit._threads import single_threaded_blas
    >>> with single_threaded_blas():
    ...     pass
    """
    return _controller().limit(limits=1, user_api="blas")


#: Widest design (number of columns) whose least-squares fit and sandwich run on one BLAS thread (:func:`thin_blas`).
THIN_COLUMNS = 64


def thin_blas(k: int) -> Any:
    """:func:`single_threaded_blas` for a design of ``k <= THIN_COLUMNS`` columns, else a context that does nothing.

    Products and SVDs of an ``(n, k)`` matrix with small ``k`` are memory-bound; on one thread they take the same
    time on a quiet machine and do not wait for a busy second core.
    """
    return single_threaded_blas() if k <= THIN_COLUMNS else nullcontext()
