"""he layer."""
