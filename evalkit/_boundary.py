"""The public boundary: data frames from other libraries, treatment labels as researchers have them, keyword names.

Three conversions happen once, where a call enters evalkit, so that nothing below the boundary needs to know
about them:

* :func:`as_pandas` turns a polars (or pyarrow, or any) data frame into a pandas one: through its
  ``to_pandas()`` method, the Arrow PyCapsule stream (``__arrow_c_stream__``) or the dataframe interchange
  protocol (``__dataframe__``). No frame library is imported here; polars and pyarrow stay optional.
* :func:`code_treatment` turns a two-valued categorical or string treatment ("treatment"/"control", a Stata value
  label) into 0/1, given ``treated_value`` or the order of an ordered categorical.
* :func:`known_keywords` (functions and methods) and :func:`check_keywords` (settings classes) turn an unknown
  keyword argument into an :class:`~evalkit.errors.OptionError` that names the closest accepted keyword.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from evalkit.errors import DataError, EvalkitError, KeywordError

__all__ = ["KnownKeywords", "as_pandas", "check_keywords", "code_treatment", "known_keywords", "private_copy"]

F = TypeVar("F", bound=Callable[..., Any])

#: Keyword names other packages use (R did / estimatr / randomizr, Stata, pyfixest) and evalkit's name for them.
#: They are suggested only when the evalkit name is a keyword of the function that was called.
KEYWORD_ALIASES: dict[str, str] = {
    "control_group": "control",
    "comparison": "control",
    "cluster": "clusters",
    "cluster_var": "clusters",
    "clustervar": "clusters",
    "vce": "inference",
    "se": "inference",
    "se_type": "inference",
    "block": "blocks",
    "strata": "blocks",
    "stratum": "blocks",
    "weight": "weights",
    "weightsname": "weights",
    "covariate": "covariates",
    "controls": "covariates",
    "xformla": "covariates",
    "treat": "treatment",
    "treated": "treatment",
    "d": "treatment",
    "instrument": "take_up",
    "endog": "take_up",
    "idname": "unit",
    "id": "unit",
    "tname": "time",
    "period": "time",
    "gname": "cohort",
    "group": "cohort",
    "first_treat": "cohort",
    "yname": "outcome",
    "y": "outcome",
    "est_method": "method",
    "aggte": "aggregate",
    "B": "reps",
    "biters": "reps",
    "nboot": "reps",
    "n_boot": "reps",
    "sims": "reps",
    "random_state": "seed",
    "rng": "seed",
}


#: Keywords of other packages whose evalkit counterpart is not a plain rename: the sentence that replaces "Did you
#: mean ...?" when the counterpart is a keyword of the function called.
KEYWORD_EXPLANATIONS: dict[str, tuple[str, str]] = {
    "instrument": (
        "take_up",
        "The instrument is the design's randomized treatment (the treatment column the design was built with), so "
        "it needs no keyword; take_up= names the treatment actually received (with estimator='iv'), e.g. "
        "estimate(outcome, estimator='iv', take_up='attended'). ",
    ),
}


def check_keywords(owner: str, given: Iterable[str], accepted: Iterable[str]) -> None:
    """Raise :class:`~evalkit.errors.KeywordError` for the first of ``given`` that is not in ``accepted``.

    The message names the closest accepted keyword: the evalkit name of a keyword other packages use
    (:data:`KEYWORD_ALIASES`; a sentence of :data:`KEYWORD_EXPLANATIONS` instead where the counterpart is not a plain
    rename), else the nearest spelling (:func:`difflib.get_close_matches`, ratio >= 0.6), else a
    keyword the name is a prefix of; and it lists every accepted keyword.

    Raises
    ------
    KeywordError
        An :class:`~evalkit.errors.OptionError` that is also a :class:`TypeError` (what Python raises for an
        unknown keyword), so existing ``except TypeError`` code still catches it.
    """
    accepted = [a for a in accepted if not a.startswith("_")]
    unknown = [k for k in given if k not in accepted]
    if not unknown:
        return
    name = unknown[0]
    alias = KEYWORD_ALIASES.get(name) or KEYWORD_ALIASES.get(name.lower())
    prefix = [a for a in accepted if a.startswith(name.lower()) or name.lower().startswith(a)]
    close = [alias] if alias in accepted else difflib.get_close_matches(name, accepted, n=1, cutoff=0.6) or prefix[:1]
    hint = f"Did you mean {close[0]}=? " if close else ""
    explained = KEYWORD_EXPLANATIONS.get(name) or KEYWORD_EXPLANATIONS.get(name.lower())
    if explained is not None and explained[0] in accepted:
        hint = explained[1]
    more = f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
    raise KeywordError(
        f"{owner}() got an unknown keyword argument {name!r}{more}. {hint}"
        f"It accepts: {', '.join(accepted) or 'no keyword arguments'}."
    )


def known_keywords(func: F) -> F:
    """Decorate a public function or method so that an unknown keyword raises :func:`check_keywords`' error.

    The check runs before the call (nothing is computed for a misspelled call). A function with ``**kwargs``
    is returned unchanged.
    """
    signature = inspect.signature(func)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return func
    accepted = [n for n, p in signature.parameters.items() if p.kind in kinds and n not in ("self", "cls")]
    owner = func.__qualname__.replace(".__init__", "")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            check_keywords(owner, kwargs, accepted)
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def as_pandas(data: Any, role: str = "data") -> pd.DataFrame:
    """``data`` as a pandas DataFrame: itself if it is one, else converted at the boundary.

    Conversion tries, in order, the frame's ``to_pandas()`` (polars, pyarrow, narwhals, ...), the Arrow PyCapsule
    stream (``__arrow_c_stream__``, read by ``pandas.DataFrame.from_arrow`` where pandas has it) and the dataframe
    interchange protocol (``__dataframe__``). Categorical and enum columns arrive as pandas categoricals (enums
    ordered by their levels).

    Raises
    ------
    DataError
        If ``data`` is no data frame, or the conversion fails.
    """
    if isinstance(data, pd.DataFrame):
        return data
    kind = type(data).__name__
    to_pandas = getattr(data, "to_pandas", None)
    try:
        if callable(to_pandas):
            out = to_pandas()
        elif hasattr(data, "__arrow_c_stream__") and hasattr(pd.DataFrame, "from_arrow"):
            out = pd.DataFrame.from_arrow(data)
        elif hasattr(data, "__dataframe__"):
            with warnings.catch_warnings():  # pandas >= 3 deprecates the protocol; it still reads it
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                out = pd.api.interchange.from_dataframe(data)
        else:
            out = None
    except EvalkitError:
        raise
    except Exception as exc:  # a third-party conversion can fail in its own ways; say which frame and why
        raise DataError(
            f"{role}: cannot convert the {kind} to a pandas DataFrame ({type(exc).__name__}: {exc})."
        ) from exc
    if not isinstance(out, pd.DataFrame):
        raise DataError(
            f"{role} must be a pandas DataFrame, or a data frame evalkit can convert (polars, pyarrow, or any "
            f"frame with to_pandas(), the Arrow PyCapsule stream or the dataframe interchange protocol); got {kind}."
        )
    return out


def _levels(series: pd.Series) -> list[Any]:
    """The distinct non-missing values of ``series``: in level order for a categorical, else in sorted order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.cat.codes[series.cat.codes >= 0].unique().tolist())
        return [c for i, c in enumerate(series.cat.categories) if i in present]
    values = pd.unique(series.dropna())
    try:
        return sorted(values.tolist())
    except TypeError:  # mixed types: keep the order of first appearance
        return values.tolist()


