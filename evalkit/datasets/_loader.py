"""Locate and read the sample data sets shipped with evalkit.

In a wheel the files of ``data/sample/`` are installed as ``evalkit/datasets/_data/``; in a checkout or an
editable install that folder does not exist and the files are read from ``<repo>/data/sample/``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import DataError

__all__ = [
    "available_samples",
    "casita_metadata",
    "cuna_mas_metadata",
    "load_casita",
    "load_cuna_mas",
    "load_sample",
    "load_vraem",
    "sample_metadata",
    "vraem_metadata",
]

_VRAEM_BINARY = (
    "hand_washing",
    "safe_water",
    "n_hygiene_practices",
    "parenting_praise",
    "parenting_play",
    "parenting_stories",
    "parenting_explain_rules",
    "parenting_no_hitting",
    "parenting_listen",
    "n_parenting_practices",
)
_VRAEM_CHILD = (
    "breastfeeding",
    "iron_supplement",
    "anaemia_screening",
    "growth_monitoring",
    "vaccination_up_to_date",
    "iron_rich_foods",
    "n_child_health_practices",
)

_CUNA_MAS_SCORES = tuple(
    f"{domain}{wave}"
    for wave in ("_bl", "")
    for domain in ("cognitive", "language", "motor", "socioemotional", "dev_index")
)

# name -> (csv file, metadata file, dtypes applied after reading)
_SAMPLES: dict[str, dict[str, Any]] = {
    "casita": {
        "data": "casita.csv",
        "meta": "casita.meta.json",
        "dtypes": {
            "child_id": "int64",
            "health_post": "string",
            "treated": "int64",
            "female": "int64",
            "age_months": "float64",
            "home_total_bl": "int64",
            "home_total": "int64",
            "sessions_attended": "int64",
            "attended": "int64",
            "age_group": "string",
        },
    },
    "vraem": {
        "data": "vraem.csv",
        "meta": "vraem.meta.json",
        "dtypes": {
            "household_id": "int64",
            "community": "string",
            "district": "string",
            "treated": "int64",
            "wave": "int64",
            "treated_post": "int64",
            "has_child_under3": "int64",
            **dict.fromkeys(_VRAEM_BINARY, "int64"),
            # missing (NaN) for households without a child under 3, hence float
            **dict.fromkeys(_VRAEM_CHILD, "float64"),
            "social_capital": "float64",
        },
    },
    "cuna_mas": {
        "data": "cuna_mas.csv",
        "meta": "cuna_mas.meta.json",
        "dtypes": {
            "child_id": "int64",
            "department": "string",
            "district": "string",
            "treated": "int64",
            "district_poverty": "float64",
            "age_months": "float64",
            "female": "int64",
            # follow-up scores are missing (NaN) for children lost to follow-up, hence float
            **dict.fromkeys(_CUNA_MAS_SCORES, "float64"),
        },
    },
}


def _data_dir() -> Path:
    """Folder of the sample files: the installed ``_data`` folder, else the repository's ``data/sample``."""
    try:
        packaged = resources.files("evalkit.datasets") / "_data"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):  # pragma: no cover - defensive
        pass
    return Path(__file__).resolve().parents[2] / "data" / "sample"


def available_samples() -> list[str]:
    """Names of the sample data sets that :func:`load_sample` accepts.

    Returns
    -------
    list of str
        Sorted dataset names.
    """
    return sorted(_SAMPLES)


def _entry(name: str) -> dict[str, Any]:
    if not isinstance(name, str) or name not in _SAMPLES:
        raise DataError(
            f"Unknown sample dataset {name!r}. Available datasets: {', '.join(available_samples())}. "
            "Pass one of these names to evalkit.datasets.load_sample()."
        )
    return _SAMPLES[name]


def _file(name: str, key: str) -> Path:
    path = _data_dir() / _entry(name)[key]
    if not path.is_file():
        raise DataError(
            f"The file {path.name!r} of sample dataset {name!r} was not found in {path.parent}. "
            "Reinstall evalkit, or regenerate it from a checkout with the script in scripts/."
        )
    return path


def load_sample(name: str) -> pd.DataFrame:
    """Load a sample data set shipped with evalkit.

    Parameters
    ----------
    name : str
        Dataset name; see :func:`available_samples` (currently ``"casita"``, ``"cuna_mas"`` and ``"vraem"``).

    Returns
    -------
    pandas.DataFrame
        A new DataFrame on every call (changing it does not affect later calls), with the column types of the
        dataset set (integer indicators, string identifiers).

    Raises
    ------
    evalkit.errors.DataError
        If ``name`` is not a known dataset (the message lists the available ones) or its file is missing.

    Examples
    --------
    >>> from evalkit.datasets import load_sample
    >>> load_sample("casita").shape
    (60, 22)
    """
    entry = _entry(name)
    df = pd.read_csv(_file(name, "data"))
    dtypes = {col: dt for col, dt in entry["dtypes"].items() if col in df.columns}
    return df.astype(dtypes)


