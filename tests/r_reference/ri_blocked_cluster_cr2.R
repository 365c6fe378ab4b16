# Reference numbers for tests/r_reference/test_ri_blocked_cluster_cr2.py: CR2 under re-drawn cluster assignments.
#
# Usage: Rscript ri_blocked_cluster_cr2.R <design.csv> <results.json>
#
# The CSV (written by the Python test) has columns y (an outcome), x1, x2, x3 (covariates), block, cluster, z_obs
# (the observed treatment) and z1 ... zD (re-drawn treatments, constant within clusters, re-randomized within
# blocks). For every draw j and response r in {y, y - 0.5 z_obs}, the regression r ~ zj + x1 + x2 + x3 + factor(block):
#   estimatr  lm_robust(clusters = cluster, se_type = "CR2"): coefficient and standard error of zj;
#   club      clubSandwich::vcovCR(lm(...), cluster = cluster, type = "CR2"): standard error of zj.
# Output: JSON with arrays (draws x 2) estimate, se_estimatr, se_club, and the package versions.

suppressPackageStartupMessages({
  library(jsonlite)
  library(estimatr)
  library(clubSandwich)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript ri_blocked_cluster_cr2.R <design.csv> <results.json>")
d <- read.csv(args[[1]])
d$block <- factor(d$block)
draws <- grep("^z[0-9]+$", names(d), value = TRUE)
responses <- list(d$y, d$y - 0.5 * d$z_obs)
estimate <- se_estimatr <- se_club <- matrix(NA_real_, length(draws), 2)
for (j in seq_along(draws)) {
  for (r in 1:2) {
    e <- data.frame(resp = responses[[r]], z = d[[draws[[j]]]], x1 = d$x1, x2 = d$x2, x3 = d$x3, block = d$block,
                    cluster = d$cluster)
    rob <- lm_robust(resp ~ z + x1 + x2 + x3 + block, data = e, clusters = cluster, se_type = "CR2")
    fit <- lm(resp ~ z + x1 + x2 + x3 + block, data = e)
    V <- vcovCR(fit, cluster = e$cluster, type = "CR2")
    estimate[j, r] <- unname(coef(rob)["z"])
    se_estimatr[j, r] <- unname(rob$std.error["z"])
    se_club[j, r] <- sqrt(V["z", "z"])
  }
}
out <- list(
  estimate = estimate,
  se_estimatr = se_estimatr,
  se_club = se_club,
  versions = list(
    R = paste(R.version$major, R.version$minor, sep = "."),
    estimatr = as.character(packageVersion("estimatr")),
    clubSandwich = as.character(packageVersion("clubSandwich"))
  )
)
writeLines(toJSON(out, digits = NA), args[[2]])
