# Reference numbers for tests/r_reference/test_against_r.py, computed with estimatr and clubSandwich.
#
# Usage: Rscript reference.R <manifest.json> <results.json>
#
# The manifest (written by the Python test) lists cases; each names a CSV design file (columns y, z, x1, x2,
# block, cluster, w) and what to compute for the coefficient on z (or a contrast):
#   kind = "lm_robust"  estimatr::lm_robust(y ~ z + <covariates> [+ factor(block)], se_type = se_type)
#   kind = "lm_lin"     estimatr::lm_lin(y ~ z, covariates = ~ <covariates> [+ factor(block)], se_type = se_type)
#   kind = "dim"        estimatr::difference_in_means(y ~ z [, blocks = block] [, clusters = cluster])
#   kind = "club"       clubSandwich::vcovCR(lm(...), type = "CR2") + coef_test(test = "Satterthwaite") on the
#                       regression named by `model` ("ols", "lin" or "dim": the block-interacted regression that
#                       gives the blocked difference in means), with `working` = "default" (vcovCR's default) or
#                       "inverse_var" (inverse_var = TRUE), or "transformed" (vcovCR's default on the unweighted
#                       regression of sqrt(w) y on sqrt(w) X); `cluster_by` = "row" makes every row its own cluster
#                       (CR2 = HC2, Satterthwaite df = the HC2 Bell-McCaffrey df). With `contrast`, the
#                       coefficient tested is contrast' beta on the columns (1, z, covariates), obtained by an
#                       invertible reparametrization of the regressors (CR2 is invariant to it).
# `weights = TRUE` passes w as weights; `clusters = TRUE` passes cluster. Output: one record per case with
# estimate, std_error and df (and the package versions).

suppressPackageStartupMessages({
  library(jsonlite)
  library(estimatr)
  library(clubSandwich)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript reference.R <manifest.json> <results.json>")
manifest <- fromJSON(args[[1]], simplifyVector = FALSE)

read_design <- function(path) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  d$block <- factor(d$block)
  d$cluster <- factor(d$cluster)
  d
}

rhs <- function(case, with_z = TRUE) {
  terms <- c(if (with_z) "z", unlist(case$covariates), if (isTRUE(case$block_fe)) "factor(block)")
  if (length(terms) == 0) "1" else paste(terms, collapse = " + ")
}

call_with <- function(fun, case, ...) {
  call_args <- list(...)
  call_args$data <- quote(d)
  if (isTRUE(case$weights)) call_args$weights <- quote(w)
  if (isTRUE(case$clusters)) call_args$clusters <- quote(cluster)
  as.call(c(fun, call_args))
}

# Regressors of the model `case$model`, built here from the data (not taken from Python).
model_matrix <- function(case, d) {
  w <- if (isTRUE(case$weights)) d$w else rep(1, nrow(d))
  if (case$model == "ols") {
    return(model.matrix(as.formula(paste("~", rhs(case))), data = d))
  }
  # lin, and the blocked difference in means: treatment interacted with (weighted-)mean-centred covariates and
  # block indicators (Lin 2013; estimatr::lm_lin centres at the weighted mean when weighted).
  W <- NULL
  if (length(case$covariates)) W <- as.matrix(d[, unlist(case$covariates), drop = FALSE])
  if (isTRUE(case$block_fe)) W <- cbind(W, model.matrix(~ factor(block), data = d)[, -1, drop = FALSE])
  if (is.null(W)) return(cbind("(Intercept)" = 1, z = d$z))
  Wc <- sweep(W, 2, apply(W, 2, weighted.mean, w))
  cbind("(Intercept)" = 1, z = d$z, Wc, d$z * Wc)
}

run_case <- function(case) {
  d <- read_design(case$data)
  if (case$kind == "lm_robust") {
    fit <- eval(call_with(quote(estimatr::lm_robust), case,
                          formula = as.formula(paste("y ~", rhs(case))), se_type = case$se_type))
    return(list(estimate = unname(coef(fit)["z"]), std_error = unname(fit$std.error["z"]),
                df = unname(fit$df["z"])))
  }
  if (case$kind == "lm_lin") {
    fit <- eval(call_with(quote(estimatr::lm_lin), case, formula = y ~ z,
                          covariates = as.formula(paste("~", rhs(case, with_z = FALSE))), se_type = case$se_type))
    return(list(estimate = unname(coef(fit)["z"]), std_error = unname(fit$std.error["z"]),
                df = unname(fit$df["z"])))
  }
  if (case$kind == "dim") {
    call_args <- list(formula = y ~ z, data = quote(d))
    if (isTRUE(case$blocks)) call_args$blocks <- quote(block)
    if (isTRUE(case$clusters)) call_args$clusters <- quote(cluster)
    if (isTRUE(case$weights)) call_args$weights <- quote(w)
    fit <- eval(as.call(c(quote(estimatr::difference_in_means), call_args)))
    return(list(estimate = unname(fit$coefficients[1]), std_error = unname(fit$std.error[1]),
                df = unname(fit$df[1])))
  }
  if (case$kind == "club") {
    X <- model_matrix(case, d)
    target <- 2L  # the column of z
    if (!is.null(case$contrast)) {
      cvec <- unlist(case$contrast)
      M <- diag(ncol(X))
      M[target, seq_along(cvec)] <- cvec  # new coefficient `target` is contrast' beta (cvec[target] != 0)
      X <- X %*% solve(M)
    }
    colnames(X) <- paste0("X", seq_len(ncol(X)))
    y <- d$y
    weighted <- isTRUE(case$weights)
    if (case$working == "transformed") {
      # The weighted regression written as an unweighted one on sqrt(w) y and sqrt(w) X (the GLS transform under
      # the working model Var(e) = sigma^2 / w), then vcovCR's default (identity) working model.
      if (weighted) {
        y <- sqrt(d$w) * y
        X <- sqrt(d$w) * X
      }
      weighted <- FALSE
    }
    fit <- if (weighted) lm(y ~ X - 1, weights = d$w) else lm(y ~ X - 1)
    cl <- if (identical(case$cluster_by, "row")) seq_len(nrow(d)) else d$cluster
    V <- if (case$working == "inverse_var") {
      vcovCR(fit, cluster = cl, type = "CR2", inverse_var = TRUE)
    } else {
      vcovCR(fit, cluster = cl, type = "CR2")
    }
    ct <- coef_test(fit, vcov = V, test = "Satterthwaite")
    return(list(estimate = unname(ct$beta[target]), std_error = unname(ct$SE[target]),
                df = unname(ct$df_Satt[target]), inverse_var = isTRUE(attr(V, "inverse_var"))))
  }
  stop("unknown kind: ", case$kind)
}

out <- lapply(manifest$cases, function(case) c(list(id = case$id), run_case(case)))
versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  estimatr = as.character(packageVersion("estimatr")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  sandwich = as.character(packageVersion("sandwich"))
)
writeLines(toJSON(list(versions = versions, results = out), auto_unbox = TRUE, digits = NA, null = "null"),
           args[[2]])
