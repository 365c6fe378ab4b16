"""evalkit.designs."""
