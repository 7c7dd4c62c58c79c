"""satqkd.orbit stage."""
