"""Publication tables: the printed numbers are those of ``to_frame()``, LaTeX is structurally valid, the
side-by-side table has the right shape, and numbers match statsmodels fitted in the test."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from io import StringIO

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import evalkit as ek
from evalkit.errors import ColumnNotFoundError, DataError, OptionError
from evalkit.reporting import balance_table_to, escape_latex, regression_table, to_html, to_latex, to_markdown
from evalkit.results import OutcomeFit, Results

OUTCOMES = ["easq_comm", "easq_gross_motor", "home_total"]
DOMAINS = {"easq_comm": "language", "easq_gross_motor": "motor", "home_total": "home"}


@pytest.fixture(scope="module")
def casita() -> pd.DataFrame:
    return ek.datasets.load_casita()


@pytest.fixture(scope="module")
def lin_results(casita: pd.DataFrame) -> Results:
    trial = ek.RandomizedTrial(casita, "treated")
    return trial.estimate(OUTCOMES, estimator="lin", covariates=["age_months"], domains=DOMAINS)


@pytest.fixture(scope="module")
def dim_results(casita: pd.DataFrame) -> Results:
    return ek.RandomizedTrial(casita, "treated").estimate(["easq_comm", "home_total"])


# ---------------------------------------------------------------------------------------------- helpers
def parse_markdown(text: str) -> pd.DataFrame:
    """Read back the first pipe table of ``text`` (cells split on unescaped '|')."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    cells = [[c.strip().replace(r"\|", "|") for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]
    assert all(re.fullmatch(r":?-+:?", c) for c in cells[1]), "second line must be the alignment rule"
    return pd.DataFrame(cells[2:], columns=cells[0])


def as_float(cell: str) -> float:
    return float(cell) if cell.strip() else np.nan


def check_latex_structure(tex: str, n_columns: int, booktabs: bool = True) -> None:
    """Balanced environments and braces, rules in order, every tabular row with ``n_columns`` cells."""
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, f"\\end{{{env}}} without matching \\begin"
    assert not stack, f"unclosed environments {stack}"
    unescaped = re.sub(r"\\[{}]", "", tex)
    depth = 0
    for ch in unescaped:
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0
    assert depth == 0
    if booktabs:
        pos = [tex.index(r"\toprule"), tex.index(r"\midrule"), tex.index(r"\bottomrule")]
        assert pos == sorted(pos)
    else:
        assert r"\toprule" not in tex and tex.count(r"\hline") >= 3
    body = tex.split(r"\begin{tabular}")[1].split(r"\end{tabular}")[0]
    spec = re.match(r"\{([lcr]+)\}", body).group(1)
    assert len(spec) == n_columns
    rows = [ln for ln in body.splitlines() if ln.rstrip().endswith(r"\\")]
    for row in rows:
        assert len(re.findall(r"(?<!\\)&", row)) == n_columns - 1, row
    # no special character left unescaped outside the star superscripts $^{...}$
    text = re.sub(r"\$\^\{\**\}\$", "", tex)
    for ch in "_%#$":
        assert not re.search(rf"(?<!\\){re.escape(ch)}", text), f"unescaped {ch!r}"


class TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"</{tag}> unbalanced"


# ---------------------------------------------------------------------------------------------- one Results
def test_markdown_prints_the_numbers_of_to_frame(lin_results: Results) -> None:
    frame = lin_results.to_frame()
    table = parse_markdown(to_markdown(lin_results, digits=3))
    assert list(table.columns) == ["Outcome", "Domain", "Estimate", "Std. error", "95% CI", "p-value", "N"]
    assert list(table["Outcome"]) == OUTCOMES
    assert list(table["Domain"]) == [DOMAINS[o] for o in OUTCOMES]
    # SOURCE: Results.to_frame(); TOLERANCE: half a unit in the last printed digit (3 digits).
    half = 0.5e-3 + 1e-12
    for col, name in (("Estimate", "estimate"), ("Std. error", "std_error"), ("p-value", "p_value")):
        np.testing.assert_allclose(table[col].map(as_float), frame[name], atol=half, rtol=0)
    lows, highs = zip(*(re.fullmatch(r"\[(\S+), (\S+)\]", c).groups() for c in table["95% CI"]), strict=True)
    np.testing.assert_allclose(np.array(lows, float), frame["conf_low"], atol=half, rtol=0)
    np.testing.assert_allclose(np.array(highs, float), frame["conf_high"], atol=half, rtol=0)
    # SOURCE: Results.to_frame(); exact integers.
    assert list(table["N"].astype(int)) == list(frame["n_obs"])
    # fixed digits: every estimate printed with exactly 3 decimals
    assert all(re.fullmatch(r"-?\d+\.\d{3}", c) for c in table["Estimate"])


