"""Design diagnostics: covariate balance (and, later, attrition)."""
