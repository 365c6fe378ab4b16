"""Convenience functions: draw the assignment of a new study, or build a trial's default assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from evalkit._boundary import as_pandas, known_keywords
from evalkit._validation import require_columns
from evalkit.designs._roles import require_hashable
from evalkit.designs.assignment.blocked import BlockRandomization
from evalkit.designs.assignment.bound import BoundAssignment, GeneratedAssignment
from evalkit.designs.assignment.cluster import BlockClusterRandomization, ClusterRandomization
from evalkit.designs.assignment.complete import CompleteRandomization
from evalkit.designs.assignment.spec import AssignmentSpec
from evalkit.errors import DesignError, OptionError

__all__ = ["assign", "from_observed"]


@known_keywords
def assign(
    data: pd.DataFrame,
    spec: AssignmentSpec,
    *,
    blocks: str | None = None,
    clusters: str | None = None,
    seed: int | np.random.SeedSequence,
) -> GeneratedAssignment:
    """Draw a random assignment for the rows of ``data`` (which is not changed).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation. A polars (or pyarrow, or any) frame with ``to_pandas()``, the Arrow stream or
        the dataframe interchange protocol is converted.
    spec : AssignmentSpec
        How to assign, e.g. ``CompleteRandomization(n_treated=41)`` or ``BlockRandomization(share=2/3)``. The
        spec must state ``n_treated`` or ``share``: there is no observed treatment to take the number from.
    blocks, clusters : str, optional
        Columns holding the block and cluster labels.
    seed : int or numpy.random.SeedSequence
        Seed; the same seed gives an identical assignment and record.

    Returns
    -------
    GeneratedAssignment
        ``treatment`` is a bool :class:`pandas.Series` named ``"treatment"`` aligned to ``data.index``.

    Examples
    --------
    >>> import pandas as pd
    >>> kids = pd.DataFrame({"child": range(60)})
    >>> out = assign(kids, CompleteRandomization(n_treated=41), seed=1)
    >>> int(out.treatment.sum())
    41
    """
    if not isinstance(spec, AssignmentSpec):
        raise OptionError(
            f"spec must be an assignment spec such as ek.CompleteRandomization(n_treated=...), got {spec!r}."
        )
    data = as_pandas(data)
    columns = [c for c in (blocks, clusters) if c is not None]
    require_columns(data, columns, role="column")
    for column, role in ((blocks, "blocks"), (clusters, "clusters")):
        if column is not None:
            require_hashable(data, column, role)
    if spec._randomized and spec._n_treated() is None and spec._share() is None:
        raise DesignError(
            f"{type(spec).__name__}() does not say how many to treat; state n_treated=... or share=... "
            "(there is no observed treatment to take it from when assigning a new study)."
        )
    bound = spec.bind(
        len(data),
        blocks=None if blocks is None else data[blocks].to_numpy(),
        clusters=None if clusters is None else data[clusters].to_numpy(),
        data=data,
    )
    generated = bound.generate(seed)
    series = pd.Series(np.array(generated.treatment), index=data.index, name="treatment", dtype=bool)
    return GeneratedAssignment(treatment=series, record=generated.record)


def from_observed(
    treatment: ArrayLike,
    blocks: ArrayLike | None = None,
    clusters: ArrayLike | None = None,
) -> BoundAssignment:
    """The default assignment of a randomized trial, read from the observed treatment.

    Complete randomization within each block (if ``blocks`` is given), with clusters as the units of
    assignment (if ``clusters`` is given), and the observed number treated in each block.

    Parameters
    ----------
    treatment : array-like
        Observed 0/1 treatment of each observation.
    blocks, clusters : array-like, optional
        Block and cluster labels of each observation.

    Returns
    -------
    BoundAssignment
        Bound :class:`CompleteRandomization`, :class:`BlockRandomization`, :class:`ClusterRandomization` or
        :class:`BlockClusterRandomization`.
    """
    spec: AssignmentSpec
    if blocks is not None and clusters is not None:
        spec = BlockClusterRandomization()
    elif blocks is not None:
        spec = BlockRandomization()
    elif clusters is not None:
        spec = ClusterRandomization()
    else:
        spec = CompleteRandomization()
    return spec.bind(blocks=blocks, clusters=clusters, observed=treatment)
