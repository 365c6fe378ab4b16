"""Data as researchers have it (issue 9 item 6): labelled treatments, polars and other frames, misspelled keywords.

References: a difference in means (and a 2x2 difference of four means) computed directly with pandas on the 0/1
recoding of the labels (closed form, tolerance 1e-12); the did README's group-aggregated ATT on mpdta (replication
file ``callaway_santanna_mpdta.toml``, its tolerance), read here from a polars frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import DataError, OptionError

from _references import published

pytestmark = pytest.mark.filterwarnings("error::FutureWarning:evalkit.*")


@pytest.fixture
def labelled(small_trial: pd.DataFrame) -> pd.DataFrame:
    """The small trial with its treatment stored as the labels 'treatment' / 'control' (a survey export)."""
    return small_trial.assign(arm=np.where(small_trial["treated"] == 1, "treatment", "control"))


def _difference_in_means(data: pd.DataFrame, outcome: str, treated: pd.Series) -> float:
    # closed form: mean of the treated minus mean of the controls
    return float(data.loc[treated, outcome].mean() - data.loc[~treated, outcome].mean())


# ----------------------------------------------------------------------------------------------- labelled treatment
def test_string_treatment_with_treated_value(labelled: pd.DataFrame) -> None:
    before = labelled.copy(deep=True)
    res = ek.RandomizedTrial(labelled, "arm", treated_value="treatment").estimate("y").to_frame().iloc[0]
    # SOURCE closed form: mean(y | arm == 'treatment') - mean(y | arm == 'control'); TOLERANCE 1e-12 (rounding)
    expected = _difference_in_means(labelled, "y", labelled["arm"] == "treatment")
    assert res["estimate"] == pytest.approx(expected, abs=1e-12)
    assert (res["n_treated"], res["n_control"]) == (16, 24)  # 4 treated of 10 in each of 4 blocks (fixture)
    pd.testing.assert_frame_equal(labelled, before)  # the caller's labels are not recoded in place


def test_string_treatment_without_treated_value_says_how_to_choose(labelled: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'arm' holds the labels 'control' and 'treatment'.*treated_value='treatment'"):
        ek.RandomizedTrial(labelled, "arm")


def test_stata_value_labels_are_read_in_their_order(labelled: pd.DataFrame, tmp_path: Path) -> None:
    # A Stata file whose treatment is coded 0 = "control", 1 = "treatment" with value labels: pandas reads it as an
    # ordered categorical (codes order), and the later level is the treated arm without treated_value.
    stata = labelled.drop(columns=["arm", "block"]).assign(arm=labelled["treated"].astype("int8"))
    path = tmp_path / "trial.dta"
    stata.to_stata(path, write_index=False, value_labels={"arm": {0: "control", 1: "treatment"}})
    read = pd.read_stata(path)
    assert isinstance(read["arm"].dtype, pd.CategoricalDtype) and read["arm"].cat.ordered
    res = ek.RandomizedTrial(read, "arm").estimate("y").to_frame().iloc[0]
    # SOURCE closed form on the labels; TOLERANCE 1e-6 (Stata stores y as float64: exact; 1e-6 allows any cast)
    assert res["estimate"] == pytest.approx(_difference_in_means(read, "y", read["arm"] == "treatment"), abs=1e-6)


def test_unordered_categorical_needs_treated_value(labelled: pd.DataFrame) -> None:
    data = labelled.assign(arm=pd.Categorical(labelled["arm"]))
    with pytest.raises(DataError, match="treated_value="):
        ek.RandomizedTrial(data, "arm")
    res = ek.RandomizedTrial(data, "arm", treated_value="treatment").estimate("y").to_frame().iloc[0]
    # SOURCE closed form; TOLERANCE 1e-12
    assert res["estimate"] == pytest.approx(_difference_in_means(data, "y", data["arm"] == "treatment"), abs=1e-12)


@pytest.mark.parametrize(
    ("values", "treated_value", "message"),
    [
        (["a", "b", "c"], "a", r"3 distinct value\(s\) \('a', 'b', 'c'\).*exactly two"),
        (["treatment", "control"], "treated", r"treated_value='treated' is not a value of treatment 'arm'"),
        (["a", "b", "c"], None, r"3 distinct value\(s\).*a treatment has two arms"),
    ],
)
def test_labels_that_cannot_be_a_treatment(
    labelled: pd.DataFrame, values: list[str], treated_value: str | None, message: str
) -> None:
    data = labelled.assign(arm=np.resize(values, len(labelled)))
    with pytest.raises(DataError, match=message):
        ek.RandomizedTrial(data, "arm", treated_value=treated_value)


def test_diff_in_diff_group_labels() -> None:
    # 2x2 on repeated cross-sections with the group stored as labels.
    rng = np.random.default_rng(3)
    group = np.repeat(["comparison", "treated"], 40)
    post = np.tile(np.repeat([0, 1], 20), 2)
    y = rng.normal(size=80) + 0.5 * (group == "treated") + 0.3 * post + 1.2 * (group == "treated") * post
    data = pd.DataFrame({"y": y, "group": group, "post": post})
    res = ek.DiffInDiff(data, "group", post="post", treated_value="treated").estimate("y").to_frame().iloc[0]
    means = data.groupby(["group", "post"])["y"].mean()
    # SOURCE closed form: (treated post - treated pre) - (comparison post - comparison pre); TOLERANCE 1e-12
    expected = (means["treated", 1] - means["treated", 0]) - (means["comparison", 1] - means["comparison", 0])
    assert res["estimate"] == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------------------------- other frame types
class _InterchangeOnly:
    """A frame that offers nothing but the dataframe interchange protocol (as some database clients do)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def __dataframe__(self, nan_as_null: bool = False, allow_copy: bool = True) -> Any:
        return self._frame.__dataframe__(nan_as_null=nan_as_null, allow_copy=allow_copy)