def sample_metadata(name: str) -> dict[str, Any]:
    """Metadata of a sample data set: source, design, columns and labelled parameters.

    Parameters
    ----------
    name : str
        Dataset name; see :func:`available_samples`.

    Returns
    -------
    dict
        The parsed ``<name>.meta.json`` (a new object on every call). Every entry of ``"parameters"``
        carries a ``"label"``: ``"published"`` (printed in a source), ``"derived"`` (computed from
        published numbers) or ``"assumed"`` (chosen for the simulation).

    Raises
    ------
    evalkit.errors.DataError
        If ``name`` is not a known dataset or its metadata file is missing.
    """
    with _file(name, "meta").open(encoding="utf-8") as fh:
        return json.load(fh)


def load_casita() -> pd.DataFrame:
    """Load the simulated Casita sample: 60 children, 41 coached / 19 control, 6 health posts.

    The data mirror the Casita pilot of parental coaching for children at risk of developmental delay (Nelson,
    Miller et al., BMJ Paediatrics Open 2018;2:e000268). They are simulated, one row per child, and
    calibrated so
    that the change-score analysis reproduces the published headline results for ``easq_global`` and
    ``home_total``. See :func:`casita_metadata` for the columns, the design (the randomized reading is an
    assumption: the trial registry lists the pilot as non-randomised) and the label of every number used.

    Returns
    -------
    pandas.DataFrame
        60 rows and the columns ``child_id``, ``health_post`` (string), ``treated`` (0/1 int), ``age_months``,
        ``female`` (0/1 int), baseline EASQ z-scores
        ``easq_{comm,gross_motor,fine_motor,problem,social,global}_bl``,
        the same at the 3-month endline without ``_bl`` (missing for 13 children), and the integer HOME totals
        ``home_total_bl`` and ``home_total``; the coaching sessions attended of 12 (``sessions_attended``, 0 for
        controls) and take-up ``attended`` (at least 6 sessions; both assumed), and ``age_group`` ('6-11',
        '12-17', '18-24' months, from ``age_months``). A new DataFrame on every call.

    Notes
    -----
    The published analysis regresses the change :math:`\\Delta Y = Y - Y_{bl}` on an intercept, ``treated``,
    :math:`Y_{bl}`, ``age_months`` and ``female`` on complete cases, with HC2 standard errors and a
    :math:`t_{n-5}` interval. It gives 1.39 (0.55 to 2.22) for ``easq_global`` (32 treated, 15 control) and
    6.33
    (2.12 to 10.55) for ``home_total`` (41, 19).

    Examples
    --------
    >>> from evalkit.datasets import load_casita
    >>> df = load_casita()
    >>> int(df["treated"].sum()), int((df["treated"] == 0).sum())
    (41, 19)
    """
    return load_sample("casita")


def casita_metadata() -> dict[str, Any]:
    """Metadata of the Casita sample (see :func:`sample_metadata`).

    Returns
    -------
    dict
        Description, source paper and registry, design and its two readings (randomized / non-randomized),
        per-column descriptions and units, labelled ``parameters``, calibration targets with the numbers the
        data
        give, and the generator's script and seed.
    """
    return sample_metadata("casita")


def load_vraem() -> pd.DataFrame:
    """Load the simulated VRAEM sample: a household panel in 31 communities (17 intervention / 14 control).

    The data mirror MSH Peru's USAID-funded programme on social capital and family well-being in La Mar
    province, Ayacucho (VRAEM): 775 households in 31 communities of 6 districts, treatment at community level,
    districts as strata, a baseline and an endline wave. They are simulated; the three published shares within
    intervention communities are reproduced exactly, the treatment-control effects are assumed. See
    :func:`vraem_metadata` for the columns, the definitions of the shares and the label of every number used.

    Returns
    -------
    pandas.DataFrame
        1,550 rows, one per household and wave (sorted by ``household_id`` then ``wave``), with the columns
        ``household_id``, ``community`` and ``district`` (strings), ``treated`` (community status, constant over
        waves), ``wave`` (0 baseline, 1 endline), ``treated_post`` (``treated * wave``), ``has_child_under3``;
        six child-health practices and their count ``n_child_health_practices`` (float, NaN for households
        without a child under 3); ``hand_washing``, ``safe_water`` and ``n_hygiene_practices``; six
        ``parenting_*`` behaviours and ``n_parenting_practices`` (0/1 and counts, int); ``social_capital``
        (0-100). A new DataFrame on every call.

    Notes
    -----
    The 2x2 difference-in-differences of an outcome :math:`Y` is the coefficient :math:`\\delta` of

    .. math::

        Y_{it} = \\alpha + \\gamma\\,\\mathrm{treated}_i + \\lambda\\,\\mathrm{wave}_t
        + \\delta\\,\\mathrm{treated}_i \\mathrm{wave}_t + \\varepsilon_{it},

    or equivalently of ``treated_post`` with household and wave fixed effects in the balanced panel. With 31
    communities the inference should respect the clustering and the blocked cluster assignment (assumed:
    communities randomized within districts), e.g. CR2 standard errors with Bell-McCaffrey degrees of freedom
    (Bell & McCaffrey 2002), a wild cluster bootstrap (Cameron, Gelbach & Miller 2008) or randomization
    inference. The published shares are within-intervention before-after figures, not effects: 83% of the
    230 intervention households with a child under 3 raised their number of child-health practices by 2 or
    more, 47% of the 428 intervention households adopted at least one hygiene practice, 50% practised 5-6
    positive-parenting behaviours at endline.

    Examples
    --------
    >>> from evalkit.datasets import load_vraem
    >>> df = load_vraem()
    >>> df.shape, df["community"].nunique()
    ((1550, 25), 31)
    >>> df.groupby("community")["treated"].first().value_counts().sort_index().tolist()
    [14, 17]
    """
    return load_sample("vraem")


