"""Generated code of the ``biovault.v1`` wire API (regenerate, never edit)."""
