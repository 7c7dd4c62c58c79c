"""satqkd.mission stage."""
