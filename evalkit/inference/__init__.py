"""Standard errors, tests and intervals: each method a small settings object.

``inference=`` in a design's ``estimate()`` accepts a covariance name (``"HC2"``, ``"CR2"``, ...) or one of these
objects.
"""

from __future__ import annotations

from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome, JointTest
from evalkit.inference.analytic import Sandwich
from evalkit.inference.influence import AnalyticInfluence, InfluenceInference, MultiplierBootstrap
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.sandwich import (
    CovarianceEstimate,
    CovType,
    SmallSampleCorrection,
    bell_mccaffrey_df,
    sandwich,
)
from evalkit.inference.wild_bootstrap import WildClusterBootstrap, bootstrap_weights

__all__ = [
    "AnalyticInfluence",
    "CovType",
    "CovarianceEstimate",
    "InferenceContext",
    "InferenceMethod",
    "InferenceOutcome",
    "InfluenceInference",
    "JointTest",
    "MultiplierBootstrap",
    "RandomizationInference",
    "Sandwich",
    "SmallSampleCorrection",
    "WildClusterBootstrap",
    "bell_mccaffrey_df",
    "bootstrap_weights",
    "sandwich",
]
