"""evalkit.reporting."""