def test_interchange_protocol_frame_is_accepted(small_trial: pd.DataFrame) -> None:
    frame = small_trial.drop(columns=["block"])  # numeric columns: what every interchange producer supports
    res = ek.RandomizedTrial(_InterchangeOnly(frame), "treated").estimate("y").to_frame().iloc[0]
    # SOURCE closed form; TOLERANCE 1e-12
    assert res["estimate"] == pytest.approx(_difference_in_means(frame, "y", frame["treated"] == 1), abs=1e-12)


def test_arrow_stream_frame_is_accepted(small_trial: pd.DataFrame) -> None:
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pandas(small_trial, preserve_index=False)

    class ArrowStreamOnly:  # e.g. a DuckDB relation: the Arrow PyCapsule stream and no to_pandas()
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            return table.__arrow_c_stream__(requested_schema)

    if not hasattr(pd.DataFrame, "from_arrow"):
        pytest.skip("this pandas cannot read the Arrow PyCapsule stream")
    res = ek.RandomizedTrial(ArrowStreamOnly(), "treated", blocks="block").estimate("y").to_frame().iloc[0]
    # SOURCE closed form (equal blocks of 10 with 4 treated each: the block-weighted difference in means equals the
    # pooled one); TOLERANCE 1e-12
    expected = _difference_in_means(small_trial, "y", small_trial["treated"] == 1)
    assert res["estimate"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("bad", [np.zeros((3, 2)), {"y": [1, 2]}, [1, 2, 3]])
def test_non_frames_are_refused_with_what_is_accepted(bad: object) -> None:
    with pytest.raises(DataError, match=r"polars.*to_pandas\(\).*got (ndarray|dict|list)"):
        ek.RandomizedTrial(bad, "treated")  # type: ignore[arg-type]


def test_polars_trial_diff_in_diff_and_assign(labelled: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    frame = pl.from_pandas(labelled)
    res = ek.RandomizedTrial(frame, "treated", blocks="block").estimate("y").to_frame().iloc[0]
    # SOURCE closed form (equal blocks, see above); TOLERANCE 1e-12
    assert res["estimate"] == pytest.approx(_difference_in_means(labelled, "y", labelled["treated"] == 1), abs=1e-12)
    # a polars Enum keeps its level order: control < treatment, so no treated_value is needed
    enum = frame.with_columns(pl.col("arm").cast(pl.Enum(["control", "treatment"])))
    res = ek.RandomizedTrial(enum, "arm").estimate("y").to_frame().iloc[0]
    assert res["estimate"] == pytest.approx(
        _difference_in_means(labelled, "y", labelled["arm"] == "treatment"), abs=1e-12
    )
    # a 2x2 DiD from polars: the four-means closed form
    did = labelled.assign(post=np.tile([0, 1], 20))
    res = ek.DiffInDiff(pl.from_pandas(did), "treated", post="post").estimate("y").to_frame().iloc[0]
    m = did.groupby(["treated", "post"])["y"].mean()
    assert res["estimate"] == pytest.approx((m[1, 1] - m[1, 0]) - (m[0, 1] - m[0, 0]), abs=1e-12)
    # ek.assign: 4 treated in each block of 10, as the spec asks (count check, exact)
    drawn = ek.assign(frame, ek.BlockRandomization(share=0.4), blocks="block", seed=5).treatment
    assert drawn.groupby(labelled["block"].to_numpy()).sum().tolist() == [4, 4, 4, 4]


def test_polars_staggered_reproduces_the_did_readme() -> None:
    pytest.importorskip("polars")
    moderndid = pytest.importorskip("moderndid")
    mpdta = moderndid.load_mpdta()  # a polars DataFrame, as that package ships it
    assert not isinstance(mpdta, pd.DataFrame)
    stag = ek.StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")
    group = stag.estimate("lemp", aggregate="group").to_frame().set_index("term")
    # SOURCE did README aggte(type="group"): overall ATT -0.031 (replication file); TOLERANCE the file's
    overall = published("callaway_santanna_mpdta.toml", "estimate", term="overall", where={"type": "group overall"})
    assert group.loc["overall", "estimate"] == pytest.approx(overall.value, abs=overall.tolerance)


# ----------------------------------------------------------------------------------------------- keyword names
@pytest.mark.parametrize(
    ("call", "suggestion"),
    [
        (lambda d: ek.RandomizedTrial(d, "treated", cluster="block"), "clusters"),
        (lambda d: ek.RandomizedTrial(d, "treated", strata="block"), "blocks"),
        (lambda d: ek.RandomizedTrial(d, "treated").estimate("y", covariate=["x1"]), "covariates"),
        (lambda d: ek.RandomizedTrial(d, "treated").estimate("y", estimatr="ols"), "estimator"),
        (lambda d: ek.DiffInDiff(d, "treated", post="x1", weight="x2"), "weights"),
        (lambda d: ek.assign(d, ek.CompleteRandomization(n_treated=4), block="block", seed=1), "blocks"),
        (lambda d: ek.CompleteRandomization(n_treat=4), "n_treated"),
        (lambda d: ek.inference.WildClusterBootstrap(rep=99), "reps"),
        (lambda d: ek.inference.RandomizationInference(B=99), "reps"),
        (lambda d: ek.inference.Sandwich(cov="HC2"), "cov_type"),
    ],
)
def test_unknown_keyword_names_the_close_match(small_trial: pd.DataFrame, call: Any, suggestion: str) -> None:
    with pytest.raises(OptionError, match=rf"unknown keyword argument .*Did you mean {suggestion}=\?") as info:
        call(small_trial)
    assert isinstance(info.value, TypeError)  # still what Python raises for an unexpected keyword


def test_control_group_on_a_staggered_design_points_to_control() -> None:
    rng = np.random.default_rng(1)
    units, years = np.repeat(np.arange(12), 4), np.tile(np.arange(2001, 2005), 12)
    cohort = np.repeat([0, 0, 0, 0, 2003, 2003, 2003, 2003, 2004, 2004, 2004, 2004], 4)
    data = pd.DataFrame({"unit": units, "year": years, "g": cohort, "y": rng.normal(size=48)})
    stag = ek.StaggeredDiD(data, unit="unit", time="year", cohort="g")
    with pytest.raises(OptionError, match=r"'control_group'\. Did you mean control=\?"):
        stag.estimate("y", control_group="not_yet_treated")


def test_instrument_explains_take_up_and_lists_the_arguments(small_trial: pd.DataFrame) -> None:
    # regression: the message was "Did you mean take_up=?", which suggests take_up is the instrument; it is the
    # treatment received, and the instrument is the design's randomized treatment
    trial = ek.RandomizedTrial(small_trial, "treated")
    with pytest.raises(OptionError) as caught:
        trial.estimate("y", instrument="x1")
    message = str(caught.value)
    assert "Did you mean take_up" not in message
    assert "instrument is the design's randomized treatment" in message
    assert "take_up= names the treatment actually received" in message
    assert "It accepts: outcomes, estimator, covariates" in message
