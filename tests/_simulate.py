"""Shared skeletons of the simulated designs several test modules build (one copy, so they cannot drift)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def community_panel(rng: np.random.Generator, n_comm: int, per_comm: int, periods: int, start: int) -> pd.DataFrame:
    """Households (``per_comm`` per community) observed in waves ``0..periods-1``; communities in 3 districts, half
    of each district's communities treated from wave ``start`` on. Columns: household, wave, community, district,
    treated. Draws from ``rng`` only to pick the treated communities, so callers continue the same stream."""
    comm = np.arange(n_comm)
    district = comm % 3
    treated_comm = np.zeros(n_comm, dtype=bool)
    for b in range(3):
        members = comm[district == b]
        treated_comm[rng.choice(members, members.size // 2, replace=False)] = True
    hh = np.arange(n_comm * per_comm)
    rows = pd.DataFrame({"household": np.repeat(hh, periods), "wave": np.tile(np.arange(periods), hh.size)})
    rows["community"] = (hh // per_comm)[rows.household]
    rows["district"] = district[rows.community]
    rows["treated"] = (treated_comm[rows.community] & (rows.wave >= start)).astype(int)
    return rows
