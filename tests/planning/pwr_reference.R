# References for tests/planning/test_against_pwr.py: R's pwr.t2n.test (noncentral t, df = n1 + n2 - 2).
# Usage: Rscript --vanilla pwr_reference.R out.json. Writes {"pwr": false} when the pwr package is missing.
args <- commandArgs(trailingOnly = TRUE)
if (!requireNamespace("pwr", quietly = TRUE)) {
  writeLines(jsonlite::toJSON(list(pwr = FALSE), auto_unbox = TRUE), args[1])
  quit(status = 0)
}
cases <- list(
  list(n1 = 41, n2 = 19, alpha = 0.05, power = 0.80, d = 0.50, alternative = "two.sided"),
  list(n1 = 41, n2 = 19, alpha = 0.05, power = 0.80, d = 0.50, alternative = "greater"),
  list(n1 = 41, n2 = 19, alpha = 0.01, power = 0.90, d = 0.90, alternative = "two.sided"),
  list(n1 = 12, n2 = 7, alpha = 0.10, power = 0.70, d = 1.20, alternative = "two.sided"),
  list(n1 = 250, n2 = 500, alpha = 0.05, power = 0.95, d = 0.20, alternative = "greater")
)
out <- lapply(cases, function(k) {
  k$power_at_d <- pwr::pwr.t2n.test(n1 = k$n1, n2 = k$n2, d = k$d, sig.level = k$alpha,
                                    alternative = k$alternative)$power
  k$d_at_power <- pwr::pwr.t2n.test(n1 = k$n1, n2 = k$n2, power = k$power, sig.level = k$alpha,
                                    alternative = k$alternative)$d
  k
})
res <- list(pwr = TRUE, version = as.character(packageVersion("pwr")), cases = out)
writeLines(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA), args[1])
