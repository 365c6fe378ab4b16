# Reference numbers for tests/r_reference/test_iv_against_r.py: 2SLS with assignment as the instrument.
#
# Usage: Rscript iv_robust.R <manifest.json> <results.json>
#
# The manifest (written by the Python test) lists cases; each names a CSV design file (columns y, z, d, x1, x2,
# block, cluster, w), the covariates, whether block fixed effects enter (block_fe), whether the design is clustered
# (clusters) or weighted (weights), and the estimatr se_type. For each case:
#   iv           estimatr::iv_robust(y ~ d + <cov> | z + <cov>, se_type, diagnostics = TRUE): the coefficient of d,
#                its standard error and df, and the first-stage F of the weak-instrument diagnostic;
#   itt, first   estimatr::lm_robust(y ~ z + <cov>) and lm_robust(d ~ z + <cov>), same se_type: coefficient of z,
#                standard error, df;
#   ar           the Anderson-Rubin interval by numerical test inversion: the b0 where the lm_robust t statistic of
#                z in (y - b0 d) ~ z + <cov> equals the t critical value (uniroot, tol 1e-13), on each side of the
#                2SLS estimate.
# Output: one record per case, and the package versions.

suppressPackageStartupMessages({
  library(jsonlite)
  library(estimatr)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript iv_robust.R <manifest.json> <results.json>")
manifest <- fromJSON(args[[1]], simplifyVector = FALSE)

run_case <- function(case) {
  d <- read.csv(case$file, stringsAsFactors = FALSE)
  d$block <- factor(d$block)
  exo <- c(unlist(case$covariates), if (isTRUE(case$block_fe)) "factor(block)")
  exo_rhs <- if (length(exo)) paste("+", paste(exo, collapse = " + ")) else ""
  args <- list(data = d, se_type = case$se_type)
  if (isTRUE(case$clusters)) args$clusters <- quote(cluster)
  if (isTRUE(case$weights)) args$weights <- quote(w)
  fit <- function(f, fun, extra = list()) do.call(fun, c(list(formula = as.formula(f)), args, extra))
  iv <- fit(paste("y ~ d", exo_rhs, "| z", exo_rhs), iv_robust, list(diagnostics = TRUE))
  itt <- fit(paste("y ~ z", exo_rhs), lm_robust)
  first <- fit(paste("d ~ z", exo_rhs), lm_robust)
  crit <- qt(0.975, itt$df[["z"]])
  d$y0 <- d$y
  t_at <- function(b0) {
    d$y <- d$y0 - b0 * d$d
    args$data <- d
    r <- do.call(lm_robust, c(list(formula = as.formula(paste("y ~ z", exo_rhs))), args))
    r$statistic[["z"]]
  }
  b <- coef(iv)[["d"]]
  se <- iv$std.error[["d"]]
  f <- function(b0) t_at(b0)^2 - crit^2
  end <- function(direction) {
    step <- se
    while (f(b + direction * step) < 0) step <- 2 * step
    uniroot(f, sort(c(b, b + direction * step)), tol = 1e-13)$root
  }
  list(
    name = case$name,
    iv = list(estimate = b, std_error = se, df = iv$df[["d"]],
              first_stage_f = unname(iv$diagnostic_first_stage_fstatistic[["value"]])),
    itt = list(estimate = coef(itt)[["z"]], std_error = itt$std.error[["z"]], df = itt$df[["z"]]),
    first = list(estimate = coef(first)[["z"]], std_error = first$std.error[["z"]], df = first$df[["z"]]),
    ar = list(low = end(-1), high = end(1))
  )
}

out <- list(
  cases = lapply(manifest$cases, run_case),
  versions = list(
    R = paste(R.version$major, R.version$minor, sep = "."),
    estimatr = as.character(packageVersion("estimatr"))
  )
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), args[[2]])
