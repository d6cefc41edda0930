"""hcvault layer."""
