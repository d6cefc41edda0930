"""Transport layer: the gRPC server of the vault (with the SDK in :mod:`vault.client`
and the generated :mod:`vault.api`, the only code that imports grpc).

Modules:
    codec: requests -> value types and numpy arrays (strictly validated), results -> replies.
    enrollment: reassembly of client-streamed enrollments.
    errors: the single mapping from :mod:`vault.errors` to gRPC status codes.
    wire: handler registration with tolerant request decoding.
    servicer: the thin ``TemplateVault`` servicer.
    health: health checking that follows the core's readiness.
    server: ``build_server`` and ``run`` (start-up, signals, graceful shutdown).
    tls: the server's mutual-TLS settings.
    bootstrap: wiring of the concrete core (``open_vault``).
"""
