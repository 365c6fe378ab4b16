# Reference numbers for tests/r_reference/test_adjust_missing_against_r.py: R's p.adjust with missing p-values.
#
# Usage: Rscript p_adjust_na.R <pvalues.csv> <results.json>
#
# The CSV (written by the Python test) has one column p; empty cells are NA. p.adjust(p, method) for each method
# keeps NA where p is NA and adjusts the others among themselves (n = the number of non-missing p-values, the
# default n = length(p[!is.na(p)])). Output: JSON with one array per method (NA written as null) and R's version.

suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript p_adjust_na.R <pvalues.csv> <results.json>")
p <- read.csv(args[[1]])$p
methods <- c("bonferroni", "holm", "hochberg", "BH", "BY")
out <- lapply(setNames(methods, methods), function(m) p.adjust(p, method = m))
out$r_version <- R.version.string
writeLines(toJSON(out, digits = NA, na = "null", auto_unbox = TRUE), args[[2]])