def _copy_on_write() -> bool:
    """Whether pandas' copy-on-write is on: always from pandas 3, by option in pandas 2."""
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return pd.options.mode.copy_on_write is True


def private_copy(data: pd.DataFrame) -> pd.DataFrame:
    """A frame a design may keep: changes to it or to ``data`` are never seen by the other.

    Under copy-on-write (pandas 3, or pandas 2 with ``pd.options.mode.copy_on_write = True``) a shallow copy is
    enough, since writing to a column shared by two frames copies it first, and no memory is spent on a frame of
    millions of rows up front; otherwise a deep copy.
    """
    return data.copy(deep=not _copy_on_write())


def code_treatment(data: pd.DataFrame, column: Any, treated_value: Any = None, role: str = "treatment") -> pd.DataFrame:
    """``data`` with a labelled treatment column recoded 0/1 (a new frame; ``data`` itself is not changed).

    A numeric or boolean column is returned as it is when ``treated_value`` is None (the 0/1 checks come later).
    Otherwise the column must hold exactly two distinct values; the treated one is ``treated_value`` if given, or
    else, for an *ordered* categorical (a polars Enum, Stata value labels read with
    ``pandas.read_stata(order_categoricals=True)``), the later of the two levels. Missing values stay missing
    (the design then names the rows). An unordered categorical or string column without ``treated_value`` is
    refused with a message that says how to choose.

    Notes
    -----
    The recoded column is :math:`z_i = 1\\{x_i = \\text{treated\\_value}\\}`, as ``data[col] == "treatment"`` would
    give it, so every later step (assignment, estimation, randomization inference) sees the usual 0/1 treatment.
    Reference: Stata value labels, ``help label``; pandas ``Categorical`` (``ordered=True``).

    Raises
    ------
    DataError
        If the column has other than two distinct values, ``treated_value`` is not one of them, or the labels
        of an unordered column leave the treated arm unstated.
    """
    if column not in data.columns:
        return data  # the design names the missing column
    series = data[column]
    if isinstance(series, pd.DataFrame):
        return data  # duplicated column names: the design refuses them
    categorical = isinstance(series.dtype, pd.CategoricalDtype)
    numeric = not categorical and (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))
    if treated_value is None and numeric:
        return data
    try:
        levels = _levels(series)
    except TypeError as exc:  # unhashable cells (lists, dicts)
        raise DataError(f"{role} {column!r} holds values that cannot be compared ({exc}); it needs two arms.") from exc
    shown = ", ".join(repr(v) for v in levels[:6]) + (", ..." if len(levels) > 6 else "")
    if treated_value is None and categorical and set(levels) <= {0, 1}:
        treated = 1  # a categorical of the numbers 0/1: the numbers say which arm is treated
    elif treated_value is None:
        if len(levels) == 2 and categorical and series.cat.ordered:
            treated = levels[1]
        elif len(levels) == 2:
            raise DataError(
                f"{role} {column!r} holds the labels {levels[0]!r} and {levels[1]!r}, not 0/1: say which is the "
                f"treated arm with treated_value={levels[1]!r} (or treated_value={levels[0]!r}), or make the column "
                "an ordered categorical whose last level is the treated arm (e.g. Stata value labels read with "
                "pandas.read_stata(..., order_categoricals=True), or a polars Enum)."
            )
        else:
            raise DataError(
                f"{role} {column!r} is not numeric and has {len(levels)} distinct value(s) ({shown}); a treatment "
                f"has two arms. Recode it, e.g. data[{column!r}] == 'treatment', or pass treated_value= with a "
                "two-valued column."
            )
    else:
        matches = [v for v in levels if _same(v, treated_value)]
        if not matches:
            raise DataError(
                f"treated_value={treated_value!r} is not a value of {role} {column!r} (its values are {shown}); "
                "pass one of them."
            )
        if len(levels) != 2:
            raise DataError(
                f"{role} {column!r} has {len(levels)} distinct value(s) ({shown}); with treated_value= it must have "
                "exactly two (the treated and the control arm). Recode or subset it first."
            )
        treated = matches[0]
    out = data.copy(deep=False)  # a new frame; the column is replaced, never written into
    values = series.astype(object) if categorical else series
    codes = np.where(series.isna().to_numpy(), np.nan, (values == treated).to_numpy(dtype=bool))
    out[column] = codes.astype(np.float64)
    return out


def _same(value: Any, wanted: Any) -> bool:
    try:
        return bool(value == wanted)
    except (TypeError, ValueError):
        return False


class KnownKeywords:
    """Mixin of settings classes (frozen dataclasses): an unknown keyword raises :func:`check_keywords`' error.

    The check is made in ``__new__``, before the dataclass ``__init__`` would raise a bare :class:`TypeError`;
    copying and unpickling (which call ``__new__`` without keywords) are unaffected.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs and dataclasses.is_dataclass(cls):
            check_keywords(cls.__name__, kwargs, [f.name for f in dataclasses.fields(cls) if f.init])
        return super().__new__(cls)
