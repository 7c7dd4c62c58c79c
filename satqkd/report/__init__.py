"""satqkd.report stage."""
