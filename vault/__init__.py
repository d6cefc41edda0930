"""biovault: a privacy-preserving biometric template vault."""

__all__ = ["__version__"]
__version__ = "0.1.0"
