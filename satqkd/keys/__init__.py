"""satqkd.keys stage."""