def vraem_metadata() -> dict[str, Any]:
    """Metadata of the VRAEM sample (see :func:`sample_metadata`).

    Returns
    -------
    dict
        Description, source, design (the assumed allocation of the 17/14 communities to the 6 districts),
        analysis, per-column descriptions and units, labelled ``parameters``, the calibration (published shares
        with their exact definitions, numerators and denominators; assumed effects with the
        difference-in-differences the data give; intra-cluster correlations), and the generator's script and
        seed.
    """
    return sample_metadata("vraem")


def load_cuna_mas() -> pd.DataFrame:
    """Load the simulated Cuna Más sample: 5,040 children in 180 districts of 12 departments, early vs late roll-out.

    The data mirror the impact evaluation of Peru's Cuna Más home-visiting service (Araujo, Dormal,
    Grantham-McGregor, Lazarte, Rubio-Codina & Schady, J. Public Econ. Plus 2021; AEARCTR-0000988): districts
    randomized within departments to early (90) or late (90) roll-out, children under 3 measured at baseline (2013)
    and follow-up (2015). They are simulated, one row per child; about 28 children per district, intra-cluster
    correlations of 0.05-0.10 and about 10% attrition are assumed, and the child-development index is calibrated so
    that the declared analysis gives the published +0.10 SD. See :func:`cuna_mas_metadata` for the columns, the
    allocation and the label of every number used.

    Returns
    -------
    pandas.DataFrame
        5,040 rows with the columns ``child_id``, ``department`` and ``district`` (strings), ``treated`` (1 = early
        roll-out district, 0/1 int), ``district_poverty`` (district poverty rate, a cluster-level covariate),
        ``age_months`` (at baseline), ``female`` (0/1 int); baseline age-standardized z-scores
        ``{cognitive,language,motor,socioemotional}_bl`` and the child-development index ``dev_index_bl``; the same
        at follow-up without ``_bl`` (all missing together for the children lost to follow-up). A new DataFrame on
        every call.

    Notes
    -----
    ``dev_index`` is the Kling, Liebman & Katz (2007) index of the four domains, components and index standardized
    by the late (control) arm, so effects on it are in control-group SD units. The declared analysis is, on complete
    cases, the OLS regression

    .. math::

        Y_{idj} = \\alpha_d + \\tau\\,\\mathrm{treated}_j + \\beta\\,Y^{bl}_{idj}
        + \\gamma\\,\\mathrm{age}_{idj} + \\delta\\,\\mathrm{female}_{idj} + \\varepsilon_{idj}

    with department fixed effects :math:`\\alpha_d` and standard errors clustered by district (CR2 with
    Bell-McCaffrey degrees of freedom; Bell & McCaffrey 2002): ``RandomizedTrial(data, "treated",
    blocks="department", clusters="district").estimate("dev_index", estimator="ols", covariates=["dev_index_bl",
    "age_months", "female"])`` gives :math:`\\hat\\tau = 0.100`.

    Examples
    --------
    >>> from evalkit.datasets import load_cuna_mas
    >>> df = load_cuna_mas()
    >>> df.shape, df["district"].nunique(), df["department"].nunique()
    ((5040, 17), 180, 12)
    >>> df.groupby("district")["treated"].first().value_counts().sort_index().tolist()
    [90, 90]
    """
    return load_sample("cuna_mas")


def cuna_mas_metadata() -> dict[str, Any]:
    """Metadata of the Cuna Más sample (see :func:`sample_metadata`).

    Returns
    -------
    dict
        Description, source paper and registry, design (the assumed allocation of early and late districts to the
        12 departments, children per district, attrition), the declared analysis, per-column descriptions and
        units, labelled ``parameters``, the calibration (published effect with the raw draw and the calibration
        shift, domain effects, intra-cluster correlations, attrition), and the generator's script and seed.
    """
    return sample_metadata("cuna_mas")
