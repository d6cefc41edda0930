"""Generated protobuf/gRPC modules of the wire API, one subpackage per version.

Only :mod:`vault.service` imports these. ``python -m vault.api.regenerate``
rebuilds them from ``protos/``.
"""
