"""schemes layer."""
