"""The base class of assignment specs and the checks their subclasses share."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from evalkit._boundary import KnownKeywords
from evalkit.designs.assignment._base import (
    AssignmentMethod,
    as_binary,
    check_count,
    check_length,
    check_share,
    is_int,
    to_1d,
)
from evalkit.designs.assignment.bound import BoundAssignment
from evalkit.errors import DataError, DesignError

__all__ = ["AssignmentSpec", "spec_hash", "validate_counts"]


@dataclass(frozen=True)
class AssignmentSpec(KnownKeywords):
    """Base class of assignment specs: settings only; :meth:`bind` joins them to the data.

    Subclasses are frozen dataclasses that validate their settings when created.
    """

    _uses_blocks: ClassVar[bool] = False
    _uses_clusters: ClassVar[bool] = False
    _randomized: ClassVar[bool] = True
    _method: ClassVar[AssignmentMethod] = "complete"

    @property
    def method(self) -> AssignmentMethod:
        """``"complete"``, ``"blocked"``, ``"cluster"``, ``"blocked-cluster"`` or ``"not randomized"``."""
        return self._method

    def _n_treated(self) -> int | Mapping[Hashable, int] | None:
        return getattr(self, "n_treated", None)

    def _share(self) -> float | None:
        return getattr(self, "share", None)

    def bind(
        self,
        n_obs: int | None = None,
        *,
        blocks: ArrayLike | None = None,
        clusters: ArrayLike | None = None,
        observed: ArrayLike | None = None,
        data: pd.DataFrame | None = None,
    ) -> BoundAssignment:
        """Join the spec to the units of a data set.

        Parameters
        ----------
        n_obs : int, optional
            Number of observations. Taken from ``blocks``, ``clusters`` or ``observed`` when not given.
        blocks : array-like, optional
            Block label of each observation (any hashable labels). Required by blocked specs, ignored by
            others.
        clusters : array-like, optional
            Cluster label of each observation; clusters are the units of assignment. Required by cluster
            specs, ignored by others.
        observed : array-like, optional
            Observed 0/1 treatment of each observation. Required when the spec leaves the number treated to
            the data (``n_treated=None`` and ``share=None``); otherwise it is checked against the spec.
        data : pandas.DataFrame, optional
            The design's data, one row per observation. Ignored by these specs; specs whose mechanism reads
            covariates (:class:`~evalkit.designs.rerandomization.Rerandomization`) need it.

        Returns
        -------
        BoundAssignment

        Raises
        ------
        DesignError
            If a needed argument is missing, a cluster lies in two blocks, the observed treatment varies
            within a cluster, a block lacks treated or control units, or the counts do not fit the blocks.
        DataError
            If labels or the treatment have missing values or lengths differ.
        """
        name = type(self).__name__
        if self._uses_blocks and blocks is None:
            raise DesignError(
                f"{name} assigns treatment within blocks; pass blocks=... (one block label per observation)."
            )
        if self._uses_clusters and clusters is None:
            raise DesignError(f"{name} assigns whole clusters; pass clusters=... (one cluster label per observation).")
        arrays: dict[str, np.ndarray] = {}
        for arg, values in (("blocks", blocks), ("clusters", clusters), ("observed", observed)):
            if values is not None:
                arrays[arg] = to_1d(values, arg)
        if n_obs is None:
            if not arrays:
                raise DesignError(
                    f"{name}.bind needs the number of observations: pass n_obs=..., or blocks, clusters or observed."
                )
            n_obs = next(iter(arrays.values())).shape[0]
        elif not is_int(n_obs) or n_obs < 1:
            raise DataError(f"n_obs={n_obs!r} must be a positive int.")
        n_obs = int(n_obs)
        for arg, arr in arrays.items():
            check_length(arr, n_obs, arg)
        obs_treat = None if observed is None else as_binary(arrays["observed"], n_obs, "observed")
        return BoundAssignment._build(self, n_obs, arrays.get("blocks"), arrays.get("clusters"), obs_treat)


def validate_counts(spec: AssignmentSpec, allow_mapping: bool) -> None:
    n_treated = spec._n_treated()
    share = check_share(spec._share())
    object.__setattr__(spec, "share", share)
    if n_treated is not None and share is not None:
        raise DesignError(
            f"{type(spec).__name__}(n_treated={n_treated!r}, share={share!r}): give n_treated or share, not both."
        )
    if n_treated is None:
        return
    if isinstance(n_treated, Mapping):
        if not allow_mapping:
            raise DesignError(
                f"{type(spec).__name__} has no blocks; n_treated must be one int, not a mapping. Use "
                "BlockRandomization or BlockClusterRandomization for counts per block."
            )
        if not n_treated:
            raise DesignError("n_treated is an empty mapping; give a count for every block.")
        checked = {key: check_count(val, f"n_treated[{key!r}]") for key, val in n_treated.items()}
        object.__setattr__(spec, "n_treated", MappingProxyType(checked))
    else:
        object.__setattr__(spec, "n_treated", check_count(n_treated, "n_treated"))


def spec_hash(spec: AssignmentSpec) -> int:
    n_treated = spec._n_treated()
    key = frozenset(n_treated.items()) if isinstance(n_treated, Mapping) else n_treated
    return hash((type(spec).__name__, key, spec._share()))
