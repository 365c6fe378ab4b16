# Reference numbers for tests/r_reference/test_moderators_against_r.py: treatment x moderator rows of
# estimatr::lm_robust.
#
# Usage: Rscript moderators.R <design.csv> <results.json>
#
# The CSV (written by the Python test) has columns y, z, x, female, g (levels a, b, c), w (weights) and cl
# (clusters). Every model centres the moderator at its (weighted) sample mean by hand, as the issue states:
#   hc2        lm_robust(y ~ z * I(female - mean(female)) + x, se_type = "HC2")
#   cr2        the same with clusters = cl, se_type = "CR2"
#   weighted   the same with weights = w, centring at weighted.mean(female, w), HC2
#   levels     lm_robust(y ~ z * (I(gb - mean(gb)) + I(gc - mean(gc))) + x, HC2), gb / gc the indicators of b / c
#   lin        lm_lin(y ~ z, covariates = ~ x + female, HC2): Lin's regression with the moderator as a covariate
#   interacted lm_robust(y ~ female * (z + x), HC2): fully interacted with the subgroup female (the equality test of
#              trial.subgroups(by = "female") is the squared t of female:z)
#   subgroup_b lm_robust(y ~ z + x, subset g == "b", clusters = cl, CR2): one subgroup row of a cluster trial
# Output per model: coefficient, std_error, df, p_value by term name, and the Wald statistic W = b' V^{-1} b of
# the interaction terms (the joint test that the effect does not vary).

suppressPackageStartupMessages({
  library(jsonlite)
  library(estimatr)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript moderators.R <design.csv> <results.json>")
d <- read.csv(args[[1]])
d$gb <- as.numeric(d$g == "b")
d$gc <- as.numeric(d$g == "c")
mf <- mean(d$female)
wf <- weighted.mean(d$female, d$w)
mb <- mean(d$gb)
mc <- mean(d$gc)

out_of <- function(fit, interactions) {
  b <- coef(fit)[interactions]
  V <- vcov(fit)[interactions, interactions, drop = FALSE]
  list(
    term = names(coef(fit)),
    estimate = unname(coef(fit)),
    std_error = unname(fit$std.error),
    df = unname(fit$df),
    p_value = unname(fit$p.value),
    wald = as.numeric(t(b) %*% solve(V) %*% b),
    interactions = interactions
  )
}

hc2 <- lm_robust(y ~ z * I(female - mf) + x, data = d, se_type = "HC2")
cr2 <- lm_robust(y ~ z * I(female - mf) + x, data = d, clusters = cl, se_type = "CR2")
weighted <- lm_robust(y ~ z * I(female - wf) + x, data = d, weights = w, se_type = "HC2")
levels <- lm_robust(y ~ z * (I(gb - mb) + I(gc - mc)) + x, data = d, se_type = "HC2")
lin <- lm_lin(y ~ z, covariates = ~ x + female, data = d, se_type = "HC2")
interacted <- lm_robust(y ~ female * (z + x), data = d, se_type = "HC2")
subgroup_b <- lm_robust(y ~ z + x, data = d[d$g == "b", ], clusters = cl, se_type = "CR2")

out <- list(
  hc2 = out_of(hc2, "z:I(female - mf)"),
  cr2 = out_of(cr2, "z:I(female - mf)"),
  weighted = out_of(weighted, "z:I(female - wf)"),
  levels = out_of(levels, c("z:I(gb - mb)", "z:I(gc - mc)")),
  lin = out_of(lin, "z:female_c"),
  interacted = out_of(interacted, "female:z"),
  subgroup_b = out_of(subgroup_b, "z"),
  versions = list(
    R = paste(R.version$major, R.version$minor, sep = "."),
    estimatr = as.character(packageVersion("estimatr"))
  )
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), args[[2]])
