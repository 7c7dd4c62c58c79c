"""satqkd.network stage."""
