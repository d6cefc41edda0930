"""`biovault bench`: the encrypted engine measured side by side with its baselines."""
