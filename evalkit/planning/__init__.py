"""Power, minimum detectable effect and sample size for randomized trials and two-period DiD designs.

>>> import evalkit as ek
>>> res = ek.planning.mde(n_clusters=180, cluster_size=28, icc=0.07, r2_cluster=0.3, n_cluster_covariates=1)
>>> res.to_frame()  # doctest: +SKIP
>>> res.plot()  # doctest: +SKIP
"""

from __future__ import annotations

from evalkit.planning.api import mde, power, sample_size
from evalkit.planning.results import PlanningInputs, PlanningResult

__all__ = ["PlanningInputs", "PlanningResult", "mde", "power", "sample_size"]
