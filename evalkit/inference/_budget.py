"""Up-front checks that a resampling run can finish: its memory before the loop, its time after the first batch.

Randomization inference and the wild cluster bootstrap resample in batches, so their memory is what they keep for
every draw (a few numbers per draw, needed for the p-value and the inverted interval) plus one batch's work arrays,
whatever the number of draws. :func:`check_memory` refuses, before anything is drawn, a run whose estimate exceeds
the memory available; :class:`TimeBudget` times the first batch and refuses a run projected to take longer than
:data:`MAX_SECONDS`. Both raise :class:`~evalkit.errors.ResourceLimitError` with the estimate and the fix; nothing
else is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from evalkit.errors import ResourceLimitError

__all__ = ["MAX_SECONDS", "TimeBudget", "available_memory", "check_memory", "show_bytes", "show_seconds"]

#: A run projected (from its first batch) to take longer than this many seconds is refused.
MAX_SECONDS = 24 * 3600.0


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def show_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it at least 1 (``"12.6 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - the loop returns


def show_seconds(s: float) -> str:
    """``s`` seconds as seconds, minutes, hours or days."""
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 172_800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86_400:.1f} days"


def check_memory(what: str, draws: int, per_draw: int, batch_bytes: int, fix: str) -> None:
    """Refuse when ``draws * per_draw + batch_bytes`` exceeds the memory available (never when it is unknown).

    Parameters
    ----------
    what : str
        The run, as named in the message (``"randomization inference with reps=10,000"``).
    draws : int
        Draws (or enumerated assignments) whose statistics are kept.
    per_draw : int
        Bytes kept per draw (statistics, and the temporaries of the p-value and interval search).
    batch_bytes : int
        Bytes of one batch's work arrays.
    fix : str
        What to change, appended to the message.

    Raises
    ------
    ResourceLimitError
        If the estimate exceeds :func:`available_memory`.
    """
    need = int(draws) * int(per_draw) + int(batch_bytes)
    avail = available_memory()
    if avail is not None and need > avail:
        raise ResourceLimitError(
            f"{what} would need about {show_bytes(need)} of memory ({show_bytes(per_draw)} kept for each of "
            f"{draws:,} draws plus {show_bytes(batch_bytes)} per batch), more than the {show_bytes(avail)} "
            f"available, so it cannot finish; {fix}"
        )


@dataclass
class TimeBudget:
    """Times the first batch of a run and refuses a run projected to take longer than :data:`MAX_SECONDS`.

    Call :meth:`start` before the first batch and :meth:`first_batch` after it with the number of draws it held.
    ``parallel`` batches run at once (a dask client's threads), so the projection divides by it.
    """

    what: str
    total: int
    fix: str
    limit: float = field(default_factory=lambda: MAX_SECONDS)
    parallel: int = 1
    _t0: float = 0.0
    _checked: bool = False

    def start(self) -> None:
        """Start the clock."""
        self._t0 = time.perf_counter()

    def first_batch(self, done: int) -> None:
        """Project the run's time from the first ``done`` draws; raise when it is beyond the limit (once)."""
        if self._checked or done <= 0:
            return
        self._checked = True
        elapsed = time.perf_counter() - self._t0
        projected = elapsed * self.total / done / max(self.parallel, 1)
        if projected > self.limit:
            raise ResourceLimitError(
                f"{self.what} would take about {show_seconds(projected)} ({show_seconds(elapsed)} for the first "
                f"{done:,} of {self.total:,} draws), more than the {show_seconds(self.limit)} a run is allowed, so "
                f"it was stopped after the first batch; {self.fix}"
            )
