"""Exceptions raised by evalkit.

Every exception derives from :class:`EvalkitError` and from the matching built-in exception, so that
``except ValueError`` keeps working for callers who do not know evalkit. Messages name the column, the value and
what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ColumnNotFoundError",
    "DataError",
    "DesignError",
    "EstimationError",
    "EvalkitError",
    "InferenceError",
    "KeywordError",
    "OptionError",
    "ResourceLimitError",
]


class EvalkitError(Exception):
    """Base class of every error evalkit raises on purpose."""


class DataError(EvalkitError, ValueError):
    """The data cannot be used as given (missing values everywhere, no variation, wrong type)."""


class ColumnNotFoundError(DataError, KeyError):
    """A column named in a call is not in the DataFrame."""

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class DesignError(EvalkitError, ValueError):
    """The design is not consistent: a block with no treated unit, a treatment that varies within a cluster, ..."""


class OptionError(EvalkitError, ValueError):
    """An option has a value outside the allowed set."""


class KeywordError(OptionError, TypeError):
    """A call got a keyword argument it does not accept; the message names the closest one it does accept.

    Also a :class:`TypeError`, which is what Python raises for an unexpected keyword argument.
    """


class EstimationError(EvalkitError, ValueError):
    """The model cannot be estimated (collinear regressors, too few observations, ...)."""


class InferenceError(EvalkitError, ValueError):
    """The requested inference cannot be carried out for this design (e.g. randomization inference on a
    non-randomized design, or cluster-robust errors with one cluster)."""


class ResourceLimitError(InferenceError):
    """A resampling run cannot finish on this machine: the memory or time it needs, estimated before the long loop,
    is beyond what is available. The message gives the estimate and what to change (fewer ``reps``, a smaller
    ``batch_size``)."""
