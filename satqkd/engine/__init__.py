"""satqkd.engine stage."""