def test_markdown_digits_columns_and_blank_missing(lin_results: Results) -> None:
    frame = lin_results.to_frame()
    text = to_markdown(lin_results, columns=["outcome", "estimate", "n_clusters", "cohens_d"], digits=5, notes=False)
    table = parse_markdown(text)
    assert list(table.columns) == ["Outcome", "Estimate", "Clusters", "Cohen's d"]
    assert (table["Clusters"] == "").all()  # <NA> in an unclustered trial prints blank
    # SOURCE: Results.to_frame(); TOLERANCE: half a unit in the 5th decimal.
    np.testing.assert_allclose(table["Cohen's d"].map(as_float), frame["cohens_d"], atol=0.5e-5 + 1e-12, rtol=0)
    assert "Notes:" not in text


def test_markdown_is_a_table_for_a_commonmark_parser(lin_results: Results) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    pytest.importorskip("lxml")
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(to_markdown(lin_results))
    (table,) = pd.read_html(StringIO(rendered))
    frame = lin_results.to_frame()
    assert table.shape == (len(frame), 7)
    # SOURCE: Results.to_frame() read back through markdown-it-py + pandas.read_html; TOLERANCE: 0.5e-3.
    np.testing.assert_allclose(table["Estimate"], frame["estimate"], atol=0.5e-3 + 1e-12, rtol=0)


def test_p_adjusted_column_is_shown_when_present(lin_results: Results) -> None:
    frame = lin_results.to_frame()
    # Bonferroni by hand (closed form min(1, m p)); the column only has to be carried to the table.
    frame["p_adjusted"] = np.minimum(1.0, 3 * frame["p_value"])
    adjusted = Results(_table=frame, estimator="lin", inference="HC2", design="casita")
    table = parse_markdown(to_markdown(adjusted))
    assert "Adjusted p" in table.columns
    # SOURCE: min(1, 3p) computed above; TOLERANCE: 0.5e-3.
    np.testing.assert_allclose(table["Adjusted p"].map(as_float), frame["p_adjusted"], atol=0.5e-3 + 1e-12, rtol=0)


def test_latex_is_structurally_valid_and_escaped(lin_results: Results) -> None:
    tex = to_latex(lin_results, caption="Casita: effects on EASQ & HOME", label="tab:casita")
    check_latex_structure(tex, n_columns=7)
    assert r"easq\_gross\_motor" in tex and r"95\% CI" in tex
    assert r"\caption{Casita: effects on EASQ \& HOME}" in tex and r"\label{tab:casita}" in tex
    check_latex_structure(to_latex(lin_results, booktabs=False), n_columns=7, booktabs=False)


def test_latex_escapes_every_special_character() -> None:
    frame = pd.DataFrame(
        {"outcome": ["a_b%c&d#e$f{g}~h^i"], "domain": [None], "term": ["t"], "estimate": [1.0], "std_error": [0.5]}
    )
    frame["conf_low"], frame["conf_high"], frame["p_value"], frame["n_obs"] = 0.0, 2.0, 0.04, 10
    res = Results(_table=frame, estimator="e", inference="HC2", design="d", notes=("50% of rows & $ dropped_x.",))
    tex = to_latex(res)
    check_latex_structure(tex, n_columns=6)
    assert r"a\_b\%c\&d\#e\$f\{g\}\textasciitilde{}h\textasciicircum{}i" in tex
    assert r"50\% of rows \& \$ dropped\_x." in tex
    assert escape_latex("p < 0.1") == r"p \textless{} 0.1"


def test_html_is_balanced_and_has_the_numbers(lin_results: Results) -> None:
    text = to_html(lin_results, caption="<Casita>")
    checker = TagBalance()
    checker.feed(text)
    assert not checker.stack
    assert "&lt;Casita&gt;" in text
    pytest.importorskip("lxml")
    (table,) = pd.read_html(StringIO(text))
    table = table.iloc[: len(lin_results)]  # drop the <tfoot> notes row
    # SOURCE: Results.to_frame(); TOLERANCE: 0.5e-3.
    np.testing.assert_allclose(table["Std. error"].astype(float), lin_results.to_frame()["std_error"], atol=5e-4)


