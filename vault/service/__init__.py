"""Transport layer: the gRPC face of the vault (the only layer besides the generated
:mod:`vault.api` that imports grpc).

Modules:
    addresses: ``HOST:PORT`` parsing and the loopback-only plaintext rule.
    codec: protobuf messages <-> value types and numpy arrays, strictly validated.
    enrollment: chunking and reassembly of client-streamed enrollments.
    errors: the single mapping from :mod:`vault.errors` to gRPC status codes.
    wire: handler registration with tolerant request decoding.
    servicer: the thin ``TemplateVault`` servicer.
    health: health checking that follows the core's readiness.
    server: ``build_server`` and ``run`` (start-up, signals, graceful shutdown).
    client: ``VaultClient`` used by the CLI.
    bootstrap: wiring of the concrete core (``open_vault``).
"""
