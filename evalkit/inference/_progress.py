"""Progress bars of the resampling methods: ``tqdm.auto``, shown in terminals and notebooks for long runs.

``progress=None`` (the default of every resampling method) shows a bar when the run is interactive (standard error
is a terminal, or the code runs in a Jupyter/IPython kernel, where ``sys.stderr`` is not a terminal but the bar is
drawn in the notebook) and the work is large enough to take more than a few seconds; ``True`` always shows it and
``False`` never. tqdm is a dependency, but a missing tqdm only hides the bar.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from evalkit.errors import OptionError

__all__ = ["check_progress", "interactive", "progress_bar", "show_progress"]


def check_progress(progress: object) -> None:
    """Raise :class:`~evalkit.errors.OptionError` unless ``progress`` is True, False or None."""
    if progress is not None and not isinstance(progress, bool | np.bool_):
        raise OptionError(f"progress={progress!r} must be True, False or None (automatic).")


def interactive() -> bool:
    """True in a terminal (standard error is a tty) or in a Jupyter/IPython kernel (a notebook)."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a replaced or closed stream
        pass
    ipython = sys.modules.get("IPython")  # never imported here: only a running IPython has it loaded
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_progress(progress: bool | None, work: float, threshold: float) -> bool:
    """Whether to draw a bar: ``progress`` if given, else an interactive run with ``work >= threshold``."""
    if progress is not None:
        return bool(progress)
    return work >= threshold and interactive()


@contextmanager
def progress_bar(total: int, show: bool, desc: str, unit: str = "draw") -> Iterator[Callable[[int], None]]:
    """A ``tqdm.auto`` bar of ``total`` steps; yields its ``update(n)`` (a no-op when not shown)."""
    if not show:
        yield _no_update
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency; a broken install only hides the bar
        yield _no_update
        return
    with tqdm(total=total, desc=desc, unit=unit) as bar:
        yield bar.update


def _no_update(n: int) -> None:
    """The update of a bar that is not shown."""