def test_bad_options_name_the_value(lin_results: Results) -> None:
    with pytest.raises(ColumnNotFoundError, match="'nope'"):
        to_markdown(lin_results, columns=["outcome", "nope"])
    with pytest.raises(OptionError, match="digits=-1"):
        to_latex(lin_results, digits=-1)
    with pytest.raises(OptionError, match="'frame'"):
        regression_table(lin_results, fmt="docx")
    with pytest.raises(OptionError, match="statistic='t'"):
        regression_table(lin_results, statistic="t")
    with pytest.raises(OptionError, match="between 0 and 1"):
        regression_table(lin_results, stars={"*": 5})
    with pytest.raises(DataError, match="not a Results"):
        regression_table({"a": lin_results.to_frame()})


# ---------------------------------------------------------------------------------------------- side by side
def test_regression_table_shape_and_numbers(dim_results: Results, lin_results: Results) -> None:
    frame = regression_table([dim_results, lin_results], fmt="frame")
    assert list(frame.columns) == ["(1)", "(2)", "(3)", "(4)", "(5)"]
    assert list(frame.index) == ["Outcome", "treated", "", "Observations", "Estimator", "Inference"]
    assert list(frame.loc["Outcome"]) == ["easq_comm", "home_total", *OUTCOMES]
    tidy = pd.concat([dim_results.to_frame(), lin_results.to_frame()], ignore_index=True)
    # SOURCE: Results.to_frame(); n_obs exact, estimates and SEs TOLERANCE 0.5e-3.
    assert list(frame.loc["Observations"].astype(int)) == list(tidy["n_obs"])
    np.testing.assert_allclose(frame.loc["treated"].astype(float), tidy["estimate"], atol=5e-4 + 1e-12, rtol=0)
    se = frame.iloc[2].str.strip("()").astype(float)
    np.testing.assert_allclose(se, tidy["std_error"], atol=5e-4 + 1e-12, rtol=0)
    assert "Clusters" not in frame.index  # no clusters in the Casita trial


def test_regression_table_matches_statsmodels_hc2(casita: pd.DataFrame) -> None:
    res = ek.RandomizedTrial(casita, "treated").estimate(
        ["easq_comm", "home_total"], estimator="ols", covariates=["age_months"], inference="HC2"
    )
    frame = regression_table({"ANCOVA": res}, fmt="frame", stars=True, digits=4)
    assert list(frame.columns) == ["ANCOVA: easq_comm", "ANCOVA: home_total"]
    for col, outcome in zip(frame.columns, ["easq_comm", "home_total"], strict=True):
        sm = smf.ols(f"{outcome} ~ treated + age_months", casita).fit(cov_type="HC2", use_t=True)
        # SOURCE: statsmodels OLS HC2 with t(n-k) p-values, fitted here; TOLERANCE 0.5e-4 (4 printed digits).
        cell = frame.loc["treated", col]
        number, stars = re.fullmatch(r"(-?\d+\.\d{4})(\**)", cell).groups()
        assert float(number) == pytest.approx(sm.params["treated"], abs=0.5e-4 + 1e-12)
        assert float(frame.iloc[2][col].strip("()")) == pytest.approx(sm.bse["treated"], abs=0.5e-4 + 1e-12)
        assert int(frame.loc["Observations", col]) == int(sm.nobs)
        # SOURCE: star thresholds 0.10 / 0.05 / 0.01 applied to statsmodels' p-value (closed form).
        p = sm.pvalues["treated"]
        assert len(stars) == sum(int(p < c) for c in (0.10, 0.05, 0.01))


def test_regression_table_statistics_stars_and_notes(dim_results: Results) -> None:
    tidy = dim_results.to_frame()
    text = regression_table({"DiM": dim_results}, statistic="conf_int", stars={"+": 0.2, "#": 0.01})
    table = parse_markdown(text)
    assert list(table.columns) == ["", "DiM: easq_comm", "DiM: home_total"]
    intervals = [re.fullmatch(r"\[(\S+), (\S+)\]", c).groups() for c in table.iloc[2, 1:]]
    # SOURCE: Results.to_frame(); TOLERANCE 0.5e-3.
    np.testing.assert_allclose(np.array(intervals, float), tidy[["conf_low", "conf_high"]], atol=5e-4 + 1e-12)
    for cell, p in zip(table.iloc[1, 1:], tidy["p_value"], strict=True):
        expected = "#" if p < 0.01 else "+" if p < 0.2 else ""  # custom thresholds, strictest met
        assert cell.endswith(expected) and not cell.rstrip("+#").endswith(("+", "#"))
    # the unblocked difference in means has Welch-Satterthwaite df since issue 8 (as estimatr)
    assert "95% confidence intervals in brackets, HC2 (Welch-Satterthwaite df)." in text
    assert "+ p < 0.2, # p < 0.01." in text
    assert "Inference defaulted to HC2" in text  # the results' own notes, once
    assert text.count("Inference defaulted to HC2") == 1
    pvals = regression_table(dim_results, statistic="p_value", fmt="frame")
    np.testing.assert_allclose(pvals.iloc[2].str.strip("()").astype(float), tidy["p_value"], atol=5e-4 + 1e-12)


