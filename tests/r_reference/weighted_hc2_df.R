# Reference numbers for tests/r_reference/test_weighted_hc2_df.py: the Bell-McCaffrey df of weighted HC2.
#
# Usage: Rscript weighted_hc2_df.R <design.csv> <results.json>
#
# The CSV (written by the Python test) has columns y, z, x, w. For the weighted regression y ~ z + x (weights w):
#   hc2         estimatr::lm_robust(se_type = "HC2") standard errors;
#   inverse_var clubSandwich::vcovCR(cluster = 1:n, type = "CR2", inverse_var = TRUE) + coef_test(test =
#               "Satterthwaite"): standard errors and Bell-McCaffrey df (singleton clusters, working model 1/w);
#   default     the same with vcovCR's default working model (for a weighted lm: inverse_var = FALSE, identity).
# Output: JSON with, per entry, std_error and df for the coefficients (Intercept), z, x, the inverse_var attribute
# vcovCR recorded, and the package versions.

suppressPackageStartupMessages({
  library(jsonlite)
  library(estimatr)
  library(clubSandwich)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript weighted_hc2_df.R <design.csv> <results.json>")
d <- read.csv(args[[1]])
n <- nrow(d)

hc2 <- lm_robust(y ~ z + x, data = d, weights = w, se_type = "HC2")
fit <- lm(y ~ z + x, data = d, weights = w)
club <- function(V) {
  ct <- coef_test(fit, vcov = V, test = "Satterthwaite")
  list(std_error = unname(ct$SE), df = unname(ct$df_Satt), inverse_var = isTRUE(attr(V, "inverse_var")))
}
out <- list(
  hc2 = list(std_error = unname(hc2$std.error)),
  inverse_var = club(vcovCR(fit, cluster = seq_len(n), type = "CR2", inverse_var = TRUE)),
  default = club(vcovCR(fit, cluster = seq_len(n), type = "CR2")),
  versions = list(
    R = paste(R.version$major, R.version$minor, sep = "."),
    estimatr = as.character(packageVersion("estimatr")),
    clubSandwich = as.character(packageVersion("clubSandwich"))
  )
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), args[[2]])
