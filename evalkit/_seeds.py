"""The seed a resampling method actually uses, so that it can be recorded and the run repeated bit for bit.

Every resampling method (randomization inference, the wild cluster bootstrap, the bootstrap behind
``Results.adjust``, Callaway–Sant'Anna's multiplier bootstrap) turns its ``seed`` argument into a random stream
through :func:`seed_to_use`. When no seed is given it draws one integer of fresh operating-system entropy
(``numpy.random.SeedSequence().entropy``), seeds the stream with that integer and records it; passing the recorded
integer back as ``seed=`` gives the same stream, because ``numpy.random.default_rng(n)`` and
``numpy.random.default_rng(numpy.random.SeedSequence(n))`` are the same generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["recordable_seed", "seed_to_use"]


def seed_to_use(seed: Any) -> Any:
    """``seed`` itself when given (int, SeedSequence or Generator), else a fresh int of OS entropy.

    Parameters
    ----------
    seed : int, numpy.random.SeedSequence, numpy.random.Generator or None

    Returns
    -------
    int, SeedSequence or Generator
        Pass it to ``numpy.random.default_rng``; record :func:`recordable_seed` of it.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, int | np.integer):
        return int(seed)
    return seed


def recordable_seed(seed: Any) -> int | str | None:
    """What to record for a seed from :func:`seed_to_use`: an int that repeats the run when passed back as ``seed``.

    A ``SeedSequence`` without a spawn key is recorded as its integer entropy; a spawned sequence or a
    ``Generator`` (whose state cannot be summarized by one integer) is recorded as its ``repr``; None stays None.
    """
    if seed is None:
        return None
    if isinstance(seed, int | np.integer):
        return int(seed)
    if isinstance(seed, np.random.SeedSequence) and not seed.spawn_key and isinstance(seed.entropy, int):
        return int(seed.entropy)
    return repr(seed)