def test_regression_table_clusters_row(cluster_trial: pd.DataFrame) -> None:
    res = ek.RandomizedTrial(cluster_trial, "treated", blocks="block", clusters="cluster").estimate("y")
    frame = regression_table(res, fmt="frame", summary_rows=("n_obs", "n_clusters", "inference"))
    # SOURCE: the conftest fixture builds 3 blocks x 4 clusters = 12 clusters (exact).
    assert frame.loc["Clusters", "(1)"] == "12"
    assert frame.loc["Observations", "(1)"] == str(len(cluster_trial))
    tex = regression_table(res, fmt="latex", stars=True, caption="Cluster trial")
    check_latex_structure(tex, n_columns=2)
    html = regression_table(res, fmt="html")
    checker = TagBalance()
    checker.feed(html)
    assert not checker.stack


def test_regression_table_notes_randomization_draws(dim_results: Results) -> None:
    frame = dim_results.to_frame()
    rng = np.random.default_rng(0)
    fits = {
        o: OutcomeFit(fit=None, rows=np.arange(3), inference={"null_statistics": rng.normal(size=10_000)})
        for o in frame["outcome"]
    }
    ri = Results(_table=frame, estimator="difference_in_means", inference="randomization", design="d", fits=fits)
    text = regression_table(ri, statistic="p_value")
    assert "p-values in parentheses: randomization." in text
    assert "Randomization p-values from 10,000 draws" in text


def test_regression_table_stars_on_adjusted_p(dim_results: Results) -> None:
    frame = dim_results.to_frame()
    frame["p_adjusted"] = [0.5, 0.03]  # set by hand: stars must follow these, not p_value
    adjusted = Results(_table=frame, estimator="difference_in_means", inference="HC2", design="d")
    table = regression_table(adjusted, stars=True, star_p="p_adjusted", fmt="frame")
    # SOURCE: default thresholds 0.10 / 0.05 / 0.01 applied to the p_adjusted set above (closed form).
    assert list(table.loc["treated"]) == [f"{frame['estimate'][0]:.3f}", f"{frame['estimate'][1]:.3f}**"]
    assert "** adjusted p < 0.05" in regression_table(adjusted, stars=True, star_p="p_adjusted")
    with pytest.raises(ColumnNotFoundError, match="p_adjusted"):
        regression_table(dim_results, stars=True, star_p="p_adjusted")


# ---------------------------------------------------------------------------------------------- balance
def test_balance_table_formats(casita: pd.DataFrame) -> None:
    balance = ek.RandomizedTrial(casita, "treated").balance(["age_months", "female", "easq_comm_bl"])
    frame = balance.to_frame()
    table = parse_markdown(balance_table_to(balance, "markdown"))
    assert list(table["Covariate"]) == ["age_months", "female", "easq_comm_bl"]
    # SOURCE: closed form (mean_t - mean_c) / sqrt((s_t^2 + s_c^2) / 2) from the data (Imbens & Rubin 2015,
    # eq. 14.2), computed here with pandas; TOLERANCE 0.5e-3 (3 printed digits).
    g = casita.groupby("treated")[["age_months", "female", "easq_comm_bl"]]
    m, s = g.mean(), g.std(ddof=1)
    d = (m.loc[1] - m.loc[0]) / np.sqrt((s.loc[1] ** 2 + s.loc[0] ** 2) / 2)
    np.testing.assert_allclose(table["Std. difference"].astype(float), d.to_numpy(), atol=5e-4 + 1e-12, rtol=0)
    np.testing.assert_allclose(table["Mean (treated)"].astype(float), m.loc[1].to_numpy(), atol=5e-4 + 1e-12)
    assert f"= {balance.joint_statistic:.3f}, p = {balance.joint_p_value:.3f}" in balance_table_to(balance)
    tex = balance_table_to(balance, "latex", caption="Baseline balance", label="tab:balance")
    check_latex_structure(tex, n_columns=6)
    assert r"easq\_comm\_bl" in tex
    html = balance_table_to(balance, "html", columns=["covariate", "std_difference", "n_missing"])
    checker = TagBalance()
    checker.feed(html)
    assert not checker.stack and "<th>N missing</th>" in html
    assert balance_table_to(balance, "frame").shape == (3, 6)
    with pytest.raises(ColumnNotFoundError, match="'bogus'"):
        balance_table_to(balance, columns=["bogus"])
    assert frame.equals(balance.to_frame())  # the table was not changed
