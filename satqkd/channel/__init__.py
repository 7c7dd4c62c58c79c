"""satqkd.channel stage."""
