"""subscribers package."""
